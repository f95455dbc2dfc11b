//! Other exported names of hooked calls. glibc exports many of its functions under a
//! second public name (`__write` for `write`, `preadv64v2` for `preadv2`, `ssignal` for
//! `signal`, …), bound to the same code. A program that calls the second name would go
//! around the hook, so each is exported here as the hook of its plain name.
//!
//! The aliases of the calls that demote (`__connect`, `__clone`, the AIO `64` forms…)
//! sit next to their hooks in `handoff.rs` and `spawn.rs`.

use libc::{
    c_char, c_int, c_long, c_void, fd_set, iovec, nfds_t, off_t, pid_t, pollfd, sighandler_t,
    size_t, ssize_t, timeval,
};

use super::{fds, io, poll, process, signals};

#[no_mangle]
pub unsafe extern "C" fn __read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    // SAFETY: the hook of the same function, with the caller's arguments.
    unsafe { io::read(fd, buf, count) }
}

#[no_mangle]
pub unsafe extern "C" fn __write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    // SAFETY: as __read.
    unsafe { io::write(fd, buf, count) }
}

#[no_mangle]
pub unsafe extern "C" fn __send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: as __read.
    unsafe { io::send(fd, buf, len, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn __close(fd: c_int) -> c_int {
    // SAFETY: as __read.
    unsafe { fds::close(fd) }
}

#[no_mangle]
pub unsafe extern "C" fn __dup2(oldfd: c_int, newfd: c_int) -> c_int {
    // SAFETY: as __read.
    unsafe { fds::dup2(oldfd, newfd) }
}

/// `fcntl` is variadic; its one optional argument travels in the third register, as
/// the `fcntl` hook takes it.
#[no_mangle]
pub unsafe extern "C" fn __fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: as __read.
    unsafe { fds::fcntl(fd, cmd, arg) }
}

#[no_mangle]
pub unsafe extern "C" fn __poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    // SAFETY: as __read.
    unsafe { poll::poll(fds, nfds, timeout) }
}

#[no_mangle]
pub unsafe extern "C" fn __select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: as __read.
    unsafe { poll::select(nfds, r, w, e, timeout) }
}

/// x86_64 has one offset type, so glibc's `preadv64v2` is `preadv2`.
#[no_mangle]
pub unsafe extern "C" fn preadv64v2(
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: as __read.
    unsafe { process::preadv2(fd, iov, iovcnt, offset, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn pwritev64v2(
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: as __read.
    unsafe { process::pwritev2(fd, iov, iovcnt, offset, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn __vfork() -> pid_t {
    // SAFETY: as __read.
    unsafe { process::vfork() }
}

#[no_mangle]
pub unsafe extern "C" fn _IO_fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: as __read.
    unsafe { process::fdopen(fd, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn _IO_popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: as __read.
    unsafe { process::popen(command, mode) }
}

/// The SIGSEGV/SIGBUS handler the library keeps would be displaced through these.
#[no_mangle]
pub unsafe extern "C" fn ssignal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: as __read.
    unsafe { signals::signal(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: as __read.
    unsafe { signals::sysv_signal(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn __sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    // SAFETY: as __read.
    unsafe { signals::sigaction(sig, act, oldact) }
}
