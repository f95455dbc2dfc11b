//! The read/write family. On an fd the engine does not serve, each hook costs one bit
//! test before the real call. On a served fd, the file layer accounts the result and
//! runs the wake-ups the kernel would run (a write makes the reader IN, a read makes a
//! full pipe's writer OUT, …).

use libc::{
    c_int, c_uint, c_void, iovec, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

use crate::files::{self, Dir, Done, Prep};
use crate::sys::{self, real};

/// Run `call` (the real I/O) on `fd` and account it. `value` points at the 8 bytes an
/// eventfd read or write moves, when the hook can see them.
#[inline(always)]
fn io(
    fd: c_int,
    dir: Dir,
    peek: bool,
    value: *const c_void,
    call: impl FnOnce() -> isize,
) -> isize {
    let prep = files::prepare(fd, dir);
    if let Prep::NotServed = prep {
        return call();
    }
    let result = call();
    let err = sys::errno();
    let value = if result == 8 && !value.is_null() {
        // SAFETY: the kernel just moved 8 bytes through this buffer, so it is readable.
        Some(unsafe { std::ptr::read_unaligned(value as *const u64) })
    } else {
        None
    };
    files::complete(
        prep,
        Done {
            dir,
            result,
            error: if result < 0 { err } else { 0 },
            value,
            peek,
        },
    );
    sys::set_errno(err);
    result
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, false, buf, || unsafe {
        real::read(fd, buf, count)
    })
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    buflen: size_t,
) -> ssize_t {
    // SAFETY: forwarded as received (the real one does the fortify check).
    io(fd, Dir::Read, false, buf, || unsafe {
        real::__read_chk(fd, buf, count, buflen)
    })
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, buf, || unsafe {
        real::write(fd, buf, count)
    })
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, false, std::ptr::null(), || unsafe {
        real::readv(fd, iov, iovcnt)
    })
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, std::ptr::null(), || unsafe {
        real::writev(fd, iov, iovcnt)
    })
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, buf, || unsafe {
        real::recv(fd, buf, len, flags)
    })
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, buf, || unsafe {
        real::__recv_chk(fd, buf, len, buflen, flags)
    })
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, buf, || unsafe {
        real::send(fd, buf, len, flags)
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, buf, || unsafe {
        real::recvfrom(fd, buf, len, flags, addr, addrlen)
    })
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, buf, || unsafe {
        real::__recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen)
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, buf, || unsafe {
        real::sendto(fd, buf, len, flags, addr, addrlen)
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, std::ptr::null(), || unsafe {
        real::recvmsg(fd, msg, flags)
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the program's own message header.
    unsafe { super::process::before_fd_passing(msg) };
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, std::ptr::null(), || unsafe {
        real::sendmsg(fd, msg, flags)
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgvec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> c_int {
    let peek = flags & libc::MSG_PEEK != 0;
    // SAFETY: forwarded as received.
    io(fd, Dir::Read, peek, std::ptr::null(), || unsafe {
        real::recvmmsg(fd, msgvec, vlen, flags, timeout)
    } as isize) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgvec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    if !msgvec.is_null() {
        for i in 0..vlen as usize {
            // SAFETY: the program's own vector of vlen headers.
            unsafe { super::process::before_fd_passing(&(*msgvec.add(i)).msg_hdr) };
        }
    }
    // SAFETY: forwarded as received.
    io(fd, Dir::Write, false, std::ptr::null(), || unsafe {
        real::sendmmsg(fd, msgvec, vlen, flags)
    } as isize) as c_int
}

/// glibc's `eventfd_read` calls its internal read, which the hooks cannot see: serve
/// it through the hooked `read`.
#[no_mangle]
pub unsafe extern "C" fn eventfd_read(fd: c_int, value: *mut u64) -> c_int {
    // SAFETY: reads 8 bytes into the program's u64.
    if unsafe { read(fd, value as *mut c_void, 8) } == 8 {
        0
    } else {
        -1
    }
}

/// glibc's `eventfd_write`, through the hooked `write`.
#[no_mangle]
pub unsafe extern "C" fn eventfd_write(fd: c_int, value: u64) -> c_int {
    // SAFETY: writes 8 bytes from a live u64.
    if unsafe { write(fd, &value as *const u64 as *const c_void, 8) } == 8 {
        0
    } else {
        -1
    }
}
