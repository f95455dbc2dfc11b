//! Access to the program's memory. The kernel answers EFAULT for pointers it cannot
//! use; the library checks what it can without a system call (NULL, the first page,
//! and addresses beyond user space) before touching the memory.

use libc::epoll_event;

use crate::engine::{EventSink, Fault};

/// The top of user space on x86_64 (`TASK_SIZE_MAX`).
const USER_TOP: usize = 0x7fff_ffff_f000;

/// True when `[ptr, ptr + len)` cannot be user memory the kernel would accept.
pub fn bad_range(ptr: *const u8, len: usize) -> bool {
    let start = ptr as usize;
    start < 4096 || start.checked_add(len).is_none_or(|end| end > USER_TOP)
}

/// The kernel's `access_ok`: only the range, NULL allowed (faults come at copy time).
pub fn access_ok(ptr: *const u8, len: usize) -> bool {
    (ptr as usize)
        .checked_add(len)
        .is_some_and(|end| end <= USER_TOP)
}

/// Read the program's `struct epoll_event`, or None for EFAULT.
pub fn read_event(ptr: *const epoll_event) -> Option<(u32, u64)> {
    if bad_range(ptr as *const u8, std::mem::size_of::<epoll_event>()) {
        return None;
    }
    // SAFETY: the range is in user space and not in the first page; the program passed
    // it as its event structure (packed on x86_64, hence read_unaligned).
    let ev = unsafe { std::ptr::read_unaligned(ptr) };
    Some((ev.events, ev.u64))
}

/// The program's event buffer as the engine's sink: `len` entries at `ptr`.
pub struct UserEvents {
    ptr: *mut epoll_event,
    len: usize,
    usable: bool,
}

impl UserEvents {
    pub fn new(ptr: *mut epoll_event, len: usize) -> Self {
        let usable = !bad_range(
            ptr as *const u8,
            len.saturating_mul(std::mem::size_of::<epoll_event>()),
        );
        UserEvents { ptr, len, usable }
    }
}

impl EventSink for UserEvents {
    #[inline]
    fn put(&mut self, index: usize, events: u32, data: u64) -> Result<(), Fault> {
        if !self.usable || index >= self.len {
            return Err(Fault);
        }
        // SAFETY: index < len, and the whole range was checked to be user memory
        // outside the first page; the slots are the program's buffer.
        unsafe {
            std::ptr::write_unaligned(self.ptr.add(index), epoll_event { events, u64: data })
        };
        Ok(())
    }
}
