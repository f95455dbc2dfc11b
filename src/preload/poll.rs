//! `poll`, `ppoll`, `select` and `pselect` on epoll fds. The kernel sees an instance as
//! readable when its kernel epoll fd has a ready item; for the engine's items that is
//! the wake-up eventfd, which the engine raises only while somebody observes. These
//! hooks make the caller an observer for the duration of the call.

use std::sync::Arc;

use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};

use crate::files::gate;
use crate::files::instance::Instance;
use crate::files::table::{self, Entry};
use crate::sys::user;
use crate::sys::{self, real, uaccess};

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

/// The fd numbers of the program's `pollfd` array, read through the fault-tolerant
/// access. The walk stops at the first entry it cannot read: the real call then gets
/// the same array and answers EFAULT (or EINVAL first, for too many entries) itself.
pub(super) fn pollfds(fds: *const pollfd, nfds: nfds_t) -> impl Iterator<Item = c_int> {
    let entry = std::mem::size_of::<pollfd>();
    (0..nfds as usize).map_while(move |i| {
        let at = (fds as *const u8).wrapping_add(i.wrapping_mul(entry)) as *const pollfd;
        if !user::access_ok(at as *const u8, entry) {
            return None;
        }
        // SAFETY: a fault-tolerant read of the program's pointer; `fd` is the first
        // field of `struct pollfd`.
        unsafe { uaccess::get_i32(std::ptr::addr_of!((*at).fd)) }
    })
}

/// The members of the program's `fd_set`s below `nfds`, read a word at a time through
/// the fault-tolerant access, as the kernel's `get_fd_set` copies whole longs. A set
/// that cannot be read ends the walk: the real call answers EFAULT for it. Only the
/// first `FD_SETSIZE` numbers are looked at, the size of a glibc `fd_set`.
pub(super) fn set_members(nfds: c_int, sets: [*mut fd_set; 3]) -> impl Iterator<Item = c_int> {
    const BITS: usize = u64::BITS as usize;
    let n = nfds.clamp(0, libc::FD_SETSIZE as c_int) as usize;
    let union = sets_union(sets, n.div_ceil(BITS)).unwrap_or_default();
    (0..n)
        .filter(move |&fd| union[fd / BITS] & (1u64 << (fd % BITS)) != 0)
        .map(|fd| fd as c_int)
}

/// The union of the first `words` words of each non-NULL set, or `None` when one of
/// them cannot be read.
fn sets_union(sets: [*mut fd_set; 3], words: usize) -> Option<[u64; libc::FD_SETSIZE / 64]> {
    let mut union = [0u64; libc::FD_SETSIZE / 64];
    for set in sets.into_iter().filter(|s| !s.is_null()) {
        for (w, slot) in union.iter_mut().enumerate().take(words) {
            let at = (set as *const u64).wrapping_add(w);
            if !user::access_ok(at as *const u8, 8) {
                return None;
            }
            // SAFETY: a fault-tolerant read of the program's pointer.
            *slot |= unsafe { uaccess::get_u64(at) }?;
        }
    }
    Some(union)
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

/// glibc's check in the fortified entry points: the caller's array, `fdslen` bytes,
/// must hold `nfds` entries, or the process ends in `__chk_fail`.
fn poll_chk(nfds: nfds_t, fdslen: size_t) {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        // SAFETY: glibc's own failure report; it does not return.
        unsafe { real::__chk_fail() }
    }
}

/// `poll` as a program built with `-D_FORTIFY_SOURCE` calls it when `nfds` is not a
/// compile-time constant.
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    poll_chk(nfds, fdslen);
    // SAFETY: forwarded as received.
    unsafe { poll(fds, nfds, timeout) }
}

/// `ppoll`'s fortified entry point, as `__poll_chk`.
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    poll_chk(nfds, fdslen);
    // SAFETY: forwarded as received.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
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
