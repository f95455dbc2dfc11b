//! `epoll_ctl` routing. An instance is a real kernel epoll fd plus the engine: a
//! served file's registration goes to the engine, a ONESHOT item that demotion parked
//! is answered from the parking fd (`parking.rs`), and everything else goes to the
//! kernel epoll fd, which checks the target, nesting and loops itself.

use std::sync::Arc;

use libc::{c_int, epoll_event};

use super::instance::Instance;
use super::openfile::OpenFile;
use super::table::{self, Entry, Table};
use super::watches;
use crate::engine::check_exclusive;
use crate::engine::events::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD};
use crate::sys::{syscall, user, Errno};

/// `epoll_ctl(epfd, op, fd, event)` as the kernel answers it.
///
/// # Safety
/// `event` is the program's pointer: it is passed to the kernel as it is, or read with
/// fault-tolerant accesses.
pub unsafe fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> Result<(), Errno> {
    if !table::is_served(epfd) {
        // SAFETY: forwarded; the kernel checks everything.
        unsafe { syscall!(epoll_ctl(epfd, op, fd, event)) }?;
        track_nested(op, fd);
        return Ok(());
    }
    super::children::check();
    let Some(gate) = table::enter() else {
        // Re-entered from a signal handler inside the library: only the kernel's side
        // can be used without deadlock.
        // SAFETY: forwarded.
        return unsafe { syscall!(epoll_ctl(epfd, op, fd, event)) }.map(drop);
    };
    let Some(Entry::Epoll(inst)) = gate.get(epfd) else {
        drop(gate);
        // SAFETY: not an instance of ours: the kernel answers.
        return unsafe { syscall!(epoll_ctl(epfd, op, fd, event)) }.map(drop);
    };
    if let Some(answer) = inst.ctl_under_gate(&gate, epfd, op, fd, event) {
        return answer;
    }
    let inst = Arc::clone(inst);
    // On a kernel-only instance the call is counted from inside the gate until the
    // kernel has answered: a promotion (under the write side) waits for it, since a
    // served file it registers in the kernel epoll fd must be seen there. On any
    // instance it is counted as a kernel ctl too: a file served again
    // (`filepromo.rs`) must not have its registration moved to the engine while an
    // ADD, MOD or DEL of it is on its way to the kernel.
    let forwarded = inst.is_kernel_only();
    if forwarded {
        inst.forward_begins();
    }
    inst.kernel_ctl_begins();
    drop(gate);
    // SAFETY: the program's event, passed on to the instance's own kernel epoll fd.
    let answer = unsafe { inst.kernel_ctl(epfd, op, fd, event) };
    inst.kernel_ctl_ends();
    if forwarded {
        inst.forward_ends();
    }
    answer
}

impl Instance {
    /// The answers decided inside the gate: a served target goes to the engine, an
    /// internal fd of the library is EBADF (the program cannot know it), and a key the
    /// parking fd holds is answered from there. `None`: the kernel epoll fd decides.
    fn ctl_under_gate(
        &self,
        table: &Table,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> Option<Result<(), Errno>> {
        if !self.is_kernel_only() {
            match table.get(fd) {
                // The engine path, entirely under this one pass through the gate.
                Some(Entry::File(file)) => return Some(self.engine_ctl(op, fd, file, event)),
                Some(Entry::Internal) => return Some(Err(Errno(libc::EBADF))),
                Some(Entry::Epoll(_)) | None => {}
            }
        }
        if self.has_parked() {
            return self.parked_ctl(epfd, op, fd, event);
        }
        None
    }

    /// `epoll_ctl` through the instance's kernel epoll fd, with the library's
    /// accounting: the watch limit shared with the engine (the kernel's ENOSPC, after
    /// its other checks passed, as in `ep_insert`), the count of kernel items that
    /// tells a wait whether to look at the kernel, and nesting.
    ///
    /// # Safety
    /// `event` is the program's pointer, passed on to the kernel.
    unsafe fn kernel_ctl(
        &self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> Result<(), Errno> {
        // SAFETY: forwarded to the instance's own kernel epoll fd; the kernel checks
        // the target, nesting and loops.
        unsafe { syscall!(epoll_ctl(epfd, op, fd, event)) }?;
        match op {
            EPOLL_CTL_ADD => {
                if let Err(e) = watches::kernel_watch_added() {
                    // Past the user's limit once the engine's watches are counted.
                    // SAFETY: removes the registration just made.
                    let _ = unsafe {
                        syscall!(epoll_ctl(epfd, EPOLL_CTL_DEL, fd, std::ptr::null_mut()))
                    };
                    return Err(e);
                }
                self.kernel_item_added();
            }
            EPOLL_CTL_DEL => {
                watches::kernel_watch_removed();
                self.kernel_item_removed();
            }
            _ => {}
        }
        // Also for a kernel-only outer: an inner instance of ours must signal it.
        track_nested(op, fd);
        Ok(())
    }

    /// `epoll_ctl` through the kernel on an instance that parked ONESHOT items which
    /// had fired (`parking.rs`), when `fd` keys one of them: the answers the kernel
    /// gives for a disarmed item, in its order (the event copy, then the
    /// EPOLLEXCLUSIVE rules, then the lookup). EBADF and EPERM cannot arise: the parked
    /// item's fd is open and pollable. `None` when `fd` keys no parked item. The caller
    /// holds the gate.
    fn parked_ctl(
        &self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> Option<Result<(), Errno>> {
        if !matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_MOD | EPOLL_CTL_DEL) {
            return None;
        }
        let mut parking = self.parking();
        if !parking.may_hold(fd) || !parking.holds(fd) {
            return None;
        }
        if let Err(e) = checked_event(op, event) {
            return Some(Err(e));
        }
        Some(match op {
            EPOLL_CTL_ADD => Err(Errno(libc::EEXIST)),
            EPOLL_CTL_DEL => {
                parking.take(fd);
                Ok(())
            }
            _ => {
                // The re-arm: the item moves into the instance with its new interest.
                // The kernel's insert polls the file, so a ready file is reported.
                parking.take(fd);
                // SAFETY: the program's event, readable (checked above), to its
                // instance.
                let r = unsafe { syscall!(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, event)) };
                if r.is_ok() {
                    self.kernel_item_added();
                }
                r.map(drop)
            }
        })
    }

    /// `epoll_ctl` on a served file, with the kernel's checks in the kernel's order:
    /// the event pointer (EFAULT), then the EPOLLEXCLUSIVE rules (EINVAL), then the
    /// item lookup. EBADF, EPERM and `fd == epfd` cannot happen: both fds are open, and
    /// the target is a pollable file that is not the instance. The caller holds the
    /// gate.
    fn engine_ctl(
        &self,
        op: c_int,
        fd: c_int,
        file: &Arc<OpenFile>,
        event: *mut epoll_event,
    ) -> Result<(), Errno> {
        let event = checked_event(op, event)?;
        if op == EPOLL_CTL_ADD {
            // Before the engine's insert polls the file (see `OpenFile::pipe_read`).
            file.note_watched();
        }
        self.ep_ctl(op, file, fd, event, watches::max_watches())
    }
}

/// The checks the kernel makes on `epoll_ctl`'s event before it looks at the
/// instance's items, in its order: the copy of the event (EFAULT; DEL reads none),
/// then the EPOLLEXCLUSIVE rules for a target that is not an epoll fd (EINVAL).
/// Returns the event, `(0, 0)` for DEL, or the errno.
fn checked_event(op: c_int, event: *mut epoll_event) -> Result<(u32, u64), Errno> {
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        user::read_event(event).ok_or(Errno(libc::EFAULT))?
    };
    check_exclusive(op, events, false).map_err(|_| Errno(libc::EINVAL))?;
    Ok((events, data))
}

/// An epoll fd of ours was added to (or removed from) another instance through the
/// kernel: it must signal that outer instance for every engine wake-up.
fn track_nested(op: c_int, fd: c_int) {
    if let Some(inner) = table::instance_of(fd) {
        let Some(_gate) = table::enter() else { return };
        match op {
            EPOLL_CTL_ADD => inner.watch_from_kernel(),
            EPOLL_CTL_DEL => inner.unwatch_from_kernel(),
            _ => {}
        }
    }
}
