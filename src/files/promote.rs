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
//!   its number would no longer look once the instance is served: it is demoted (its
//!   registrations everywhere go to the kernel, as for any demotion).
//!
//! A thread sleeping in a wait that the kernel-only instance forwarded to the kernel
//! would not see engine wake-ups: the promotion waits until no such wait is left
//! (`Outcome::Wait`; `children.rs` retries at the next entry).
//!
//! Files themselves are not promoted back: a file demoted at the fork stays with the
//! kernel (see docs/differences.md).

use std::sync::Arc;

use super::demote;
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
    let Some(targets) = kernel_targets(inst.any_fd()) else {
        // The kernel's list cannot be read: the instance stays with the kernel.
        inst.make_kernel_only(Why::Unseen);
        return Outcome::Settled;
    };
    let wake = inst.wake_fd();
    let mut kernel_items = 0;
    for fd in targets.into_iter().filter(|&fd| fd != wake) {
        kernel_items += 1;
        if let Some(Entry::File(file)) = table.get(fd).cloned() {
            demote::demote_channel(table, &file, Why::Fork);
        }
    }
    inst.promoted(kernel_items);
    STATS.add(&STATS.promotions, 1);
    Outcome::Settled
}

/// The target fd numbers of the registrations in kernel epoll fd `epfd`, from the
/// `tfd:` lines of `/proc/self/fdinfo/<epfd>`.
fn kernel_targets(epfd: i32) -> Option<Vec<i32>> {
    Some(parse_targets(&read_fdinfo(epfd)?))
}

/// The whole of `/proc/self/fdinfo/<fd>`, or `None` when it cannot be read.
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

/// The numbers after `tfd:` at the start of lines.
fn parse_targets(text: &[u8]) -> Vec<i32> {
    text.split(|&c| c == b'\n')
        .filter_map(|line| line.strip_prefix(b"tfd:"))
        .filter_map(|rest| {
            let rest = std::str::from_utf8(rest).ok()?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_targets;

    #[test]
    fn targets_come_from_tfd_lines_only() {
        let text = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
tfd:        5 events:       19 data:                5  pos:0 ino:3d sdev:d\n\
tfd:       12 events: 80000019 data:     9e3779b97f4a7c15  pos:0 ino:3d sdev:d\n";
        assert_eq!(parse_targets(text), vec![5, 12]);
        assert!(parse_targets(b"pos:\t0\n").is_empty());
    }
}

#[cfg(test)]
#[path = "promote_tests.rs"]
mod model_tests;
