//! Test doubles for the engine, shared by the unit tests (`tests.rs`) and the loom models
//! (`loom_models.rs`).
//!
//! Every piece of state here uses the engine's own `sync` atomics, so that under
//! `cfg(loom)` the model checker tracks the file's readiness and the waker's flag exactly
//! as it tracks the engine's protocol state.

// Each test build (std or loom) uses a different subset of the helpers.
#![allow(dead_code)]

use std::sync::Arc;

use super::eventpoll::{EventPoll, Variant, Waker};
use super::file::EpFile;
use super::sync::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use super::waitqueue::WaitQueue;

/// A file whose readiness is plain memory. Like a real file, every state change first
/// updates the readiness and then runs the wait queue with a key.
pub(crate) struct MockFile {
    ready: AtomicU32,
    wq: WaitQueue,
    /// How many times the engine re-polled the file. A std atomic even under loom: a
    /// test's observation, not protocol state for the model checker to explore.
    polls: std::sync::atomic::AtomicUsize,
}

impl MockFile {
    pub(crate) fn new(bits: u32) -> Arc<MockFile> {
        Arc::new(MockFile {
            ready: AtomicU32::new(bits),
            wq: WaitQueue::new(),
            polls: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Replace the readiness with `bits`, then wake with `key`.
    pub(crate) fn set(&self, bits: u32, key: u32) {
        self.ready.store(bits, Ordering::SeqCst);
        self.wq.wake(key);
    }

    /// Add `bits` to the readiness, then wake with `key`.
    pub(crate) fn add(&self, bits: u32, key: u32) {
        self.ready.fetch_or(bits, Ordering::SeqCst);
        self.wq.wake(key);
    }

    /// Remove `bits` from the readiness, then wake with `key`.
    pub(crate) fn clear(&self, bits: u32, key: u32) {
        self.ready.fetch_and(!bits, Ordering::SeqCst);
        self.wq.wake(key);
    }

    /// Change the readiness without any wake-up (a state change the engine is not told
    /// about, e.g. data consumed by a read that wakes nobody interested).
    pub(crate) fn set_quietly(&self, bits: u32) {
        self.ready.store(bits, Ordering::SeqCst);
    }

    /// How many times the file was polled so far.
    pub(crate) fn polls(&self) -> usize {
        self.polls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl EpFile for MockFile {
    fn poll(&self) -> u32 {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ready.load(Ordering::SeqCst)
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

/// A new mock file with readiness `bits`.
pub(crate) fn mock_file(bits: u32) -> Arc<MockFile> {
    MockFile::new(bits)
}

/// The same file as the trait object that `release_file` and `take_items_of` take (same
/// allocation, hence the same item key).
pub(crate) fn as_dyn<F: EpFile + 'static>(file: &Arc<F>) -> Arc<dyn EpFile> {
    Arc::clone(file) as Arc<dyn EpFile>
}

/// A waker that counts raises and lowers and keeps the kernel-visible flag.
pub(crate) struct MockWaker {
    raises: AtomicUsize,
    lowers: AtomicUsize,
    raised: AtomicBool,
}

impl MockWaker {
    pub(crate) fn new() -> Arc<MockWaker> {
        Arc::new(MockWaker {
            raises: AtomicUsize::new(0),
            lowers: AtomicUsize::new(0),
            raised: AtomicBool::new(false),
        })
    }

    pub(crate) fn raises(&self) -> usize {
        self.raises.load(Ordering::SeqCst)
    }

    pub(crate) fn lowers(&self) -> usize {
        self.lowers.load(Ordering::SeqCst)
    }

    /// What a sleeper in the kernel would see: the signal is readable.
    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

impl Waker for Arc<MockWaker> {
    fn raise(&self) {
        self.raises.fetch_add(1, Ordering::SeqCst);
        self.raised.store(true, Ordering::SeqCst);
    }

    fn lower(&self) {
        self.lowers.fetch_add(1, Ordering::SeqCst);
        self.raised.store(false, Ordering::SeqCst);
    }
}

/// A new instance of `variant` with a mock waker the test keeps a handle to.
pub(crate) fn mock_ep(variant: Variant) -> (Arc<EventPoll>, Arc<MockWaker>) {
    let waker = MockWaker::new();
    let ep = EventPoll::new(Box::new(Arc::clone(&waker)), variant);
    (ep, waker)
}
