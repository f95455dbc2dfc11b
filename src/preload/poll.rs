//! `poll`, `ppoll`, `select` and `pselect` on epoll fds. The kernel sees an instance as
//! readable when its kernel epoll fd has a ready item; for the engine's items that is
//! the wake-up eventfd, which the engine raises only while somebody observes. These
//! hooks make the caller an observer for the duration of the call.

use std::sync::Arc;

use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, timespec, timeval};

use crate::files::gate;
use crate::files::instance::Instance;
use crate::files::table::{self, Entry};
use crate::sys::{self, real};

/// Observe the instances among `fds` while the guard lives.
pub(super) struct Observing(Vec<Arc<Instance>>);

impl Observing {
    pub(super) fn new(fds: impl Iterator<Item = c_int>) -> Self {
        let mut found: Vec<Arc<Instance>> = Vec::new();
        for fd in fds {
            if !table::is_served(fd) {
                continue;
            }
            if let Some(gate) = table::enter() {
                if let Some(Entry::Epoll(inst)) = gate.get(fd) {
                    found.push(Arc::clone(inst));
                }
            }
        }
        let _errno = sys::ErrnoGuard::save();
        if let Some(_gate) = table::enter() {
            for inst in &found {
                // poll() reads the epoll fd's level: the signal must be able to fall.
                inst.level_wakeups();
                inst.add_observer();
            }
        } else {
            found.clear();
        }
        Observing(found)
    }
}

impl Drop for Observing {
    fn drop(&mut self) {
        let _errno = sys::ErrnoGuard::save();
        if self.0.is_empty() {
            return;
        }
        // The gate is free here: Observing::new released it before the real call.
        if let Some(_gate) = table::enter() {
            for inst in &self.0 {
                inst.remove_observer();
            }
        }
    }
}

pub(super) fn pollfds(fds: *mut pollfd, nfds: nfds_t) -> impl Iterator<Item = c_int> {
    (0..nfds as usize).map(move |i| {
        // SAFETY: the program's array of nfds entries (the kernel would fault on it
        // otherwise, and so does the program's own use).
        unsafe { (*fds.add(i)).fd }
    })
}

pub(super) fn set_members(nfds: c_int, sets: [*mut fd_set; 3]) -> impl Iterator<Item = c_int> {
    (0..nfds.clamp(0, libc::FD_SETSIZE as c_int)).filter(move |&fd| {
        sets.iter().any(|&set| {
            // SAFETY: the program's fd_set, valid for nfds bits.
            !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if gate::in_library() || fds.is_null() {
        // SAFETY: forwarded as received.
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    let _observing = Observing::new(pollfds(fds, nfds));
    // SAFETY: forwarded as received.
    unsafe { real::poll(fds, nfds, timeout) }
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    if gate::in_library() || fds.is_null() {
        // SAFETY: forwarded as received.
        return unsafe { real::ppoll(fds, nfds, timeout, sigmask) };
    }
    let _observing = Observing::new(pollfds(fds, nfds));
    // SAFETY: forwarded as received.
    unsafe { real::ppoll(fds, nfds, timeout, sigmask) }
}

#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    let _observing = Observing::new(set_members(nfds, [r, w, e]));
    // SAFETY: forwarded as received.
    unsafe { real::select(nfds, r, w, e, timeout) }
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    let _observing = Observing::new(set_members(nfds, [r, w, e]));
    // SAFETY: forwarded as received.
    unsafe { real::pselect(nfds, r, w, e, timeout, sigmask) }
}
