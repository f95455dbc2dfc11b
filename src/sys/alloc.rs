//! The library's memory allocator: the system's, except for one size class that the
//! file layer allocates and frees for every pipe end, socketpair end and eventfd it
//! serves: an `Arc<OpenFile>`, 192 bytes at 64-byte alignment (`files/openfile.rs`
//! asserts the size). glibc serves an alignment above 16 through `posix_memalign`,
//! which takes a larger block, splits it and frees the pieces: 500 to 800
//! instructions per call in callgrind, and the figure moves with the heap's layout
//! (`docs/benchmarks.md`, "Real programs"). Freed blocks of that class wait in a small
//! pool and are handed out again, for a compare-and-swap and a store.
//!
//! The pool is taken with a try-lock and never waited for: a thread that finds it
//! taken (another thread, or a signal handler that allocates while its own thread
//! holds it) uses the system allocator for that call, so no path can block or spin
//! here. A fork child inherits the pool as it was; if another thread held it at the
//! fork, the child's pool stays taken and the child uses the system allocator alone
//! (the pooled blocks, at most `POOL_BLOCKS` of them, are then never reused).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

/// Size of the pooled class: `Arc<OpenFile>`'s allocation (its two counters padded to
/// 64 bytes, then the 128-byte `OpenFile`).
pub const POOLED_SIZE: usize = 192;
/// Alignment of the pooled class (`OpenFile` is `align(64)`).
pub const POOLED_ALIGN: usize = 64;
/// Freed blocks kept for reuse, at most (192 KiB); beyond, they go back to malloc.
const POOL_BLOCKS: usize = 1024;

/// Freed blocks of the pooled class, a stack under a try-lock.
///
/// States of `taken`: `false` (free) -> `true` (one thread reads or changes `len` and
/// `blocks`) -> `false`. It is acquired only by a successful compare-and-swap and
/// released by a store, so at most one thread is ever between the two.
pub struct PoolAlloc {
    taken: AtomicBool,
    len: UnsafeCell<usize>,
    blocks: UnsafeCell<[*mut u8; POOL_BLOCKS]>,
}

// SAFETY: `len` and `blocks` are only touched by the thread that holds `taken` (see
// `with`), and the blocks they name are plain memory owned by the pool.
unsafe impl Sync for PoolAlloc {}

impl PoolAlloc {
    pub const fn new() -> Self {
        PoolAlloc {
            taken: AtomicBool::new(false),
            len: UnsafeCell::new(0),
            blocks: UnsafeCell::new([ptr::null_mut(); POOL_BLOCKS]),
        }
    }

    /// Run `f` on the pool if it is free now; `None` when another holder has it.
    fn with<R>(&self, f: impl FnOnce(&mut usize, &mut [*mut u8; POOL_BLOCKS]) -> R) -> Option<R> {
        self.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: holding `taken`, this thread is the only one inside the pool until
        // the store below, which publishes what `f` changed to the next holder.
        let result = unsafe { f(&mut *self.len.get(), &mut *self.blocks.get()) };
        self.taken.store(false, Ordering::Release);
        Some(result)
    }

    /// A pooled block, or null when the pool is empty or taken.
    fn take(&self) -> *mut u8 {
        self.with(|len, blocks| match *len {
            0 => ptr::null_mut(),
            n => {
                *len = n - 1;
                blocks[n - 1]
            }
        })
        .unwrap_or(ptr::null_mut())
    }

    /// Keep `block` for reuse; false when the pool is full or taken.
    fn keep(&self, block: *mut u8) -> bool {
        self.with(|len, blocks| {
            if *len == POOL_BLOCKS {
                return false;
            }
            blocks[*len] = block;
            *len += 1;
            true
        })
        .unwrap_or(false)
    }

    /// Blocks waiting for reuse (`None` when the pool is taken).
    #[cfg(test)]
    fn pooled(&self) -> Option<usize> {
        self.with(|len, _| *len)
    }
}

impl Default for PoolAlloc {
    fn default() -> Self {
        Self::new()
    }
}

fn in_class(layout: Layout) -> bool {
    layout.size() == POOLED_SIZE && layout.align() == POOLED_ALIGN
}

// SAFETY: every block handed out is either the system allocator's, for the caller's
// layout, or a pooled block, which the system allocator made for the pooled layout and
// which is handed out only for that same layout. A block is in the pool or in use,
// never both: it enters the pool only from `dealloc`, when its user gave it back.
unsafe impl GlobalAlloc for PoolAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if in_class(layout) {
            let block = self.take();
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: the caller's contract (a non-zero size) is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if in_class(layout) && self.keep(block) {
            return;
        }
        // SAFETY: `block` came from `alloc` with this layout: the system's, or a pooled
        // block the system made for this same layout.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if in_class(layout) {
            // SAFETY: as in `alloc`; a block it returns has `layout.size()` writable bytes.
            unsafe {
                let block = self.alloc(layout);
                if !block.is_null() {
                    ptr::write_bytes(block, 0, layout.size());
                }
                return block;
            }
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` rounded up to `layout.align()` does
        // not overflow, so this layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !in_class(layout) && !in_class(new_layout) {
            // SAFETY: `block` is the system's, for `layout` (not the pooled class).
            return unsafe { System.realloc(block, layout, new_size) };
        }
        // In or out of the pooled class: a new block, the contents, the old one given back.
        // SAFETY: `new` has `new_size` bytes and `block` `layout.size()`; they are distinct
        // live blocks, and `block` is given back once, with its own layout.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(block, new, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class() -> Layout {
        Layout::from_size_align(POOLED_SIZE, POOLED_ALIGN).unwrap()
    }

    #[test]
    fn a_freed_block_of_the_class_is_handed_out_again_and_others_are_not_kept() {
        let pool = PoolAlloc::new();
        // SAFETY: blocks are used only within their layout and given back once.
        unsafe {
            let a = pool.alloc(class());
            let b = pool.alloc(class());
            assert!(!a.is_null() && !b.is_null() && a != b);
            assert_eq!(a as usize % POOLED_ALIGN, 0);
            pool.dealloc(a, class());
            pool.dealloc(b, class());
            assert_eq!(pool.pooled(), Some(2));
            assert_eq!(pool.alloc(class()), b, "last in, first out");
            assert_eq!(pool.alloc(class()), a);
            assert_eq!(pool.pooled(), Some(0));
            let other = Layout::from_size_align(128, 64).unwrap();
            let c = pool.alloc(other);
            pool.dealloc(c, other);
            assert_eq!(pool.pooled(), Some(0), "another layout goes back to malloc");
            pool.dealloc(a, class());
            pool.dealloc(b, class());
        }
    }

    #[test]
    fn a_full_pool_gives_blocks_back_to_the_system() {
        let pool = Box::new(PoolAlloc::new());
        // SAFETY: as above.
        unsafe {
            let blocks: Vec<_> = (0..POOL_BLOCKS + 8).map(|_| pool.alloc(class())).collect();
            for &b in &blocks {
                pool.dealloc(b, class());
            }
            assert_eq!(pool.pooled(), Some(POOL_BLOCKS));
            let again: Vec<_> = (0..POOL_BLOCKS).map(|_| pool.alloc(class())).collect();
            for b in again {
                pool.dealloc(b, class());
            }
        }
    }

    #[test]
    fn a_taken_pool_is_not_waited_for() {
        let pool = PoolAlloc::new();
        // SAFETY: as above; the block allocated inside `with` goes back through the
        // system allocator because the pool is held.
        unsafe {
            let freed = pool.alloc(class());
            pool.dealloc(freed, class());
            let inside = pool.with(|_, _| {
                let block = pool.alloc(class());
                assert_ne!(block, freed, "the held pool is not entered again");
                pool.dealloc(block, class());
            });
            assert!(inside.is_some());
            assert_eq!(pool.pooled(), Some(1));
            let block = pool.alloc(class());
            pool.dealloc(block, class());
        }
    }

    #[test]
    fn zeroed_and_reallocated_blocks_keep_their_promises() {
        let pool = PoolAlloc::new();
        // SAFETY: as above.
        unsafe {
            let a = pool.alloc(class());
            ptr::write_bytes(a, 0xab, POOLED_SIZE);
            pool.dealloc(a, class());
            let z = pool.alloc_zeroed(class());
            assert_eq!(z, a, "the pooled block");
            assert!((0..POOLED_SIZE).all(|i| *z.add(i) == 0));
            *z = 7;
            let small = Layout::from_size_align(64, POOLED_ALIGN).unwrap();
            let moved = pool.realloc(z, class(), 64);
            assert_eq!(*moved, 7);
            assert_eq!(
                pool.pooled(),
                Some(1),
                "the old block went back to the pool"
            );
            let grown = pool.realloc(moved, small, POOLED_SIZE);
            assert_eq!(*grown, 7);
            pool.dealloc(grown, class());
        }
    }
}
