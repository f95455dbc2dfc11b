//! A file's wait queue: the epitems watching it, woken by the file layer whenever the
//! file's readiness may have changed (the kernel's `wait_queue_head_t` with
//! `ep_poll_callback` entries).
//!
//! As in the kernel, non-exclusive watchers are all woken, then exclusive watchers in
//! order until one of them reports that it woke a waiter (`EPOLLEXCLUSIVE`).

use std::sync::Arc;

use super::epitem::Epitem;
use super::eventpoll::ep_poll_callback;
use super::sync::{AtomicUsize, Mutex, Ordering};

/// The watchers of one file.
#[derive(Default)]
pub struct WaitQueue {
    entries: Mutex<Vec<Arc<Epitem>>>,
    /// Number of entries, readable without the lock so that a wake-up of an unwatched
    /// file costs one load. Written under `entries`' lock.
    count: AtomicUsize,
}

impl WaitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when at least one epitem watches the file.
    pub fn is_watched(&self) -> bool {
        self.count.load(Ordering::SeqCst) != 0
    }

    /// Runs the poll callback of every watcher whose interest matches `key`
    /// (`KEY_ALL` reaches all).
    pub fn wake(&self, key: u32) {
        // SeqCst pairs with the SeqCst store in `add`: either this load sees the new
        // watcher, or the watcher's first poll (after `add`) sees the state change that
        // preceded this wake-up.
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let entries = self.entries.lock();
        for epi in entries.iter().filter(|e| !e.is_exclusive()) {
            ep_poll_callback(epi, key);
        }
        for epi in entries.iter().filter(|e| e.is_exclusive()) {
            if ep_poll_callback(epi, key) {
                break;
            }
        }
    }

    pub(crate) fn add(&self, epi: Arc<Epitem>) {
        let mut entries = self.entries.lock();
        entries.push(epi);
        self.count.store(entries.len(), Ordering::SeqCst);
    }

    pub(crate) fn remove(&self, epi: &Arc<Epitem>) {
        let mut entries = self.entries.lock();
        if let Some(pos) = entries.iter().position(|e| Arc::ptr_eq(e, epi)) {
            entries.remove(pos);
        }
        // A wake-up that still sees the old count only finds the entry gone.
        self.count.store(entries.len(), Ordering::Release);
    }

    /// The current watchers, for file release and demotion.
    pub(crate) fn snapshot(&self) -> Vec<Arc<Epitem>> {
        self.entries.lock().clone()
    }
}
