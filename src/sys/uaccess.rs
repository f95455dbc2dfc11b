//! Access to the program's memory that faults cleanly, the way the kernel's
//! `get_user`/`put_user` do: a bad pointer gives EFAULT, never SIGSEGV.
//!
//! Each access is one x86_64 `mov` in an inline `asm!` block. Its address and the
//! address of a fix-up stub are recorded in the `uepoll_extable` section, as the
//! kernel records its user accesses in `__ex_table`. When the `mov` faults, the
//! library's SIGSEGV/SIGBUS handler (`sys::fault`) finds the faulting instruction in
//! the table and resumes at the stub, which sets the block's failure flag and jumps
//! back behind the `mov`. The common case costs one ordinary load or store.
//!
//! Entries are pairs of 32-bit offsets relative to the entry itself (as in the modern
//! kernel), so the table needs no dynamic relocation in the shared library.

use std::arch::asm;

/// One entry of `uepoll_extable`: where the access is and where its fix-up is, each
/// as an offset from the field's own address.
#[repr(C)]
struct ExEntry {
    insn: i32,
    fixup: i32,
}

extern "C" {
    // Defined by the linker for the section named like a C identifier.
    static __start_uepoll_extable: ExEntry;
    static __stop_uepoll_extable: ExEntry;
}

/// The fix-up address for a faulting instruction at `rip`, if the fault is one of the
/// library's user accesses.
pub fn fixup_for(rip: usize) -> Option<usize> {
    // The linker-defined bounds of the table; entries are written only by the asm
    // blocks below, as pairs of i32.
    let (start, stop) = (
        std::ptr::addr_of!(__start_uepoll_extable),
        std::ptr::addr_of!(__stop_uepoll_extable),
    );
    let mut e = start;
    while e < stop {
        // SAFETY: start <= e < stop, inside the table.
        let entry = unsafe { &*e };
        let insn_at = std::ptr::addr_of!(entry.insn) as usize;
        let fixup_at = std::ptr::addr_of!(entry.fixup) as usize;
        if insn_at.wrapping_add(entry.insn as isize as usize) == rip {
            return Some(fixup_at.wrapping_add(entry.fixup as isize as usize));
        }
        // SAFETY: stays within or one past the table.
        e = unsafe { e.add(1) };
    }
    None
}

/// Generates a fault-tolerant load of `$ty` into the register form `$reg`.
macro_rules! user_load {
    ($name:ident, $ty:ty, $reg:literal) => {
        user_load!($name, $ty, concat!("mov ", $reg, ", [{ptr}]"), u64);
    };
    ($name:ident, $ty:ty, $insn:expr, $wide:ty) => {
        /// Read the program's memory at `ptr` (any alignment); `None` is EFAULT.
        ///
        /// # Safety
        /// The caller must only pass pointers the program handed to it; a fault is
        /// caught, but a valid address is read as it is.
        #[inline(always)]
        pub unsafe fn $name(ptr: *const $ty) -> Option<$ty> {
            let value: $wide;
            let failed: u32;
            // SAFETY: one load; a fault resumes at the fix-up (see the module comment),
            // which sets `failed` and jumps to the end of the block.
            unsafe {
                asm!(
                    "xor {failed:e}, {failed:e}",
                    "2:",
                    $insn,
                    "3:",
                    ".pushsection .text.uepoll_fixup,\"ax\",@progbits",
                    "4:",
                    "mov {failed:e}, 1",
                    "xor {value:e}, {value:e}",
                    "jmp 3b",
                    ".popsection",
                    ".pushsection uepoll_extable,\"aR\",@progbits",
                    ".balign 4",
                    ".long 2b - .",
                    ".long 4b - .",
                    ".popsection",
                    ptr = in(reg) ptr,
                    value = out(reg) value,
                    failed = out(reg) failed,
                    options(nostack, readonly),
                );
            }
            if failed != 0 {
                None
            } else {
                Some(value as $ty)
            }
        }
    };
}

/// Generates a fault-tolerant store of `$ty` from the register form `$reg`.
macro_rules! user_store {
    ($name:ident, $ty:ty, $reg:literal) => {
        /// Write `value` to the program's memory at `ptr` (any alignment); false is
        /// EFAULT.
        ///
        /// # Safety
        /// The caller must only pass pointers the program handed to it for writing.
        #[inline(always)]
        pub unsafe fn $name(ptr: *mut $ty, value: $ty) -> bool {
            let failed: u32;
            // SAFETY: one store; a fault resumes at the fix-up, as for loads.
            unsafe {
                asm!(
                    "xor {failed:e}, {failed:e}",
                    "2:",
                    concat!("mov [{ptr}], ", $reg),
                    "3:",
                    ".pushsection .text.uepoll_fixup,\"ax\",@progbits",
                    "4:",
                    "mov {failed:e}, 1",
                    "jmp 3b",
                    ".popsection",
                    ".pushsection uepoll_extable,\"aR\",@progbits",
                    ".balign 4",
                    ".long 2b - .",
                    ".long 4b - .",
                    ".popsection",
                    ptr = in(reg) ptr,
                    value = in(reg) value as u64,
                    failed = out(reg) failed,
                    options(nostack),
                );
            }
            failed == 0
        }
    };
}

user_load!(get_u32, u32, "{value:e}");
user_load!(get_u64, u64, "{value}");
/// Read the program's `i32` at `ptr` (an fd number, a `cmsg_level`); `None` is EFAULT.
///
/// # Safety
/// As `get_u32`.
#[inline(always)]
pub unsafe fn get_i32(ptr: *const i32) -> Option<i32> {
    // SAFETY: the same four bytes read as unsigned, fault-tolerant.
    unsafe { get_u32(ptr as *const u32) }.map(|v| v as i32)
}

/// Read the program's `usize` at `ptr` (a length field: `msg_controllen`,
/// `cmsg_len`); `None` is EFAULT.
///
/// # Safety
/// As `get_u64`.
#[inline(always)]
pub unsafe fn get_usize(ptr: *const usize) -> Option<usize> {
    // SAFETY: x86_64 only (see the module comment): a usize is the u64 read here.
    unsafe { get_u64(ptr as *const u64) }.map(|v| v as usize)
}

user_store!(put_u32, u32, "{value:e}");
user_store!(put_u64, u64, "{value}");

/// Write a packed `struct epoll_event` (`events` at 0, `data` at 4) to the program's
/// memory at `ptr`: the two stores of `put_u32` and `put_u64` in one block with one
/// fix-up, so that a transfer pays one fault check per event. The order is the
/// kernel's (`epoll_put_uevent`: events, then data); a fault on the first store skips
/// the second. False is EFAULT.
///
/// # Safety
/// The caller must only pass pointers the program handed to it for writing.
#[inline(always)]
pub unsafe fn put_epoll_event(ptr: *mut u8, events: u32, data: u64) -> bool {
    let failed: u32;
    // SAFETY: two stores; a fault in either resumes at the shared fix-up, which sets
    // `failed` and jumps behind both (see the module comment).
    unsafe {
        asm!(
            "xor {failed:e}, {failed:e}",
            "2:",
            "mov dword ptr [{ptr}], {events:e}",
            "3:",
            "mov qword ptr [{ptr} + 4], {data}",
            "4:",
            ".pushsection .text.uepoll_fixup,\"ax\",@progbits",
            "5:",
            "mov {failed:e}, 1",
            "jmp 4b",
            ".popsection",
            ".pushsection uepoll_extable,\"aR\",@progbits",
            ".balign 4",
            ".long 2b - .",
            ".long 5b - .",
            ".long 3b - .",
            ".long 5b - .",
            ".popsection",
            ptr = in(reg) ptr,
            events = in(reg) events,
            data = in(reg) data,
            failed = out(reg) failed,
            options(nostack),
        );
    }
    failed == 0
}

/// Read `len` bytes of the program's memory at `src` into `dst`, 8 bytes at a time;
/// false is EFAULT (what was read so far is in `dst`).
///
/// # Safety
/// `src` is a pointer the program passed; `dst` is the library's own buffer.
pub unsafe fn copy_from_user(dst: &mut [u8], src: *const u8) -> bool {
    let mut i = 0;
    while i < dst.len() {
        let n = (dst.len() - i).min(8);
        let word = if n == 8 {
            // SAFETY: a user access, fault-tolerant.
            unsafe { get_u64(src.wrapping_add(i) as *const u64) }
        } else {
            // The tail, a byte at a time: a wider load would read past the caller's end.
            let mut w = 0u64;
            for k in 0..n {
                // SAFETY: a user access, fault-tolerant.
                let Some(b) = (unsafe { get_u8(src.wrapping_add(i + k)) }) else {
                    return false;
                };
                w |= u64::from(b) << (8 * k);
            }
            Some(w)
        };
        let Some(word) = word else { return false };
        dst[i..i + n].copy_from_slice(&word.to_le_bytes()[..n]);
        i += n;
    }
    true
}

user_load!(get_u8, u8, "movzx {value:e}, byte ptr [{ptr}]", u32);

/// Whether `len` bytes of the program's memory at `ptr` can be read: one byte of each
/// page the range touches, as a copy of it would find them. For the failure paths that
/// need to know where the kernel's copy stopped; `ptr` must already have passed the
/// caller's range check.
///
/// # Safety
/// `ptr` is a pointer the program passed.
pub unsafe fn readable(ptr: *const u8, len: usize) -> bool {
    const PAGE: usize = 4096;
    if len == 0 {
        return true;
    }
    // Protection is per page: one byte of each page decides for the whole page.
    let last = (ptr as usize).saturating_add(len - 1);
    let mut at = ptr as usize;
    loop {
        // SAFETY: a fault-tolerant read of the program's pointer.
        if unsafe { get_u8(at as *const u8) }.is_none() {
            return false;
        }
        let next = (at & !(PAGE - 1)).saturating_add(PAGE);
        if next > last {
            return true;
        }
        at = next;
    }
}
