//! A one-time check, on the running kernel, of where `unix_stream_sendmsg` ends its
//! skbs. The size depends on kernel build constants (`sizeof(struct skb_shared_info)`
//! through `CONFIG_MAX_SKB_FRAGS`, the page size), which user space cannot read; the
//! skb model (`files/skbqueue.rs`) is trusted only where this check agrees with it.
//!
//! The check sends `max + 64` bytes on a private socketpair (two skbs if `max` is right)
//! and reads them back, watching the sender's unfreed write memory (`SIOCOUTQ`, which
//! af_unix answers with `sk_wmem_alloc`): it must not drop when `max - 1` bytes are
//! read and must drop with the next byte, when the first skb is freed.

use std::cell::UnsafeCell;

use super::syscall;

const BUF_LEN: usize = 64 * 1024;

/// The bytes moved by the check.
struct ProbeBuf(UnsafeCell<[u8; BUF_LEN]>);

// SAFETY: only the one thread that runs the check touches the buffer (the caller
// guarantees a single check at a time), and only through the kernel's copies.
unsafe impl Sync for ProbeBuf {}

static BUF: ProbeBuf = ProbeBuf(UnsafeCell::new([0; BUF_LEN]));

/// Whether the first skb of a stream send on a fresh socketpair holds exactly
/// `skb_max(sk_sndbuf)` bytes. False when it does not, or when the check cannot run.
/// The caller runs it at most once at a time.
pub fn stream_first_skb_is(skb_max: impl Fn(usize) -> usize) -> bool {
    let mut fds = [-1; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: fds is an int[2] the call fills in.
    if unsafe { syscall!(socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr())) }.is_err() {
        return false;
    }
    let ok = check(fds, &skb_max);
    for fd in fds {
        // SAFETY: closes the descriptors made above, which nothing else knows of.
        let _ = unsafe { syscall!(close(fd)) };
    }
    ok
}

fn check(fds: [i32; 2], skb_max: &impl Fn(usize) -> usize) -> bool {
    let Some(sndbuf) = super::sndbuf(fds[0]) else {
        return false;
    };
    let max = skb_max(sndbuf);
    let total = max + 64;
    if max < 2 || total > BUF_LEN {
        return false;
    }
    let buf = BUF.0.get() as *mut libc::c_void;
    // SAFETY: buf is BUF_LEN bytes of our own, used by this thread alone.
    let sent = unsafe { syscall!(write(fds[0], buf, total)) };
    if sent != Ok(total as isize) {
        return false;
    }
    let outq = |fd: i32| -> Option<i32> {
        let mut n: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int to n; ioctl is not hooked by the library.
        let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
        (r == 0).then_some(n)
    };
    let read = |len: usize| -> bool {
        // SAFETY: as for the write; len <= BUF_LEN.
        let got = unsafe { syscall!(read(fds[1], buf, len)) };
        got == Ok(len as isize)
    };
    let Some(before) = outq(fds[0]) else {
        return false;
    };
    if !read(max - 1) || outq(fds[0]) != Some(before) {
        return false;
    }
    read(1) && outq(fds[0]).is_some_and(|after| after < before)
}
