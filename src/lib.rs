//! uepoll: a user-space epoll engine served to unmodified programs with `LD_PRELOAD`.
//!
//! - `engine`: the single-pass epoll engine, pure safe Rust, no libc calls.
//! - `files`: the file layer: which fds the engine serves, their readiness, and the
//!   wake-ups that I/O on them causes.
//! - `sys`: the table of real libc functions and the only raw OS access.
//! - `preload`: the `extern "C"` hooks, the only place exporting symbols. It is left
//!   out of test builds so the test harness does not interpose on itself.

pub mod engine;
#[cfg(not(loom))]
pub mod files;
#[cfg(not(any(test, loom)))]
mod preload;
#[cfg(not(loom))]
pub mod sys;

/// The library's allocations go through a pool for the one size class the file layer
/// allocates per served file, the system allocator otherwise (`sys/alloc.rs`).
#[cfg(not(loom))]
#[global_allocator]
static ALLOCATOR: sys::alloc::PoolAlloc = sys::alloc::PoolAlloc::new();
