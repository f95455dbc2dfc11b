//! Counts of the locked instructions the engine and the file layer execute, per thread
//! (cargo feature `count-atomics`, off by default).
//!
//! The engine's cost is made of atomic operations, whose price follows the host (about
//! 5 ns for a locked read-modify-write on one VM, 10 ns on another of the same kind).
//! Counting them per operation gives a figure that is the same on every host, and that
//! is what the performance work optimises (`docs/benchmarks.md`, "Locked operations").
//!
//! What is counted, in the categories of `Counts`:
//!
//! - `rmw`: an atomic read-modify-write (swap, fetch_*, compare_exchange) on the
//!   engine's and the file layer's atomics, through the wrapper types below. A
//!   `fetch_update` counts each compare-and-swap it tries.
//! - `lock`: a mutex or read/write lock taken through `engine::sync`, as the two
//!   RMWs of the std futex locks (the acquiring compare-and-swap and the releasing
//!   swap or fetch_sub), both counted when the lock is taken; a failed try counts one.
//!   A condition-variable wait counts the release and the re-acquisition, a notify one.
//! - `arc`: a reference-count change of an `Arc` on the measured paths, counted where
//!   the reference is taken (`arc_clone`) and where it is dropped (`arc_drop`).
//! - `fence`: a sequentially consistent fence (`mfence` or a locked no-op on x86).
//! - `sc_store`: a sequentially consistent store (an `xchg` on x86, so a locked
//!   instruction). Sequentially consistent loads are plain loads on x86 and are not
//!   counted; acquire and release fences compile to nothing there.
//!
//! When the feature is off, `engine::sync` re-exports the std (or loom) types and every
//! function here is an empty `#[inline(always)]` body: no cost.
//!
//! The counters are per thread (`thread_local!`, no shared cache line); a program reads
//! its own thread's before and after an operation (`counts`, exported by the preload
//! library as `uepoll_atomic_count`).

#[cfg(feature = "count-atomics")]
use std::cell::Cell;

/// This thread's counts since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub rmw: u64,
    pub lock: u64,
    pub arc: u64,
    pub fence: u64,
    pub sc_store: u64,
}

impl Counts {
    /// Every locked instruction counted (on x86 each category is one).
    pub fn total(&self) -> u64 {
        self.rmw + self.lock + self.arc + self.fence + self.sc_store
    }

    /// The counts as numbered fields, in the order of `uepoll_atomic_count`'s `which`.
    pub fn field(&self, which: u32) -> Option<u64> {
        Some(match which {
            0 => self.total(),
            1 => self.rmw,
            2 => self.lock,
            3 => self.arc,
            4 => self.fence,
            5 => self.sc_store,
            _ => return None,
        })
    }
}

/// What one counted instruction was (only the wrappers, built with the feature, use
/// every kind).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "count-atomics"), allow(dead_code))]
pub(crate) enum Kind {
    Rmw,
    Lock,
    Arc,
    Fence,
    ScStore,
}

#[cfg(feature = "count-atomics")]
thread_local! {
    static COUNTS: [Cell<u64>; 5] = const { [const { Cell::new(0) }; 5] };
}

/// Count `n` instructions of `kind` on this thread.
#[cfg(feature = "count-atomics")]
#[inline]
pub(crate) fn note(kind: Kind, n: u64) {
    COUNTS.with(|c| {
        let cell = &c[kind as usize];
        cell.set(cell.get() + n);
    });
}

#[cfg(not(feature = "count-atomics"))]
#[inline(always)]
pub(crate) fn note(_kind: Kind, _n: u64) {}

/// This thread's counts (all zero when the feature is off).
pub fn counts() -> Counts {
    #[cfg(feature = "count-atomics")]
    {
        COUNTS.with(|c| Counts {
            rmw: c[Kind::Rmw as usize].get(),
            lock: c[Kind::Lock as usize].get(),
            arc: c[Kind::Arc as usize].get(),
            fence: c[Kind::Fence as usize].get(),
            sc_store: c[Kind::ScStore as usize].get(),
        })
    }
    #[cfg(not(feature = "count-atomics"))]
    Counts::default()
}

/// True when the library counts (built with `count-atomics`).
pub const ENABLED: bool = cfg!(feature = "count-atomics");

/// Counting wrappers over the std atomics, with the std API the crate uses.
#[cfg(feature = "count-atomics")]
pub(crate) mod wrappers {
    // Every type gets the whole API; no type uses all of it.
    #![allow(dead_code)]

    use super::{note, Kind};
    use std::sync::atomic::{self as std_atomic, Ordering};

    #[inline]
    fn store_order(order: Ordering) {
        if order == Ordering::SeqCst {
            note(Kind::ScStore, 1);
        }
    }

    #[inline]
    fn rmw() {
        note(Kind::Rmw, 1);
    }

    /// A sequentially consistent fence is counted; the others are free on x86.
    #[inline]
    pub(crate) fn fence(order: Ordering) {
        if order == Ordering::SeqCst {
            note(Kind::Fence, 1);
        }
        std_atomic::fence(order);
    }

    macro_rules! common {
        ($name:ident, $t:ty) => {
            /// A counting wrapper of the std atomic of the same name.
            #[derive(Debug, Default)]
            #[repr(transparent)]
            pub(crate) struct $name(std_atomic::$name);

            impl $name {
                pub(crate) const fn new(v: $t) -> Self {
                    $name(std_atomic::$name::new(v))
                }
                #[inline]
                pub(crate) fn load(&self, order: Ordering) -> $t {
                    self.0.load(order)
                }
                #[inline]
                pub(crate) fn store(&self, v: $t, order: Ordering) {
                    store_order(order);
                    self.0.store(v, order)
                }
                #[inline]
                pub(crate) fn swap(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.swap(v, order)
                }
                #[inline]
                pub(crate) fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    rmw();
                    self.0.compare_exchange(current, new, success, failure)
                }
                #[inline]
                pub(crate) fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    rmw();
                    self.0.compare_exchange_weak(current, new, success, failure)
                }
                /// std's `fetch_update`, one counted compare-and-swap per try.
                #[inline]
                pub(crate) fn fetch_update(
                    &self,
                    set: Ordering,
                    fetch: Ordering,
                    mut f: impl FnMut($t) -> Option<$t>,
                ) -> Result<$t, $t> {
                    let mut prev = self.0.load(fetch);
                    while let Some(next) = f(prev) {
                        match self.compare_exchange_weak(prev, next, set, fetch) {
                            Ok(x) => return Ok(x),
                            Err(now) => prev = now,
                        }
                    }
                    Err(prev)
                }
                #[inline]
                pub(crate) fn fetch_or(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_or(v, order)
                }
                #[inline]
                pub(crate) fn fetch_and(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_and(v, order)
                }
                #[inline]
                pub(crate) fn fetch_xor(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_xor(v, order)
                }
                #[inline]
                pub(crate) fn get_mut(&mut self) -> &mut $t {
                    self.0.get_mut()
                }
                #[inline]
                pub(crate) fn into_inner(self) -> $t {
                    self.0.into_inner()
                }
            }
        };
    }

    macro_rules! integer {
        ($name:ident, $t:ty) => {
            common!($name, $t);

            impl $name {
                #[inline]
                pub(crate) fn fetch_add(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_add(v, order)
                }
                #[inline]
                pub(crate) fn fetch_sub(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_sub(v, order)
                }
                #[inline]
                pub(crate) fn fetch_max(&self, v: $t, order: Ordering) -> $t {
                    rmw();
                    self.0.fetch_max(v, order)
                }
            }
        };
    }

    common!(AtomicBool, bool);
    integer!(AtomicU16, u16);
    integer!(AtomicU32, u32);
    integer!(AtomicU64, u64);
    integer!(AtomicUsize, usize);
    integer!(AtomicI32, i32);
    integer!(AtomicI64, i64);
}
