//! The `extern "C"` layer: the only place exporting symbols. Each hook is thin: it asks
//! `crate::files` whether the fd is served, calls the real libc function from
//! `crate::sys::real`, and lets the file layer account the result.
//!
//! Rules every hook follows:
//! - Before initialisation, and when re-entered (`sys::in_library`), pass straight
//!   through to libc.
//! - Never panic: the library is built with `panic = "abort"`, and hook paths avoid
//!   `unwrap`, indexing and arithmetic that can overflow.
//! - errno is the real call's, or set exactly as the kernel would; internal calls save
//!   and restore it.

mod dprintf;
mod epoll;
mod fds;
mod io;
mod poll;
mod process;
mod signals;
mod trace;
mod user;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::engine::stats::STATS;
use crate::engine::Variant;
use crate::sys::{self, real};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static VARIANT: AtomicU8 = AtomicU8::new(0);
static MAX_WATCHES: AtomicUsize = AtomicUsize::new(usize::MAX);

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

/// Watches registered in the kernel by the program through our instances (the
/// library's own wake-up registrations are not counted).
static KERNEL_WATCHES: AtomicUsize = AtomicUsize::new(0);

/// How many engine watches the process may hold: the user's `max_user_watches`, less
/// what other processes of the user held at start, less the program's kernel watches.
pub(crate) fn max_watches() -> usize {
    MAX_WATCHES
        .load(Ordering::Relaxed)
        .saturating_sub(KERNEL_WATCHES.load(Ordering::Relaxed))
}

/// The program registered (`+1`) or removed (`-1`) a watch in a kernel epoll fd of ours.
/// Returns false when an added watch puts the process past its share of the limit.
pub(crate) fn count_kernel_watch(added: bool) -> bool {
    if added {
        let k = KERNEL_WATCHES.fetch_add(1, Ordering::Relaxed) + 1;
        crate::engine::reserved_watches().saturating_add(k) <= MAX_WATCHES.load(Ordering::Relaxed)
    } else {
        let _ =
            KERNEL_WATCHES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        true
    }
}

/// Stop serving new fds (after something the library cannot follow, like io_uring).
pub(crate) fn deactivate() {
    ACTIVE.store(false, Ordering::Relaxed);
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = uepoll_init;

extern "C" fn uepoll_init() {
    sys::set_in_library(true);
    let _errno = sys::ErrnoGuard::save();
    let env = |name: &str| std::env::var(name).ok();
    if env("UEPOLL_DISABLE").as_deref() == Some("1") {
        sys::set_in_library(false);
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
    if let Some(limit) = std::fs::read_to_string("/proc/sys/fs/epoll/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
    {
        // The kernel's limit is per user. When it is small enough to be reached, the
        // watches other processes of the user hold count against it too.
        let others = if limit < SCAN_BELOW {
            watches_of_other_processes()
        } else {
            0
        };
        MAX_WATCHES.store(limit.saturating_sub(others), Ordering::Relaxed);
    }
    if env("UEPOLL_STATS").as_deref() == Some("1") {
        STATS.enable();
        // SAFETY: registers a plain extern "C" fn with no arguments.
        unsafe { libc::atexit(print_stats) };
    }
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
    sys::set_in_library(false);
}

/// Below this `max_user_watches`, the constructor counts the user's other watches.
const SCAN_BELOW: usize = 1 << 16;

/// Watches held by the other processes of this user: the `tfd:` lines of every epoll
/// fd in `/proc/*/fdinfo` (the kernel's own account of each registration).
fn watches_of_other_processes() -> usize {
    // SAFETY: getuid and getpid cannot fail.
    let (uid, me) = unsafe { (libc::getuid(), libc::getpid()) };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        use std::os::unix::fs::MetadataExt;
        if p.metadata().ok().map(|m| m.uid()) != Some(uid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(info) = std::fs::read_to_string(fd.path()) {
                total += info.lines().filter(|l| l.starts_with("tfd:")).count();
            }
        }
    }
    total
}

/// Write to stderr with the real `write`, never through the hooks.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let _errno = sys::ErrnoGuard::save();
    // SAFETY: bytes is a live slice.
    unsafe { real::write(2, bytes.as_ptr() as *const _, bytes.len()) };
}

extern "C" fn print_stats() {
    let was = sys::in_library();
    sys::set_in_library(true);
    let mut out = format!(
        "uepoll stats (pid {}, engine {:?}):\n",
        std::process::id(),
        variant()
    );
    for (name, value) in STATS.snapshot() {
        out.push_str(&format!("  {name:<26} {value}\n"));
    }
    write_stderr(out.as_bytes());
    sys::set_in_library(was);
}
