//! The fd table: which fd numbers the library serves, and the gate every engine
//! operation passes.
//!
//! A one-bit-per-fd map (`SERVED`) answers "is this fd ours?" with one relaxed load, so
//! I/O on the fds the library does not serve costs nothing more. The table itself is
//! under one reader-biased lock (`gate.rs`), which is also the gate: every hook that touches engine
//! state holds it for reading (`Gate`), and `fork` holds it for writing across the
//! fork so that the child never inherits a half-done operation. A thread takes the gate
//! only while it does not already hold it (`gate::in_library`), so signal handlers never
//! deadlock on it: a hook re-entered from a handler passes through and leaves its
//! accounting in `deferred` for the interrupted code to finish.

use crate::engine::sync::plain::{AtomicU64, Ordering};
use std::sync::Arc;

use super::gate::{self, GateLock, ReadGuard, WriteGuard};

use super::instance::Instance;
use super::openfile::OpenFile;

/// fds at or above this are never served (they go to the kernel).
pub const MAX_FDS: usize = 1 << 20;

static SERVED: [AtomicU64; MAX_FDS / 64] = [const { AtomicU64::new(0) }; MAX_FDS / 64];

/// What an fd number means to the library.
#[derive(Clone)]
pub enum Entry {
    /// An open file description the engine serves.
    File(Arc<OpenFile>),
    /// An epoll instance: the number is its real kernel epoll fd.
    Epoll(Arc<Instance>),
    /// A descriptor the library opened for itself (an instance's wake-up eventfd); the
    /// program never sees it.
    Internal,
}

/// The fd table.
#[derive(Default)]
pub struct Table {
    slots: Vec<Option<Entry>>,
}

static TABLE: GateLock<Table> = GateLock::new(Table { slots: Vec::new() });

/// True when `fd` has an entry; a cheap pre-check before taking the gate.
pub fn is_served(fd: i32) -> bool {
    served_bit(fd, Ordering::Relaxed)
}

/// `is_served`, sequentially consistent: the second half of the Dekker handshake of an
/// unserved close with a file promotion (`gate::UnservedClose`).
pub fn is_served_now(fd: i32) -> bool {
    served_bit(fd, Ordering::SeqCst)
}

fn served_bit(fd: i32, order: Ordering) -> bool {
    let Ok(fd) = usize::try_from(fd) else {
        return false;
    };
    fd < MAX_FDS && SERVED[fd / 64].load(order) & (1 << (fd % 64)) != 0
}

fn set_bit(fd: usize, on: bool) {
    let mask = 1u64 << (fd % 64);
    if on {
        SERVED[fd / 64].fetch_or(mask, Ordering::Relaxed);
    } else {
        SERVED[fd / 64].fetch_and(!mask, Ordering::Relaxed);
    }
}

impl Table {
    pub fn get(&self, fd: i32) -> Option<&Entry> {
        let fd = usize::try_from(fd).ok()?;
        self.slots.get(fd).and_then(|s| s.as_ref())
    }

    /// Install `entry` at `fd`, returning what was there (a stale entry the library did
    /// not see closed).
    pub fn install(&mut self, fd: i32, entry: Entry) -> Option<Entry> {
        let idx = usize::try_from(fd).ok().filter(|&i| i < MAX_FDS)?;
        if self.slots.len() <= idx {
            self.slots.resize(idx + 1, None);
        }
        set_bit(idx, true);
        self.slots[idx].replace(entry)
    }

    pub fn remove(&mut self, fd: i32) -> Option<Entry> {
        let idx = usize::try_from(fd).ok()?;
        let old = self.slots.get_mut(idx)?.take();
        if old.is_some() {
            set_bit(idx, false);
        }
        old
    }

    /// Every fd with an entry, with its entry.
    pub fn entries(&self) -> impl Iterator<Item = (i32, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, e)| e.as_ref().map(|e| (fd as i32, e)))
    }
}

/// Shared access to the table, held while a hook works on engine state. Dropping it
/// leaves the library (and replays deferred accounting): see `gate::ReadGuard`.
pub struct Gate {
    guard: ReadGuard<Table>,
}

impl std::ops::Deref for Gate {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.guard
    }
}

/// Enter the gate, or `None` when this thread is already inside the library.
#[inline]
pub fn enter() -> Option<Gate> {
    let slot = gate::enter_library()?;
    Some(Gate {
        guard: TABLE.read(slot),
    })
}

/// The instance behind `fd`, if it is one of ours.
pub fn instance_of(fd: i32) -> Option<Arc<Instance>> {
    if !is_served(fd) {
        return None;
    }
    let gate = enter()?;
    match gate.get(fd) {
        Some(Entry::Epoll(inst)) => Some(Arc::clone(inst)),
        _ => None,
    }
}

/// Exclusive access to the table: fd creation, close, dup, demotion.
pub struct GateMut {
    guard: WriteGuard<Table>,
}

impl std::ops::Deref for GateMut {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.guard
    }
}

impl std::ops::DerefMut for GateMut {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.guard
    }
}

/// Enter the gate exclusively, or `None` when this thread is already inside.
pub fn enter_mut() -> Option<GateMut> {
    let slot = gate::enter_library()?;
    Some(GateMut {
        guard: TABLE.write(slot),
    })
}

/// Across `fork`: the write side is taken in the prepare handler and released in the
/// parent and in the child, so no other thread is inside the engine at the fork.
pub mod fork_hold {
    use super::*;
    use crate::files::gate::{self, ForkRegistry};
    use std::cell::RefCell;

    thread_local! {
        static HELD: RefCell<Option<(GateMut, ForkRegistry)>> = const { RefCell::new(None) };
    }

    /// Take the table exclusively and keep it until `release`; runs `f` on it first.
    pub fn acquire(f: impl FnOnce(&mut Table)) {
        if let Some(mut gate) = enter_mut() {
            f(&mut gate);
            let registry = gate::fork_prepare();
            // Stay "inside" while held, so hooks called by fork itself pass through.
            HELD.with(|h| *h.borrow_mut() = Some((gate, registry)));
        }
    }

    /// Run `f` on the table `acquire` holds (the parent and child steps of a fork);
    /// nothing when it holds none.
    pub fn with_held(f: impl FnOnce(&mut Table)) {
        HELD.with(|h| {
            if let Some((gate, _)) = h.borrow_mut().as_mut() {
                f(gate);
            }
        });
    }

    /// Release what `acquire` took, in the parent: the registry first, because leaving
    /// the gate may replay deferred accounting, which can take the gate again.
    pub fn release() {
        HELD.with(|h| {
            if let Some((gate, registry)) = h.borrow_mut().take() {
                drop(registry);
                drop(gate);
            }
        });
    }

    /// Release what `acquire` took, in the child (the only thread there).
    pub fn release_in_child() {
        HELD.with(|h| {
            if let Some((gate, registry)) = h.borrow_mut().take() {
                registry.reset_in_child();
                drop(gate);
            }
        });
    }
}
