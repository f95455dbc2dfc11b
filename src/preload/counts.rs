//! `uepoll_atomic_count`: the calling thread's counts of locked instructions, for
//! `c-tests/bench-atomics.c` (cargo feature `count-atomics`; see
//! `engine/counting.rs`). Exported only with the feature, so a program finds the
//! symbol (with `dlsym`) exactly when the library counts.

use crate::engine::counting;

/// `which`: 0 total, 1 atomic RMWs, 2 lock RMWs, 3 reference-count changes, 4 SeqCst
/// fences, 5 SeqCst stores. Returns `u64::MAX` for an unknown `which`.
#[no_mangle]
pub extern "C" fn uepoll_atomic_count(which: u32) -> u64 {
    counting::counts().field(which).unwrap_or(u64::MAX)
}
