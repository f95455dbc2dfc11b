//! The gate: a reader-biased lock over the fd table.
//!
//! Every hook that touches engine state enters the gate for reading; fd creation,
//! close, dup, demotion and `fork` enter it for writing. Reads outnumber writes by
//! orders of magnitude, so a read touches no shared cache line: each thread owns a
//! `ReaderSlot` and marks itself `active` with a plain store, then a full fence, then
//! reads `WRITER`. A writer raises `WRITER`, fences, and waits until no slot is
//! active. The two fences make the store-then-load pairs a Dekker handshake: either
//! the writer sees a reader's `active`, or the reader sees `WRITER` and backs off to
//! wait for the writer.
//!
//! ## Why readers fence themselves (and no `membarrier`)
//!
//! The reader's fence is one locked instruction on the thread's own stack (LLVM emits
//! `lock or $0, (%rsp)` for a sequentially consistent fence on x86-64), so it never
//! bounces a cache line between threads. The asymmetric alternative, readers with a
//! compiler fence only and writers forcing a barrier on every thread with
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, was measured against it
//! (`docs/benchmarks.md`, "The gate's fence"): it saves that locked instruction per
//! hook call (6-19% on token churn and ctl, nothing measurable on waits) but adds a
//! system call, and an interrupt of every CPU running a thread of the program, to
//! every fd creation and close: pipe-and-close churn was 16-22% slower at 1, 2 and 4
//! threads, and that cost grows with the number of CPUs.
//!
//! ## State machine of a reader slot
//!
//! ```text
//!   idle --enter: active=true; fence--> WRITER? --no--> inside --leave: active=false--> idle
//!                                          |yes
//!                                          +--> active=false; wait for the writer; retry
//! ```
//!
//! A writer: take `WRITERS`; `WRITER=true`; fence; wait until every slot's `active`
//! reads false; work; `WRITER=false` (release). Both fences are in the single total
//! order of sequentially consistent fences: if the reader's comes first, the writer's
//! load after its own fence sees `active` (or the reader's later leaving); if the
//! writer's comes first, the reader's load after its fence sees `WRITER`.
//!
//! ## Waiting with signals blocked
//!
//! A thread that waits in the gate (a reader behind a writer, a writer behind another
//! writer, or behind a reader that was preempted inside) is inside the library, so a signal handler's
//! hook on it can only leave a deferred record (`deferred.rs`). Such a wait can last a
//! scheduler time slice, and each return from `futex` or `sched_yield` delivers the
//! signals pending by then: under a signal storm (`torture signals` on a loaded
//! machine) the thread's fixed record buffer overflowed in about half the runs, and
//! every served file was handed to the kernel. So these waits block signals: at most
//! one of each signal is pending when the wait ends, and its handler runs then.

use crate::engine::sync::plain::{fence, AtomicBool, AtomicU64, Ordering};
use std::cell::{Cell, UnsafeCell};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::engine::sync::note_lock;
use crate::sys;

/// One thread's reader flag and library state, on its own cache line. Only its
/// thread (and that thread's signal handlers) touch `in_library` and `deferred`.
///
/// The two are separate bytes, each with a single writer at a time, so that neither
/// needs a locked instruction: when they shared one byte, the thread's
/// load-and-store that cleared `IN_LIBRARY` could overwrite the `DEFERRED` mark a
/// signal handler set in between, and that handler's accounting was never replayed
/// (a lost wake-up, found by `torture signals`).
#[repr(align(64))]
pub struct ReaderSlot {
    active: AtomicBool,
    /// Owned by a live thread (a slot is reused after its thread exits).
    in_use: AtomicBool,
    /// The thread runs library code that takes engine or table locks: a hook entered
    /// meanwhile on this thread (a signal handler, or the library's own code calling a
    /// hooked function) passes straight through to libc. Written by the thread; a
    /// handler that enters the library restores it before returning.
    in_library: AtomicBool,
    /// A hook re-entered from a signal handler left accounting for later. Set by the
    /// handler, cleared by the thread (`take_deferred`).
    deferred: AtomicBool,
    /// This thread's `close` calls on numbers the table does not serve: how many began
    /// (from bit 16, `CLOSE_BEGUN`) and how many are in progress (the low 16 bits).
    /// Written by the thread (and its signal handlers) only. See `UnservedClose`.
    closes: AtomicU64,
}

/// Every slot ever handed out; slots are leaked on purpose (they are reused).
static REGISTRY: Mutex<Vec<&'static ReaderSlot>> = Mutex::new(Vec::new());
/// A writer is inside or waiting for readers to leave.
static WRITER: AtomicBool = AtomicBool::new(false);
/// Serialises writers; readers that met `WRITER` wait on it.
static WRITERS: Mutex<()> = Mutex::new(());

thread_local! {
    static MY_SLOT: Cell<Option<&'static ReaderSlot>> = const { Cell::new(None) };
    static RELEASE: SlotRelease = const { SlotRelease };
}

/// Hands the thread's slot back when the thread exits.
struct SlotRelease;

impl Drop for SlotRelease {
    fn drop(&mut self) {
        let _ = MY_SLOT.try_with(|s| {
            if let Some(slot) = s.take() {
                slot.in_use.store(false, Ordering::Release);
            }
        });
    }
}

fn my_slot() -> &'static ReaderSlot {
    match MY_SLOT.with(Cell::get) {
        Some(slot) => slot,
        None => register(),
    }
}

/// The thread's first use: take a free slot or make one. Signals are blocked
/// meanwhile, so a handler's hook cannot find the registry locked by its own thread.
#[cold]
fn register() -> &'static ReaderSlot {
    let _errno = sys::ErrnoGuard::save();
    let _blocked = sys::SignalsBlocked::block_all();
    note_lock();
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let slot = match registry.iter().find(|s| {
        s.in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }) {
        Some(slot) => {
            slot.in_library.store(false, Ordering::Relaxed);
            slot.deferred.store(false, Ordering::Relaxed);
            // Left by a thread cancelled inside a close, if any: it never ends.
            slot.closes
                .fetch_and(!CLOSES_IN_PROGRESS, Ordering::Relaxed);
            *slot
        }
        None => {
            let slot: &'static ReaderSlot = Box::leak(Box::new(ReaderSlot {
                active: AtomicBool::new(false),
                in_use: AtomicBool::new(true),
                in_library: AtomicBool::new(false),
                deferred: AtomicBool::new(false),
                closes: AtomicU64::new(0),
            }));
            registry.push(slot);
            slot
        }
    };
    drop(registry);
    MY_SLOT.with(|s| s.set(Some(slot)));
    // Touch the release guard so that its destructor is registered for this thread.
    let _ = RELEASE.try_with(|_| ());
    slot
}

/// True when this thread has its gate slot (tests: a close must not take one).
#[cfg(test)]
pub(crate) fn has_slot() -> bool {
    MY_SLOT.with(Cell::get).is_some()
}

/// True when this thread is already inside the library.
pub fn in_library() -> bool {
    MY_SLOT
        .with(Cell::get)
        .is_some_and(|s| s.in_library.load(Ordering::Relaxed))
}

/// Mark this thread as inside (or outside) the library.
pub fn set_in_library(value: bool) {
    my_slot().in_library.store(value, Ordering::Relaxed);
}

/// Enter the library: the thread's slot, or `None` when the thread is already inside.
#[inline]
pub fn enter_library() -> Option<&'static ReaderSlot> {
    let slot = my_slot();
    if slot.in_library.load(Ordering::Relaxed) {
        return None;
    }
    slot.in_library.store(true, Ordering::Relaxed);
    Some(slot)
}

/// Leave the library; true when deferred accounting waits to be replayed.
#[inline]
pub fn leave_library(slot: &ReaderSlot) -> bool {
    slot.in_library.store(false, Ordering::Relaxed);
    // A handler that runs after the store enters the library itself; one that ran
    // before it left its mark, seen here.
    slot.deferred.load(Ordering::Relaxed)
}

/// Note that deferred accounting waits (set from a signal handler, whose thread is
/// inside the library and so has a slot).
pub fn mark_deferred() {
    my_slot().deferred.store(true, Ordering::Relaxed);
}

/// Take the deferred mark (before replaying).
pub fn take_deferred() -> bool {
    my_slot().deferred.swap(false, Ordering::Relaxed)
}

/// One `closes` step: a close began (and is in progress).
const CLOSE_BEGUN: u64 = 1 << 16 | 1;
/// The in-progress part of `closes`.
const CLOSES_IN_PROGRESS: u64 = 0xffff;

/// An unserved `close` in progress on this thread, from before its "not served" check
/// until after the real call.
///
/// `close` on a number the table does not serve takes no lock, and a file promotion
/// (`filepromo.rs`, under the write side) may find the number open and install it
/// between that check and the real call: the table would then keep an entry for a
/// closed number, and the engine the file's items, reported after the file's last close
/// (found by `torture churn`). The close announces itself here first: it adds to the
/// thread's own word, then looks at the served bit (`table::is_served_now`); a promotion
/// installs its numbers, then compares every slot's word with a snapshot taken before
/// it looked at the numbers (`CloseSnapshot`). Between each side's store and its load
/// there is a full barrier, so either the close sees the number served (and takes the
/// served path, which waits for the promotion), or the promotion sees the word moved
/// (and undoes its installs, to try again later).
///
/// The barriers are asymmetric when the kernel allows it: closes are frequent and
/// promotions rare, so a close has only a compiler fence, and the promotion makes every
/// running thread of the process execute a full barrier with
/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (registered at start-up, and again in
/// a fork child, which does not inherit it). Without it, the close fences itself.
///
/// The word is changed by plain loads and stores of its own thread. A signal handler
/// that closes while the thread is between its load and its store runs to its end
/// before the thread stores, so the handler's step may be lost but the thread's own is
/// not: a snapshot taken meanwhile sees a close in progress (the thread's), and one
/// taken before sees the word moved by the thread's step.
///
/// ```text
///   word += BEGUN|1; barrier --> served now? --yes--> word -= 1; the served path
///                                     |no
///                                     +--> real close --> word -= 1
/// ```
pub struct UnservedClose {
    word: &'static AtomicU64,
    /// `UNSLOTTED`: shared with other threads, so changed by read-modify-writes.
    shared: bool,
}

/// The closes of threads that have no gate slot yet. A slot is allocated at a thread's
/// first entry into the library, and a close must not allocate: an allocator may close
/// a descriptor through `syscall(SYS_close)` while it holds its own lock (jemalloc does,
/// at start-up), and a slot allocated there deadlocks (redis-server hung at start-up).
static UNSLOTTED: AtomicU64 = AtomicU64::new(0);

/// `membarrier` is registered: closes use a compiler fence (`UnservedClose`).
static ASYMMETRIC: AtomicBool = AtomicBool::new(false);

/// At start-up and in a fork child (single-threaded then): register for `membarrier`.
pub fn init_close_barrier() {
    ASYMMETRIC.store(sys::membarrier_register(), Ordering::SeqCst);
}

/// The barrier on the promotion's side: true when done.
fn close_barrier_writer() -> bool {
    if ASYMMETRIC.load(Ordering::Relaxed) {
        sys::membarrier_expedited()
    } else {
        fence(Ordering::SeqCst);
        true
    }
}

impl UnservedClose {
    #[inline]
    pub fn begin() -> Self {
        let Some(slot) = MY_SLOT.with(Cell::get) else {
            UNSLOTTED.fetch_add(CLOSE_BEGUN, Ordering::SeqCst);
            return UnservedClose {
                word: &UNSLOTTED,
                shared: true,
            };
        };
        let w = slot.closes.load(Ordering::Relaxed);
        slot.closes
            .store(w.wrapping_add(CLOSE_BEGUN), Ordering::Relaxed);
        if ASYMMETRIC.load(Ordering::Relaxed) {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
        UnservedClose {
            word: &slot.closes,
            shared: false,
        }
    }
}

impl Drop for UnservedClose {
    #[inline]
    fn drop(&mut self) {
        if self.shared {
            self.word.fetch_sub(1, Ordering::Release);
        } else {
            let w = self.word.load(Ordering::Relaxed);
            self.word.store(w.wrapping_sub(1), Ordering::Release);
        }
    }
}

/// Every thread's unserved-close word, taken by a writer before it looks at fd numbers
/// it may install (`UnservedClose`).
pub struct CloseSnapshot {
    words: Vec<u64>,
    unslotted: u64,
}

impl CloseSnapshot {
    /// Every slot's word (in registry order) and the word of threads without a slot.
    fn read() -> (Vec<u64>, u64) {
        note_lock();
        let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        let words = registry
            .iter()
            .map(|s| s.closes.load(Ordering::SeqCst))
            .collect();
        drop(registry);
        (words, UNSLOTTED.load(Ordering::SeqCst))
    }

    /// The words now, or `None` when a close is in progress somewhere.
    pub fn take() -> Option<Self> {
        fence(Ordering::SeqCst);
        let (words, unslotted) = Self::read();
        let quiet = words
            .iter()
            .chain([&unslotted])
            .all(|w| w & CLOSES_IN_PROGRESS == 0);
        quiet.then_some(CloseSnapshot { words, unslotted })
    }

    /// After installing: true when no unserved close began since `take` (slots made
    /// since then must still be at zero).
    pub fn unchanged(&self) -> bool {
        // Dekker with `UnservedClose::begin` (see there).
        if !close_barrier_writer() {
            return false;
        }
        let (words, unslotted) = Self::read();
        unslotted == self.unslotted
            && words
                .iter()
                .enumerate()
                .all(|(i, &w)| w == self.words.get(i).copied().unwrap_or(0))
    }
}

/// Held across `fork` (with the write side of the lock), so that the registry is not
/// left locked by a thread that does not exist in the child.
pub struct ForkRegistry(MutexGuard<'static, Vec<&'static ReaderSlot>>);

/// Before fork, after taking the write side: hold the registry too.
pub fn fork_prepare() -> ForkRegistry {
    note_lock();
    ForkRegistry(REGISTRY.lock().unwrap_or_else(|p| p.into_inner()))
}

impl ForkRegistry {
    /// In the child: only the forking thread exists. A reader that was backing off at
    /// the instant of the fork may have left its slot marked active; clear every slot
    /// but ours, and free them for reuse.
    pub fn reset_in_child(self) {
        let mine = MY_SLOT.with(Cell::get);
        for slot in self.0.iter() {
            if mine.is_some_and(|m| std::ptr::eq(m, *slot)) {
                continue;
            }
            slot.active.store(false, Ordering::Relaxed);
            slot.in_use.store(false, Ordering::Relaxed);
            // A close in progress on a thread the child does not have never ends there.
            slot.closes
                .fetch_and(!CLOSES_IN_PROGRESS, Ordering::Relaxed);
        }
    }
}

/// A lock whose read side costs two plain stores, a load and a fence on the stack.
pub struct GateLock<T> {
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is shared only among readers (no writer is inside while a
// reader slot is active) and exclusive for the one writer holding `WRITERS` after every
// reader left; see the module comment.
unsafe impl<T: Send + Sync> Sync for GateLock<T> {}

impl<T> GateLock<T> {
    pub const fn new(value: T) -> Self {
        GateLock {
            value: UnsafeCell::new(value),
        }
    }

    /// Enter for reading, on the calling thread's `slot` (from `enter_library`).
    /// Inlined into every hook: the first try, which finds no writer unless a close
    /// or dup is running; the wait for a writer is out of line.
    #[inline(always)]
    pub fn read(&'static self, slot: &'static ReaderSlot) -> ReadGuard<T> {
        if Self::try_enter(slot) {
            return ReadGuard { lock: self, slot };
        }
        self.read_after_writer(slot)
    }

    /// Mark `slot` active, then look for a writer: true when there is none, and the
    /// slot stays active; false when there is one, and the slot is inactive again.
    #[inline(always)]
    fn try_enter(slot: &'static ReaderSlot) -> bool {
        slot.active.store(true, Ordering::Relaxed);
        // Dekker with the writer's fence (module comment).
        fence(Ordering::SeqCst);
        if !WRITER.load(Ordering::Relaxed) {
            // Pairs with the writer's release of WRITER: see what it wrote.
            fence(Ordering::Acquire);
            return true;
        }
        slot.active.store(false, Ordering::Release);
        false
    }

    /// `read` when a writer was found: wait for it to finish, then try again. Signals
    /// wait too (module comment: "Waiting with signals blocked").
    #[cold]
    #[inline(never)]
    fn read_after_writer(&'static self, slot: &'static ReaderSlot) -> ReadGuard<T> {
        loop {
            {
                let _blocked = sys::SignalsBlocked::block_all();
                note_lock();
                drop(WRITERS.lock().unwrap_or_else(|p| p.into_inner()));
            }
            if Self::try_enter(slot) {
                return ReadGuard { lock: self, slot };
            }
        }
    }

    /// Enter for writing, on the calling thread's `slot` (from `enter_library`): wait
    /// for every reader to leave.
    pub fn write(&'static self, slot: &'static ReaderSlot) -> WriteGuard<T> {
        let mut blocked = None;
        note_lock();
        let writers = match WRITERS.try_lock() {
            Ok(writers) => writers,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                // Behind another writer: signals wait (module comment).
                blocked = Some(sys::SignalsBlocked::block_all());
                note_lock();
                WRITERS.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        WRITER.store(true, Ordering::Relaxed);
        // Dekker with each reader's fence (module comment).
        fence(Ordering::SeqCst);
        {
            note_lock();
            let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
            for slot in registry.iter() {
                let mut spins = 0u32;
                while slot.active.load(Ordering::Acquire) {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        // A reader takes long (it may be preempted inside the gate):
                        // signals wait from here on (module comment).
                        blocked.get_or_insert_with(sys::SignalsBlocked::block_all);
                        std::thread::yield_now();
                    }
                }
            }
        }
        // Pending signals are delivered here; their hooks find this thread inside the
        // library and leave one record each.
        drop(blocked);
        WriteGuard {
            lock: self,
            slot,
            writers: Some(writers),
        }
    }
}

/// Shared access.
pub struct ReadGuard<T: 'static> {
    lock: &'static GateLock<T>,
    slot: &'static ReaderSlot,
}

impl<T> std::ops::Deref for ReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: our slot is active and WRITER was clear after it became visible, so no
        // writer touches the value until we leave (module comment).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> Drop for ReadGuard<T> {
    fn drop(&mut self) {
        // Release: our reads of the value happen before a writer that sees us gone.
        self.slot.active.store(false, Ordering::Release);
        // Then leave the library, and replay what signal handlers left meanwhile.
        if leave_library(self.slot) {
            super::deferred::run();
        }
    }
}

/// Exclusive access.
pub struct WriteGuard<T: 'static> {
    lock: &'static GateLock<T>,
    slot: &'static ReaderSlot,
    /// Released in `drop` before the thread leaves the library, so that replaying
    /// deferred accounting can take the write side again.
    writers: Option<MutexGuard<'static, ()>>,
}

impl<T> std::ops::Deref for WriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we are the only writer and every reader has left.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> std::ops::DerefMut for WriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; the guard is unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for WriteGuard<T> {
    fn drop(&mut self) {
        // Release: readers that see WRITER clear see everything written.
        WRITER.store(false, Ordering::Release);
        drop(self.writers.take());
        if leave_library(self.slot) {
            super::deferred::run();
        }
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
