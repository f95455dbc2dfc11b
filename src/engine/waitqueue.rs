//! A file's wait queue: the epitems watching it, woken by the file layer whenever the
//! file's readiness may have changed (the kernel's `wait_queue_head_t` with
//! `ep_poll_callback` entries).
//!
//! As in the kernel, non-exclusive watchers are all woken, newest registration first
//! (`add_wait_queue` inserts at the head), then exclusive watchers oldest first
//! (`add_wait_queue_exclusive` appends) until one of them reports that it woke a waiter
//! (`EPOLLEXCLUSIVE`). The order decides the ready-list order when one wake-up queues
//! several items of an instance (the same file under two fd numbers).

use std::sync::Arc;

use super::epitem::Epitem;
use super::eventpoll::{ep_poll_callback, raise_ahead, Raises, UNKNOWN_CPU};
use super::events::{EP_PRIVATE_BITS, KEY_ALL};
use super::sync::{arc_drop, AtomicU32, AtomicUsize, Mutex, Ordering};

/// A watcher list that holds the common single watcher without a heap allocation
/// (memory per registered fd is one of the benchmark's targets).
#[derive(Default)]
enum Watchers {
    #[default]
    Empty,
    One(Arc<Epitem>),
    /// Once a file had two watchers it keeps its vector, even when they leave.
    Many(Vec<Arc<Epitem>>),
}

impl Watchers {
    fn as_slice(&self) -> &[Arc<Epitem>] {
        match self {
            Watchers::Empty => &[],
            Watchers::One(e) => std::slice::from_ref(e),
            Watchers::Many(v) => v,
        }
    }

    fn push(&mut self, epi: Arc<Epitem>) {
        *self = match std::mem::take(self) {
            Watchers::Empty => Watchers::One(epi),
            Watchers::One(first) => Watchers::Many(vec![first, epi]),
            Watchers::Many(mut v) => {
                v.push(epi);
                Watchers::Many(v)
            }
        };
    }

    /// Take out `epi`, if present.
    fn remove(&mut self, epi: &Arc<Epitem>) -> Option<Arc<Epitem>> {
        let pos = self.as_slice().iter().position(|e| Arc::ptr_eq(e, epi))?;
        match std::mem::take(self) {
            Watchers::Empty => None,
            Watchers::One(e) => Some(e),
            Watchers::Many(mut v) => {
                let e = v.remove(pos);
                *self = Watchers::Many(v);
                Some(e)
            }
        }
    }
}

/// The watchers of one file.
#[derive(Default)]
pub struct WaitQueue {
    entries: Mutex<Watchers>,
    /// Number of entries, readable without the lock so that a wake-up of an unwatched
    /// file costs one load. Written under `entries`' lock.
    count: AtomicUsize,
    /// Every event bit some watcher asked for since the queue last had no watcher: a
    /// superset of the union of the entries' masks, readable without the lock, so that
    /// a keyed wake-up no watcher waits for costs one load instead of the lock and a
    /// filtered callback per entry (an eventfd read wakes with `EPOLLOUT`, which an
    /// `EPOLLIN` watcher filters out). Bits are added before a mask that has them is
    /// published (`add`, `note_interest`) and only dropped when the last entry leaves;
    /// a mask that shrinks leaves its bits here, which only costs the lock again.
    /// Written only under `entries`' lock, so plain loads and stores suffice.
    interest: AtomicU32,
}

impl WaitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when at least one epitem watches the file.
    pub fn is_watched(&self) -> bool {
        self.count.load(Ordering::SeqCst) != 0
    }

    /// True when a watcher's interest matches `key`, so that `wake(key)` could queue
    /// it: the file layer asks before an expensive question (a `poll` of the kernel)
    /// that decides only whether to wake. A registration added or modified
    /// meanwhile polls the file itself, as after `is_watched`.
    pub fn wants(&self, key: u32) -> bool {
        if !self.is_watched() || !self.may_want(key) {
            return false;
        }
        let guard = self.entries.lock();
        guard
            .as_slice()
            .iter()
            .any(|e| e.events.load(Ordering::SeqCst) & key != 0)
    }

    /// Runs the poll callback of every watcher whose interest matches `key`
    /// (`KEY_ALL` reaches all). Answers the CPU of the sleeper of an instance that a
    /// callback queued an item on (`UNKNOWN_CPU`: none): a writer keeps it as its hint
    /// for `raise_ahead`.
    pub fn wake(&self, key: u32) -> u16 {
        // SeqCst pairs with the SeqCst store in `add`: either this load sees the new
        // watcher, or the watcher's first poll (after `add`) sees the state change that
        // preceded this wake-up.
        if self.count.load(Ordering::SeqCst) == 0 {
            return UNKNOWN_CPU;
        }
        // The same pairing with `note_interest`, for a mask that gains `key` (MOD, an
        // ADD that revives an item): either this load sees the bit, or the re-poll
        // after the new mask sees the state change. Every callback would filter the
        // key out (`poll_callback`), so none runs; with tracing on they run, to be
        // recorded as filtered.
        if !self.may_want(key) && !super::trace::on() {
            return UNKNOWN_CPU;
        }
        // Declared before the guard, so dropped after it: the raises are made once
        // the lock is released.
        let mut raises = Raises::new();
        let guard = self.entries.lock();
        let entries = guard.as_slice();
        for epi in entries.iter().rev().filter(|e| !e.is_exclusive()) {
            ep_poll_callback(epi, key, &mut raises);
        }
        for epi in entries.iter().filter(|e| e.is_exclusive()) {
            if ep_poll_callback(epi, key, &mut raises) {
                break;
            }
        }
        raises.sleeper_cpu
    }

    /// A write that will wake this queue with `key` is about to be made by a thread
    /// on the CPU that `cpu` tells: raise, before it, the wakers that its wake-up would
    /// raise for sleepers on other CPUs (`eventpoll::raise_ahead` says when and why).
    /// The caller asks only when the file's last wake-up found a sleeper on another
    /// CPU (`wake`'s answer). Non-exclusive watchers only: of exclusive ones the
    /// wake-up picks one.
    pub fn raise_ahead(&self, key: u32, cpu: u16) {
        // Declared before the guard, so dropped after it, as in `wake`.
        let mut raises = Raises::new();
        let guard = self.entries.lock();
        for epi in guard.as_slice().iter().filter(|e| !e.is_exclusive()) {
            raise_ahead(epi, key, cpu, &mut raises);
        }
    }

    pub(crate) fn add(&self, epi: Arc<Epitem>) {
        let mut entries = self.entries.lock();
        // Published by `count`'s store below: a wake-up that sees the new count sees
        // the bits; one that sees the old count comes before the insert's re-poll.
        // A plain store, so that an ADD pays no locked instruction for it.
        self.widen_interest(
            &entries,
            epi.events.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        entries.push(epi);
        self.count.store(entries.as_slice().len(), Ordering::SeqCst);
    }

    /// A watcher's mask is about to become `events`: add its bits to `interest` before
    /// the mask is published and the file re-polled (the caller's order), so that a
    /// wake-up with one of them is not skipped unseen. One load when the bits are known
    /// already, as for a ONESHOT re-arm or a re-ADD of the same mask; otherwise, once
    /// per bit for the file's life, the lock (interest has one writer at a time) and a
    /// sequentially consistent store, the other half of the wake-up's load. Not under
    /// the caller's `entries` lock.
    pub(crate) fn note_interest(&self, events: u32) {
        let bits = events & !EP_PRIVATE_BITS;
        if self.interest.load(Ordering::SeqCst) & bits != bits {
            let entries = self.entries.lock();
            self.widen_interest(&entries, bits, Ordering::SeqCst);
        }
    }

    /// Whether some watcher may want a wake-up with `key`: `KEY_ALL` reaches every
    /// watcher; a keyed one only those whose mask has one of its bits, and `interest`
    /// holds every such bit.
    fn may_want(&self, key: u32) -> bool {
        key == KEY_ALL || self.interest.load(Ordering::SeqCst) & key != 0
    }

    /// Add the bits of `events` to `interest`, storing with `order` when any is new.
    /// `_entries`, the queue's lock held, is what makes a plain load and store enough:
    /// every writer of the word holds it.
    fn widen_interest(&self, _entries: &Watchers, events: u32, order: Ordering) {
        let bits = events & !EP_PRIVATE_BITS;
        let now = self.interest.load(Ordering::Relaxed);
        if now & bits != bits {
            self.interest.store(now | bits, order);
        }
    }

    /// A revived item counts as registered anew, as the kernel's re-insert would be: it
    /// becomes the newest entry. A lone watcher has no order to keep (no lock taken).
    pub(crate) fn renew(&self, epi: &Arc<Epitem>) {
        if self.count.load(Ordering::SeqCst) < 2 {
            return;
        }
        let mut entries = self.entries.lock();
        if let Some(e) = entries.remove(epi) {
            entries.push(e);
        }
    }

    pub(crate) fn remove(&self, epi: &Arc<Epitem>) {
        let mut entries = self.entries.lock();
        if let Some(entry) = entries.remove(epi) {
            arc_drop(entry);
        }
        // A wake-up that still sees the old count only finds the entry gone.
        let left = entries.as_slice().len();
        if left == 0 {
            // No watcher is left whose mask a MOD could be changing meanwhile (an item
            // is changed only while it is an entry here), so nothing is lost.
            self.interest.store(0, Ordering::Relaxed);
        }
        self.count.store(left, Ordering::Release);
    }

    /// The current watchers, for file release and demotion.
    pub(crate) fn snapshot(&self) -> Vec<Arc<Epitem>> {
        self.entries.lock().as_slice().to_vec()
    }
}
