//! `dprintf`, `vdprintf`, `__dprintf_chk` and `__vdprintf_chk`. glibc writes their
//! output with its internal write, out of the hooks' sight; the C shim
//! (`dprintf_shim.c`, built by `build.rs`) formats with glibc's own code and writes a
//! served fd's output through the library's `write` path.
//!
//! The exported names are naked trampolines: one `jmp` to the shim, so a variadic
//! call arrives with its registers (`%al` counting the vector arguments) and stack
//! exactly as the program made it. Stable Rust cannot define a variadic function.
//!
//! The two helpers the shim calls back (`uepoll_stdio_serves`, `uepoll_stdio_write`)
//! need C names, but are not exported: the shim declares them hidden, and the linker
//! gives a symbol the most restrictive visibility any of its objects asks for.

use libc::{c_int, c_void, size_t, ssize_t};

use crate::files::table::{self, Entry};

extern "C" {
    fn uepoll_dprintf(fd: c_int, fmt: *const libc::c_char, ...) -> c_int;
    fn uepoll_vdprintf(fd: c_int, fmt: *const libc::c_char, ap: *mut c_void) -> c_int;
    fn uepoll_dprintf_chk(fd: c_int, flag: c_int, fmt: *const libc::c_char, ...) -> c_int;
    fn uepoll_vdprintf_chk(
        fd: c_int,
        flag: c_int,
        fmt: *const libc::c_char,
        ap: *mut c_void,
    ) -> c_int;
}

/// `int dprintf(int fd, const char *fmt, ...)`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dprintf() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_dprintf);
}

/// `int vdprintf(int fd, const char *fmt, va_list ap)`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn vdprintf() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_vdprintf);
}

/// `int __dprintf_chk(int fd, int flag, const char *fmt, ...)`: `dprintf` in a
/// program built with `-D_FORTIFY_SOURCE`.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn __dprintf_chk() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_dprintf_chk);
}

/// `int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn __vdprintf_chk() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_vdprintf_chk);
}

/// For the shim: 1 when `fd` is a file the engine serves, so its output must go
/// through the library's write path; 0 sends the call to glibc unchanged (epoll fds,
/// the library's own fds, everything unserved).
#[no_mangle]
pub extern "C" fn uepoll_stdio_serves(fd: c_int) -> c_int {
    if !table::is_served(fd) {
        return 0;
    }
    let file = match table::enter() {
        Some(gate) => matches!(gate.get(fd), Some(Entry::File(_))),
        // A signal handler that interrupted the library: the entry cannot be looked
        // at, but the write hook defers the accounting of a served file and passes
        // anything else through, so its path is right either way.
        None => true,
    };
    c_int::from(file)
}

/// For the shim: one `write` through the library's hook (accounting and wake-ups).
///
/// # Safety
/// `buf` holds `len` bytes of the shim's stream buffer.
#[no_mangle]
pub unsafe extern "C" fn uepoll_stdio_write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: forwarded from the shim, whose buffer is valid.
    unsafe { super::io::write(fd, buf, len) }
}
