//! The watch limit: `/proc/sys/fs/epoll/max_user_watches`, shared by the engine's
//! items and the registrations the program makes in the kernel epoll fds of its
//! instances, as the kernel counts both against the user (`ep_insert`'s ENOSPC).

use crate::engine::sync::plain::{AtomicUsize, Ordering};

use crate::sys::Errno;

/// How many watches the process may hold (the user's limit, less what the user's
/// other processes held at start); unlimited until `init` reads it.
static MAX_WATCHES: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Watches registered in the kernel by the program through our instances (the
/// library's own wake-up registrations, and items demotion handed over, are not
/// counted).
static KERNEL_WATCHES: AtomicUsize = AtomicUsize::new(0);

/// Below this `max_user_watches`, `init` counts the user's other watches.
const SCAN_BELOW: usize = 1 << 16;

/// Read the limit once, from the library's constructor.
pub fn init() {
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
}

/// How many engine watches the process may hold: the user's `max_user_watches`, less
/// what other processes of the user held at start, less the program's kernel watches.
pub fn max_watches() -> usize {
    MAX_WATCHES
        .load(Ordering::Relaxed)
        .saturating_sub(KERNEL_WATCHES.load(Ordering::Relaxed))
}

/// The program registered a watch in a kernel epoll fd of ours. ENOSPC (and the
/// watch not counted) when it puts the process past its share of the limit: the
/// caller then removes the registration.
pub fn kernel_watch_added() -> Result<(), Errno> {
    let k = KERNEL_WATCHES.fetch_add(1, Ordering::Relaxed) + 1;
    if crate::engine::reserved_watches().saturating_add(k) <= MAX_WATCHES.load(Ordering::Relaxed) {
        Ok(())
    } else {
        kernel_watch_removed();
        Err(Errno(libc::ENOSPC))
    }
}

/// The program removed a watch from a kernel epoll fd of ours.
pub fn kernel_watch_removed() {
    let _ = KERNEL_WATCHES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

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
