//! Promotion: serving an epoll instance again once no other process can reach it.
//!
//! A fork makes every instance kernel-only (`demote::prepare_tracked_fork`), and
//! `children.rs` follows the children. When the last child that inherited an
//! instance has exec'd or exited without keeping an epoll fd, `promote_instance`
//! hands it back to the engine, under the table's write lock: files the program adds
//! from then on are served by the engine again.
//!
//! Registrations already in the instance's kernel epoll fd stay there, with their
//! kernel state (an ET item's pending edge, a disarmed ONESHOT item, the kernel's
//! ready list): the instance simply becomes one with kernel items as well as engine
//! items, which a wait collects from both. Two things are re-synchronised:
//!
//! - the count of kernel items (`Instance::promoted`), from the kernel's own list in
//!   `/proc/self/fdinfo`: a child may have added to the shared instance before its
//!   exec, and while the count is zero a wait never looks at the kernel;
//! - a file the engine serves, created after the fork and added while the instance was
//!   kernel-only, has its registration in the kernel epoll fd, where `epoll_ctl` on
//!   its number would no longer look once the instance is served. Demoting it would
//!   change the key of its orphaned registrations in other instances (the documented
//!   "changes key" difference, at a moment no fork explains), and moving the item into
//!   the engine would need its edge state, which the kernel does not show. So the
//!   promotion waits (`Outcome::Wait`) until a later report finds no such file in the
//!   kernel epoll fd (the program deleted or closed it). Orphans count: the items'
//!   inode numbers and `kcmp(KCMP_EPOLL_TFD)` find a served file under a closed
//!   number.
//!
//! A thread sleeping in a wait that the kernel-only instance forwarded to the kernel
//! would not see engine wake-ups: the promotion waits until no such wait is left
//! (`Outcome::Wait`; `children.rs` retries at the next entry).
//!
//! Files demoted at the fork are served again by `filepromo.rs` (pipe pairs and
//! eventfds, once no child reaches them, after the instance promotions); sockets stay
//! with the kernel (see docs/differences.md).

use std::sync::Arc;

use super::instance::Instance;
use super::table::{Entry, Table};
use crate::engine::stats::STATS;
use crate::engine::trace::Why;
use crate::sys::syscall;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Served again (or nothing to do: still shared, kernel-only for good, closed).
    Settled,
    /// A forwarded wait or ctl is in progress: try again later.
    Wait,
}

/// Serve `inst` again if nothing but tracked children kept it with the kernel and none
/// of them can reach it any more. `table` is held exclusively.
pub fn promote_instance(table: &mut Table, inst: &Arc<Instance>) -> Outcome {
    if !inst.may_promote() {
        return Outcome::Settled;
    }
    let open = table
        .entries()
        .any(|(_, e)| matches!(e, Entry::Epoll(i) if Arc::ptr_eq(i, inst)));
    if !open {
        return Outcome::Settled; // closed meanwhile: released, nothing to serve
    }
    // The flag goes up before the count is read: a wait that ends after the read
    // sees it and asks for a retry.
    if inst.forwarded_waits(true) != 0 {
        return Outcome::Wait;
    }
    let Some(lines) = kernel_items(inst.any_fd()) else {
        // The kernel's list cannot be read: the instance stays with the kernel.
        inst.make_kernel_only(Why::Unseen);
        return Outcome::Settled;
    };
    let wake = inst.wake_fd();
    let lines: Vec<KernelItem> = lines.into_iter().filter(|l| l.tfd != wake).collect();
    if serves_any(table, inst.any_fd(), &lines) {
        // A file the engine serves sits in the kernel epoll fd: the program added it
        // while the instance was kernel-only. Handing it back would mean demoting the
        // file (its orphaned registrations elsewhere would change key: "changes key"
        // in docs/differences.md) or moving an item whose edge state the kernel does
        // not show. The instance waits with the kernel until a later report finds the
        // file gone from it (DEL, close).
        inst.forwarded_waits(false);
        return Outcome::Wait;
    }
    inst.promoted(lines.len());
    STATS.add(&STATS.promotions, 1);
    Outcome::Settled
}

/// One registration in a kernel epoll fd, from its `tfd:` line in fdinfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KernelItem {
    /// The fd number the item is keyed by (it may have been closed since).
    tfd: i32,
    /// The target file's inode number.
    ino: u64,
}

/// True when some registration in kernel epoll fd `epfd` (its `lines`) is of a file the
/// engine serves, also under a number that was closed since (an orphan). Candidates
/// are the served files with the item's inode number (pipes, sockets: one each;
/// eventfds share one anonymous inode); `kcmp(KCMP_EPOLL_TFD)` tells whether the item's
/// file is that very file. When it cannot tell, the answer is yes.
fn serves_any(table: &Table, epfd: i32, lines: &[KernelItem]) -> bool {
    if lines.is_empty() {
        return false;
    }
    let mut served: Vec<(i32, u64)> = Vec::new();
    for (fd, e) in table.entries() {
        if !matches!(e, Entry::File(_)) {
            continue;
        }
        let Some(st) = fstat(fd) else {
            return true;
        };
        served.push((fd, st.st_ino));
    }
    for (i, line) in lines.iter().enumerate() {
        // Items keyed by the same number are told apart by their rank among them.
        let toff = lines[..i].iter().filter(|l| l.tfd == line.tfd).count() as u32;
        for &(fd, _) in served.iter().filter(|&&(_, ino)| ino == line.ino) {
            if same_target(epfd, line.tfd, toff, fd) != Some(false) {
                return true;
            }
        }
    }
    false
}

/// `kcmp`'s type for "is this fd the target of that epoll item" (linux/kcmp.h).
const KCMP_EPOLL_TFD: libc::c_long = 7;

/// linux/kcmp.h `struct kcmp_epoll_slot`.
#[repr(C)]
struct KcmpEpollSlot {
    efd: u32,
    tfd: u32,
    toff: u32,
}

/// Whether the target of the item of `epfd` keyed by `tfd` (the `toff`-th such) is the
/// open file description `fd` refers to; `None` when the kernel cannot tell.
pub(super) fn same_target(epfd: i32, tfd: i32, toff: u32, fd: i32) -> Option<bool> {
    let slot = KcmpEpollSlot {
        efd: epfd as u32,
        tfd: tfd as u32,
        toff,
    };
    // SAFETY: getpid takes nothing and cannot fail.
    let pid = unsafe { syscall!(syscall(libc::SYS_getpid, 0, 0, 0, 0, 0, 0)) }.ok()?;
    // SAFETY: kcmp of this process with itself; `slot` outlives the call.
    let r = unsafe {
        syscall!(syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_EPOLL_TFD,
            libc::c_long::from(fd),
            &slot as *const KcmpEpollSlot as libc::c_long,
            0
        ))
    }
    .ok()?;
    Some(r == 0)
}

/// The registrations in kernel epoll fd `epfd`, from the `tfd:` lines of
/// `/proc/self/fdinfo/<epfd>`.
fn kernel_items(epfd: i32) -> Option<Vec<KernelItem>> {
    read_fdinfo(epfd).map(|text| parse_items(&text))
}

/// `fstat(fd)`, by the raw system call (the program's hooks are not involved).
pub(super) fn fstat(fd: i32) -> Option<libc::stat> {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat into our own struct.
    unsafe {
        syscall!(syscall(
            libc::SYS_fstat,
            libc::c_long::from(fd),
            &mut st as *mut libc::stat as libc::c_long,
            0,
            0,
            0,
            0
        ))
    }
    .ok()?;
    Some(st)
}

/// The whole of `/proc/self/fdinfo/<fd>`, or `None` when it cannot be read
/// (`filepromo.rs`: eventfd counters and ids, a kernel epoll fd's items with their
/// events and data).
pub(super) fn read_fdinfo(fd: i32) -> Option<Vec<u8>> {
    let path = format!("/proc/self/fdinfo/{fd}\0");
    // SAFETY: openat of a NUL-terminated path.
    let file = unsafe {
        syscall!(syscall(
            libc::SYS_openat,
            libc::c_long::from(libc::AT_FDCWD),
            path.as_ptr() as libc::c_long,
            libc::c_long::from(libc::O_RDONLY | libc::O_CLOEXEC),
            0,
            0,
            0
        ))
    }
    .ok()? as i32;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = loop {
        // SAFETY: reads into our own buffer.
        match unsafe { syscall!(read(file, buf.as_mut_ptr() as *mut _, buf.len())) } {
            Ok(0) => break true,
            Ok(n) => text.extend_from_slice(&buf[..n as usize]),
            Err(_) => break false,
        }
    };
    // SAFETY: closes the fd opened above.
    let _ = unsafe { syscall!(close(file)) };
    complete.then_some(text)
}

/// The `tfd:` lines: `tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x`.
fn parse_items(text: &[u8]) -> Vec<KernelItem> {
    text.split(|&c| c == b'\n')
        .filter_map(|line| line.strip_prefix(b"tfd:"))
        .filter_map(|rest| {
            let rest = std::str::from_utf8(rest).ok()?;
            let tfd = rest.split_whitespace().next()?.parse().ok()?;
            let ino = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ino:"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())?;
            Some(KernelItem { tfd, ino })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{parse_items, KernelItem};

    #[test]
    fn items_come_from_tfd_lines_only() {
        let text = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
tfd:        5 events:       19 data:                5  pos:0 ino:3d sdev:d\n\
tfd:       12 events: 80000019 data:     9e3779b97f4a7c15  pos:0 ino:3d sdev:d\n";
        assert_eq!(
            parse_items(text),
            vec![
                KernelItem { tfd: 5, ino: 0x3d },
                KernelItem { tfd: 12, ino: 0x3d }
            ]
        );
        assert!(parse_items(b"pos:\t0\n").is_empty());
    }
}

#[cfg(test)]
#[path = "promote_tests.rs"]
mod model_tests;
