//! Everything that would let a file change behind the library's back, and what the
//! library does about it.
//!
//! | event | action |
//! |---|---|
//! | `fork` (any path that runs atfork handlers) | before: demote every file, every instance becomes the kernel's alone while the child may reach it; the child is tracked (`files/children.rs`) and reports its exec or exit, after which the parent serves the instance again (`files/promote.rs`) |
//! | a tracked fork child that forks, spawns or passes fds | it stops reporting (`children::child_shares_onwards`): its parent keeps the instances with the kernel |
//! | `vfork` | runs as `fork` (a wrapper cannot lend its stack to a vfork child) |
//! | `posix_spawn`, `posix_spawnp` | demote the files the child holds after its file actions (`spawn_actions.rs`): numbers without close-on-exec, `dup2` targets, `fchdir`/`tcsetpgrp` sources; an instance it holds becomes the kernel's alone, with every file; actions that cannot be read: as if it held everything |
//! | `system`, `popen` | demote the files without close-on-exec (the shell inherits them), as above |
//! | a served number losing close-on-exec (`dup`, `fcntl F_SETFD`) while a child starts | demoted (the child may inherit it); `ioctl(FIONCLEX)` is seen when `posix_spawn` returns |
//! | fd passing (`SCM_RIGHTS`) | demote the files passed; an instance passed becomes the kernel's alone |
//! | `fdopen` (stdio), `splice`, `tee`, `vmsplice`, `sendfile`, `preadv2`, `pwritev2` | demote the files involved |
//! | `syscall()` | `close`, `close_range`, `dup`/`dup2`/`dup3`, the creation calls (`pipe`, `pipe2`, `socketpair`, `eventfd`, `eventfd2`), `read`/`write`/`readv`/`writev` and the socket I/O family, the six epoll calls, the poll family, the fork/clone family and `unshare` go to their hooks' code (`rawcall.rs`); `io_uring_setup` and `io_setup` (Linux AIO) stop serving; any other number demotes the files its first three arguments name (`fd_args`) |
//!
//! `_Fork`, `clone` and `unshare` are in `spawn.rs`; the exec family in `exec.rs`;
//! calls that hand an fd to something unseen (`connect`, AIO, …) in `handoff.rs`.

use libc::{c_char, c_int, c_long, c_uint, iovec, off_t, pid_t, size_t, ssize_t};

use crate::engine::trace::Why;
use crate::files::table::{self, fork_hold, Entry};
use crate::files::{self, children, demote, gate};
use crate::sys::user;
use crate::sys::{self, real, uaccess};

use crate::files::spawn_actions::{self, Held};

pub extern "C" fn atfork_prepare() {
    // A tracked child that forks stops reporting: its child inherits what it holds.
    children::child_shares_onwards();
    files::child_starting_tracked();
    fork_hold::acquire(demote::prepare_tracked_fork);
}

pub extern "C" fn atfork_parent() {
    fork_hold::with_held(|_| children::parent_after_fork());
    fork_hold::release();
    files::child_started();
}

pub extern "C" fn atfork_child() {
    // membarrier's registration is not inherited; single-threaded here, so it is cheap.
    crate::files::gate::init_close_barrier();
    fork_hold::with_held(children::child_after_fork);
    fork_hold::release_in_child();
    files::child_started();
    crate::engine::stats::STATS.reset();
}

#[no_mangle]
pub unsafe extern "C" fn fork() -> pid_t {
    // SAFETY: the real fork runs the atfork handlers registered at start-up.
    unsafe { real::fork() }
}

/// vfork's child borrows the parent's memory and stack, which a wrapper function cannot
/// allow; fork is a correct implementation of vfork's contract.
#[no_mangle]
pub unsafe extern "C" fn vfork() -> pid_t {
    // SAFETY: as fork.
    unsafe { real::fork() }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let _child = ChildStarting::spawn(fa);
    // SAFETY: forwarded as received.
    unsafe { real::posix_spawn(pid, path, fa, attr, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let _child = ChildStarting::spawn(fa);
    // SAFETY: forwarded as received.
    unsafe { real::posix_spawnp(pid, file, fa, attr, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    let _child = ChildStarting::demote();
    // SAFETY: forwarded as received.
    unsafe { real::system(command) }
}

#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    let _child = ChildStarting::demote();
    // SAFETY: forwarded as received.
    unsafe { real::popen(command, mode) }
}

/// A child process is starting (without atfork handlers) from now until this is
/// dropped: files the program creates meanwhile are not served, since the child may
/// inherit them (`files::creation_stamp`), and a served number that loses
/// close-on-exec meanwhile is demoted (`files::child_may_inherit`).
pub(super) struct ChildStarting {
    /// The numbers looked at before the child started and left served (close-on-exec):
    /// looked at again when `posix_spawn` returns, after the child's exec.
    kept: Vec<c_int>,
}

impl ChildStarting {
    /// `system`, `popen`: glibc's child (a shell) holds what has no close-on-exec; the
    /// pipe `popen` makes for it is glibc's own (made close-on-exec, never served).
    pub(super) fn demote() -> Self {
        children::child_shares_onwards();
        files::child_starting();
        let_child_inherit(std::ptr::null(), Why::Spawn);
        ChildStarting { kept: Vec::new() }
    }

    /// `posix_spawn`, `posix_spawnp` with the file actions `fa` (may be null).
    fn spawn(fa: *const libc::posix_spawn_file_actions_t) -> Self {
        children::child_shares_onwards();
        files::child_starting();
        let kept = let_child_inherit(fa, Why::Spawn);
        ChildStarting { kept }
    }
}

impl Drop for ChildStarting {
    fn drop(&mut self) {
        // The child has exec'd (glibc's posix_spawn returns after it) or failed. A
        // number that lost close-on-exec since the look, by a call without a hook
        // (ioctl FIONCLEX), may have gone into it.
        let flipped: Vec<c_int> = std::mem::take(&mut self.kept)
            .into_iter()
            .filter(|&fd| table::is_served(fd) && !spawn_actions::is_cloexec(fd))
            .collect();
        if !flipped.is_empty() {
            let _errno = sys::ErrnoGuard::save();
            if let Some(mut gate) = table::enter_mut() {
                hand_over(&mut gate, &flipped, Why::Spawn);
            }
        }
        files::child_started();
    }
}

/// A child process is about to start without atfork handlers and run the file actions
/// `fa` (null: none), or this process is about to exec (`exec.rs`): what the child or
/// the new image will hold goes to the kernel, for `why`. Returns the served numbers it
/// will not hold because they are close-on-exec (not those its actions close).
pub(super) fn let_child_inherit(
    fa: *const libc::posix_spawn_file_actions_t,
    why: Why,
) -> Vec<c_int> {
    let _errno = sys::ErrnoGuard::save();
    let Some(mut gate) = table::enter_mut() else {
        return Vec::new();
    };
    match spawn_actions::held_by_child(&gate, fa) {
        Held::Everything => {
            let all: Vec<c_int> = gate.entries().map(|(fd, _)| fd).collect();
            hand_over(&mut gate, &all, why);
            Vec::new()
        }
        Held::Numbers(held) => {
            hand_over(&mut gate, &held, why);
            gate.entries()
                .filter(|(fd, e)| {
                    matches!(e, Entry::File(_) | Entry::Epoll(_))
                        && !held.contains(fd)
                        && spawn_actions::is_cloexec(*fd)
                })
                .map(|(fd, _)| fd)
                .collect()
        }
    }
}

/// The numbers `held` go into a child: their files go to the kernel with their peers
/// (`demote_channel`); an instance among them becomes the kernel's alone, with every
/// file, since the child may wait on it or add to it.
fn hand_over(gate: &mut table::Table, held: &[c_int], why: Why) {
    let mut instance_shared = false;
    for &fd in held {
        match gate.get(fd).cloned() {
            Some(Entry::File(file)) => demote::demote_channel(gate, &file, why),
            Some(Entry::Epoll(inst)) => {
                inst.make_kernel_only(why);
                instance_shared = true;
            }
            _ => {}
        }
    }
    if instance_shared {
        demote::demote_all_files(gate, why);
    }
}

#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    demote_quietly(fd, Why::Stdio);
    // SAFETY: forwarded as received.
    unsafe { real::fdopen(fd, mode) }
}

pub(super) fn demote_quietly(fd: c_int, why: Why) {
    if why != Why::KernelIo {
        // Handed to something the hooks will not see again (stdio, AIO, …): a file
        // remembered at a fork may be it, and is not served again.
        crate::files::filepromo::handed_off(fd);
    }
    if table::is_served(fd) {
        let _errno = sys::ErrnoGuard::save();
        demote::demote_fd(fd, why);
    }
}

/// A call that moves data through `fds` out of the hooks' sight: their files are
/// demoted first; a file promoted while the call runs (it found the numbers not
/// served) may miss what it did, so it is demoted again (`filepromo::after_unserved`).
fn kernel_io<R>(fds: &[c_int], call: impl FnOnce() -> R) -> R {
    let generation = crate::files::filepromo::generation();
    for &fd in fds {
        demote_quietly(fd, Why::KernelIo);
    }
    let r = call();
    for &fd in fds {
        crate::files::filepromo::after_unserved(fd, generation);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: size_t,
    flags: c_uint,
) -> ssize_t {
    kernel_io(&[fd_in, fd_out], || {
        // SAFETY: forwarded as received.
        unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn tee(fd_in: c_int, fd_out: c_int, len: size_t, flags: c_uint) -> ssize_t {
    kernel_io(&[fd_in, fd_out], || {
        // SAFETY: forwarded as received.
        unsafe { real::tee(fd_in, fd_out, len, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn vmsplice(
    fd: c_int,
    iov: *const iovec,
    nr: size_t,
    flags: c_uint,
) -> ssize_t {
    kernel_io(&[fd], || {
        // SAFETY: forwarded as received.
        unsafe { real::vmsplice(fd, iov, nr, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut off_t,
    count: size_t,
) -> ssize_t {
    kernel_io(&[out_fd, in_fd], || {
        // SAFETY: forwarded as received.
        unsafe { real::sendfile(out_fd, in_fd, offset, count) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> ssize_t {
    kernel_io(&[out_fd, in_fd], || {
        // SAFETY: forwarded as received.
        unsafe { real::sendfile64(out_fd, in_fd, offset, count) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn preadv2(
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off_t,
    flags: c_int,
) -> ssize_t {
    kernel_io(&[fd], || {
        // SAFETY: forwarded as received.
        unsafe { real::preadv2(fd, iov, iovcnt, offset, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pwritev2(
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off_t,
    flags: c_int,
) -> ssize_t {
    kernel_io(&[fd], || {
        // SAFETY: forwarded as received.
        unsafe { real::pwritev2(fd, iov, iovcnt, offset, flags) }
    })
}

/// `syscall` is variadic; on the 64-bit Linux ABIs the six possible arguments travel in
/// registers, so declaring them all and forwarding them all is exact.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    num: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let generation = crate::files::filepromo::generation();
    let mut unserved: [Option<c_int>; 2] = [None; 2];
    if !gate::in_library() {
        if let Some(r) = super::rawcall::routed(num, [a1, a2, a3, a4, a5, a6]) {
            return r;
        }
        if num == libc::SYS_io_uring_setup || num == libc::SYS_io_setup {
            // io_uring moves data without any call the library can see. Linux AIO
            // (io_setup, then io_submit) signals completions by the kernel writing an
            // eventfd named in the iocb (IOCB_FLAG_RESFD, as nginx's "aio on" does).
            let _errno = sys::ErrnoGuard::save();
            super::deactivate();
            demote::demote_everything(Why::StopServing);
        } else {
            for (i, arg) in fd_args(num, [a1, a2, a3]).into_iter().enumerate() {
                if let Some(Ok(fd)) = arg.map(c_int::try_from) {
                    if table::is_served(fd) {
                        raw_access(fd, Why::RawSyscall);
                    }
                    unserved[i] = Some(fd);
                }
            }
        }
    }
    // SAFETY: forwarded as received.
    let r = unsafe { real::syscall(num, a1, a2, a3, a4, a5, a6) };
    // A file promoted while the call ran (it found the number not served) may miss
    // what the call did: demoted again (`filepromo::after_unserved`).
    for fd in unserved.into_iter().flatten() {
        crate::files::filepromo::after_unserved(fd, generation);
    }
    r
}

/// The arguments of raw system call `num` that are fds whose readiness or identity the
/// call can change. Everything else (futex, above all) passes untouched.
#[allow(non_upper_case_globals)] // libc names the syscall numbers in lower case
fn fd_args(num: c_long, [a1, a2, a3]: [c_long; 3]) -> [Option<c_long>; 2] {
    use libc::*;
    match num {
        // close, dup*, read/write and the socket I/O family, and the epoll calls go to
        // their hooks (`rawcall.rs`) and never reach here.
        SYS_pread64 | SYS_pwrite64 | SYS_preadv | SYS_pwritev | SYS_preadv2 | SYS_pwritev2
        | SYS_fcntl | SYS_shutdown | SYS_vmsplice => [Some(a1), None],
        SYS_tee | SYS_sendfile | SYS_copy_file_range => [Some(a1), Some(a2)],
        SYS_splice => [Some(a1), Some(a3)],
        // As their hooks: a datagram end's peer, the send buffer (any option, raw),
        // a copy of the fd onto a number the library does not know.
        SYS_connect | SYS_setsockopt => [Some(a1), None],
        SYS_pidfd_getfd => [Some(a2), None],
        _ => [None, None],
    }
}

/// A raw system call (or fd passing, `why`) names `fd`: a file goes to the kernel; an
/// instance becomes the kernel's alone, with every file (the raw call may add or wait
/// on anything).
fn raw_access(fd: c_int, why: Why) {
    let _errno = sys::ErrnoGuard::save();
    let entry = table::enter().and_then(|gate| gate.get(fd).cloned());
    match entry {
        Some(Entry::File(_)) => demote::demote_fd(fd, why),
        Some(Entry::Epoll(inst)) => {
            demote::demote_everything(why);
            inst.make_kernel_only(why);
        }
        _ => {}
    }
}

/// Before a `sendmsg`: files passed with SCM_RIGHTS will be shared with another
/// process. Returns false when the header cannot be read, so the kernel's copy of it
/// fails too and the call sends nothing (`sendmmsg` stops there).
///
/// Every field is read through the fault-tolerant access: a header, control buffer or
/// fd array the program cannot hand the kernel ends the walk, and the real call then
/// answers EFAULT itself. The walk is glibc's `CMSG_FIRSTHDR`/`CMSG_NXTHDR`, kept
/// inside `msg_controllen`; a malformed buffer that the kernel refuses (EINVAL) only
/// costs a demotion.
pub fn before_fd_passing(msg: *const libc::msghdr) -> bool {
    if msg.is_null() || gate::in_library() {
        return !msg.is_null();
    }
    let Some(hdr) = user::read_plain(msg) else {
        return false;
    };
    let control = hdr.msg_control as *const u8;
    // The kernel refuses a control length past INT_MAX (ENOBUFS) before reading it.
    let len = hdr.msg_controllen;
    if control.is_null() || len > c_int::MAX as usize || !user::access_ok(control, len) {
        return true;
    }
    let head = std::mem::size_of::<libc::cmsghdr>();
    let align = |n: usize| (n + 7) & !7; // CMSG_ALIGN on x86_64
    let mut off = 0usize;
    while off + head <= len {
        let at = control.wrapping_add(off);
        // SAFETY: fault-tolerant reads of the program's control buffer, inside
        // `msg_controllen` (checked above); the fields of `struct cmsghdr`.
        let fields = unsafe {
            let c = at as *const libc::cmsghdr;
            uaccess::get_usize(std::ptr::addr_of!((*c).cmsg_len)).zip(
                uaccess::get_i32(std::ptr::addr_of!((*c).cmsg_level))
                    .zip(uaccess::get_i32(std::ptr::addr_of!((*c).cmsg_type))),
            )
        };
        let Some((cmsg_len, (level, ty))) = fields else {
            return true;
        };
        if cmsg_len < head {
            return true;
        }
        // A length past the buffer's end makes this header the last one.
        let cmsg_len = cmsg_len.min(len - off);
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            // A tracked child that passes fds on stops reporting (`children.rs`), and
            // a remembered file may be among them (`filepromo.rs`).
            children::child_shares_onwards();
            crate::files::filepromo::forget_all();
            let data = at.wrapping_add(align(head)) as *const c_int;
            for i in 0..cmsg_len.saturating_sub(align(head)) / std::mem::size_of::<c_int>() {
                // SAFETY: a fault-tolerant read inside the control buffer.
                let Some(fd) = (unsafe { uaccess::get_i32(data.wrapping_add(i)) }) else {
                    return true;
                };
                if table::is_served(fd) {
                    raw_access(fd, Why::FdPassing);
                }
            }
        }
        // CMSG_NXTHDR: the next header must fit, with its own length, inside the buffer.
        off += align(cmsg_len);
    }
    true
}
