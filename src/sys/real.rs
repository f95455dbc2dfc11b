//! The real libc functions behind the hooks, found with `dlsym(RTLD_NEXT)` on first use
//! and cached. A function libc does not have fails with ENOSYS.

use libc::{
    c_char, c_int, c_long, c_uint, c_void, iovec, msghdr, nfds_t, off_t, pollfd, sigset_t, size_t,
    sockaddr, socklen_t, ssize_t, timespec,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Look up `name` (NUL-terminated) in the libraries after ours.
fn resolve(cache: &AtomicUsize, name: &[u8]) -> usize {
    let cached = cache.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: name is NUL-terminated; dlsym with RTLD_NEXT is safe to call at any time
    // after the loader has mapped us.
    let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) } as usize;
    cache.store(addr, Ordering::Relaxed);
    addr
}

macro_rules! real_fns {
    ($( $(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        $(
            $(#[$meta])*
            /// The real libc function of the same name.
            ///
            /// # Safety
            /// The caller upholds the libc function's own contract.
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                static CACHE: AtomicUsize = AtomicUsize::new(0);
                let addr = resolve(&CACHE, concat!(stringify!($name), "\0").as_bytes());
                if addr == 0 {
                    super::set_errno(libc::ENOSYS);
                    return -1 as _;
                }
                // SAFETY: addr is libc's symbol of this name, whose C signature is the one
                // declared here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(addr) };
                // SAFETY: forwarded contract.
                unsafe { f($($arg),*) }
            }
        )*
    };
}

real_fns! {
    fn epoll_create(size: c_int) -> c_int;
    fn sigaction(sig: c_int, act: *const libc::sigaction, oldact: *mut libc::sigaction) -> c_int;
    fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t;
    fn bsd_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t;
    fn sysv_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t;
    fn epoll_create1(flags: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    fn eventfd(initval: c_uint, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    fn recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
    fn sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, addrlen: socklen_t) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn recvmmsg(fd: c_int, msgvec: *mut libc::mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int;
    fn sendmmsg(fd: c_int, msgvec: *mut libc::mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    fn shutdown(fd: c_int, how: c_int) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, value: *mut c_void, len: *mut socklen_t) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    fn dup(fd: c_int) -> c_int;
    fn dup2(oldfd: c_int, newfd: c_int) -> c_int;
    fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int;
    fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int;
    fn ppoll(fds: *mut pollfd, nfds: nfds_t, timeout: *const timespec, sigmask: *const sigset_t) -> c_int;
    fn select(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, timeout: *mut libc::timeval) -> c_int;
    fn pselect(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, timeout: *const timespec, sigmask: *const sigset_t) -> c_int;
    fn fork() -> libc::pid_t;
    fn splice(fd_in: c_int, off_in: *mut libc::loff_t, fd_out: c_int, off_out: *mut libc::loff_t, len: size_t, flags: c_uint) -> ssize_t;
    fn tee(fd_in: c_int, fd_out: c_int, len: size_t, flags: c_uint) -> ssize_t;
    fn vmsplice(fd: c_int, iov: *const iovec, nr: size_t, flags: c_uint) -> ssize_t;
    fn sendfile(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t;
    fn sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut libc::off64_t, count: size_t) -> ssize_t;
    fn preadv2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
    fn pwritev2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn system(command: *const c_char) -> c_int;
    fn syscall(num: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long;
    fn __read_chk(fd: c_int, buf: *mut c_void, count: size_t, buflen: size_t) -> ssize_t;
    fn __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
}

/// The real `popen` (returns a pointer, so it is not in the macro's integer family).
///
/// # Safety
/// As libc's `popen`.
pub unsafe fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"popen\0");
    if addr == 0 {
        super::set_errno(libc::ENOSYS);
        return std::ptr::null_mut();
    }
    // SAFETY: libc's popen has this signature.
    let f: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE =
        unsafe { std::mem::transmute(addr) };
    // SAFETY: forwarded contract.
    unsafe { f(command, mode) }
}

/// The real `fdopen`.
///
/// # Safety
/// As libc's `fdopen`.
pub unsafe fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"fdopen\0");
    if addr == 0 {
        super::set_errno(libc::ENOSYS);
        return std::ptr::null_mut();
    }
    // SAFETY: libc's fdopen has this signature.
    let f: unsafe extern "C" fn(c_int, *const c_char) -> *mut libc::FILE =
        unsafe { std::mem::transmute(addr) };
    // SAFETY: forwarded contract.
    unsafe { f(fd, mode) }
}

/// `epoll_pwait2` straight to the kernel: glibc only has it from 2.35, and the raw
/// call behaves the same. It is a `syscall` instruction of its own: `libc::syscall`
/// would bind to the library's own exported `syscall` hook, and the real one is a
/// variadic function that cost measurable time on every sleep.
///
/// # Safety
/// `events` must be valid for `maxevents` entries or fault cleanly in the kernel.
pub unsafe fn epoll_pwait2(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    let ret: c_long;
    // SAFETY: the x86_64 system call convention (number in rax, arguments in rdi, rsi,
    // rdx, r10, r8, r9; rcx and r11 clobbered); the kernel checks every pointer. A
    // direct `syscall` instruction: libc's variadic `syscall()` cost a fifth of the
    // library's own time on a wait that sleeps.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_epoll_pwait2 => ret,
            in("rdi") epfd as c_long,
            in("rsi") events as c_long,
            in("rdx") maxevents as c_long,
            in("r10") timeout as c_long,
            in("r8") sigmask as c_long,
            in("r9") std::mem::size_of::<libc::c_ulong>() as c_long,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        super::set_errno(-ret as c_int);
        -1
    } else {
        ret as c_int
    }
}

/// The library's own sleep: `epoll_pwait2` with the deadline the library computed.
/// Kernels before 5.11, seccomp filters and valgrind answer ENOSYS; from then on the
/// sleep is an `epoll_pwait` with the timeout rounded up to whole milliseconds (never
/// shorter than asked, as the kernel rounds `epoll_wait` timeouts up too).
///
/// # Safety
/// As `epoll_pwait2`; `timeout` is the library's own (never the program's pointer).
pub unsafe fn epoll_sleep(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    static MISSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !MISSING.load(Ordering::Relaxed) {
        // SAFETY: forwarded contract.
        let r = unsafe { epoll_pwait2(epfd, events, maxevents, timeout, sigmask) };
        if r >= 0 || super::errno() != libc::ENOSYS {
            return r;
        }
        MISSING.store(true, Ordering::Relaxed);
    }
    let ms = if timeout.is_null() {
        -1
    } else {
        // SAFETY: the library's own timespec, per the contract above.
        let ts = unsafe { *timeout };
        let ms = (i128::from(ts.tv_sec) * 1000 + (i128::from(ts.tv_nsec) + 999_999) / 1_000_000)
            .clamp(0, i128::from(c_int::MAX));
        ms as c_int
    };
    // SAFETY: the real epoll_pwait, not the library's hook.
    unsafe { epoll_pwait(epfd, events, maxevents, ms, sigmask) }
}

/// The real `__chk_fail`: glibc's report of a failed `_FORTIFY_SOURCE` check, which
/// ends the process ("*** buffer overflow detected ***") and does not return.
///
/// # Safety
/// None beyond ending the process.
pub unsafe fn __chk_fail() -> ! {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"__chk_fail\0");
    if addr != 0 {
        // SAFETY: glibc's __chk_fail has this signature.
        let f: unsafe extern "C" fn() -> ! = unsafe { std::mem::transmute(addr) };
        // SAFETY: no arguments, no contract.
        unsafe { f() }
    }
    // A libc without the fortify family cannot have called a `_chk` entry point.
    std::process::abort()
}

/// The real `_exit` (it does not return, so it is not in the macro's family).
///
/// # Safety
/// As libc's `_exit`.
pub unsafe fn _exit(status: c_int) -> ! {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"_exit\0");
    if addr != 0 {
        // SAFETY: libc's _exit has this signature.
        let f: unsafe extern "C" fn(c_int) -> ! = unsafe { std::mem::transmute(addr) };
        // SAFETY: forwarded contract.
        unsafe { f(status) }
    }
    // Every libc has _exit; `libc::_exit` would bind to the library's own hook.
    std::process::abort()
}

// The entry points of the inventory's former gap rows (docs/interposition.md).
real_fns! {
    #[allow(non_snake_case)] // glibc's own name
    fn _Fork() -> libc::pid_t;
    fn clone(f: *mut c_void, stack: *mut c_void, flags: c_int, arg: *mut c_void, ptid: *mut c_void, tls: *mut c_void, ctid: *mut c_void) -> c_int;
    fn unshare(flags: c_int) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execveat(dirfd: c_int, path: *const c_char, argv: *const *const c_char, envp: *const *const c_char, flags: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: socklen_t) -> c_int;
    fn pidfd_getfd(pidfd: c_int, targetfd: c_int, flags: c_uint) -> c_int;
    fn aio_read(cb: *mut libc::aiocb) -> c_int;
    fn aio_write(cb: *mut libc::aiocb) -> c_int;
    fn lio_listio(mode: c_int, list: *const *mut libc::aiocb, nent: c_int, sig: *mut libc::sigevent) -> c_int;
}

/// The real `_IO_proc_open` (glibc's `popen` body, given the `FILE` to fill).
///
/// # Safety
/// As glibc's `_IO_proc_open`.
#[allow(non_snake_case)] // glibc's own name
pub unsafe fn _IO_proc_open(
    fp: *mut libc::FILE,
    command: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"_IO_proc_open\0");
    if addr == 0 {
        super::set_errno(libc::ENOSYS);
        return std::ptr::null_mut();
    }
    // SAFETY: glibc's _IO_proc_open has this signature.
    let f: unsafe extern "C" fn(*mut libc::FILE, *const c_char, *const c_char) -> *mut libc::FILE =
        unsafe { std::mem::transmute(addr) };
    // SAFETY: forwarded contract.
    unsafe { f(fp, command, mode) }
}

/// The real `_IO_file_attach` (stdio over an existing fd, given the `FILE`).
///
/// # Safety
/// As glibc's `_IO_file_attach`.
#[allow(non_snake_case)] // glibc's own name
pub unsafe fn _IO_file_attach(fp: *mut libc::FILE, fd: c_int) -> *mut libc::FILE {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"_IO_file_attach\0");
    if addr == 0 {
        super::set_errno(libc::ENOSYS);
        return std::ptr::null_mut();
    }
    // SAFETY: glibc's _IO_file_attach has this signature.
    let f: unsafe extern "C" fn(*mut libc::FILE, c_int) -> *mut libc::FILE =
        unsafe { std::mem::transmute(addr) };
    // SAFETY: forwarded contract.
    unsafe { f(fp, fd) }
}

/// The real `backtrace_symbols_fd` (returns nothing).
///
/// # Safety
/// As glibc's `backtrace_symbols_fd`.
pub unsafe fn backtrace_symbols_fd(buffer: *const *mut c_void, size: c_int, fd: c_int) {
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    let addr = resolve(&CACHE, b"backtrace_symbols_fd\0");
    if addr == 0 {
        return;
    }
    // SAFETY: glibc's backtrace_symbols_fd has this signature.
    let f: unsafe extern "C" fn(*const *mut c_void, c_int, c_int) =
        unsafe { std::mem::transmute(addr) };
    // SAFETY: forwarded contract.
    unsafe { f(buffer, size, fd) }
}
