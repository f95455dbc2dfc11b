//! Calls that hand a served fd to something the library cannot follow, or change its
//! readiness without a read or write. Each demotes the fds involved before the real
//! call (the kernel serves them from then on, exactly), except the pipe resize, which
//! runs the kernel's wake-up.
//!
//! | call | why |
//! |---|---|
//! | `connect` | on a datagram end it changes or removes the peer, so datagrams from any socket can arrive unseen |
//! | `setsockopt(SO_SNDBUF/SO_SNDBUFFORCE)` | a larger send buffer makes a full end writable (`sk_write_space`) |
//! | `pidfd_getfd` | copies the fd onto a number the library does not know |
//! | `backtrace_symbols_fd` | writes with glibc's internal `writev` |
//! | `aio_read`, `aio_write`, `lio_listio` | glibc's AIO threads do the I/O with internal calls |
//! | `_IO_file_attach`, `_IO_proc_open` | stdio over the fd, or a child that inherits it, as `fdopen`/`popen` |
//! | `fcntl(F_SETPIPE_SZ)` | after the call: the kernel wakes the write end's watchers (`pipe_resize_ring`) |

use libc::{c_char, c_int, c_uint, c_void, sockaddr, socklen_t};

use super::process::{demote_quietly, ChildStarting};
use crate::engine::events::KEY_ALL;
use crate::engine::trace::Why;
use crate::files::openfile::Kind;
use crate::files::table::{self, Entry};
use crate::sys::{real, user};

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // A stream or seqpacket end fails with EISCONN; only a datagram end changes, but
    // the demotion costs nothing the kernel would not answer the same way.
    demote_quietly(fd, Why::Handoff);
    // SAFETY: forwarded as received.
    unsafe { real::connect(fd, addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn __connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the hook of the same function.
    unsafe { connect(fd, addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // `sock_setsockopt` runs `sk_write_space` after setting the send buffer, and
    // `unix_write_space` wakes the writers when the end is then writable. The library
    // cannot tell how full the send buffer is, so the kernel takes the file. Other
    // options leave an AF_UNIX socket's readiness alone (`unix_poll` does not read
    // SO_RCVBUF or SO_RCVLOWAT).
    if level == libc::SOL_SOCKET && (name == libc::SO_SNDBUF || name == libc::SO_SNDBUFFORCE) {
        demote_quietly(fd, Why::Handoff);
    }
    // SAFETY: forwarded as received.
    unsafe { real::setsockopt(fd, level, name, value, len) }
}

#[no_mangle]
pub unsafe extern "C" fn pidfd_getfd(pidfd: c_int, targetfd: c_int, flags: c_uint) -> c_int {
    // The copy lands on a number the library does not serve. When the pidfd names
    // another process, `targetfd` is that process's number, and demoting ours is only
    // a lost optimisation.
    demote_quietly(targetfd, Why::Handoff);
    // SAFETY: forwarded as received.
    unsafe { real::pidfd_getfd(pidfd, targetfd, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn backtrace_symbols_fd(buffer: *const *mut c_void, size: c_int, fd: c_int) {
    demote_quietly(fd, Why::Handoff);
    // SAFETY: forwarded as received.
    unsafe { real::backtrace_symbols_fd(buffer, size, fd) }
}

#[no_mangle]
pub unsafe extern "C" fn __backtrace_symbols_fd(
    buffer: *const *mut c_void,
    size: c_int,
    fd: c_int,
) {
    // SAFETY: the hook of the same function.
    unsafe { backtrace_symbols_fd(buffer, size, fd) }
}

/// Demote the fd of the program's AIO request. An unreadable request is left to the
/// real call, which answers EFAULT or crashes exactly as without the library.
fn demote_request(cb: *const libc::aiocb) {
    let field = (cb as *const u8).wrapping_add(std::mem::offset_of!(libc::aiocb, aio_fildes));
    if let Some(fd) = user::read_plain(field as *const c_int) {
        demote_quietly(fd, Why::Handoff);
    }
}

#[no_mangle]
pub unsafe extern "C" fn aio_read(cb: *mut libc::aiocb) -> c_int {
    demote_request(cb);
    // SAFETY: forwarded as received.
    unsafe { real::aio_read(cb) }
}

#[no_mangle]
pub unsafe extern "C" fn aio_write(cb: *mut libc::aiocb) -> c_int {
    demote_request(cb);
    // SAFETY: forwarded as received.
    unsafe { real::aio_write(cb) }
}

/// x86_64 has one offset type: the `64` forms are the same functions in glibc.
#[no_mangle]
pub unsafe extern "C" fn aio_read64(cb: *mut libc::aiocb) -> c_int {
    // SAFETY: the hook of the same function.
    unsafe { aio_read(cb) }
}

#[no_mangle]
pub unsafe extern "C" fn aio_write64(cb: *mut libc::aiocb) -> c_int {
    // SAFETY: the hook of the same function.
    unsafe { aio_write(cb) }
}

#[no_mangle]
pub unsafe extern "C" fn lio_listio(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    // Entries are read as the real call will read them; NULL entries are skipped
    // there too. A bad list stops the walk and is the real call's to answer.
    for i in 0..usize::try_from(nent).unwrap_or(0) {
        let slot = list.wrapping_add(i);
        match user::read_plain(slot as *const usize) {
            Some(0) => {}
            Some(cb) => demote_request(cb as *const libc::aiocb),
            None => break,
        }
    }
    // SAFETY: forwarded as received.
    unsafe { real::lio_listio(mode, list, nent, sig) }
}

#[no_mangle]
pub unsafe extern "C" fn lio_listio64(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    // SAFETY: the hook of the same function.
    unsafe { lio_listio(mode, list, nent, sig) }
}

#[no_mangle]
pub unsafe extern "C" fn _IO_file_attach(fp: *mut libc::FILE, fd: c_int) -> *mut libc::FILE {
    demote_quietly(fd, Why::Stdio);
    // SAFETY: forwarded as received.
    unsafe { real::_IO_file_attach(fp, fd) }
}

#[no_mangle]
pub unsafe extern "C" fn _IO_proc_open(
    fp: *mut libc::FILE,
    command: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    let _child = ChildStarting::demote();
    // SAFETY: forwarded as received.
    unsafe { real::_IO_proc_open(fp, command, mode) }
}

/// After a successful `F_SETPIPE_SZ` on `fd` (either end): `pipe_resize_ring` wakes
/// the writers' queue without a key, whatever the new size, and only the write end's
/// watchers wait there (`pipe_poll` queues each end on its own side). Seen on the
/// kernel: an edge-triggered write end gets a new edge, the read end does not.
pub(super) fn pipe_resized(fd: c_int) {
    let Some(gate) = table::enter() else {
        return;
    };
    let Some(Entry::File(file)) = gate.get(fd) else {
        return;
    };
    let writer = match file.kind {
        Kind::PipeWrite => Some(std::sync::Arc::clone(file)),
        Kind::PipeRead => file.peer(),
        _ => None,
    };
    if let Some(writer) = writer {
        writer.wait_queue().wake(KEY_ALL);
    }
}
