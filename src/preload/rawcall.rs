//! Raw system calls made through `syscall()` that need more than the demotion of the
//! fds they name (`process.rs:fd_args`): they go to the same code as their hooks.
//!
//! | number | as |
//! |---|---|
//! | `close_range` | the `close_range` hook (it keeps the library's own fds and forgets the closed files) |
//! | `poll`, `ppoll`, `select`, `pselect6` | the poll hooks: the epoll fds among them are observed while the raw call runs |
//! | `fork`, `vfork`, `clone`, `clone3` | `fork` for a child with its own memory (the atfork steps run around the call, in parent and child); a child sharing the memory demotes as the `clone` hook; a thread (`CLONE_VM` and `CLONE_FILES`) passes |
//! | `unshare` with `CLONE_FILES` | the `unshare` hook |

use libc::{c_int, c_long, c_uint, fd_set, nfds_t, pollfd};

use super::poll::{pollfds, set_members, Observing};
use super::process::{atfork_child, atfork_parent, atfork_prepare};
use super::spawn::{files_unshared, is_thread, ChildLikeFork};
use crate::sys::{self, real, user};

/// The result of raw call `num` when it was routed here, None when the caller makes it.
pub(super) fn routed(num: c_long, args: [c_long; 6]) -> Option<c_long> {
    let [a1, a2, a3, a4, ..] = args;
    match num {
        libc::SYS_close_range => {
            // SAFETY: the hook takes the kernel's arguments (the upper bits of each
            // register are ignored by the kernel too).
            Some(
                unsafe { super::fds::close_range(a1 as c_uint, a2 as c_uint, a3 as c_int) }
                    as c_long,
            )
        }
        libc::SYS_poll | libc::SYS_ppoll if a1 != 0 => {
            let _observing = Observing::new(pollfds(a1 as *mut pollfd, a2 as nfds_t));
            Some(forward(num, args))
        }
        libc::SYS_select | libc::SYS_pselect6 => {
            let sets = [a2, a3, a4].map(|p| p as *mut fd_set);
            let _observing = Observing::new(set_members(a1 as c_int, sets));
            Some(forward(num, args))
        }
        libc::SYS_fork => Some(fork_like(num, args, libc::SIGCHLD as u64)),
        libc::SYS_vfork => Some(fork_like(
            num,
            args,
            (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
        )),
        libc::SYS_clone => Some(fork_like(num, args, a1 as u64)),
        libc::SYS_clone3 => {
            // struct clone_args starts with the u64 flags. Unreadable: the kernel
            // answers EFAULT and no child starts.
            let flags = user::read_plain(a1 as *const u64)?;
            Some(fork_like(num, args, flags))
        }
        libc::SYS_unshare if a1 as c_int & libc::CLONE_FILES != 0 => {
            files_unshared();
            Some(forward(num, args))
        }
        _ => None,
    }
}

fn forward(num: c_long, [a1, a2, a3, a4, a5, a6]: [c_long; 6]) -> c_long {
    // SAFETY: the program's raw call, forwarded as received.
    unsafe { real::syscall(num, a1, a2, a3, a4, a5, a6) }
}

/// A raw call that may start a child with these clone `flags`.
fn fork_like(num: c_long, args: [c_long; 6], flags: u64) -> c_long {
    if is_thread(flags) {
        return forward(num, args);
    }
    if flags & libc::CLONE_VM as u64 != 0 {
        // The child shares this memory: nothing may run in it on the library's
        // behalf, and the parent's step must run once.
        let child = ChildLikeFork::demote();
        let r = forward(num, args);
        if r == 0 {
            std::mem::forget(child);
        }
        return r;
    }
    // A child with a copy of the memory returns here, as from fork.
    atfork_prepare();
    let r = forward(num, args);
    let err = sys::errno();
    if r == 0 {
        atfork_child();
    } else {
        atfork_parent();
    }
    sys::set_errno(err);
    r
}
