//! Creation and identity of fds: `pipe`, `pipe2`, `socketpair`, `eventfd` (the files the
//! engine serves), and `close`, `close_range`, `closefrom`, `dup`, `dup2`, `dup3`,
//! `fcntl`/`fcntl64` (F_DUPFD), `shutdown`.
//!
//! Items are keyed by open file description, as in the kernel: the table maps each fd
//! number to a shared `OpenFile`, dup adds a number, close removes one, and the file is
//! released (its items dropped, its peer woken) when the last number goes.

use libc::{c_int, c_long, c_uint};

use super::active;
use crate::engine::trace::Why;
use crate::files::gate;
use crate::files::openfile::OpenFile;
use crate::files::table::{self, Entry, MAX_FDS};
use crate::files::{self, demote, filepromo};
use crate::sys::{self, fail, real, uaccess};

/// Serve only fds above stdio (stdio numbers are written by libc internals the hooks
/// never see) and inside the table.
fn servable(fd: c_int) -> bool {
    fd > 2 && (fd as usize) < MAX_FDS
}

#[no_mangle]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    let stamp = files::creation_stamp();
    // SAFETY: forwarded; the kernel checks the pointer.
    let r = unsafe { real::pipe(fds) };
    if r == 0 {
        adopt_pipe(stamp, fds);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    let stamp = files::creation_stamp();
    // SAFETY: forwarded; the kernel checks the pointer.
    let r = unsafe { real::pipe2(fds, flags) };
    if r == 0 {
        adopt_pipe(stamp, fds);
    }
    r
}

/// The two fds the kernel just stored at `sv` (a `pipe`'s or `socketpair`'s int[2]),
/// read back through the fault-tolerant access: another thread may have unmapped the
/// array since, and then the new files are not known, so the kernel serves them.
fn created_pair(sv: *const c_int) -> Option<(c_int, c_int)> {
    // SAFETY: fault-tolerant reads of the program's array.
    unsafe { uaccess::get_i32(sv).zip(uaccess::get_i32(sv.wrapping_add(1))) }
}

/// Serve a new pipe, unless a child started meanwhile may have inherited it.
fn adopt_pipe(stamp: u64, fds: *const c_int) {
    let Some((rfd, wfd)) = created_pair(fds) else {
        return;
    };
    if !active() || !servable(rfd) || !servable(wfd) {
        return;
    }
    let Some(mut gate) = table::enter_mut() else {
        return;
    };
    let (reader, writer) = OpenFile::new_pipe(rfd, wfd);
    files::install_created(&mut gate, stamp, rfd, Entry::File(reader));
    files::install_created(&mut gate, stamp, wfd, Entry::File(writer));
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    let stamp = files::creation_stamp();
    // SAFETY: forwarded; the kernel checks the pointer.
    let r = unsafe { real::socketpair(domain, ty, protocol, sv) };
    if r == 0 && domain == libc::AF_UNIX && active() {
        let Some((a, b)) = created_pair(sv) else {
            return r;
        };
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        if servable(a)
            && servable(b)
            && matches!(
                base,
                libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_SEQPACKET
            )
        {
            if let Some(mut gate) = table::enter_mut() {
                let (ea, eb) = OpenFile::new_socketpair(
                    a,
                    b,
                    base == libc::SOCK_STREAM,
                    base == libc::SOCK_DGRAM,
                );
                files::install_created(&mut gate, stamp, a, Entry::File(ea));
                files::install_created(&mut gate, stamp, b, Entry::File(eb));
            }
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn eventfd(initval: c_uint, flags: c_int) -> c_int {
    let stamp = files::creation_stamp();
    // SAFETY: plain forwarding.
    let fd = unsafe { real::eventfd(initval, flags) };
    if servable(fd) && active() {
        if let Some(mut gate) = table::enter_mut() {
            let file = OpenFile::new_eventfd(fd, initval, flags & libc::EFD_SEMAPHORE != 0);
            files::install_created(&mut gate, stamp, fd, Entry::File(file));
        }
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if !table::is_served(fd) {
        // Announced first, so that a file promotion cannot install the number between
        // the check and the real call (`gate::UnservedClose`).
        let closing = gate::UnservedClose::begin();
        if !table::is_served_now(fd) {
            // SAFETY: plain forwarding.
            let r = unsafe { real::close(fd) };
            drop(closing);
            return r;
        }
        // Promoted meanwhile: the served path, which waits for the promotion.
    }
    let Some(mut gate) = table::enter_mut() else {
        // SAFETY: re-entered (a signal handler): close it; the entry goes stale and is
        // forgotten when the number is reused.
        return unsafe { real::close(fd) };
    };
    if matches!(gate.get(fd), Some(Entry::Internal)) {
        // The library's own descriptor: to the program it is not open.
        return fail(libc::EBADF);
    }
    // SAFETY: plain forwarding; Linux releases the number even when close fails.
    let r = unsafe { real::close(fd) };
    let err = sys::errno();
    let entry = gate.remove(fd);
    files::forget(&mut gate, entry);
    drop(gate);
    sys::set_errno(err);
    r
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_UNSHARE as c_int != 0 && !crate::files::gate::in_library() {
        // The calling thread may get its own copy of the fd table first: as unshare.
        super::spawn::files_unshared();
    }
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int != 0 || first > last {
        // SAFETY: plain forwarding: nothing is closed, or the kernel refuses.
        return unsafe { real::close_range(first, last, flags) };
    }
    let Some(mut gate) = table::enter_mut() else {
        // SAFETY: plain forwarding.
        return unsafe { real::close_range(first, last, flags) };
    };
    let in_range = |fd: i32| fd >= 0 && (fd as u32) >= first && (fd as u32) <= last;
    let mut internal: Vec<u32> = gate
        .entries()
        .filter(|(fd, e)| in_range(*fd) && matches!(e, Entry::Internal))
        .map(|(fd, _)| fd as u32)
        .collect();
    internal.sort_unstable();
    // Close the range in segments around the library's own descriptors.
    let mut result = 0;
    let mut err = 0;
    let mut close_segment = |lo: u32, hi: u32| {
        // SAFETY: closes program fds only.
        if unsafe { real::close_range(lo, hi, flags) } < 0 {
            result = -1;
            err = sys::errno();
        }
    };
    let mut start = first;
    for hole in internal {
        if hole > start {
            close_segment(start, hole - 1);
        }
        start = hole + 1;
    }
    if start <= last {
        close_segment(start, last);
    }
    let closed: Vec<i32> = gate
        .entries()
        .filter(|(fd, e)| in_range(*fd) && !matches!(e, Entry::Internal))
        .map(|(fd, _)| fd)
        .collect();
    for fd in closed {
        let entry = gate.remove(fd);
        files::forget(&mut gate, entry);
    }
    drop(gate);
    if result < 0 {
        sys::set_errno(err);
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    // SAFETY: closefrom is close_range to the end.
    unsafe { close_range(lowfd.max(0) as c_uint, c_uint::MAX, 0) };
}

#[no_mangle]
pub unsafe extern "C" fn dup(oldfd: c_int) -> c_int {
    let generation = filepromo::generation();
    if !table::is_served(oldfd) {
        // SAFETY: plain forwarding.
        let r = unsafe { real::dup(oldfd) };
        filepromo::after_unserved_dup(oldfd, r, generation);
        return r;
    }
    dup_like(oldfd, None, || {
        // SAFETY: plain forwarding.
        unsafe { real::dup(oldfd) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    if let Target::Unserved(_gate) = target(oldfd, newfd) {
        // SAFETY: plain forwarding.
        return unsafe { real::dup2(oldfd, newfd) };
    }
    dup_like(oldfd, Some(newfd), || {
        // SAFETY: plain forwarding.
        unsafe { real::dup2(oldfd, newfd) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if let Target::Unserved(_gate) = target(oldfd, newfd) {
        // SAFETY: plain forwarding.
        return unsafe { real::dup3(oldfd, newfd, flags) };
    }
    dup_like(oldfd, Some(newfd), || {
        // SAFETY: plain forwarding.
        unsafe { real::dup3(oldfd, newfd, flags) }
    })
}

/// How a `dup2`/`dup3` goes.
enum Target {
    /// Neither number is served: the real call, made while holding the gate (when the
    /// thread is not already inside the library).
    Unserved(Option<table::Gate>),
    /// One of them is served: `dup_like`.
    Served,
}

/// `dup2` and `dup3` are the calls that can land on any number, including one the
/// library holds for a moment under the gate's write side: a stand-in duplicate during
/// demotion (`demote.rs:StandIns`), or a parking fd or wake-up eventfd being made. Such a
/// number is not yet (or never) marked served, so the real call would replace the
/// library's fd, and the library would then close the program's. Holding the gate for
/// reading makes the call wait for the write side to finish; the numbers are checked
/// again inside it, since a number made meanwhile is marked served by then.
fn target(oldfd: c_int, newfd: c_int) -> Target {
    if table::is_served(oldfd) || table::is_served(newfd) {
        return Target::Served;
    }
    let gate = table::enter();
    if gate.is_some() && (table::is_served(oldfd) || table::is_served(newfd)) {
        return Target::Served;
    }
    Target::Unserved(gate)
}

/// The shared body of dup, dup2, dup3 and F_DUPFD: run `call`, then make the new number
/// refer to what `oldfd` refers to. A target number that is one of the library's own
/// descriptors is moved out of the way first.
fn dup_like(oldfd: c_int, newfd: Option<c_int>, call: impl FnOnce() -> c_int) -> c_int {
    let Some(mut gate) = table::enter_mut() else {
        return call();
    };
    if matches!(gate.get(oldfd), Some(Entry::Internal)) {
        return fail(libc::EBADF);
    }
    if let Some(target) = newfd {
        if target != oldfd && matches!(gate.get(target), Some(Entry::Internal)) {
            relocate_internal(&mut gate, target);
        }
    }
    let r = call();
    let err = sys::errno();
    if r >= 0 && r != oldfd {
        match gate.get(oldfd).cloned() {
            // An instance keeps working under any number the table can hold.
            Some(Entry::Epoll(_)) if (r as usize) < MAX_FDS => {
                files::duplicate(&mut gate, oldfd, r)
            }
            Some(Entry::Epoll(inst)) => {
                // A number past the table: the kernel alone serves the instance.
                demote::demote_all_files(&mut gate, Why::FdNumber);
                inst.make_kernel_only(Why::FdNumber);
            }
            Some(Entry::File(file)) if !servable(r) => {
                // Numbers the library does not serve (stdio, past the table) take the
                // file to the kernel.
                let stale = gate.remove(r);
                files::forget(&mut gate, stale);
                demote::demote_channel(&mut gate, &file, Why::FdNumber);
            }
            _ => files::duplicate(&mut gate, oldfd, r),
        }
        if files::child_may_inherit() && !files::spawn_actions::is_cloexec(r) {
            // A child starting now (posix_spawn, system) may inherit the new number.
            inherited_meanwhile(&mut gate, r);
        }
    }
    drop(gate);
    sys::set_errno(err);
    r
}

/// `fd` lost close-on-exec (or was made without it) while a child is starting: the
/// child may hold it, as if it had been open when the child's start looked.
fn inherited_meanwhile(table: &mut table::Table, fd: c_int) {
    match table.get(fd).cloned() {
        Some(Entry::File(file)) => demote::demote_channel(table, &file, Why::Spawn),
        Some(Entry::Epoll(inst)) => {
            demote::demote_all_files(table, Why::Spawn);
            inst.make_kernel_only(Why::Spawn);
        }
        _ => {}
    }
}

/// Move one of the library's own fds (an instance's wake-up eventfd or parking fd) off
/// `fd`, which the program is about to reuse.
fn relocate_internal(table: &mut table::Table, fd: c_int) {
    // SAFETY: duplicates the library's own eventfd.
    let Ok(moved) = (unsafe { sys::syscall!(fcntl(fd, libc::F_DUPFD_CLOEXEC, 0)) }) else {
        return;
    };
    if !servable(moved) {
        return;
    }
    for inst in demote::instances(table) {
        inst.internal_moved(fd, moved);
    }
    crate::files::children::internal_moved(fd, moved);
    table.remove(fd);
    table.install(moved, Entry::Internal);
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: forwarded with the same three registers the caller passed.
    unsafe { fcntl_common(fd, cmd, arg) }
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: as fcntl; on 64-bit targets they are the same call.
    unsafe { fcntl_common(fd, cmd, arg) }
}

unsafe fn fcntl_common(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    let dupfd = cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC;
    let generation = filepromo::generation();
    if dupfd && table::is_served(fd) {
        return dup_like(fd, None, || {
            // SAFETY: plain forwarding.
            unsafe { real::fcntl(fd, cmd, arg) }
        });
    }
    // SAFETY: plain forwarding.
    let r = unsafe { real::fcntl(fd, cmd, arg) };
    if dupfd {
        filepromo::after_unserved_dup(fd, r, generation);
    }
    if cmd == libc::F_SETFD
        && r == 0
        && arg & libc::FD_CLOEXEC as c_long == 0
        && files::child_may_inherit()
        && table::is_served(fd)
    {
        let _errno = sys::ErrnoGuard::save();
        if let Some(mut gate) = table::enter_mut() {
            inherited_meanwhile(&mut gate, fd);
        }
    }
    if cmd == libc::F_SETPIPE_SZ && r >= 0 && table::is_served(fd) {
        let _errno = sys::ErrnoGuard::save();
        super::handoff::pipe_resized(fd);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: plain forwarding.
    let r = unsafe { real::shutdown(fd, how) };
    if r == 0 && table::is_served(fd) {
        let err = sys::errno();
        if let Some(gate) = table::enter() {
            if let Some(Entry::File(file)) = gate.get(fd) {
                file.socket_shutdown(how);
            }
        }
        sys::set_errno(err);
    }
    r
}
