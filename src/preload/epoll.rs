//! `epoll_create`, `epoll_create1`, `epoll_ctl`, `epoll_wait`, `epoll_pwait` and
//! `epoll_pwait2`: the exported entry points only. Each decodes its arguments, calls
//! one function of the file layer (`files/instance.rs`, `files/ctl.rs`,
//! `files/wait.rs`), records the call when tracing is on, and sets errno.

use libc::{c_int, epoll_event, sigset_t, timespec};

use super::{active, variant};
use crate::engine::trace;
use crate::files::ctl;
use crate::files::instance;
use crate::files::wait::{self, Call};
use crate::sys::{c_result, real};

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: plain forwarding.
    let kfd = unsafe { real::epoll_create(size) };
    if active() {
        instance::adopt(kfd, variant());
    }
    kfd
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: plain forwarding.
    let kfd = unsafe { real::epoll_create1(flags) };
    if active() {
        instance::adopt(kfd, variant());
    }
    kfd
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    // SAFETY: the program's arguments, passed on.
    let r = c_result(unsafe { ctl::epoll_ctl(epfd, op, fd, event) }.map(|()| 0));
    if trace::on() {
        super::trace::ctl(epfd, op, fd, event, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { traced_wait(epfd, events, maxevents, Call::Wait(timeout)) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { traced_wait(epfd, events, maxevents, Call::Pwait(timeout, sigmask)) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { traced_wait(epfd, events, maxevents, Call::Pwait2(timeout, sigmask)) }
}

/// Every wait, recorded on entry and on return when tracing is on.
unsafe fn traced_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    call: Call,
) -> c_int {
    if !trace::on() {
        // SAFETY: arguments forwarded as received.
        return c_result(unsafe { wait::epoll_wait(epfd, events, maxevents, call) });
    }
    let (kind, timeout) = match call {
        Call::Wait(ms) => (trace::CALL_WAIT, super::trace::ms_ns(ms)),
        Call::Pwait(ms, _) => (trace::CALL_PWAIT, super::trace::ms_ns(ms)),
        Call::Pwait2(ts, _) => (trace::CALL_PWAIT2, super::trace::timespec_ns(ts)),
    };
    let since = super::trace::wait_enter(epfd, maxevents, kind, timeout);
    // SAFETY: arguments forwarded as received.
    let r = c_result(unsafe { wait::epoll_wait(epfd, events, maxevents, call) });
    super::trace::wait_return(epfd, maxevents, kind, r, since);
    r
}
