//! The epitem: one registration of (open file, fd number) in one epoll instance.
//!
//! ## State machine of an epitem's ready link (the kernel's `rdllink`)
//!
//! ```text
//!            callback                 transfer splices
//!   IDLE ---------------> LINKED ------------------------> LINKED (on a private txlist)
//!    ^   linked=false        |  callback: no-op                 |  callback: missed=true
//!    |                       |  (counted "skipped, linked")     |
//!    |                       v                                  v
//!    +---- transfer re-injects: ET/ONESHOT delivered, or not ready, and !missed
//!          otherwise back to LINKED at the ready list's tail (LT still ready, or missed)
//! ```
//!
//! `linked` and `dead` change only under the instance's ready-list lock, with one
//! exception: unlinking (`eventpoll.rs:unlink`) and the poll callback's lock-free path
//! pair a store and a load of `linked` and `missed` around a full fence each, so that a
//! wake-up racing with an unlink is seen by one side or the other. The callback sets
//! `missed` on a linked item; the transfer clears it with a swap just before it
//! re-polls the file, for every item it may take off (its level-triggered steady loop,
//! whose items all go back, leaves the flag set: one more re-poll later, at most). That closes the seed's case-5 window: a wake-up that lands
//! between the re-poll and the re-link is remembered instead of dropped.
//!
//! A removed item is `dead`: callbacks skip it. The item removed by the last DEL stays
//! on its file's wait queue, dead, and is revived in place by an ADD of the same key,
//! even when its ready-list entry stayed behind: that entry is stale from the removal
//! on (`gen`), and nothing takes it for the revived item's.

use std::sync::Arc;

use super::eventpoll::EventPoll;
use super::events::EPOLLEXCLUSIVE;
use super::file::{EpFile, ReadLevel};
use super::sync::{arc_clone, AtomicBool, AtomicU32, AtomicU64, Ordering};

/// One registration in an epoll instance (`struct epitem`).
///
/// The fields a transfer reads per item come first (for a pipe read end: the
/// readiness, the data, the mask and `missed`, 21 bytes), so that behind the `Arc`'s
/// two counters they sit in one cache line three times in four wherever malloc puts
/// the item (at 16-byte alignment); `slot`, which a callback that queues the item and
/// a transfer that takes it off both read, follows them. The `file` itself is read by a transfer only for
/// files without a `ReadLevel`.
#[repr(C)]
pub struct Epitem {
    /// The file's `EpFile::read_level`, if it has one: what a transfer re-polls
    /// instead of calling `file.poll()`.
    pub(crate) level: Option<Arc<ReadLevel>>,
    /// The caller's 64 bits, returned untouched.
    pub(crate) data: AtomicU64,
    /// Interest mask including private bits (`epi->event.events`).
    pub(crate) events: AtomicU32,
    /// A wake-up arrived while the item was linked; the transfer must look again.
    /// This plays the role of the kernel's overflow list (`ep->ovflist`, `epi->next`):
    /// where the kernel chains an item that a callback hit during a transfer onto
    /// `ovflist` and splices it back in `ep_done_scan`, uepoll marks the item and the
    /// transfer re-injects it under the ready lock.
    pub(crate) missed: AtomicBool,
    /// Removed from the instance; a stale ready-list entry is dropped lazily.
    pub(crate) dead: AtomicBool,
    /// On the ready list or on a transfer's private list (`ep_is_linked`).
    pub(crate) linked: AtomicBool,
    /// On a `MultiPass` transfer list (the pre-2007 kernel's `txlink`). That algorithm
    /// unlinks collected items from the ready list, so an item can be on the ready
    /// list and on a transfer list at once; this flag keeps a second transfer from
    /// collecting it twice. Changed only under the ready-list lock.
    pub(crate) in_tx: AtomicBool,
    /// Bumped when a removal leaves the item's ready-list entry where it is: entries
    /// carry the generation they were queued in (`eventpoll.rs:Entry`), and one whose
    /// generation is no longer the item's is stale, skipped and dropped by whoever
    /// finds it. So an item can be revived while a stale entry of its is still on the
    /// list. Changed under the ready-list lock with `mtx` held for writing (no transfer
    /// runs), so transfers read it without the lock.
    pub(crate) gen: AtomicU32,
    /// The item's place in its instance's parked references (`eventpoll.rs:Tokens`):
    /// fixed for the item's life in the instance, so a callback finds the reference it
    /// moves onto the ready list without looking anything up.
    pub(crate) slot: u32,
    /// The watched open file description.
    pub(crate) file: Arc<dyn EpFile>,
    /// The instance this item belongs to.
    pub(crate) ep: Arc<EventPoll>,
    /// The fd number it was added under: half of the item's key.
    pub(crate) fd: i32,
}

impl Epitem {
    pub(crate) fn new(
        ep: Arc<EventPoll>,
        file: Arc<dyn EpFile>,
        fd: i32,
        slot: u32,
        events: u32,
        data: u64,
    ) -> Self {
        Epitem {
            ep,
            slot,
            level: file.read_level().map(arc_clone),
            file,
            fd,
            events: AtomicU32::new(events),
            data: AtomicU64::new(data),
            linked: AtomicBool::new(false),
            in_tx: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            gen: AtomicU32::new(0),
        }
    }

    /// Make a removed item nobody else refers to a fresh registration of the same
    /// (file, fd). Published by the wait-queue lock and `mtx` that insert takes next.
    pub(crate) fn revive(&self, events: u32, data: u64) {
        self.events.store(events, Ordering::Relaxed);
        self.data.store(data, Ordering::Relaxed);
        self.linked.store(false, Ordering::Relaxed);
        self.missed.store(false, Ordering::Relaxed);
        self.dead.store(false, Ordering::Relaxed);
    }

    /// Re-poll the file (`ep_item_poll`): directly from its `ReadLevel` when it has
    /// one, through the file's `poll` otherwise.
    #[inline(always)]
    pub(crate) fn poll(&self) -> u32 {
        match &self.level {
            Some(level) => level.poll(),
            None => self.file.poll(),
        }
    }

    pub(crate) fn is_exclusive(&self) -> bool {
        self.events.load(Ordering::Relaxed) & EPOLLEXCLUSIVE != 0
    }

    /// The fd number the item was added under.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// The registered interest (with private bits) and data.
    pub fn registration(&self) -> (u32, u64) {
        (
            self.events.load(Ordering::Relaxed),
            self.data.load(Ordering::Relaxed),
        )
    }
}
