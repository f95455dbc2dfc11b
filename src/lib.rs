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
