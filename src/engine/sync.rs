//! The engine's synchronisation types, switched to loom's under `cfg(loom)` so that the
//! model checker explores every interleaving of the real protocol code.
//!
//! The lock wrappers ignore poisoning: the library is built with `panic = "abort"`, so a
//! poisoned lock cannot be observed, and `unwrap()` would put panicking code on hook paths.
//! Reference counting stays `std::sync::Arc`: it is not part of the protocol under test.
//! The std locks are futex words, which keeps them usable in a `fork()` child (no parked
//! thread queues in shared tables, unlike parking_lot).

#[cfg(loom)]
use loom::sync as imp;
#[cfg(not(loom))]
use std::sync as imp;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(all(not(loom), not(feature = "count-atomics")))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
// With `count-atomics`, the same API through wrappers that count each locked
// instruction (`counting.rs`).
#[cfg(all(not(loom), feature = "count-atomics"))]
pub(crate) use super::counting::wrappers::{
    fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(all(not(loom), feature = "count-atomics"))]
pub(crate) use std::sync::atomic::Ordering;

/// Atomics that stay std's under loom too: process-wide statics (loom's atomics cannot
/// be built in a `static`) and the file layer, which loom builds leave out. Counted
/// like the others with `count-atomics`.
pub(crate) mod plain {
    // Loom builds leave the file layer out, which uses most of these.
    #![cfg_attr(loom, allow(unused_imports))]
    #[cfg(feature = "count-atomics")]
    pub(crate) use super::super::counting::wrappers::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
    };
    pub(crate) use std::sync::atomic::Ordering;
    #[cfg(not(feature = "count-atomics"))]
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
    };
}

use super::counting::{note, Kind};

/// Take another reference to `arc`: one locked increment, counted (`counting.rs`).
#[inline(always)]
pub(crate) fn arc_clone<T: ?Sized>(arc: &std::sync::Arc<T>) -> std::sync::Arc<T> {
    note(Kind::Arc, 1);
    std::sync::Arc::clone(arc)
}

/// Drop a reference: one locked decrement, counted (`counting.rs`).
#[inline(always)]
pub(crate) fn arc_drop<T: ?Sized>(arc: std::sync::Arc<T>) {
    note(Kind::Arc, 1);
    drop(arc);
}

/// `n` references dropped at once (a list filtered in place), counted.
#[inline(always)]
pub(crate) fn note_arc_drops(n: usize) {
    note(Kind::Arc, n as u64);
}

/// A std mutex taken directly (the file layer's few, outside `Mutex` below): its two
/// RMWs, counted (`counting.rs`).
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))] // the file layer is left out of loom builds
pub(crate) fn note_lock() {
    note(Kind::Lock, 2);
}

pub(crate) use imp::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

/// A mutex that never reports poisoning.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

// A contended acquisition goes straight to std's lock, which spins a bounded
// 100 `pause`s (about 2.5 µs on the 2026-12-03 host) before it sleeps on the futex: long
// enough for a holder that is running on another CPU, whose critical sections here last
// tens to hundreds of nanoseconds. It used to try 16 more rounds with exponential
// backoff first (about 700 `pause`s, 17 µs there); with more threads than CPUs (16
// threads on 2 in the churn benchmark) the holder is often preempted, and that spinning
// burnt the slice another thread could have used: a quarter of the CPU time per event
// (`docs/benchmarks.md`, "Many threads").

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        if let Ok(guard) = self.0.try_lock() {
            note(Kind::Lock, 2); // the acquiring CAS and the releasing swap
            return guard;
        }
        note(Kind::Lock, 1); // the failed CAS
        self.lock_contended()
    }

    #[cold]
    fn lock_contended(&self) -> MutexGuard<'_, T> {
        note(Kind::Lock, 2);
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// A condition variable over `Mutex`, that never reports poisoning. Only transfers
/// wait on it (case 6: a waiter that finds the ready list empty while another
/// transfer has its items in flight); poll callbacks never do.
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    /// Release `guard`'s mutex, sleep until notified, and take the mutex again.
    /// Callers re-check their condition in a loop (spurious wake-ups).
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        note(Kind::Lock, 2); // the mutex released and taken again
        self.0
            .wait(guard)
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn notify_all(&self) {
        note(Kind::Lock, 1);
        self.0.notify_all();
    }
}

/// A read/write lock that never reports poisoning.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(imp::RwLock<T>);

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(imp::RwLock::new(value))
    }

    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        #[cfg(not(loom))]
        if let Ok(guard) = self.0.try_read() {
            note(Kind::Lock, 2); // the acquiring CAS and the releasing fetch_sub
            return guard;
        }
        note(Kind::Lock, 1); // the failed CAS
        self.read_contended()
    }

    /// Take the lock for reading if that needs no waiting: one CAS, counted as the
    /// acquiring CAS and the releasing fetch_sub on success, the failed CAS otherwise.
    /// It never blocks, so it may be called with a lock that ranks after this one held.
    ///
    /// Under loom it always fails: loom 0.7 treats a pending `try_read` as a blocking
    /// acquisition (a writer that takes the lock meanwhile marks the trying thread
    /// blocked, and holding another lock that writer then needs is reported as a
    /// deadlock that cannot happen). The callers' fallback (drop what they hold, then
    /// take the locks in order) covers every execution of the success path: it is the
    /// fallback with nothing happening between the two acquisitions.
    #[inline]
    pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        #[cfg(loom)]
        return None;
        #[cfg(not(loom))]
        match self.0.try_read() {
            Ok(guard) => {
                note(Kind::Lock, 2);
                Some(guard)
            }
            Err(_) => {
                note(Kind::Lock, 1);
                None
            }
        }
    }

    #[cold]
    fn read_contended(&self) -> RwLockReadGuard<'_, T> {
        note(Kind::Lock, 2);
        self.0.read().unwrap_or_else(|poison| poison.into_inner())
    }

    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        #[cfg(not(loom))]
        if let Ok(guard) = self.0.try_write() {
            note(Kind::Lock, 2); // the acquiring CAS and the releasing fetch_sub
            return guard;
        }
        note(Kind::Lock, 1); // the failed CAS
        self.write_contended()
    }

    #[cold]
    fn write_contended(&self) -> RwLockWriteGuard<'_, T> {
        note(Kind::Lock, 2);
        self.0.write().unwrap_or_else(|poison| poison.into_inner())
    }
}
