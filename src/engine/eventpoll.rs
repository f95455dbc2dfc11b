//! The epoll instance (`struct eventpoll`): insert, modify, remove, the poll callback and
//! the single-pass transfer (`ep_send_events`).
//!
//! # Locking rules (read this before touching the code)
//!
//! There are two locks per instance, as in the 2007 patch:
//!
//! 1. `mtx` (the kernel's `ep->sem`, later `ep->mtx`): a read/write lock over the item
//!    map. Transfers hold it **for reading**, so several `epoll_wait` callers transfer
//!    at once, each on its own spliced list. `ctl` (insert, modify, remove) and file
//!    release hold it **for writing**, so no item can be removed or changed under a
//!    running transfer (seed cases 2 and 3).
//! 2. `ready` (the kernel's `ep->lock`): a short mutex over the ready list and the
//!    items' parked references (`ReadyList::parked`), which entries are made of and
//!    given back to, so that queueing an item counts no reference. The poll
//!    callback takes only this lock. A transfer takes it twice: once to splice the
//!    whole ready list onto a private list, once to re-inject what it leaves.
//!    Every release stores `ready_hint` (what `has_ready` would answer, and whether
//!    the list holds any entry), which two looks read without the lock: the re-check
//!    after `raised` is cleared (`ready_after_clear` says why that one is safe), and
//!    a wait's first look, before its transfer, as the kernel's `ep_poll` looks at
//!    `ep_events_available` (`events_available`). Every look that must pair with the
//!    callbacks' reading of `watchers` (`prepare_sleep`) keeps the lock.
//!
//! A file's wait-queue lock is taken before `ready` (a wake-up runs callbacks under it),
//! and after `mtx` (ctl adds and removes watchers under `mtx`). The order is always
//! `mtx` -> wait queue -> `ready`. There is no global lock on any path here.
//!
//! # The five cases of the seed, mapped to this file
//!
//! 1. The instance going away during a transfer: the caller of `send_events` holds a
//!    counted reference to the instance, so it cannot be freed; `free` (ep_free)
//!    takes `mtx` for writing and so waits for the transfer.
//! 2. `EPOLL_CTL_DEL`: `remove` holds `mtx` for writing; it waits for transfers.
//! 3. A watched file going away: `release_file` removes through `remove`, same lock.
//! 4. Another transfer: each splices its own list under `ready`; an item is on at most
//!    one list because the callback never queues a `linked` item.
//! 5. The poll callback during a transfer: the item is still `linked`, so the callback
//!    does not queue it. The seed loses a wake-up that lands after the re-poll; here the
//!    callback sets `missed` and the transfer, which cleared `missed` before its
//!    re-poll, re-injects the item (see `Epitem` for the state machine). The `Seed`
//!    variant leaves the window open on purpose, so that the loss can be shown.
//!
//! 6. Not one of the seed's five: a waiter that finds the ready list empty while
//!    another transfer has the items on its private list. The kernel counts those as
//!    available (`ep_events_available` looks at `ovflist`) and its next transfer waits
//!    on `ep->mtx`; here `ReadyList::in_flight` counts transfers in flight,
//!    `has_ready` includes them, and a transfer that would answer "nothing" waits on
//!    `transfer_done` for them (`await_in_flight`). `Seed` keeps the 2007 answer.
//!
//! # Sleeping
//!
//! The engine never blocks. A waiter that finds nothing announces itself in
//! `observers` (`prepare_sleep`) and sleeps outside the engine (the preload library
//! sleeps in the kernel). Whoever queues an item, or leaves items behind after a
//! transfer, raises the instance's `Waker` once if somebody observes (`signal`).
//! A write that will queue an item for a sleeper on another CPU may make that raise
//! before the write instead of after it (`raise_ahead`), so that the sleeper's CPU
//! wakes while the write runs: to the protocol, a raise whose item is not queued yet.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::epitem::Epitem;
use super::events::*;
use super::file::EpFile;
use super::stats::STATS;
use super::sync::{
    arc_clone, arc_drop, fence, note_arc_drops, plain, AtomicBool, AtomicU16, AtomicU32,
    AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, RwLock,
};

/// Which transfer algorithm an instance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The seed's single pass, with the case-5 window closed by `missed`.
    SinglePass,
    /// The 2007 patch exactly as posted: a wake-up between re-poll and re-link is lost.
    Seed,
    /// The algorithm the 2007 patch replaced, in three passes: collect up to
    /// `maxevents` items off the ready list under the lock, send them without it,
    /// re-inject under the lock again (`send_events_multipass`).
    MultiPass,
}

/// How an instance makes its sleepers runnable: the preload library writes an eventfd
/// that the instance's kernel epoll fd watches; tests use memory.
pub trait Waker: Send + Sync {
    /// Make the kernel-visible signal readable. Called once per raise.
    fn raise(&self);
    /// Consume the signal. Called after a raise was observed; two threads settling at
    /// once may both call it for one raise, so lowering a low signal must be harmless.
    fn lower(&self);
}

/// Why an `epoll_ctl` was refused by the instance itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlError {
    /// ADD of a present item.
    Exists,
    /// MOD or DEL of a missing item.
    NotFound,
    /// Unknown op, or MOD of an item added with `EPOLLEXCLUSIVE`.
    Invalid,
    /// Past `max_user_watches`.
    NoSpace,
}

/// Where a transfer copies events: the caller's buffer. `put` fails when the buffer is
/// not writable (the kernel's `epoll_put_uevent` returning NULL).
pub trait EventSink {
    fn put(&mut self, index: usize, events: u32, data: u64) -> Result<(), Fault>;
}

/// A plain vector sink, for tests and internal use.
impl EventSink for Vec<(u32, u64)> {
    fn put(&mut self, _index: usize, events: u32, data: u64) -> Result<(), Fault> {
        self.push((events, data));
        Ok(())
    }
}

/// What one transfer did, for the counters and the trace's `transfer` record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferSummary {
    /// Items taken off the ready list (spliced, or collected by `MultiPass`).
    pub spliced: usize,
    /// Items looked at (re-polled); the rest went back untouched.
    pub processed: usize,
    /// Events copied to the caller.
    pub delivered: usize,
    /// Items put back on the ready list.
    pub requeued: u64,
    /// The caller's `maxevents`.
    pub maxevents: usize,
    /// Live entries left on the ready list afterwards.
    pub left: usize,
}

/// The transfer found an unwritable buffer before it copied anything (EFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// An item key: the open file description (by address) and the fd number.
type ItemKey = (usize, i32);

/// A cheap hasher for item keys: the file address and fd are already well spread.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_i32(&mut self, n: i32) {
        self.0 = (self.0 ^ n as u32 as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

/// The instance's items, keyed by (open file, fd number): the kernel's RB tree.
///
/// Nearly always one item per fd number, so the first item of each number sits in a
/// vector indexed by it (found with one load, no hashing). A second item under the
/// same number (the first one's fd was closed while a dup kept its file open, and
/// the number was reused) and numbers past the direct range go to a hash map.
#[derive(Default)]
struct ItemIndex {
    direct: Vec<Option<Arc<Epitem>>>,
    other: HashMap<ItemKey, Arc<Epitem>, BuildHasherDefault<KeyHasher>>,
    len: usize,
}

/// fd numbers below this are indexed directly (8 bytes per number up to the highest
/// one registered).
const DIRECT_FDS: usize = 1 << 16;

impl ItemIndex {
    fn slot(fd: i32) -> Option<usize> {
        usize::try_from(fd).ok().filter(|&i| i < DIRECT_FDS)
    }

    fn get(&self, key: &ItemKey) -> Option<&Arc<Epitem>> {
        if let Some(Some(epi)) = Self::slot(key.1).and_then(|i| self.direct.get(i)) {
            if file_key(&epi.file) == key.0 {
                return Some(epi);
            }
        }
        if self.other.is_empty() {
            None
        } else {
            self.other.get(key)
        }
    }

    fn contains_key(&self, key: &ItemKey) -> bool {
        self.get(key).is_some()
    }

    fn insert(&mut self, key: ItemKey, epi: Arc<Epitem>) {
        self.len += 1;
        if let Some(i) = Self::slot(key.1) {
            if self.direct.len() <= i {
                self.direct.resize(i + 1, None);
            }
            if self.direct[i].is_none() {
                self.direct[i] = Some(epi);
                return;
            }
        }
        self.other.insert(key, epi);
    }

    fn remove(&mut self, key: &ItemKey) -> Option<Arc<Epitem>> {
        if let Some(slot) = Self::slot(key.1).and_then(|i| self.direct.get_mut(i)) {
            if slot
                .as_ref()
                .is_some_and(|epi| file_key(&epi.file) == key.0)
            {
                self.len -= 1;
                return slot.take();
            }
        }
        let epi = self.other.remove(key)?;
        self.len -= 1;
        Some(epi)
    }

    fn values(&self) -> impl Iterator<Item = &Arc<Epitem>> {
        self.direct.iter().flatten().chain(self.other.values())
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The instance's items, and how many of the process's `max_user_watches` the
/// instance has reserved.
#[derive(Default)]
struct ItemMap {
    map: ItemIndex,
    reserved: usize,
    /// The last reservation was a whole chunk (the process is far from its limit), so
    /// an instance that becomes empty keeps one watch (`release_spare`).
    chunked: bool,
    /// The item most recently removed by `EPOLL_CTL_DEL`, dead but still on its
    /// file's wait queue, kept so that re-adding the same (file, fd) — the
    /// DEL-then-ADD re-arm pattern of busy event loops — costs neither an allocation,
    /// nor the reference counting of a new item, nor the wait queue's lock.
    recent: Option<Arc<Epitem>>,
    /// The ready list's capacity, as last seen under its lock.
    ready_room: usize,
    /// An upper bound of the entries the ready list may have to hold: items plus the
    /// stale entries of removed ones (each ADD and each DEL may add one).
    ready_need: usize,
    /// Slots of `ReadyList::parked` given back by items that left the instance.
    free_slots: Vec<u32>,
    /// The lowest slot never given out.
    next_slot: u32,
    /// `ReadyList::parked`'s length, as last set under the ready lock: every slot
    /// given out is below it.
    parked_room: usize,
}

impl std::ops::Deref for ItemMap {
    type Target = ItemIndex;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::ops::DerefMut for ItemMap {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

/// Watches an instance reserves from the process-wide count at a time. Every ADD and
/// DEL from every thread touching one shared counter made its cache line bounce
/// between CPUs; a reservation touches it once per `WATCH_CHUNK` items.
const WATCH_CHUNK: usize = 64;

impl ItemMap {
    /// Make room for one more item, or fail when the process is at `max`. Near the
    /// limit it reserves one watch at a time, so the limit itself is exact for a
    /// single instance (other instances may hold unused reservations).
    fn reserve_one(&mut self, max: usize) -> bool {
        if self.map.len() < self.reserved {
            return true;
        }
        let taken = WATCHES.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |w| {
                if w + WATCH_CHUNK <= max {
                    Some(w + WATCH_CHUNK)
                } else if w < max {
                    Some(w + 1)
                } else {
                    None
                }
            },
        );
        match taken {
            Ok(before) if before + WATCH_CHUNK <= max => {
                self.reserved += WATCH_CHUNK;
                self.chunked = true;
            }
            Ok(_) => {
                self.reserved += 1;
                self.chunked = false;
            }
            Err(_) => return false,
        }
        true
    }

    /// An item was removed, and its ready-list entry stays, stale (`stale`) or it had
    /// none. `ready_need` bounds items plus stale entries: it grows by one for a stale
    /// entry and shrinks by one otherwise, so that a re-arm (DEL, then ADD of an item
    /// that was not queued) leaves it as it was and takes no ready lock to check room.
    fn note_removed(&mut self, stale: bool) {
        if stale {
            self.ready_need += 1;
        } else {
            self.ready_need = self.ready_need.saturating_sub(1);
        }
    }

    /// A slot of `ReadyList::parked` for a new item.
    fn alloc_slot(&mut self) -> u32 {
        self.free_slots.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        })
    }

    /// An item left the instance for good (its parked reference is dropped already):
    /// its slot may go to another item. Called once per item.
    fn free_slot(&mut self, slot: u32) {
        self.free_slots.push(slot);
    }

    /// Give back every reservation (`ep_free`).
    fn release_all(&mut self) {
        if self.reserved != 0 {
            WATCHES.fetch_sub(self.reserved, std::sync::atomic::Ordering::Relaxed);
            self.reserved = 0;
        }
    }

    /// Give back reservations well beyond what the items need. An instance that
    /// becomes empty gives back all but one, far from the limit: the re-arm of a lone
    /// fd (DEL, then ADD) then touches the process-wide counter neither time. Near
    /// the limit, where reservations go one at a time, it gives back everything, so
    /// that the limit stays exact for the other instances.
    fn release_spare(&mut self) {
        let spare = self.reserved - self.map.len().min(self.reserved);
        let give = if self.map.is_empty() {
            spare - usize::from(self.chunked && spare > 0)
        } else if spare > 2 * WATCH_CHUNK {
            WATCH_CHUNK
        } else {
            0
        };
        if give != 0 {
            WATCHES.fetch_sub(give, std::sync::atomic::Ordering::Relaxed);
            self.reserved -= give;
        }
    }
}

/// A ready-list entry: a reference to the item and the item's generation
/// (`Epitem::gen`) when it was queued. The reference is the one the item keeps parked
/// in `ReadyList::parked` while it is not queued, moved in and out without touching
/// the reference count (see `parked`). A removal that cannot unlink the entry cheaply
/// (`retire`) bumps the item's generation instead, which makes the entry stale:
/// transfers, `prune` and the other walks drop it (and its reference) where they find
/// it, and do not touch the item, which may have been revived and queued again
/// meanwhile under a new entry. A generation wraps only after 2^32 removals of one
/// item, and stale entries never live that long: `retire` drops them all once they are
/// more than half the list.
struct Entry {
    epi: Arc<Epitem>,
    gen: u32,
}

impl Entry {
    /// An entry for `epi` as it is now: the caller holds the ready lock.
    fn new(epi: Arc<Epitem>) -> Self {
        let gen = epi.gen.load(Ordering::Relaxed);
        Entry { epi, gen }
    }

    /// The item was removed since this entry was queued.
    fn is_stale(&self) -> bool {
        self.gen != self.epi.gen.load(Ordering::Relaxed)
    }

    /// Drop a stale entry, under the ready lock.
    fn drop_stale(self, rd_dead: &mut u32) {
        *rd_dead = rd_dead.saturating_sub(1);
        arc_drop(self.epi);
    }
}

impl std::ops::Deref for Entry {
    type Target = Arc<Epitem>;
    fn deref(&self) -> &Arc<Epitem> {
        &self.epi
    }
}

/// The ready list and its spare buffers, under the `ready` lock.
///
/// In this order (`repr(C)`), by cache line (`EventPoll`'s layout, which starts this
/// struct 24 bytes into a line):
/// - what a queueing callback and every release of the lock read or write: `list`,
///   and `dead` and `in_flight`, which the release's hint depends on (32-bit, so that
///   they fit in the lock's line);
/// - what changes only in `ctl` or rarely: the header of `parked` (a callback reads
///   it to find its slot) and `in_flight_waiters`, padded to the end of their line;
/// - the transfer's own buffers, which every transfer writes and no callback reads.
#[derive(Default)]
#[repr(C)]
struct ReadyList {
    list: VecDeque<Entry>,
    /// Stale entries (removed items) still sitting on `list`, dropped lazily.
    dead: u32,
    /// Transfers between their splice (or collect) and their re-injection: their items
    /// are on private lists, off the ready list, but still count as available
    /// (case 6; the kernel's `ovflist` being active).
    in_flight: u32,
    /// Each item's parked reference, at the item's `slot`: a reference to the item
    /// kept here while it is not queued, so that queueing it (a poll callback) moves
    /// this reference onto the list and taking it off for good (a transfer delivering
    /// an edge-triggered event) moves it back, instead of a locked increment on the
    /// way in and a locked decrement on the way out. A slot may be empty (the item's
    /// first queueing, or a reference that went with a stale entry or was dropped by
    /// `prune`): queueing then takes a new reference, and the way out parks it. Only a reference to the
    /// slot's own item is ever taken from here (`take_parked` checks), so a slot given
    /// out twice by mistake would cost references, never deliver the wrong item.
    /// Slots are given out by `ItemMap::alloc_slot` under `mtx` held for writing, and
    /// this vector grows under both locks, in ctl (a callback never allocates).
    parked: Vec<Option<Arc<Epitem>>>,
    /// Transfers waiting on `EventPoll::transfer_done` for the in-flight ones to end.
    in_flight_waiters: usize,
    /// Keeps the transfer's buffers below off the line of `parked`'s header.
    _transfer_line: [u8; 32],
    /// Emptied private lists kept for the next splice, so a transfer never allocates.
    spares: Vec<VecDeque<Entry>>,
    /// A transfer's per-item decisions (re-queue or not), kept for reuse.
    decisions: Vec<bool>,
    /// `MultiPass`: what each collected item reported, kept for reuse.
    delivered: Vec<u32>,
}

impl ReadyList {
    /// Live entries on `list`: those not stale (`dead` counts the stale ones).
    #[inline(always)]
    fn live(&self) -> usize {
        self.list.len().saturating_sub(self.dead as usize)
    }

    /// Take `epi`'s parked reference out of its slot. Only a reference to `epi` itself
    /// is taken, so a slot given out twice by mistake never yields another item.
    #[inline(always)]
    fn take_parked(&mut self, epi: &Arc<Epitem>) -> Option<Arc<Epitem>> {
        self.parked
            .get_mut(epi.slot as usize)
            .and_then(|slot| slot.take_if(|parked| Arc::ptr_eq(parked, epi)))
    }

    /// An entry for `epi`, which is live and being queued: its parked reference, or a
    /// new one when none is parked.
    #[inline(always)]
    fn entry_for(&mut self, epi: &Arc<Epitem>) -> Entry {
        Entry::new(self.take_parked(epi).unwrap_or_else(|| arc_clone(epi)))
    }

    /// A live entry taken off the lists for good: its reference is parked in the
    /// item's slot, or dropped when the slot holds one already.
    #[inline(always)]
    fn park(&mut self, entry: Entry) {
        match self.parked.get_mut(entry.epi.slot as usize) {
            Some(slot @ None) => *slot = Some(entry.epi),
            _ => arc_drop(entry.epi),
        }
    }

    /// The re-injection of a transfer that did not hand its list back whole: the first
    /// `decisions.len()` entries of `txlist` go back to the tail (`true`) or are taken
    /// off (`false`: unlinked, unless a wake-up arrived meanwhile; stale entries
    /// dropped), and the leftovers (the buffer filled up) go back to the head, in
    /// order. Returns how many went back to the tail. Out of line, so that the code of
    /// the transfer's steady loop does not depend on this one's.
    #[inline(never)]
    fn reinject(
        &mut self,
        txlist: &mut VecDeque<Entry>,
        decisions: &[bool],
        may_hold_stale: bool,
    ) -> u64 {
        let mut requeued = 0u64;
        // The live items that do not go back are unlinked in two halves around one
        // fence for them all (`unlink`'s store, fence, load, batched): each item's store
        // of `linked` still comes before the fence and its load of `missed` after it,
        // which is all the pairing with the callback needs, and a transfer of k
        // edge-triggered events takes one locked instruction for them instead of k. No
        // entry turns stale meanwhile (removal needs `mtx` for writing), and a stale one
        // is dropped below without touching its item, which may be linked by a newer
        // entry.
        let mut unlinking = false;
        for (epi, &back) in txlist.iter().zip(decisions) {
            if !(back || may_hold_stale && epi.is_stale()) {
                epi.linked.store(false, Ordering::Relaxed);
                unlinking = true;
            }
        }
        if unlinking {
            fence(Ordering::SeqCst);
        }
        for &back in decisions {
            let Some(epi) = txlist.pop_front() else {
                break;
            };
            if back {
                requeued += 1;
                self.list.push_back(epi);
            } else if may_hold_stale && epi.is_stale() {
                epi.drop_stale(&mut self.dead);
            } else if unlink_end(&epi) {
                // Unlinked for good: nothing arrived while it was in flight.
                self.park(epi);
            } else {
                requeued += 1;
                self.list.push_back(epi);
            }
        }
        while let Some(epi) = txlist.pop_back() {
            self.list.push_front(epi);
        }
        requeued
    }

    /// `epi` leaves the instance for good: drop its parked reference.
    fn unpark(&mut self, epi: &Arc<Epitem>) {
        if let Some(parked) = self.take_parked(epi) {
            arc_drop(parked);
        }
    }
}

/// The ready lock held (`EventPoll::lock_ready`). Releasing it stores what
/// `has_ready` would answer, and whether the ready list holds any entry, into
/// `EventPoll::ready_hint`, so that the hint follows every change of the ready list,
/// its stale count and its transfers in flight, in the lock's order, whichever path
/// made the change.
struct ReadyGuard<'a> {
    /// Always `Some`, except inside `wait`, which hands the guard to the condvar.
    rd: Option<MutexGuard<'a, ReadyList>>,
    ep: &'a EventPoll,
}

impl<'a> ReadyGuard<'a> {
    /// Store the hint: a plain store, ordered before the lock's release.
    #[inline(always)]
    fn publish(&self) {
        if let Some(rd) = &self.rd {
            let mut hint = 0;
            if self.ep.ready_under(rd) {
                hint |= HINT_READY;
            }
            if !rd.list.is_empty() || self.ep.in_flight_counts(rd) {
                hint |= HINT_QUEUED;
            }
            self.ep.ready_hint.store(hint, Ordering::Relaxed);
        }
    }

    /// Wait on `cv`, which releases the lock meanwhile (the hint is stored first, as
    /// on any release).
    fn wait(mut self, cv: &Condvar) -> ReadyGuard<'a> {
        self.publish();
        let ep = self.ep;
        let rd = self.rd.take().map(|rd| cv.wait(rd));
        ReadyGuard { rd, ep }
    }
}

impl Drop for ReadyGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.publish();
    }
}

impl std::ops::Deref for ReadyGuard<'_> {
    type Target = ReadyList;
    #[inline(always)]
    fn deref(&self) -> &ReadyList {
        match &self.rd {
            Some(rd) => rd,
            None => unreachable!("the ready guard is only empty inside wait"),
        }
    }
}

impl std::ops::DerefMut for ReadyGuard<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ReadyList {
        match &mut self.rd {
            Some(rd) => rd,
            None => unreachable!("the ready guard is only empty inside wait"),
        }
    }
}

/// The engine watches reserved by all instances of this process, checked against
/// `max_user_watches` on insert. The kernel's own watches (kernel-served fds) are not
/// counted here.
static WATCHES: plain::AtomicUsize = plain::AtomicUsize::new(0);

/// Instances watched by an outer instance through the kernel (nesting is rare; when it
/// is absent the read path skips pruning altogether).
static NESTED: plain::AtomicUsize = plain::AtomicUsize::new(0);

/// Engine watches reserved by all instances of the process: at least the items they
/// hold, and close to it near `max_user_watches`, where reservations go one at a time.
pub fn reserved_watches() -> usize {
    WATCHES.load(std::sync::atomic::Ordering::Relaxed)
}

/// True when some instance is watched through the kernel.
pub fn any_nested() -> bool {
    NESTED.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// How far from the ready list's tail `retire` looks for a removed item before it
/// leaves the entry to be dropped lazily.
#[cfg(not(loom))]
const UNLINK_SCAN: usize = 64;
/// Under loom, the tail entry only: the models' lists are short, and a removal that
/// leaves its entry behind, stale, must be reachable in them (`loom_models.rs`,
/// `rearm_over_a_stale_entry`).
#[cfg(loom)]
const UNLINK_SCAN: usize = 1;

/// One sleeper in `EventPoll::watchers` (its high half).
const SLEEPER: usize = 1 << (usize::BITS / 2);
/// The observers' count in `EventPoll::watchers` (its low half).
const OBSERVERS: usize = SLEEPER - 1;

/// `EventPoll::ready_hint`: what `has_ready` would answer.
const HINT_READY: u32 = 1;
/// `EventPoll::ready_hint`: the ready list holds an entry, or a transfer is in flight.
const HINT_QUEUED: u32 = 2;

/// One epoll instance.
///
/// ## Layout
///
/// Laid out by cache line (`repr(C)`), for the write that wakes a waiter on another
/// CPU: its poll callback reads the lines the waiters wrote last, and each one it
/// reads costs a transfer of that line between the CPUs. With Rust's own field order
/// the callback read three to six of the instance's lines, depending on where malloc
/// put it (five or six three times in four), all of them written by the waiters (the
/// waker's shared with the lock word of `mtx`, which every transfer writes). In this
/// order it reads three, one of which the waiters write:
/// - `fixed`, a line of its own that nothing writes after `ctl` (the variant, the
///   waker, the count of outer instances), so it stays in every CPU's cache;
/// - one line with everything a queueing callback and a release of the ready lock
///   change or decide by: `ready_hint`, `raised` and `watchers`, then the ready lock's
///   word, `list`, `dead` and `in_flight` (`ReadyList`'s first fields);
/// - the line of `parked`'s header, which changes only in `ctl`, so it stays shared
///   too; the transfer's own buffers start the line after it.
///
/// The instance is aligned to a line and `fixed` fills the first one, so the second
/// starts with `ready_hint`. `a_queueing_callback_reads_one_line_the_waiters_write`
/// checks the offsets.
#[repr(C, align(64))]
pub struct EventPoll {
    fixed: OwnLine<Fixed>,
    /// Two bits, as of the last release of the ready lock (`ReadyGuard` stores them on
    /// every release):
    /// - `HINT_READY`: what `has_ready` would answer. Read without the lock where a
    ///   read-modify-write of `raised` has just ordered the read after every change
    ///   that matters (`ready_after_clear`);
    /// - `HINT_QUEUED`: the ready list holds an entry, live or stale, or a transfer is
    ///   in flight, so that a transfer would find something to do. Read without the
    ///   lock by a wait before its transfer, as the kernel's `ep_poll` reads
    ///   `ep_events_available` (`events_available`).
    ready_hint: AtomicU32,
    /// The waker was raised and not yet lowered.
    raised: AtomicBool,
    /// The CPU of the last waiter to go to sleep (`note_sleeper_cpu`; `UNKNOWN_CPU`
    /// before any): a write raises ahead of itself only for a sleeper on another CPU
    /// (`raise_ahead`). On the ready lock's line, beside `watchers`, which the
    /// announcement has just written: on a line of its own, the waiters of two CPUs
    /// made it cross between them, and the 2-thread churn lost 2 to 3% of its rate.
    sleeper_cpu: AtomicU16,
    /// Two counts in one word, so that a waiter going to sleep and waking up changes
    /// both with one read-modify-write each (`prepare_sleep`, `finish_sleep`):
    /// - `observers` (the low half, `OBSERVERS`): waiters about to sleep or asleep,
    ///   plus pollers of the instance itself;
    /// - `sleepers` (the high half, counted in units of `SLEEPER`): waiters about to
    ///   sleep or asleep only (`prepare_sleep` to `finish_sleep`), the kernel's
    ///   `ep->wq`. Only they make an `EPOLLEXCLUSIVE` wake-up count as delivered;
    ///   pollers and outer instances are on `ep->poll_wait`, which does not.
    ///
    /// A sleeper is an observer too, so it adds `SLEEPER + 1`.
    watchers: AtomicUsize,
    ready: Mutex<ReadyList>,
    mtx: RwLock<ItemMap>,
    /// Notified, under `ready`, when an in-flight transfer has re-injected its items
    /// and somebody waits for that (`await_in_flight`, case 6).
    transfer_done: Condvar,
}

/// What `note_sleeper_cpu` and `raise_ahead` are given when the CPU is not known (or
/// is past what `sleeper_cpu` holds: such a CPU never raises ahead).
pub const UNKNOWN_CPU: u16 = u16::MAX;

/// What `EventPoll` never changes after `ctl` (`kernel_watchers` changes with nesting,
/// which is rare), on a cache line of its own.
struct Fixed {
    /// Outer instances watching this one through the kernel: each of them must see a
    /// wake-up for every callback, as `ep_poll_safewake` gives the kernel's.
    kernel_watchers: AtomicUsize,
    waker: Box<dyn Waker>,
    variant: Variant,
}

/// `T` on cache lines of its own: it starts a line (in a struct aligned to one), and
/// what follows it starts another.
#[repr(C, align(64))]
struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl EventPoll {
    /// `ep_alloc`.
    pub fn new(waker: Box<dyn Waker>, variant: Variant) -> Arc<Self> {
        Arc::new(EventPoll {
            fixed: OwnLine(Fixed {
                kernel_watchers: AtomicUsize::new(0),
                waker,
                variant,
            }),
            mtx: RwLock::new(ItemMap::default()),
            ready: Mutex::new(ReadyList::default()),
            watchers: AtomicUsize::new(0),
            raised: AtomicBool::new(false),
            ready_hint: AtomicU32::new(0),
            transfer_done: Condvar::new(),
            sleeper_cpu: AtomicU16::new(UNKNOWN_CPU),
        })
    }

    pub fn variant(&self) -> Variant {
        self.fixed.variant
    }

    /// `epoll_ctl` on an engine-served file. The caller has already done the checks that
    /// need the fd table (EBADF, EPERM, EINVAL for `fd == epfd`); the `EPOLLEXCLUSIVE`
    /// rules are checked by `check_exclusive` before this.
    /// `max_watches` is how many engine watches the process may still hold.
    pub fn ctl<F: EpFile + 'static>(
        self: &Arc<Self>,
        op: i32,
        file: &Arc<F>,
        fd: i32,
        event: (u32, u64),
        max_watches: usize,
    ) -> Result<(), CtlError> {
        let key = (Arc::as_ptr(file) as *const () as usize, fd);
        let mut items = self.mtx.write();
        match op {
            EPOLL_CTL_ADD => {
                if items.contains_key(&key) {
                    return Err(CtlError::Exists);
                }
                if !items.reserve_one(max_watches) {
                    return Err(CtlError::NoSpace);
                }
                self.insert(
                    &mut items,
                    key,
                    file,
                    fd,
                    event.0 | EPOLLERR | EPOLLHUP,
                    event.1,
                );
                Ok(())
            }
            EPOLL_CTL_DEL => match items.remove(&key) {
                Some(epi) => {
                    // The item removed by the DEL before this one leaves for good;
                    // its parked reference goes under the lock retire takes anyway.
                    let older = items.recent.take();
                    let stale = self.retire(&epi, older.as_ref());
                    items.note_removed(stale);
                    items.release_spare();
                    items.recent = Some(epi);
                    if let Some(older) = older {
                        older.file.wait_queue().remove(&older);
                        items.free_slot(older.slot);
                        arc_drop(older);
                    }
                    Ok(())
                }
                None => Err(CtlError::NotFound),
            },
            EPOLL_CTL_MOD => match items.get(&key) {
                Some(epi) if epi.is_exclusive() => Err(CtlError::Invalid),
                Some(epi) => {
                    self.modify(epi, event.0 | EPOLLERR | EPOLLHUP, event.1);
                    Ok(())
                }
                None => Err(CtlError::NotFound),
            },
            _ => Err(CtlError::Invalid),
        }
    }

    /// `ep_insert`: register on the file's wait queue, then poll, as the kernel does, so
    /// that a wake-up racing with the insert is seen by one side or the other.
    fn insert<F: EpFile + 'static>(
        self: &Arc<Self>,
        items: &mut ItemMap,
        key: ItemKey,
        file: &Arc<F>,
        fd: i32,
        events: u32,
        data: u64,
    ) {
        // The item removed by the last DEL is still on its file's wait queue, dead. It
        // is revived when it has the same key. Whatever ready-list entries it still has
        // are stale (`retire` bumped its generation when it left one, and an item that
        // is not linked has no live one), and they stay stale after the revival: the
        // revived item is queued, if ready, under a new entry at the tail, where the
        // kernel's re-insert puts it.
        // A poll callback must never allocate: it runs inside hooks that a signal
        // handler may call while the program is in the middle of malloc. So the
        // ready list gets its room here, in ctl, for every item and then some (the
        // stale entries of removed items count too); `send_events` keeps its
        // spare lists as large.
        items.ready_need += 1;
        if items.ready_need > items.ready_room {
            let mut rd = self.lock_ready();
            items.ready_need = items.len() + 1 + rd.dead as usize;
            let want = 2 * items.ready_need + 16;
            if rd.list.capacity() < want {
                let more = want - rd.list.len();
                rd.list.reserve(more);
            }
            items.ready_room = rd.list.capacity();
        }
        let cached = items
            .recent
            .take_if(|old| old.fd == fd && file_key(&old.file) == key.0);
        let epi = match cached {
            Some(old) => {
                // The revived item keeps its own reference to the file: none is taken.
                // Under the ready lock, where callbacks read `dead`: one that ran before
                // saw the item dead and did nothing, and the re-poll below sees what it
                // announced; one that runs after sees a live item.
                old.file.wait_queue().note_interest(events);
                let _rd = self.lock_ready();
                old.revive(events, data);
                drop(_rd);
                old.file.wait_queue().renew(&old);
                old
            }
            None => {
                let slot = items.alloc_slot();
                if slot as usize >= items.parked_room {
                    let mut rd = self.lock_ready();
                    let want = (2 * (slot as usize + 1)).max(16);
                    rd.parked.resize_with(want, || None);
                    items.parked_room = rd.parked.len();
                }
                let file: Arc<dyn EpFile> = arc_clone(file) as Arc<dyn EpFile>;
                let epi = Arc::new(Epitem::new(arc_clone(self), file, fd, slot, events, data));
                epi.file.wait_queue().add(arc_clone(&epi));
                epi
            }
        };
        if epi.poll() & events != 0 {
            self.queue_if_unlinked(&epi);
        }
        // The map takes the creation reference: one count change per insert, not three.
        items.insert(key, epi);
    }

    /// `ep_modify`: publish the new interest, then re-poll and queue if ready.
    fn modify(&self, epi: &Arc<Epitem>, events: u32, data: u64) {
        epi.data.store(data, Ordering::Relaxed);
        // Before the mask: a wake-up with a bit MOD adds must not be skipped by the
        // file's wait queue before the re-poll below can see its state change.
        epi.file.wait_queue().note_interest(events);
        // SeqCst orders the new mask before the re-poll below, against a callback that
        // reads the mask after changing the file (the kernel's smp_mb in ep_modify).
        epi.events.store(events, Ordering::SeqCst);
        if epi.poll() & events != 0 {
            self.queue_if_unlinked(epi);
        }
    }

    /// `ep_remove` for file release, demotion and `ep_free`: forget the item, whether
    /// live or the dead one kept in `recent`, and unhook it from the file.
    fn remove(&self, items: &mut ItemMap, epi: &Arc<Epitem>) {
        let key = (file_key(&epi.file), epi.fd);
        let mut held = false;
        if items.get(&key).is_some_and(|live| Arc::ptr_eq(live, epi)) {
            items.remove(&key);
            let stale = self.retire(epi, Some(epi));
            items.note_removed(stale);
            held = true;
        }
        if items.recent.as_ref().is_some_and(|r| Arc::ptr_eq(r, epi)) {
            items.recent = None;
            self.lock_ready().unpark(epi);
            held = true;
        }
        epi.file.wait_queue().remove(epi);
        if held {
            // Once per item: it was live or the removed one kept for revival, and
            // is neither now.
            items.free_slot(epi.slot);
        }
        items.release_spare();
    }

    /// Mark a removed item dead. It stays on its file's wait queue (the caller takes it
    /// off, or keeps it for revival in `recent`); callbacks skip it from now on, because
    /// they read `dead` under the ready lock too. A ready-list entry far from the tail
    /// is left where it is, stale (`Entry`), and dropped lazily.
    ///
    /// No transfer runs (we hold `mtx` for writing), so `linked` is stable here.
    /// Returns true when the item's ready-list entry stays, stale. `leaving`: an item
    /// that leaves the instance for good (`epi` itself, or the one an earlier DEL
    /// kept for revival), whose parked reference is dropped under the same lock.
    fn retire(&self, epi: &Arc<Epitem>, leaving: Option<&Arc<Epitem>>) -> bool {
        let mut rd = self.lock_ready();
        let stale = Self::retire_locked(&mut rd, epi);
        if let Some(gone) = leaving {
            rd.unpark(gone);
        }
        stale
    }

    /// `retire` under the ready lock.
    fn retire_locked(rd: &mut ReadyGuard<'_>, epi: &Arc<Epitem>) -> bool {
        epi.dead.store(true, Ordering::Relaxed);
        if epi.linked.load(Ordering::Relaxed) {
            // A level-triggered item removed right after its delivery sits near the
            // tail, where the transfer re-queued it: unlink it there when it is close,
            // so transfers do not carry stale entries; otherwise leave it to them.
            let len = rd.list.len();
            let near_tail = rd
                .list
                .iter()
                .rev()
                .take(UNLINK_SCAN)
                .position(|e| Arc::ptr_eq(e, epi) && !e.is_stale());
            if let Some(from_tail) = near_tail {
                if let Some(entry) = rd.list.remove(len - 1 - from_tail) {
                    rd.park(entry);
                }
                epi.linked.store(false, Ordering::Relaxed);
                return false;
            }
            // The entry stays, stale from now on; the item is no longer linked by it.
            epi.gen.store(
                epi.gen.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            epi.linked.store(false, Ordering::Relaxed);
            rd.dead += 1;
            if rd.dead > 64 && rd.dead as usize * 2 > rd.list.len() {
                let before = rd.list.len();
                rd.list.retain(|e| !e.is_stale());
                note_arc_drops(before - rd.list.len());
                rd.dead = 0;
            }
            return true;
        }
        false
    }

    /// Queue an item found ready by insert or modify, and signal sleepers.
    fn queue_if_unlinked(&self, epi: &Arc<Epitem>) {
        let queued = {
            let mut rd = self.lock_ready();
            if epi.linked.load(Ordering::Relaxed) {
                false
            } else {
                epi.linked.store(true, Ordering::Relaxed);
                let entry = rd.entry_for(epi);
                rd.list.push_back(entry);
                true
            }
        };
        if queued {
            self.signal();
        }
    }

    /// `eventpoll_release_file`: the last descriptor of `file` was closed; remove every
    /// item watching it from `self`. Returns how many were removed.
    pub fn release_file(&self, file: &Arc<dyn EpFile>) -> usize {
        let mut items = self.mtx.write();
        let mine: Vec<Arc<Epitem>> = file
            .wait_queue()
            .snapshot()
            .into_iter()
            .filter(|e| std::ptr::eq(Arc::as_ptr(&e.ep), self))
            .collect();
        let live = mine
            .iter()
            .filter(|e| !e.dead.load(Ordering::Relaxed))
            .count();
        for epi in &mine {
            self.remove(&mut items, epi);
        }
        live
    }

    /// Remove every item of `file` and return their registrations `(fd, events, data)`,
    /// so that the caller can hand them to the kernel (demotion).
    pub fn take_items_of(&self, file: &Arc<dyn EpFile>) -> Vec<(i32, u32, u64)> {
        let mut items = self.mtx.write();
        let mut out = Vec::new();
        for epi in file.wait_queue().snapshot() {
            if std::ptr::eq(Arc::as_ptr(&epi.ep), self) {
                if !epi.dead.load(Ordering::Relaxed) {
                    let (events, data) = epi.registration();
                    out.push((epi.fd, events, data));
                }
                self.remove(&mut items, &epi);
            }
        }
        out
    }

    /// `ep_free`: the instance's last descriptor was closed. Unhooks every item, which
    /// also breaks the reference cycle between the instance and its items.
    pub fn free(&self) {
        let mut items = self.mtx.write();
        if let Some(old) = items.recent.take() {
            old.file.wait_queue().remove(&old);
        }
        let all: Vec<Arc<Epitem>> = items.values().cloned().collect();
        for epi in &all {
            self.remove(&mut items, epi);
        }
        items.release_all();
        let mut rd = self.lock_ready();
        rd.list.clear();
        rd.dead = 0;
        rd.spares.clear();
        rd.parked.clear();
    }

    /// Number of registered items.
    pub fn len(&self) -> usize {
        self.mtx.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the ready list holds a live entry (it may still turn out not ready
    /// when re-polled), or a transfer has items in flight (case 6: the kernel's
    /// `ep_events_available` counts an active `ovflist` too). So a sleeper does not go
    /// to sleep, and the waker is not lowered, while a transfer may still put an item
    /// back. `Seed` looks at the ready list only, as the 2007 patch did.
    pub fn has_ready(&self) -> bool {
        let rd = self.lock_ready();
        self.ready_under(&rd)
    }

    /// `has_ready`'s answer for a ready list whose lock the caller holds.
    fn ready_under(&self, rd: &ReadyList) -> bool {
        rd.live() > 0 || self.in_flight_counts(rd)
    }

    /// Take the ready lock. Its guard updates `ready_hint` when it is released.
    #[inline(always)]
    fn lock_ready(&self) -> ReadyGuard<'_> {
        ReadyGuard {
            rd: Some(self.ready.lock()),
            ep: self,
        }
    }

    /// `has_ready` without the ready lock, for the re-check that follows a swap of
    /// `raised` to false (`settle_seen`, `finish_sleep`). That re-check exists for one
    /// kind of racing callback: one that queued an item and then found `raised` still
    /// up, so skipped its raise. Its swap of `raised` comes before this caller's in the
    /// flag's order of modifications (otherwise it found the flag down and raised), so
    /// this caller's swap read from it, or from a later read-modify-write, and
    /// everything the callback did before its swap, the release of the ready lock with
    /// the item queued included, happens before this read. The read then finds that
    /// release's `ready_hint` or a later one, so it sees the item unless a later holder
    /// of the lock took it (whose transfer then delivers it). No fence, no lock: the
    /// ordering is the one the swaps on `raised` already give (and loom models
    /// read-modify-writes of one location exactly). Every other look, the first one
    /// of `settle` and `prepare_sleep`'s against the `watchers` count, pairs accesses to
    /// two different locations and keeps the lock.
    #[inline(always)]
    pub(super) fn ready_after_clear(&self) -> bool {
        self.ready_hint.load(Ordering::Relaxed) & HINT_READY != 0
    }

    /// The kernel's `ep_events_available`: whether a transfer would find anything to
    /// do, as of the last release of the ready lock, read without the lock. A wait
    /// looks here first, as `ep_poll` does, and skips the transfer (the ready lock's
    /// two locked instructions and its cache line) when the answer is no:
    /// - a blocking wait then goes on to `prepare_sleep`, whose look at the ready list
    ///   is under the lock and after the sleeper count: an item this read missed is
    ///   found there, or its callback sees the sleeper and raises;
    /// - a non-blocking wait answers 0, which the kernel's look may answer too for an
    ///   item queued at that moment ("the user by definition should not care",
    ///   `ep_poll`). An item whose queueing happens before the wait (a `write` that
    ///   returned before the program's own synchronisation with the waiting thread)
    ///   is never missed: the callback's store of the hint happens before this load,
    ///   which therefore reads it or a later store, and a later store says the entry
    ///   is gone only if a transfer took it.
    ///
    /// False exactly when a transfer would answer 0 at its first look, with nothing
    /// else done: the ready list empty, stale entries included (a transfer drops those
    /// and settles the waker), and no transfer in flight (case 6). `MultiPass`, whose
    /// empty transfer also settles the waker, always transfers.
    #[inline(always)]
    pub fn events_available(&self) -> bool {
        self.fixed.variant == Variant::MultiPass
            || self.ready_hint.load(Ordering::Relaxed) & HINT_QUEUED != 0
    }

    /// Items in flight count as available (case 6), except for `Seed`.
    fn in_flight_counts(&self, rd: &ReadyList) -> bool {
        rd.in_flight != 0 && self.fixed.variant != Variant::Seed
    }

    /// `ep_send_events`: the single-pass transfer. Copies at most `maxevents` events
    /// into `sink` and returns how many, or `Fault` if the very first copy failed.
    ///
    /// The items stay in place on the private list while the single pass re-polls,
    /// copies and decides each one: back to the tail (level-triggered and delivered) or
    /// not. Under the lock again, only the items not re-queued get a second look, for a
    /// wake-up that arrived while they were in flight (`missed`). When every item goes
    /// back (the level-triggered steady state), the private list becomes the ready list
    /// whole, with no per-item work.
    pub fn send_events(&self, sink: &mut dyn EventSink, maxevents: usize) -> Result<usize, Fault> {
        if self.fixed.variant == Variant::MultiPass {
            return self.send_events_multipass(sink, maxevents);
        }
        // The ready lock first: a transfer that finds nothing to take and nothing in
        // flight to wait for (case 6) answers 0 without the instance lock, which
        // only guards the items against ctl while they are transferred. Otherwise the
        // instance lock is taken for reading: tried under the ready lock, which ranks
        // after it, so never waited for there; when a writer holds it, the ready lock
        // is dropped and both are taken in their order.
        let mut rd = self.lock_ready();
        if rd.list.is_empty() && !self.in_flight_counts(&rd) {
            return Ok(0);
        }
        let _items = match self.mtx.try_read() {
            Some(items) => items,
            None => {
                drop(rd);
                let items = self.mtx.read();
                rd = self.lock_ready();
                items
            }
        };
        let (mut txlist, mut requeue, may_hold_stale) = {
            let mut rd = rd;
            if rd.list.is_empty() {
                match self.await_in_flight(rd) {
                    Some(guard) => rd = guard,
                    None => return Ok(0),
                }
            }
            rd.in_flight += 1;
            let mut spare = rd.spares.pop().unwrap_or_default();
            // As large as the list it replaces, so that callbacks during the transfer
            // never make it grow (see `insert`).
            let room = rd.list.capacity();
            if spare.capacity() < room {
                spare.reserve(room - spare.len());
            }
            let txlist = std::mem::replace(&mut rd.list, spare);
            // No entry turns stale during the transfer (removal needs `mtx` for
            // writing), so when none was stale at the splice the per-item check is
            // skipped.
            (txlist, std::mem::take(&mut rd.decisions), rd.dead != 0)
        };
        STATS.transfer_begin();

        let mut fault = false;
        let mut all_requeued = true;
        requeue.clear();
        let items = txlist.make_contiguous();
        let single = self.fixed.variant == Variant::SinglePass;
        // The level-triggered steady state first, in a loop of its own: while every item
        // is ready, level-triggered, without private bits and copied, each goes back and
        // nothing about it needs recording, so this loop keeps no decisions. It runs for
        // the single pass when no entry was stale at the splice, the default's common
        // case. The first item that is anything else is handed to the general loop below:
        // an item with private bits before its re-poll; one found not ready with the
        // re-poll's result (`polled`), unless a wake-up was remembered for it.
        //
        // This loop leaves `missed` alone: an item it handles goes back to the ready list
        // whatever the flag says, so a flag left set costs at most one more re-poll,
        // in the transfer that finally takes the item off (every path that unlinks an
        // item clears the flag before its re-poll: the general loop below, `prune`,
        // `prune_head`). The item the loop stops at is the exception: it may be unlinked
        // by this transfer, so when its flag is set its re-poll is redone by the general
        // loop, which clears the flag first. 29 instructions per event here (callgrind,
        // `bench-wait -n 200`), against the general loop's 60.
        let steady = if single && !may_hold_stale {
            items.len().min(maxevents)
        } else {
            0
        };
        let mut processed = 0usize;
        let mut polled = None;
        while processed < steady {
            let epi = &items[processed];
            let events = epi.events.load(Ordering::SeqCst);
            // With no private bit in `events`, the item is level-triggered and
            // `revents`, a subset of `events`, has nothing to mask before the copy.
            // Edge-triggered and ONESHOT items are left to the general loop whole.
            if events & EP_PRIVATE_BITS != 0 {
                break;
            }
            let revents = epi.poll() & events;
            if revents == 0 {
                if !epi.missed.load(Ordering::Relaxed) {
                    polled = Some((events, revents));
                }
                break;
            }
            let data = epi.data.load(Ordering::Relaxed);
            if sink.put(processed, revents, data).is_err() {
                fault = true;
                break;
            }
            processed += 1;
        }
        let mut res = processed;
        while !fault && processed < items.len() && res < maxevents {
            let epi = &items[processed];
            let mut back = false;
            if !(may_hold_stale && epi.is_stale()) {
                let copied = match polled.take() {
                    Some((events, revents)) => copy_polled(epi, sink, res, events, revents),
                    None => {
                        // Forget wake-ups the re-poll below will see; remember those
                        // after it. The plain load keeps the common case free of a
                        // locked instruction: a flag it misses is still set when the
                        // item is re-injected, and costs one extra re-poll, never a
                        // lost event.
                        if single && epi.missed.load(Ordering::Relaxed) {
                            epi.missed.swap(false, Ordering::AcqRel);
                        }
                        poll_and_copy(epi, sink, res)
                    }
                };
                match copied {
                    Err(Fault) => {
                        fault = true;
                        break;
                    }
                    Ok((events, revents)) if revents != 0 => {
                        res += 1;
                        // Level-triggered goes back; ET and (now disarmed) ONESHOT not.
                        back = events & (EPOLLET | EPOLLONESHOT) == 0;
                    }
                    Ok(_) => {}
                }
            }
            // Decisions are recorded only once one item is not re-queued: in the
            // level-triggered steady state the list is handed back whole.
            if !back && all_requeued {
                all_requeued = false;
                requeue.resize(processed, true);
            }
            if !all_requeued {
                requeue.push(back);
            }
            processed += 1;
        }

        let spliced = txlist.len();
        let (busy, left, requeued) = {
            let mut rd = self.lock_ready();
            let requeued = if all_requeued && rd.list.is_empty() {
                // Steady state: everything processed goes back, behind the leftovers.
                txlist.rotate_left(processed);
                std::mem::swap(&mut rd.list, &mut txlist);
                processed as u64
            } else {
                // While every item went back no decision was recorded: all are `true`
                // (once one was recorded, there is one per item processed).
                requeue.resize(processed, true);
                rd.reinject(&mut txlist, &requeue, may_hold_stale)
            };
            if rd.spares.len() < 4 {
                rd.spares.push(txlist);
            }
            rd.decisions = requeue;
            self.end_in_flight(&mut rd);
            STATS.add_requeues(requeued);
            let left = rd.live();
            (self.in_flight_counts(&rd), left, requeued)
        };
        let t = TransferSummary {
            spliced,
            processed,
            delivered: res,
            requeued,
            maxevents,
            left,
        };
        self.end_transfer(t, busy, fault)
    }

    /// The end every transfer shares: counters, the trace record, waking the next
    /// waiter when events remain (the seed's re-injection wake-up) or lowering the
    /// waker when none do, and the result (`Fault` only if nothing was copied).
    /// `busy`: other transfers were still in flight at the re-injection (case 6), as
    /// seen under the ready lock with `t.left`; together they are what `has_ready`
    /// would answer, and `settle_seen` takes them instead of a fresh look.
    #[inline(always)]
    fn end_transfer(&self, t: TransferSummary, busy: bool, fault: bool) -> Result<usize, Fault> {
        let res = t.delivered;
        STATS.transfer_end(res as u64);
        if super::trace::on() {
            super::trace::transfer(self, t);
        }
        if t.left > 0 {
            self.signal_next();
        } else {
            self.settle_seen(busy);
        }
        if fault && res == 0 {
            Err(Fault)
        } else {
            Ok(res)
        }
    }

    /// Case 6: the ready list is empty, but transfers in flight may hold items that
    /// they will put back (level-triggered items still ready, or items a wake-up hit
    /// while they were in flight). The kernel counts those as available
    /// (`ep_events_available` looks at `ovflist`) and its next transfer waits on
    /// `ep->mtx` for them; here a transfer waits, under `mtx` held for reading only,
    /// until the ready list has something or no transfer is in flight. Returns the
    /// guard in the first case, `None` in the second (the caller reports nothing).
    ///
    /// Transfers that find items of their own never wait, so concurrent transfers
    /// stay concurrent. `Seed` answers at once, as the 2007 patch did.
    fn await_in_flight<'a>(&'a self, mut rd: ReadyGuard<'a>) -> Option<ReadyGuard<'a>> {
        if self.fixed.variant == Variant::Seed {
            return None;
        }
        while rd.list.is_empty() {
            if rd.in_flight == 0 {
                return None;
            }
            rd = self.wait_transfer_done(rd);
        }
        Some(rd)
    }

    /// Sleep until an in-flight transfer has re-injected its items.
    #[cold]
    fn wait_transfer_done<'a>(&'a self, mut rd: ReadyGuard<'a>) -> ReadyGuard<'a> {
        STATS.in_flight_wait();
        rd.in_flight_waiters += 1;
        let mut rd = rd.wait(&self.transfer_done);
        rd.in_flight_waiters -= 1;
        rd
    }

    /// A transfer has put back what it keeps: no longer in flight. Wakes the
    /// transfers that wait for it (`await_in_flight`); they re-check the ready list.
    fn end_in_flight(&self, rd: &mut ReadyList) {
        rd.in_flight -= 1;
        if rd.in_flight_waiters != 0 {
            self.transfer_done.notify_all();
        }
    }

    /// The pre-2007 transfer (`ep_events_transfer`), kept to measure what the single
    /// pass saves. Three passes, each a walk of its own:
    ///
    /// 1. collect (`ep_collect_ready_items`), under the ready lock: take up to
    ///    `maxevents` items off the ready list onto a private transfer list. Each is
    ///    unlinked from the ready list and marked `in_tx`, so a wake-up during the
    ///    transfer queues it on the ready list again (nothing is lost, and nothing
    ///    needs `missed`), and a concurrent transfer does not collect it twice.
    /// 2. send (`ep_send_events`), with `mtx` held for reading only: re-poll each
    ///    item and copy what is ready.
    /// 3. re-inject (`ep_reinject_items`), under the ready lock: an item that is
    ///    level-triggered, was ready and is not already back on the ready list (a
    ///    wake-up may have queued it) goes to the tail.
    pub fn send_events_multipass(
        &self,
        sink: &mut dyn EventSink,
        maxevents: usize,
    ) -> Result<usize, Fault> {
        let _items = self.mtx.read();
        // Pass 1: collect. The private list and the per-item record are reused buffers,
        // as in the single pass, so the comparison is of the algorithms, not of malloc.
        let (mut txlist, mut delivered) = {
            let mut rd = self.lock_ready();
            let mut txlist = rd.spares.pop().unwrap_or_default();
            let delivered = std::mem::take(&mut rd.delivered);
            loop {
                collect_ready_items(&mut rd, &mut txlist, maxevents);
                if !txlist.is_empty() {
                    break;
                }
                // Nothing collectable: items on other transfers' lists still count as
                // available (case 6), so wait for those transfers before answering 0.
                if rd.in_flight == 0 {
                    rd.spares.push(txlist);
                    rd.delivered = delivered;
                    drop(rd);
                    self.settle();
                    return Ok(0);
                }
                rd = self.wait_transfer_done(rd);
            }
            rd.in_flight += 1;
            (txlist, delivered)
        };
        STATS.transfer_begin();

        // Pass 2: send. `delivered[i]` is what item i reported (0: nothing); after a
        // fault, items from `looked` on were not looked at.
        let mut res = 0usize;
        let mut looked = txlist.len();
        delivered.clear();
        delivered.resize(txlist.len(), 0);
        for (i, epi) in txlist.iter().enumerate() {
            match poll_and_copy(epi, sink, res) {
                Err(Fault) => {
                    looked = i;
                    break;
                }
                Ok((_, revents)) if revents != 0 => {
                    res += 1;
                    delivered[i] = revents;
                }
                Ok(_) => {}
            }
        }
        let fault = looked < txlist.len();

        // Pass 3: re-inject. Items not looked at (after a fault) go back as they were.
        let spliced = txlist.len();
        let (busy, left, requeued) = {
            let mut rd = self.lock_ready();
            let mut requeued = 0u64;
            for (i, (epi, &revents)) in txlist.drain(..).zip(delivered.iter()).enumerate() {
                epi.in_tx.store(false, Ordering::Relaxed);
                let events = epi.events.load(Ordering::Relaxed);
                let back = if i < looked {
                    events & EPOLLET == 0 && revents & events != 0
                } else {
                    true
                };
                if back && !epi.linked.load(Ordering::Relaxed) {
                    epi.linked.store(true, Ordering::Relaxed);
                    rd.list.push_back(epi);
                    requeued += 1;
                } else {
                    rd.park(epi);
                }
            }
            if rd.spares.len() < 4 {
                rd.spares.push(txlist);
            }
            rd.delivered = delivered;
            self.end_in_flight(&mut rd);
            STATS.add_requeues(requeued);
            let left = rd.live();
            (self.in_flight_counts(&rd), left, requeued)
        };
        let t = TransferSummary {
            spliced,
            processed: looked,
            delivered: res,
            requeued,
            maxevents,
            left,
        };
        self.end_transfer(t, busy, fault)
    }

    /// Raise the waker once if somebody observes the instance.
    pub(crate) fn signal(&self) {
        if self.must_raise() {
            self.fixed.waker.raise();
        }
    }

    /// A transfer left events behind: wake the next waiter (the seed's re-injection
    /// wake-up). A sleeper needs an edge, and the signal may still be up: a woken
    /// sleeper keeps it up while items are ready (`finish_sleep`), so that outer
    /// instances and pollers see the instance readable. So with sleepers the waker is
    /// raised again whether or not it is up; without, `signal` raises it only if down.
    fn signal_next(&self) {
        if self.has_sleepers() {
            self.raised.swap(true, Ordering::SeqCst);
            STATS.wakeup();
            self.fixed.waker.raise();
        } else {
            self.signal();
        }
    }

    /// The decision half of `signal`: true when the caller must raise the waker.
    fn must_raise(&self) -> bool {
        if self.watchers.load(Ordering::SeqCst) & OBSERVERS != 0
            && !self.raised.swap(true, Ordering::SeqCst)
        {
            STATS.wakeup();
            return true;
        }
        false
    }

    /// Lower a raised waker when nothing is ready, so a kernel sleeper (or an outer
    /// epoll watching the instance) does not see a stale signal. Re-checks after
    /// lowering, because a callback may have seen the flag still up and skipped its
    /// own raise.
    ///
    /// The signal is consumed *before* `raised` is cleared: a callback that raises in
    /// between either sees `raised` still up (and skips its raise, but its item is
    /// seen by the re-check) or raises after the clear (and its signal stays up).
    /// Clearing first would let `lower` swallow a raise that the re-check then takes
    /// for still pending (`settle_racing_a_callback_does_not_swallow_its_raise`).
    pub fn settle(&self) {
        if self.raised.load(Ordering::SeqCst) {
            self.settle_seen(self.has_ready());
        }
    }

    /// `settle` for a caller that has just looked at the ready list itself: `ready` is
    /// what `has_ready` answered then (a transfer's re-injection computes it under the
    /// ready lock it holds anyway). That first look only spares a needless lower; the
    /// re-check after clearing `raised` is what keeps a racing callback's item from
    /// being stranded, so a look a moment old is as good as a fresh one. Returns
    /// whether items were ready at the last look (`prepare_sleep` needs no other).
    fn settle_seen(&self, ready: bool) -> bool {
        if ready || !self.raised.load(Ordering::SeqCst) {
            return ready;
        }
        self.fixed.waker.lower();
        // A swap, not a store: as a read-modify-write it is ordered with the
        // callbacks' swaps on `raised` (and loom models it exactly).
        self.raised.swap(false, Ordering::SeqCst);
        if self.ready_after_clear() {
            self.signal();
            return true;
        }
        false
    }

    /// The waker's signal may be out of step with `raised` (its registration changed):
    /// consume whatever is pending, clear `raised`, and raise again if items are ready.
    pub fn resync_waker(&self) {
        self.fixed.waker.lower();
        self.raised.swap(false, Ordering::SeqCst);
        if self.has_ready() {
            self.signal();
        }
    }

    /// A waiter found nothing and wants to sleep. Returns false when it must transfer
    /// again instead (something became ready meanwhile). On true, the caller sleeps and
    /// then calls `finish_sleep`.
    pub fn prepare_sleep(&self) -> bool {
        // SeqCst with the ready lock: a callback that queues after this increment sees
        // it and raises; one that queued before is seen by the look at the ready list
        // below. One look is enough: `settle_seen` answers from its re-check when it
        // lowered the waker, and from the look it was given otherwise. `raised` is
        // read before that look, as `settle` does: a callback sets it only after
        // queueing, so a raise seen up is either stale or its item is seen by the
        // look (read after, a callback racing the look would make `settle_seen` lower
        // the waker and raise it again with an item queued).
        self.watchers.fetch_add(SLEEPER + 1, Ordering::SeqCst);
        let ready = if self.raised.load(Ordering::SeqCst) {
            self.settle_seen(self.has_ready())
        } else {
            self.has_ready()
        };
        if ready {
            self.watchers.fetch_sub(SLEEPER + 1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// A waiter whose `prepare_sleep` said sleep runs on `cpu`. With several waiters
    /// the last one is kept: it is only a hint for `raise_ahead`.
    pub fn note_sleeper_cpu(&self, cpu: u16) {
        if self.sleeper_cpu.load(Ordering::Relaxed) != cpu {
            self.sleeper_cpu.store(cpu, Ordering::Relaxed);
        }
    }

    /// The waiter woke up. `signalled` says whether it saw the waker's signal.
    ///
    /// As in `settle`, the signal is consumed before `raised` is cleared. The waiter
    /// transfers next, so an item whose raise was skipped meanwhile is not stranded.
    pub fn finish_sleep(&self, signalled: bool) {
        self.watchers.fetch_sub(SLEEPER + 1, Ordering::SeqCst);
        if !signalled {
            return;
        }
        if self.has_ready() {
            // The signal is true: keep it up, and owned (`raised`), so that whoever
            // looks at the instance's kernel fd meanwhile (an outer instance, poll())
            // finds it readable while this waiter transfers, as the kernel's
            // `ep_eventpoll_poll` does (it waits on `ep->mtx` for the transfer). The
            // next `settle` that finds nothing ready lowers it.
            self.raised.swap(true, Ordering::SeqCst);
            return;
        }
        // Nothing ready: lowered even with `raised` already clear, since a raise made
        // after its decision (`Raises`) can land after a settle cleared `raised`, and
        // must not stay up unowned. Re-checked after, as in `settle`.
        self.fixed.waker.lower();
        self.raised.swap(false, Ordering::SeqCst);
        if self.ready_after_clear() {
            self.signal();
        }
    }

    /// `finish_sleep` and the transfer that follows it, for a waiter with nothing else
    /// to look at (no kernel-served fds). A signalled waiter takes the signal over
    /// (`raised`) without looking at the ready list first, and the transfer's own end
    /// decides: items left keep it up (`signal_next`), none lower it (`settle_seen`).
    /// So the signal stays up while this waiter transfers, as `finish_sleep` keeps it,
    /// and a stale one is lowered after the transfer instead of before it. A transfer
    /// that answers 0 without settling (nothing on the list, nothing in flight) is
    /// followed by a `settle`. Returns the transfer's answer.
    pub fn finish_sleep_and_send(
        &self,
        signalled: bool,
        sink: &mut dyn EventSink,
        maxevents: usize,
    ) -> Result<usize, Fault> {
        self.watchers.fetch_sub(SLEEPER + 1, Ordering::SeqCst);
        // Already up: owned by whoever raised it, and lowered only by a settle that
        // re-checks after, like the one that ends the transfer below.
        if signalled && !self.raised.load(Ordering::SeqCst) {
            self.raised.swap(true, Ordering::SeqCst);
        }
        let sent = self.send_events(sink, maxevents);
        if signalled && matches!(sent, Ok(0)) {
            self.settle();
        }
        sent
    }

    /// Someone outside the engine watches the instance (poll() on it, or an outer epoll
    /// instance): keep the waker raised while items are ready.
    pub fn add_observer(&self) {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        if self.has_ready() {
            self.signal();
        }
    }

    pub fn remove_observer(&self) {
        self.watchers.fetch_sub(1, Ordering::SeqCst);
    }

    /// True while a waiter is about to sleep or asleep (`prepare_sleep` to
    /// `finish_sleep`).
    fn has_sleepers(&self) -> bool {
        self.watchers.load(Ordering::SeqCst) >= SLEEPER
    }

    /// An outer epoll instance watches this one through the kernel.
    pub fn add_kernel_watcher(&self) {
        if self.fixed.kernel_watchers.fetch_add(1, Ordering::SeqCst) == 0 {
            NESTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.add_observer();
    }

    pub fn remove_kernel_watcher(&self) {
        if self.fixed.kernel_watchers.fetch_sub(1, Ordering::SeqCst) == 1 {
            NESTED.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.remove_observer();
    }

    /// True when an outer instance watches this one through the kernel.
    pub fn has_kernel_watchers(&self) -> bool {
        self.fixed.kernel_watchers.load(Ordering::SeqCst) != 0
    }

    /// Drop ready-list entries that are no longer ready, then lower the waker if none
    /// is left. An outer instance watching through the kernel sees the waker, not the
    /// items, so a stale entry would keep it readable; the kernel's own poll of an epoll
    /// file prunes the same way (`__ep_eventpoll_poll`).
    ///
    /// As a transfer does, `missed` is cleared before the re-poll: a wake-up that
    /// arrived while the entry waited on the list is seen by the re-poll, and only one
    /// after it keeps the entry (`unlink`). Without that, an entry whose file was woken
    /// twice and then became unready stayed, and kept the waker up.
    pub fn prune(&self) {
        let _items = self.mtx.read();
        {
            let mut rd = self.lock_ready();
            let before = rd.list.len();
            rd.list.retain(|epi| {
                if epi.is_stale() {
                    return false;
                }
                if epi.missed.load(Ordering::Relaxed) {
                    epi.missed.swap(false, Ordering::AcqRel);
                }
                epi.poll() & epi.events.load(Ordering::SeqCst) != 0 || !unlink(epi)
            });
            note_arc_drops(before - rd.list.len());
            rd.dead = 0;
        }
        self.settle();
    }

    /// Drop the entries at the head of the ready list whose files are no longer ready,
    /// up to the first one that is, then lower the waker if nothing is left. A transfer
    /// that follows delivers at least one event whenever the waker is still up (it
    /// starts at the head), which is what a wait of an instance with kernel-served fds
    /// needs before the kernel's look (`files/collect.rs`). The next transfer would drop
    /// the same entries; only the head is looked at, so a long level-triggered ready
    /// list costs one re-poll, not one per entry as `prune`.
    pub fn prune_head(&self) {
        let _items = self.mtx.read();
        {
            let mut rd = self.lock_ready();
            while let Some((epi, stale)) =
                rd.list.front().map(|e| (Arc::clone(&e.epi), e.is_stale()))
            {
                if stale {
                    if let Some(entry) = rd.list.pop_front() {
                        entry.drop_stale(&mut rd.dead);
                    }
                    continue;
                } else {
                    // As in `prune`: a wake-up the re-poll sees is forgotten, one after
                    // it keeps the entry (`unlink`).
                    if epi.missed.load(Ordering::Relaxed) {
                        epi.missed.swap(false, Ordering::AcqRel);
                    }
                    if epi.poll() & epi.events.load(Ordering::SeqCst) != 0 || !unlink(&epi) {
                        break;
                    }
                }
                if let Some(entry) = rd.list.pop_front() {
                    rd.park(entry);
                }
            }
        }
        self.settle();
    }

    /// Mark a raise for kernel-side watchers, without checking `raised`: every
    /// callback is a new edge for them, so the caller always raises (`must_raise`
    /// decides for the others). The caller makes the raise.
    fn poke(&self) {
        self.raised.store(true, Ordering::SeqCst);
        STATS.wakeup();
    }
}

fn file_key(file: &Arc<dyn EpFile>) -> usize {
    Arc::as_ptr(file) as *const () as usize
}

/// `MultiPass` pass 1 (`ep_collect_ready_items`): move up to `maxevents` items from
/// the ready list onto `txlist`, marking them `in_tx`. Dead entries are dropped; items
/// already on another transfer's list (queued again by a wake-up) stay queued.
fn collect_ready_items(rd: &mut ReadyList, txlist: &mut VecDeque<Entry>, maxevents: usize) {
    let mut kept = VecDeque::new();
    while txlist.len() < maxevents {
        let Some(epi) = rd.list.pop_front() else {
            break;
        };
        if epi.is_stale() {
            epi.drop_stale(&mut rd.dead);
        } else if epi.in_tx.load(Ordering::Relaxed) {
            kept.push_back(epi); // on another transfer's list: leave it queued
        } else {
            epi.linked.store(false, Ordering::Relaxed);
            epi.in_tx.store(true, Ordering::Relaxed);
            txlist.push_back(epi);
        }
    }
    while let Some(epi) = kept.pop_back() {
        rd.list.push_front(epi);
    }
}

/// The per-item step both transfers share: re-poll the item and, if it is ready, copy
/// its event to `sink` at `index` and disarm it when it is ONESHOT. Returns the mask
/// read and the events reported (0: not ready), or `Fault` when the copy failed (the
/// item is then left as it was).
#[inline(always)]
fn poll_and_copy(
    epi: &Epitem,
    sink: &mut dyn EventSink,
    index: usize,
) -> Result<(u32, u32), Fault> {
    let events = epi.events.load(Ordering::SeqCst);
    let revents = epi.poll() & events;
    copy_polled(epi, sink, index, events, revents)
}

/// The copy half of `poll_and_copy`, for an item re-polled already: `events` is the mask
/// read before the re-poll, `revents` what it found.
#[inline(always)]
fn copy_polled(
    epi: &Epitem,
    sink: &mut dyn EventSink,
    index: usize,
    events: u32,
    revents: u32,
) -> Result<(u32, u32), Fault> {
    if revents != 0 {
        sink.put(
            index,
            revents & !EP_PRIVATE_BITS,
            epi.data.load(Ordering::Relaxed),
        )?;
        if events & EPOLLONESHOT != 0 {
            epi.events
                .store(events & EP_PRIVATE_BITS, Ordering::Relaxed);
        }
    }
    Ok((events, revents))
}

/// Take a live item off the lists, under the ready lock. Returns false, with the item
/// still linked, when a wake-up was remembered for it (`missed`) and it must stay.
/// `linked` is cleared before `missed` is read: the mirror of the callback's lock-free
/// path, which stores `missed` before it reads `linked` again.
fn unlink(epi: &Epitem) -> bool {
    epi.linked.store(false, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    unlink_end(epi)
}

/// The half of `unlink` after its fence (a transfer stores `linked` of several items,
/// fences once, then ends each): false, with the item linked again, when a wake-up was
/// remembered for it.
#[inline(always)]
fn unlink_end(epi: &Epitem) -> bool {
    if epi.missed.load(Ordering::Acquire) {
        epi.linked.store(true, Ordering::Relaxed);
        return false;
    }
    true
}

/// `ep_poll_callback`: a watched file woke up with `key`. Queues the item unless it is
/// already linked, and wakes a sleeper. Returns true when, for `EPOLLEXCLUSIVE`, the
/// wake-up counts as delivered (the kernel's `ewake`). Recorded when tracing is on.
#[inline(always)]
pub(crate) fn ep_poll_callback(epi: &Arc<Epitem>, key: u32, raises: &mut Raises) -> bool {
    if super::trace::on() {
        return super::trace::traced_callback(epi, key, || poll_callback(epi, key, raises));
    }
    poll_callback(epi, key, raises)
}

/// Waker raises decided by poll callbacks under a file's wait-queue lock and made once
/// the lock is dropped (when this is dropped). In the preload library a raise is a
/// `write(2)` to the instance's eventfd; made under the lock, it kept every other
/// thread doing I/O on the same file waiting behind a system call (one eventfd
/// producer and one consumer ran at 0.2-0.4x the kernel). The caller of the wake-up
/// still holds the file layer's gate, so no instance can be released, and its eventfd
/// closed, before the raise is made.
pub(crate) struct Raises {
    pending: [Option<Arc<EventPoll>>; 4],
    /// The CPU of the sleeper (`EventPoll::sleeper_cpu`) of an instance a callback
    /// queued an item on, or `UNKNOWN_CPU`: `WaitQueue::wake`'s answer, which a writer
    /// keeps for its next write (`WaitQueue::raise_ahead`).
    pub(crate) sleeper_cpu: u16,
}

impl Raises {
    pub(crate) fn new() -> Self {
        Raises {
            pending: [None, None, None, None],
            sleeper_cpu: UNKNOWN_CPU,
        }
    }

    fn push(&mut self, ep: &Arc<EventPoll>) {
        for slot in &mut self.pending {
            if slot.is_none() {
                *slot = Some(arc_clone(ep));
                return;
            }
        }
        ep.fixed.waker.raise(); // more instances than slots: raise at once
    }
}

impl Drop for Raises {
    fn drop(&mut self) {
        for slot in &mut self.pending {
            if let Some(ep) = slot.take() {
                ep.fixed.waker.raise();
                arc_drop(ep);
            }
        }
    }
}

/// A write by a thread on CPU `cpu` is about to wake `epi`'s file with `key`: raise
/// the instance's waker now, before the write, when the callback that follows the
/// write would raise it for a sleeper on another CPU (`WaitQueue::raise_ahead`).
///
/// The kernel wakes a sleeper from inside the write, once the data is in; so does the
/// callback here, after the real `write(2)` returns. A sleeper on another CPU that
/// sat idle takes microseconds to run again after the raise (the idle CPU is brought
/// back by an interrupt), and the writer's system call and its callback would run
/// first, one after the other; raised ahead, they run while that CPU wakes up. The
/// raise is the callback's own (`must_raise`: `raised` set by a swap), made early,
/// so the callback after the write finds `raised` up and does not raise again. To
/// the protocol a raise ahead is a raise whose item is not queued yet, like one whose
/// item another waiter took: a sleeper that wakes before the item is queued finds
/// nothing, settles (lowering the waker and clearing `raised`, then looking again)
/// and sleeps again, and the callback, finding `raised` down, raises for it
/// (`raise_ahead_racing_the_sleep_loses_no_wake_up`, loom). It never reports an
/// event, so a write that then queues nothing (it failed, or wrote 0 bytes) costs a
/// wake-up and no more.
///
/// Only where nobody but the sleepers would see the raise: not for an item already
/// queued (a waiter finds it without a raise), an exclusive watcher (the caller skips
/// them: one of them is chosen by the wake-up), an instance that an outer instance
/// watches through the kernel or that a `poll` observes (they would see the instance
/// readable before the item is there; one that begins to watch after this look can,
/// `docs/differences.md`), or one with no sleeper; and only for a sleeper on another
/// CPU: on the writer's own CPU the woken thread would preempt the writer before its
/// write.
pub(crate) fn raise_ahead(epi: &Arc<Epitem>, key: u32, cpu: u16, raises: &mut Raises) {
    let ep = &epi.ep;
    if epi.dead.load(Ordering::Relaxed)
        || epi.events.load(Ordering::Relaxed) & key & !EP_PRIVATE_BITS == 0
        || epi.linked.load(Ordering::Relaxed)
        || cpu == UNKNOWN_CPU
        || ep.sleeper_cpu.load(Ordering::Relaxed) == cpu
        || ep.fixed.kernel_watchers.load(Ordering::Relaxed) > 0
    {
        return;
    }
    let watchers = ep.watchers.load(Ordering::SeqCst);
    let sleepers = watchers / SLEEPER;
    if sleepers == 0 || watchers & OBSERVERS != sleepers {
        return; // nobody asleep, or a poller or outer instance observes
    }
    if ep.must_raise() {
        STATS.wakeup_ahead();
        raises.push(ep);
    }
}

#[inline(always)]
fn poll_callback(epi: &Arc<Epitem>, key: u32, raises: &mut Raises) -> bool {
    let ep = &epi.ep;
    if epi.dead.load(Ordering::Relaxed) {
        return false; // removed (checked again under the lock below)
    }
    let events = epi.events.load(Ordering::SeqCst);
    if events & !EP_PRIVATE_BITS == 0 {
        return false; // a disarmed ONESHOT item
    }
    if key != KEY_ALL && key & events == 0 {
        return false; // not what the item waits for
    }
    // An item already on a list only needs the wake-up remembered, which SinglePass
    // does without the lock: store `missed`, then look at `linked` again. Whoever
    // unlinks the item stores `linked` first and reads `missed` after (`unlink`), so
    // one of the two sees the other; if the item was unlinked meanwhile, the locked
    // path below queues it. The Seed variant keeps the seed's locked callback.
    let remembered =
        ep.fixed.variant == Variant::SinglePass && epi.linked.load(Ordering::Relaxed) && {
            epi.missed.store(true, Ordering::Release);
            // Store-then-load against `unlink`'s: a full fence on each side (Dekker). Fences
            // rather than SeqCst accesses, which loom models only as AcqRel.
            fence(Ordering::SeqCst);
            epi.linked.load(Ordering::Relaxed)
        };
    let queued = if remembered {
        STATS.skipped_linked();
        false
    } else {
        let mut rd = ep.lock_ready();
        if epi.dead.load(Ordering::Relaxed) {
            return false; // removed
        }
        if epi.linked.load(Ordering::Relaxed) {
            if ep.fixed.variant == Variant::SinglePass {
                epi.missed.store(true, Ordering::SeqCst);
            }
            STATS.skipped_linked();
            false
        } else {
            epi.linked.store(true, Ordering::Relaxed);
            let entry = rd.entry_for(epi);
            rd.list.push_back(entry);
            true
        }
    };
    // Only an exclusive wake-up needs to know whether a waiter sleeps (the kernel's
    // `ewake`): the others skip the load, so that a callback on an item still queued
    // reads no line of the instance the waiters write (level-triggered items stay
    // queued, so that is most of their callbacks).
    let waiting = events & EPOLLEXCLUSIVE != 0 && ep.has_sleepers();
    let raise = if ep.fixed.kernel_watchers.load(Ordering::SeqCst) > 0 {
        ep.poke();
        true
    } else {
        queued && ep.must_raise()
    };
    if raise {
        STATS.wakeup_by_callback();
        raises.push(ep);
    }
    // The hint for the next write's raise ahead: this one queued an item for a
    // sleeper whose waker is up (raised here, or ahead of the write). Where waiters
    // announce themselves but nothing is ever raised (a churn whose waits always find
    // events), the next write stays clear of the check. The ready lock's line, which
    // a queueing callback holds, has the three.
    if queued && (raise || ep.raised.load(Ordering::Relaxed)) && ep.has_sleepers() {
        raises.sleeper_cpu = ep.sleeper_cpu.load(Ordering::Relaxed);
    }
    if events & EPOLLEXCLUSIVE == 0 {
        return true;
    }
    waiting
        && match key & (EPOLLIN | EPOLLOUT) {
            EPOLLIN => events & EPOLLIN != 0,
            EPOLLOUT => events & EPOLLOUT != 0,
            0 => true,
            _ => false,
        }
}

/// The `EPOLLEXCLUSIVE` rules of `epoll_ctl` (all EINVAL), checked before the item
/// lookup as the kernel does.
pub fn check_exclusive(op: i32, events: u32, target_is_epoll: bool) -> Result<(), CtlError> {
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD {
            return Err(CtlError::Invalid);
        }
        if op == EPOLL_CTL_ADD && (target_is_epoll || events & !EPOLLEXCLUSIVE_OK_BITS != 0) {
            return Err(CtlError::Invalid);
        }
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod layout_tests {
    use super::super::mock::mock_ep;
    use super::*;

    /// The cache line of `p`, counted from the instance's start.
    fn line<T: ?Sized>(base: usize, p: *const T) -> usize {
        (p as *const u8 as usize - base) / 64
    }

    /// The line of the last byte of `*p`.
    fn last_line<T>(base: usize, p: *const T) -> usize {
        (p as *const u8 as usize + std::mem::size_of::<T>() - 1 - base) / 64
    }

    /// `EventPoll`'s layout: the write that wakes a waiter on another CPU reads, in
    /// the instance, one line that the waiters write (the ready lock's, with what its
    /// release and the raise decide by), `fixed` and the line of `parked`'s header,
    /// which nobody writes outside `ctl`. Pins the grouping against a reordered field,
    /// a grown `Fixed` or a changed padding.
    #[test]
    fn a_queueing_callback_reads_one_line_the_waiters_write() {
        let (ep, _waker) = mock_ep(Variant::SinglePass);
        let base = Arc::as_ptr(&ep) as *const u8 as usize;
        assert_eq!(base % 64, 0, "the instance starts a cache line");
        let fixed = line(base, &ep.fixed.0);
        assert_eq!(fixed, last_line(base, &ep.fixed.0));
        let hot = line(base, &ep.ready);
        assert_ne!(
            hot, fixed,
            "nothing the waiters write shares `fixed`'s line"
        );
        let rd = ep.ready.lock();
        for (name, first, last) in [
            (
                "ready_hint",
                line(base, &ep.ready_hint),
                last_line(base, &ep.ready_hint),
            ),
            (
                "raised",
                line(base, &ep.raised),
                last_line(base, &ep.raised),
            ),
            (
                "watchers",
                line(base, &ep.watchers),
                last_line(base, &ep.watchers),
            ),
            (
                "sleeper_cpu",
                line(base, &ep.sleeper_cpu),
                last_line(base, &ep.sleeper_cpu),
            ),
            ("list", line(base, &rd.list), last_line(base, &rd.list)),
            ("dead", line(base, &rd.dead), last_line(base, &rd.dead)),
            (
                "in_flight",
                line(base, &rd.in_flight),
                last_line(base, &rd.in_flight),
            ),
        ] {
            assert_eq!((first, last), (hot, hot), "{name} on the ready lock's line");
        }
        let parked = line(base, &rd.parked);
        assert_eq!(parked, last_line(base, &rd.parked));
        assert_ne!(parked, hot);
        for (name, first) in [
            ("spares", line(base, &rd.spares)),
            ("decisions", line(base, &rd.decisions)),
            ("delivered", line(base, &rd.delivered)),
        ] {
            assert!(first > parked, "{name} after the line of parked's header");
        }
    }
}
