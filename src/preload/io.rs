//! The read/write family. On an fd the engine does not serve, each hook costs one bit
//! test before the real call. On a served fd, the file layer accounts the result and
//! runs the wake-ups the kernel would run (a write makes the reader IN, a read makes a
//! full pipe's writer OUT, …).

use libc::{
    c_int, c_uint, c_void, iovec, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

use crate::files::{self, filepromo, Dir, Done, Prep};
use crate::sys::user;
use crate::sys::{self, real, spans, uaccess};

/// How a call reads or writes, beyond its direction.
#[derive(Clone, Copy)]
struct How {
    /// read, write, readv, writev: through the VFS (`sock_read_iter`).
    vfs: bool,
    /// MSG_PEEK: nothing is consumed.
    peek: bool,
    /// MSG_OOB.
    oob: bool,
    /// The result counts messages (the mmsg calls).
    messages: bool,
}

impl How {
    /// read, write, readv, writev.
    const VFS: How = How {
        vfs: true,
        peek: false,
        oob: false,
        messages: false,
    };

    /// A socket call given `flags`.
    fn flags(flags: c_int) -> How {
        How {
            vfs: false,
            peek: flags & libc::MSG_PEEK != 0,
            oob: flags & libc::MSG_OOB != 0,
            messages: false,
        }
    }

    /// recvmmsg or sendmmsg given `flags`.
    fn mmsg(flags: c_int) -> How {
        How {
            messages: true,
            ..How::flags(flags)
        }
    }
}

/// Run `call` (the real I/O) on `fd` and account it. `value` points at the 8 bytes an
/// eventfd read or write moves, when the hook can see them. `args_ok` says, after a
/// failure with EFAULT, whether the kernel could copy everything it reads before the
/// file's own read or write (headers, iovec arrays, addresses; see `reached`).
/// `asked`, called after a success, gives the bytes the call asked to move when the
/// hook can tell: a `read`/`readv` of 0 bytes never reaches a socket's recvmsg
/// (`sock_read_iter`), and a send that moved fewer bytes than asked may have freed an
/// skb it was filling. `named`, asked after a socket send reached the socket, says
/// whether it was given a destination address.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn io(
    fd: c_int,
    dir: Dir,
    how: How,
    value: *const c_void,
    args_ok: impl FnOnce() -> bool,
    asked: impl Fn() -> Option<usize>,
    named: impl FnOnce() -> bool,
    call: impl FnOnce() -> isize,
) -> isize {
    // Before the "not served" check: a file promoted meanwhile is looked at after.
    let generation = filepromo::generation();
    // The common case of most programs (files, TCP), kept apart from the served path
    // (not inlined), whose frame it would otherwise pay: a bit test, the call, a load.
    // 31 instructions of the library per call instead of 62 (callgrind, `read` and
    // `write` on a regular file); a served call pays about 19 more for the split.
    if !files::table::is_served(fd) {
        return unserved(fd, generation, call);
    }
    io_served(fd, dir, how, value, generation, args_ok, asked, named, call)
}

/// The real call on a number the table does not serve, then the check that no file
/// was promoted on it meanwhile (`generation`, read before the table was).
#[inline(always)]
fn unserved(fd: c_int, generation: u64, call: impl FnOnce() -> isize) -> isize {
    let result = call();
    filepromo::after_unserved(fd, generation);
    result
}

/// `io` for a number the table serves (or did a moment ago).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn io_served(
    fd: c_int,
    dir: Dir,
    how: How,
    value: *const c_void,
    generation: u64,
    args_ok: impl FnOnce() -> bool,
    asked: impl Fn() -> Option<usize>,
    named: impl FnOnce() -> bool,
    call: impl FnOnce() -> isize,
) -> isize {
    // The library's own time in this call, built with `spans` (`sys/spans.rs`).
    let span = spans::Span::begin(match dir {
        Dir::Read => spans::Kind::Read,
        Dir::Write => spans::Kind::Write,
    });
    let prep = files::prepare(fd, dir);
    if let Prep::NotServed = prep {
        span.discard();
        return unserved(fd, generation, call);
    }
    // An eventfd's read or write goes through the library's own eight bytes when the
    // kernel would reach the counter, so that the value accounted is the value moved.
    let own = if prep.eventfd() && how.vfs && !value.is_null() {
        asked().and_then(|count| eventfd_own_buffer(fd, dir, value, count))
    } else {
        None
    };
    let (result, err, own_value) = match own {
        Some(own) => (own.result, own.errno.unwrap_or_else(sys::errno), own.value),
        None => {
            let result = span.exclude(call);
            (result, sys::errno(), None)
        }
    };
    let reached = result >= 0 || reached(err, args_ok);
    // Only socket accounting uses it: a 0-byte read, a stream send.
    let asked = match (dir, prep.socket()) {
        _ if how.messages => None,
        (Dir::Read, Some(_)) if result == 0 => asked(),
        (Dir::Write, Some(true)) if result >= 0 => asked(),
        _ => None,
    }
    .map(|a| a.min(MAX_RW_COUNT));
    let named = dir == Dir::Write && reached && prep.socket().is_some() && named();
    let value = if own_value.is_some() {
        own_value
    } else if result == 8 && !value.is_null() {
        // SAFETY: a fault-tolerant read of the buffer the kernel just moved 8 bytes
        // through; another thread may have unmapped it since, and then the value is
        // out of sight (the file layer demotes the eventfd).
        unsafe { uaccess::get_u64(value as *const u64) }
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
            peek: how.peek,
            reached,
            oob: how.oob,
            named,
            messages: how.messages,
            empty_vfs_read: how.vfs && dir == Dir::Read && result == 0 && asked == Some(0),
            short_send: dir == Dir::Write && asked.is_some_and(|a| (result as usize) < a),
            ticket: None,
        },
    );
    sys::set_errno(err);
    result
}

/// Whether a call that failed with `err` got as far as the file's own read or write,
/// which can change the file (an eventfd read that faults has consumed the counter, a
/// datagram whose copy faults is dropped) and wake its waiters (a failed pipe write
/// wakes the readers, a send whose copy faults frees its buffer and wakes the sender).
/// The errors the VFS and the socket layer return before that (a wrong kind of fd, bad
/// flags, a header or iovec array they cannot copy) leave the file untouched.
fn reached(err: c_int, args_ok: impl FnOnce() -> bool) -> bool {
    match err {
        libc::EBADF
        | libc::EINVAL
        | libc::ENOTSOCK
        | libc::EOPNOTSUPP
        | libc::EMSGSIZE
        | libc::EISCONN => false,
        libc::EFAULT => args_ok(),
        _ => true,
    }
}

/// An eventfd read or write made through the library's own `u64`.
struct OwnBuffer {
    result: isize,
    /// Set when the result is the library's, not the real call's (EFAULT on the copy
    /// out); otherwise errno is the real call's.
    errno: Option<c_int>,
    /// The value the kernel added or took, when it did.
    value: Option<u64>,
}

/// `read` or `write` of `count` bytes at `buf` on a served eventfd, made through the
/// library's own eight bytes: the value accounted is then the one the kernel moved,
/// even if another thread writes the program's buffer meanwhile (threads that drain
/// an eventfd into one shared scratch word are common, and reading the value back
/// from there accounted another thread's read: the mirrored counter drifted from the
/// kernel's for good, and level-triggered watchers were shown IN on an empty eventfd
/// or nothing on a full one). `None`: the kernel refuses the call before the counter
/// (`access_ok`, a negative or short count: EFAULT or EINVAL), or the value to write
/// cannot be read (EFAULT in the kernel's copy too); the call is then made as given.
///
/// The kernel's order is kept: `vfs_read`/`vfs_write` check the range, then
/// `eventfd_read` needs at least eight bytes and `eventfd_write` exactly eight; they
/// copy the value in and change the counter, or change the counter and copy the value
/// out (eight bytes: a read returns 8 whatever count it was given). A read whose copy
/// out faults has taken the counter and fails with EFAULT, here as there, and its
/// value is known.
fn eventfd_own_buffer(fd: c_int, dir: Dir, buf: *const c_void, count: usize) -> Option<OwnBuffer> {
    if !buf_ok(buf, count) || (count as isize) < 0 || count < 8 {
        return None;
    }
    match dir {
        // Only a write of exactly eight bytes reaches the counter (6.18 refuses any
        // other count with EINVAL; kernels before took the first eight of more, and
        // such a write is then made as given and accounted as before).
        Dir::Write if count != 8 => None,
        Dir::Write => {
            // SAFETY: a fault-tolerant read of the program's buffer, in range.
            let value = unsafe { uaccess::get_u64(buf as *const u64) }?;
            // SAFETY: eight bytes of a live local.
            let result = unsafe { real::write(fd, (&value as *const u64).cast(), 8) };
            Some(OwnBuffer {
                result,
                errno: None,
                value: (result == 8).then_some(value),
            })
        }
        Dir::Read => {
            let mut value = 0u64;
            // SAFETY: eight bytes of a live local.
            let result = unsafe { real::read(fd, (&mut value as *mut u64).cast(), 8) };
            if result != 8 {
                return Some(OwnBuffer {
                    result,
                    errno: None,
                    value: None,
                });
            }
            // SAFETY: a fault-tolerant store into the program's buffer, in range.
            let copied = unsafe { uaccess::put_u64(buf as *mut u64, value) };
            Some(OwnBuffer {
                result: if copied { 8 } else { -1 },
                errno: (!copied).then_some(libc::EFAULT),
                value: Some(value),
            })
        }
    }
}

/// The kernel's cap on one read or write (`MAX_RW_COUNT`); socket calls clamp to it
/// before their range check.
const MAX_RW_COUNT: usize = (c_int::MAX as usize) & !4095;

/// The range check `vfs_read`/`vfs_write` make on the buffer before the file's op.
fn buf_ok(buf: *const c_void, len: usize) -> bool {
    user::access_ok(buf as *const u8, len)
}

/// `len` bytes at `ptr` can be copied from the program: in range and readable.
fn copyable(ptr: *const c_void, len: usize) -> bool {
    // SAFETY: a fault-tolerant probe of the program's pointer, after the range check.
    user::access_ok(ptr as *const u8, len) && unsafe { uaccess::readable(ptr as *const u8, len) }
}

/// An iovec array `import_iovec` accepts: at most `UIO_MAXIOV` entries, readable, each
/// segment inside user space.
fn iov_ok(iov: *const iovec, count: usize) -> bool {
    count <= UIO_MAXIOV
        && (0..count).all(|i| {
            user::read_plain(iov.wrapping_add(i)).is_some_and(|v: iovec| {
                (v.iov_len as isize) >= 0 && user::access_ok(v.iov_base as *const u8, v.iov_len)
            })
        })
}

/// The bytes an iovec array asks for, when it can be read.
fn iov_total(iov: *const iovec, count: c_int) -> Option<usize> {
    let mut total = 0usize;
    for i in 0..usize::try_from(count).ok()? {
        let v: iovec = user::read_plain(iov.wrapping_add(i))?;
        total = total.saturating_add(v.iov_len);
    }
    Some(total)
}

/// The bytes a message header's iovec array asks for, when it can be read.
fn msg_total(msg: *const msghdr) -> Option<usize> {
    let h = user::read_plain(msg)?;
    iov_total(h.msg_iov, c_int::try_from(h.msg_iovlen).ok()?)
}

/// Whether a message header names a destination (an unreadable one counts as named:
/// the model then stops trusting itself rather than guess).
fn msg_named(msg: *const msghdr) -> bool {
    user::read_plain(msg).is_none_or(|h| !h.msg_name.is_null() && h.msg_namelen > 0)
}

/// A message header the kernel copies in full before the socket's op: the header and
/// its iovec array, and for a send its address and control buffer.
fn msghdr_ok(msg: *const msghdr, sending: bool) -> bool {
    let Some(h) = user::read_plain(msg) else {
        return false;
    };
    let name_len = (h.msg_namelen as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    iov_ok(h.msg_iov, h.msg_iovlen)
        && (!sending || h.msg_name.is_null() || name_len == 0 || copyable(h.msg_name, name_len))
        && (!sending || h.msg_controllen == 0 || copyable(h.msg_control, h.msg_controllen))
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::VFS,
        buf,
        move || buf_ok(buf, count),
        move || Some(count),
        move || false,
        move || unsafe { real::read(fd, buf, count) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    buflen: size_t,
) -> ssize_t {
    if count > buflen {
        // SAFETY: forwarded as received: the real one reports the overflow and aborts.
        return unsafe { real::__read_chk(fd, buf, count, buflen) };
    }
    // SAFETY: forwarded as received (the real one does the fortify check).
    io(
        fd,
        Dir::Read,
        How::VFS,
        buf,
        move || buf_ok(buf, count),
        move || Some(count),
        move || false,
        move || unsafe { real::__read_chk(fd, buf, count, buflen) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Write,
        How::VFS,
        buf,
        move || buf_ok(buf, count),
        move || Some(count),
        move || false,
        move || unsafe { real::write(fd, buf, count) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::VFS,
        std::ptr::null(),
        move || iov_ok(iov, iovcnt as usize),
        move || iov_total(iov, iovcnt),
        move || false,
        move || unsafe { real::readv(fd, iov, iovcnt) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Write,
        How::VFS,
        std::ptr::null(),
        move || iov_ok(iov, iovcnt as usize),
        move || iov_total(iov, iovcnt),
        move || false,
        move || unsafe { real::writev(fd, iov, iovcnt) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::flags(flags),
        buf,
        move || buf_ok(buf, len.min(MAX_RW_COUNT)),
        move || Some(len),
        move || false,
        move || unsafe { real::recv(fd, buf, len, flags) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::flags(flags),
        buf,
        move || buf_ok(buf, len.min(MAX_RW_COUNT)),
        move || Some(len),
        move || false,
        move || unsafe { real::__recv_chk(fd, buf, len, buflen, flags) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Write,
        How::flags(flags),
        buf,
        move || buf_ok(buf, len.min(MAX_RW_COUNT)),
        move || Some(len),
        move || false,
        move || unsafe { real::send(fd, buf, len, flags) },
    )
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
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::flags(flags),
        buf,
        move || buf_ok(buf, len.min(MAX_RW_COUNT)),
        move || Some(len),
        move || false,
        move || unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) },
    )
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
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::flags(flags),
        buf,
        move || buf_ok(buf, len.min(MAX_RW_COUNT)),
        move || Some(len),
        move || false,
        move || unsafe { real::__recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen) },
    )
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
    io(
        fd,
        Dir::Write,
        How::flags(flags),
        buf,
        move || {
            buf_ok(buf, len.min(MAX_RW_COUNT))
                && (addr.is_null() || copyable(addr as *const c_void, addrlen as usize))
        },
        move || Some(len),
        move || !addr.is_null() && addrlen > 0,
        move || unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::flags(flags),
        std::ptr::null(),
        move || msghdr_ok(msg, false),
        move || msg_total(msg),
        move || false,
        move || unsafe { real::recvmsg(fd, msg, flags) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    super::process::before_fd_passing(msg);
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Write,
        How::flags(flags),
        std::ptr::null(),
        move || msghdr_ok(msg, true),
        move || msg_total(msg),
        move || msg_named(msg),
        move || unsafe { real::sendmsg(fd, msg, flags) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgvec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> c_int {
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Read,
        How::mmsg(flags),
        std::ptr::null(),
        move || {
            (timeout.is_null()
                || copyable(timeout as *const c_void, std::mem::size_of::<timespec>()))
                && msghdr_ok(msgvec as *const msghdr, false)
        },
        move || None,
        move || false,
        move || unsafe { real::recvmmsg(fd, msgvec, vlen, flags, timeout) } as isize,
    ) as c_int
}

/// The kernel's limit on a `sendmmsg` vector (`UIO_MAXIOV`).
const UIO_MAXIOV: usize = 1024;

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgvec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    if !msgvec.is_null() {
        // The kernel sends at most UIO_MAXIOV messages, and stops at the first header
        // it cannot read.
        for i in 0..(vlen as usize).min(UIO_MAXIOV) {
            let hdr = msgvec.wrapping_add(i) as *const msghdr; // msg_hdr is the first field
            if !super::process::before_fd_passing(hdr) {
                break;
            }
        }
    }
    // SAFETY: forwarded as received.
    io(
        fd,
        Dir::Write,
        How::mmsg(flags),
        std::ptr::null(),
        move || msghdr_ok(msgvec as *const msghdr, true),
        move || None,
        move || {
            (0..(vlen as usize).min(UIO_MAXIOV))
                .any(|i| msg_named(msgvec.wrapping_add(i) as *const msghdr))
        },
        move || unsafe { real::sendmmsg(fd, msgvec, vlen, flags) } as isize,
    ) as c_int
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
