//! Access to the program's memory, with the kernel's answers: the range check of
//! `access_ok` first (addresses beyond user space are EFAULT without a touch), then
//! accesses that fault cleanly (`sys::uaccess`), so an unmapped or read-only buffer is
//! EFAULT exactly where the kernel's copy would fail, never a crash.

use libc::epoll_event;

use crate::sys::uaccess;

/// The top of user space on x86_64 (`TASK_SIZE_MAX`).
const USER_TOP: usize = 0x7fff_ffff_f000;

/// The kernel's `access_ok`: only the range, NULL allowed (faults come at copy time).
pub fn access_ok(ptr: *const u8, len: usize) -> bool {
    (ptr as usize)
        .checked_add(len)
        .is_some_and(|end| end <= USER_TOP)
}

/// Read the program's `struct epoll_event` (packed: events at 0, data at 4), or None
/// for EFAULT.
pub fn read_event(ptr: *const epoll_event) -> Option<(u32, u64)> {
    if !access_ok(ptr as *const u8, std::mem::size_of::<epoll_event>()) {
        return None;
    }
    let p = ptr as *const u8;
    // SAFETY: fault-tolerant reads of the program's pointer, inside user space.
    unsafe {
        let events = uaccess::get_u32(p as *const u32)?;
        let data = uaccess::get_u64(p.wrapping_add(4) as *const u64)?;
        Some((events, data))
    }
}

/// Read a `T` of plain data (a timespec, a sigset) from the program, or None for EFAULT.
pub fn read_plain<T: Copy>(ptr: *const T) -> Option<T> {
    let len = std::mem::size_of::<T>();
    if !access_ok(ptr as *const u8, len) {
        return None;
    }
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: `value` is `len` bytes of our own, zero-initialised.
    let bytes = unsafe { std::slice::from_raw_parts_mut(value.as_mut_ptr() as *mut u8, len) };
    // SAFETY: a fault-tolerant read of the program's pointer.
    if !unsafe { uaccess::copy_from_user(bytes, ptr as *const u8) } {
        return None;
    }
    // SAFETY: every byte was written, and T is plain data (only used with C structs).
    Some(unsafe { value.assume_init() })
}

/// Write one `struct epoll_event` (packed: events at 0, data at 4) into the program's
/// buffer, as the kernel's `epoll_put_uevent` does: events, then data. False is
/// EFAULT.
///
/// # Safety
/// `ptr` is inside a buffer the program passed for writing, whose range passed
/// `access_ok` (a fault is caught; a valid address is written as it is).
#[inline]
pub unsafe fn put_event(ptr: *mut epoll_event, events: u32, data: u64) -> bool {
    // SAFETY: fault-tolerant stores into the program's buffer (the caller's contract).
    unsafe { uaccess::put_epoll_event(ptr as *mut u8, events, data) }
}
