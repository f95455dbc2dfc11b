//! The only place that talks to the operating system: the table of real libc functions
//! (`real`), errno handling, and a few raw helpers. Everything here is `unsafe` at the
//! boundary and documented with a `// SAFETY:` line at each use.

pub mod alloc;
pub mod fault;
pub mod real;
pub mod skbprobe;
pub mod spans;
pub mod uaccess;
pub mod user;

/// The CPU the calling thread runs on, or `UNKNOWN_CPU` (glibc reads it from the
/// thread's rseq area, or asks the vDSO). A hint: the thread may move at any time.
#[inline(always)]
pub fn current_cpu() -> u16 {
    // SAFETY: takes no arguments and touches no program memory.
    let cpu = unsafe { libc::sched_getcpu() };
    u16::try_from(cpu).unwrap_or(crate::engine::eventpoll::UNKNOWN_CPU)
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns this thread's valid errno slot.
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's errno.
pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

/// A real call as a `Result`, in the shape of mio's `syscall!`: the one place where
/// -1 and errno become `Err(Errno)`. The program's errno is left as it was, so an
/// internal call never disturbs it and errno is set only at the exported boundary.
/// Expands to an unsafe call: use it inside `unsafe` with the call's `// SAFETY:`.
///
/// ```ignore
/// let fd = unsafe { syscall!(eventfd(0, libc::EFD_CLOEXEC)) }?;
/// ```
macro_rules! syscall {
    ($name:ident($($arg:expr),* $(,)?)) => {{
        let saved = $crate::sys::errno();
        let begun = $crate::sys::spans::syscall_begin();
        let r = $crate::sys::real::$name($($arg),*);
        $crate::sys::spans::syscall_end(begun);
        let result = if r == -1 {
            Err($crate::sys::Errno($crate::sys::errno()))
        } else {
            Ok(r)
        };
        $crate::sys::set_errno(saved);
        result
    }};
}
pub(crate) use syscall;

/// An errno value carried in a `Result`: the library's own calls return
/// `Result<_, Errno>`, and errno is set only where a hook returns to the program
/// (`sys::c_result`, `sys::fail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// The exported boundary: a hook's result as libc returns it, errno set on failure.
#[inline]
pub fn c_result(result: Result<libc::c_int, Errno>) -> libc::c_int {
    match result {
        Ok(n) => n,
        Err(Errno(e)) => fail(e),
    }
}

/// Restores errno when dropped: wrap internal calls that must not disturb the host
/// program's errno.
pub struct ErrnoGuard(i32);

impl ErrnoGuard {
    pub fn save() -> Self {
        ErrnoGuard(errno())
    }
}

impl Drop for ErrnoGuard {
    fn drop(&mut self) {
        set_errno(self.0)
    }
}

/// Fail with `err` the way a libc wrapper does: errno set, -1 returned.
pub fn fail(err: i32) -> libc::c_int {
    set_errno(err);
    -1
}

/// The current CLOCK_MONOTONIC time in nanoseconds (vDSO, no syscall, not hooked).
pub fn monotonic_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)`: true when this process may
/// use `membarrier_expedited` from now on (not inherited by a fork child, reset by exec).
pub fn membarrier_register() -> bool {
    membarrier(1 << 4)
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: every running thread of the process
/// has executed a full memory barrier when this returns true.
pub fn membarrier_expedited() -> bool {
    membarrier(1 << 3)
}

fn membarrier(cmd: libc::c_long) -> bool {
    // SAFETY: the command takes no pointer.
    unsafe { syscall!(syscall(libc::SYS_membarrier, cmd, 0, 0, 0, 0, 0)) }.is_ok()
}

/// The kernel's readiness of one fd right now (`poll` with a zero timeout), as epoll
/// bits. `None` when the fd is not open.
pub fn poll_now(fd: i32) -> Option<u32> {
    let all = libc::POLLIN | libc::POLLPRI | libc::POLLOUT | libc::POLLRDNORM | libc::POLLRDBAND
        | libc::POLLWRNORM | libc::POLLWRBAND | 0x400 /* POLLMSG */ | libc::POLLRDHUP;
    let mut pfd = libc::pollfd {
        fd,
        events: all,
        revents: 0,
    };
    // SAFETY: pfd is one valid pollfd; the real poll does not call back into us.
    let r = unsafe { syscall!(poll(&mut pfd, 1, 0)) };
    if r.is_err() || pfd.revents & libc::POLLNVAL != 0 {
        return None;
    }
    Some(pfd.revents as u16 as u32)
}

/// A socket's `sk_sndbuf` (`SO_SNDBUF` reads it back as the kernel keeps it, doubled).
pub fn sndbuf(fd: i32) -> Option<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live locals of the sizes given; getsockopt is not hooked.
    let r = unsafe {
        syscall!(getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            &mut value as *mut libc::c_int as *mut libc::c_void,
            &mut len
        ))
    };
    match r {
        Ok(_) if value > 0 => Some(value as usize),
        _ => None,
    }
}

/// Every signal blocked on this thread until dropped, when the previous mask comes
/// back. For the few library sections a signal handler's hook must not interrupt.
pub struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    /// Block every signal now.
    pub fn block_all() -> Self {
        // SAFETY: sigset_t is plain data; all-zero is a valid (empty) set.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid sigset pointers; pthread_sigmask is not hooked.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        }
        SignalsBlocked(old)
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block_all`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}
