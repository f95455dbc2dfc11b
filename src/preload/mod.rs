//! The `extern "C"` layer: the only place exporting symbols. Each hook is thin: it asks
//! `crate::files` whether the fd is served, calls the real libc function from
//! `crate::sys::real`, and lets the file layer account the result.
//!
//! Rules every hook follows:
//! - Before initialisation, and when re-entered (`files::gate::in_library`), pass straight
//!   through to libc.
//! - Never panic: the library is built with `panic = "abort"`, and hook paths avoid
//!   `unwrap`, indexing and arithmetic that can overflow.
//! - errno is the real call's, or set exactly as the kernel would, and only here at the
//!   exported boundary (`sys::c_result`, `sys::fail`). The library's own calls return
//!   `Result<_, Errno>` (`sys::syscall!`) and leave the program's errno alone.

mod aliases;
#[cfg(feature = "count-atomics")]
mod counts;
mod dprintf;
mod epoll;
mod exec;
mod fds;
mod handoff;
mod io;
mod poll;
mod process;
mod rawcall;
mod signals;
mod spawn;
mod trace;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::engine::stats::STATS;
use crate::engine::Variant;
use crate::files::gate;
use crate::sys;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static VARIANT: AtomicU8 = AtomicU8::new(0);

/// True once the constructor ran and the library serves new fds.
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

pub(crate) fn variant() -> Variant {
    match VARIANT.load(Ordering::Relaxed) {
        1 => Variant::Seed,
        2 => Variant::MultiPass,
        _ => Variant::SinglePass,
    }
}

/// Stop serving new fds (after something the library cannot follow, like io_uring).
pub(crate) fn deactivate() {
    ACTIVE.store(false, Ordering::Relaxed);
    // Nothing demoted is served again either.
    crate::files::filepromo::forget_all();
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = uepoll_init;

extern "C" fn uepoll_init() {
    gate::set_in_library(true);
    let _errno = sys::ErrnoGuard::save();
    let env = |name: &str| std::env::var(name).ok();
    if env("UEPOLL_DISABLE").as_deref() == Some("1") {
        gate::set_in_library(false);
        return;
    }
    match env("UEPOLL_ENGINE").as_deref() {
        None | Some("") | Some("singlepass") => {}
        Some("seed") => VARIANT.store(1, Ordering::Relaxed),
        Some("multipass") => VARIANT.store(2, Ordering::Relaxed),
        Some(other) => {
            let msg = format!("uepoll: unknown UEPOLL_ENGINE={other:?} (expected singlepass, multipass or seed); using singlepass\n");
            write_stderr(msg.as_bytes());
        }
    }
    crate::files::watches::init();
    crate::files::gate::init_close_barrier();
    if env("UEPOLL_STATS").as_deref() == Some("1") {
        STATS.enable();
        // SAFETY: registers a plain extern "C" fn with no arguments.
        unsafe { libc::atexit(print_stats) };
    }
    // A tracked fork child leaving through exit() tells its parent (`files/children.rs`).
    // SAFETY: registers a plain extern "C" fn with no arguments.
    unsafe { libc::atexit(child_exits) };
    // UEPOLL_TRACE. Before the fork handlers below, so its prepare handler runs after.
    trace::init(VARIANT.load(Ordering::Relaxed));
    // SAFETY: registers plain extern "C" fns with no arguments.
    unsafe {
        libc::pthread_atfork(
            Some(process::atfork_prepare),
            Some(process::atfork_parent),
            Some(process::atfork_child),
        )
    };
    // Faults in the library's accesses to program memory become EFAULT.
    sys::fault::install();
    ACTIVE.store(true, Ordering::Relaxed);
    gate::set_in_library(false);
}

extern "C" fn child_exits() {
    crate::files::children::child_exits();
}

/// Write to stderr with the real `write`, never through the hooks.
pub(crate) fn write_stderr(bytes: &[u8]) {
    // SAFETY: bytes is a live slice.
    let _ = unsafe { sys::syscall!(write(2, bytes.as_ptr() as *const _, bytes.len())) };
}

/// A process leaving through `_exit` or `_Exit` (fork children usually do, the
/// kernel's selftest harness among them) runs no `atexit` handler: print the counters
/// here too, so `UEPOLL_STATS=1` shows every process that loaded the library.
pub(crate) fn print_stats_at_exit() {
    if STATS.is_enabled() {
        print_stats();
    }
}

extern "C" fn print_stats() {
    let was = gate::in_library();
    gate::set_in_library(true);
    let mut out = format!(
        "uepoll stats (pid {}, engine {:?}):\n",
        std::process::id(),
        variant()
    );
    for (name, value) in STATS.snapshot() {
        out.push_str(&format!("  {name:<26} {value}\n"));
    }
    for (name, value) in STATS.by_reason() {
        out.push_str(&format!("  {name:<26} {value}\n"));
    }
    // Built with `spans`: the library's own time per served read, write and wait.
    for (name, value) in crate::sys::spans::report() {
        out.push_str(&format!("  {name:<26} {value}\n"));
    }
    out.push_str(&STATS.served_share_line());
    write_stderr(out.as_bytes());
    gate::set_in_library(was);
}
