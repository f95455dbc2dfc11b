//! Raw system calls made through `syscall()` that need more than the demotion of the
//! fds they name (`process.rs:fd_args`): they go to the same code as their hooks.
//!
//! | number | as |
//! |---|---|
//! | `close_range` | the `close_range` hook (it keeps the library's own fds and forgets the closed files) |
//! | `poll`, `ppoll`, `select`, `pselect6` | the poll hooks: the epoll fds among them are observed while the raw call runs |
//! | `fork`, `vfork`, `clone`, `clone3` | `fork` for a child with its own memory (the atfork steps run around the call, in parent and child); a child sharing the memory demotes as the `clone` hook; a thread (`CLONE_VM` and `CLONE_FILES`) passes |
//! | `unshare` with `CLONE_FILES` | the `unshare` hook |
//! | `close`, `dup`, `dup2`, `dup3` | their hooks (`fds.rs`) |
//! | `pipe`, `pipe2`, `socketpair`, `eventfd` (flags 0), `eventfd2` | the creation hooks: the new fds are served |
//! | `read`, `write`, `readv`, `writev`, `recvfrom`, `sendto`, `recvmsg`, `sendmsg`, `recvmmsg`, `sendmmsg` | the I/O hooks (`io.rs`) |
//! | `epoll_create`, `epoll_create1`, `epoll_ctl`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2` | the epoll hooks; a wait with a signal mask whose size is not the kernel's (8) goes to the kernel, which refuses it (EINVAL) before it reads anything else |

use libc::{c_int, c_long, c_uint, fd_set, nfds_t, pollfd};

use super::poll::{pollfds, set_members, Observing};
use super::process::{atfork_child, atfork_parent, atfork_prepare};
use super::spawn::{files_unshared, is_thread, ChildLikeFork};
use crate::sys::{self, real, user};

/// The size of the kernel's `sigset_t` (`_NSIG / 8` on x86_64): the only signal mask
/// size `epoll_pwait` and `epoll_pwait2` accept.
const KERNEL_SIGSET_SIZE: c_long = 8;

/// The result of raw call `num` when it was routed here, None when the caller makes it.
pub(super) fn routed(num: c_long, args: [c_long; 6]) -> Option<c_long> {
    if let Some(r) = routed_fd_call(num, args) {
        return Some(r);
    }
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

/// The raw calls that create, copy, close, read, write or wait on fds: the hooks'
/// code with the kernel's arguments. The hooks keep the gate, the engine state and
/// errno; their `-1` and errno are `syscall()`'s own convention. Each argument is
/// narrowed as the kernel narrows the register (an `int` is its low 32 bits).
#[allow(non_upper_case_globals)] // libc names the syscall numbers in lower case
fn routed_fd_call(num: c_long, args: [c_long; 6]) -> Option<c_long> {
    use libc::*;
    let [a1, a2, a3, a4, a5, a6] = args;
    let fd = a1 as c_int;
    // SAFETY (every arm): the program's raw arguments, handed to the hook with the
    // kernel's types; each hook checks what it reads from program memory as the
    // kernel does (or leaves it to the real call).
    let r: c_long = unsafe {
        match num {
            SYS_close => super::fds::close(fd) as c_long,
            SYS_dup => super::fds::dup(fd) as c_long,
            SYS_dup2 => super::fds::dup2(fd, a2 as c_int) as c_long,
            SYS_dup3 => super::fds::dup3(fd, a2 as c_int, a3 as c_int) as c_long,
            SYS_pipe => super::fds::pipe(a1 as *mut c_int) as c_long,
            SYS_pipe2 => super::fds::pipe2(a1 as *mut c_int, a2 as c_int) as c_long,
            SYS_socketpair => {
                super::fds::socketpair(a1 as c_int, a2 as c_int, a3 as c_int, a4 as *mut c_int)
                    as c_long
            }
            // The old call takes only the initial value: flags 0.
            SYS_eventfd => super::fds::eventfd(a1 as c_uint, 0) as c_long,
            SYS_eventfd2 => super::fds::eventfd(a1 as c_uint, a2 as c_int) as c_long,
            SYS_read => super::io::read(fd, a2 as *mut c_void, a3 as size_t) as c_long,
            SYS_write => super::io::write(fd, a2 as *const c_void, a3 as size_t) as c_long,
            SYS_readv => super::io::readv(fd, a2 as *const iovec, a3 as c_int) as c_long,
            SYS_writev => super::io::writev(fd, a2 as *const iovec, a3 as c_int) as c_long,
            SYS_recvfrom => super::io::recvfrom(
                fd,
                a2 as *mut c_void,
                a3 as size_t,
                a4 as c_int,
                a5 as *mut sockaddr,
                a6 as *mut socklen_t,
            ) as c_long,
            SYS_sendto => super::io::sendto(
                fd,
                a2 as *const c_void,
                a3 as size_t,
                a4 as c_int,
                a5 as *const sockaddr,
                a6 as socklen_t,
            ) as c_long,
            SYS_recvmsg => super::io::recvmsg(fd, a2 as *mut msghdr, a3 as c_int) as c_long,
            SYS_sendmsg => super::io::sendmsg(fd, a2 as *const msghdr, a3 as c_int) as c_long,
            SYS_recvmmsg => super::io::recvmmsg(
                fd,
                a2 as *mut mmsghdr,
                a3 as c_uint,
                a4 as c_int,
                a5 as *mut timespec,
            ) as c_long,
            SYS_sendmmsg => {
                super::io::sendmmsg(fd, a2 as *mut mmsghdr, a3 as c_uint, a4 as c_int) as c_long
            }
            SYS_epoll_create => super::epoll::epoll_create(fd) as c_long,
            SYS_epoll_create1 => super::epoll::epoll_create1(fd) as c_long,
            SYS_epoll_ctl => {
                super::epoll::epoll_ctl(fd, a2 as c_int, a3 as c_int, a4 as *mut epoll_event)
                    as c_long
            }
            SYS_epoll_wait => {
                super::epoll::epoll_wait(fd, a2 as *mut epoll_event, a3 as c_int, a4 as c_int)
                    as c_long
            }
            // A mask of another size: the kernel answers EINVAL before it looks at the
            // instance (after the timeout, for epoll_pwait2), so it may have the call.
            SYS_epoll_pwait | SYS_epoll_pwait2 if a5 != 0 && a6 != KERNEL_SIGSET_SIZE => {
                forward(num, args)
            }
            SYS_epoll_pwait => super::epoll::epoll_pwait(
                fd,
                a2 as *mut epoll_event,
                a3 as c_int,
                a4 as c_int,
                a5 as *const sigset_t,
            ) as c_long,
            // struct __kernel_timespec is struct timespec on x86_64.
            SYS_epoll_pwait2 => super::epoll::epoll_pwait2(
                fd,
                a2 as *mut epoll_event,
                a3 as c_int,
                a4 as *const timespec,
                a5 as *const sigset_t,
            ) as c_long,
            _ => return None,
        }
    };
    Some(r)
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
