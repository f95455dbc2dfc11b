//! Access to the program's memory. The kernel answers EFAULT for pointers it cannot
//! use; the library checks what it can without a system call (NULL, the first page,
//! and addresses beyond user space) before touching the memory.

use libc::epoll_event;

/// The top of user space on x86_64 (`TASK_SIZE_MAX`).
const USER_TOP: usize = 0x7fff_ffff_f000;

/// True when `[ptr, ptr + len)` cannot be user memory the kernel would accept.
pub fn bad_range(ptr: *const u8, len: usize) -> bool {
    let start = ptr as usize;
    start < 4096 || start.checked_add(len).map_or(true, |end| end > USER_TOP)
}

/// The kernel's `access_ok`: only the range, NULL allowed (faults come at copy time).
pub fn access_ok(ptr: *const u8, len: usize) -> bool {
    (ptr as usize).checked_add(len).is_some_and(|end| end <= USER_TOP)
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

/// The program's event buffer as the engine's sink.
pub struct UserEvents {
    pub ptr: *mut epoll_event,
}

impl crate::engine::EventSink for UserEvents {
    fn put(&mut self, index: usize, events: u32, data: u64) -> Result<(), ()> {
        let size = std::mem::size_of::<epoll_event>();
        let Some(offset) = index.checked_mul(size) else { return Err(()) };
        let Some(at) = (self.ptr as usize).checked_add(offset) else { return Err(()) };
        if bad_range(at as *const u8, size) {
            return Err(());
        }
        // SAFETY: the engine never writes past maxevents entries, which access_ok
        // checked against user space; the slot is in the program's buffer.
        unsafe { std::ptr::write_unaligned(at as *mut epoll_event, epoll_event { events, u64: data }) };
        Ok(())
    }
}
