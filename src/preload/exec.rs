//! The exec family. The new program image keeps every descriptor opened without
//! close-on-exec, but not the engine's state, which lived in the old image's memory.
//!
//! | call | action |
//! |---|---|
//! | `execve` `execv` `execvp` `execvpe` `fexecve` `execveat`, and `execl` `execle` `execlp` (through `exec_shim.c`) | before: demote the files without close-on-exec, with their peers, and make kernel-only an instance without close-on-exec, with every file (as `system`: the new image keeps them); in a tracked fork child, report whether the new image keeps an epoll fd (`files/children.rs`); after a failed exec, report that the child runs on |
//!
//! glibc's exec functions call one another through internal names, so each entry needs
//! its own hook. `execl`, `execle` and `execlp` are variadic, which stable Rust cannot
//! define: the C shim gathers their arguments into an array (as glibc's own bodies do
//! before calling the internal `__execve`) and comes back through
//! `uepoll_exec_array`; the exported names are naked trampolines, one `jmp` each, as
//! for the dprintf family (`dprintf.rs`). A raw `syscall(SYS_execve)` is not seen: a
//! child exec'ing that way reports nothing, so its parent keeps what it shares with the
//! kernel.

use libc::{c_char, c_int};

use crate::files::{children, gate};
use crate::sys::{self, real};

/// Around one exec call: the preparation on creation, the failure report on drop
/// (reached only when the exec returned, i.e. failed).
struct Exec {
    active: bool,
}

impl Exec {
    fn begin() -> Self {
        if gate::in_library() {
            return Exec { active: false };
        }
        let _errno = sys::ErrnoGuard::save();
        super::process::let_child_inherit(std::ptr::null(), crate::engine::trace::Why::Exec);
        children::child_exec_begins();
        Exec { active: true }
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        if self.active {
            let _errno = sys::ErrnoGuard::save();
            children::child_exec_failed();
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::execve(path, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::execv(path, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::execvp(file, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::execvpe(file, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::fexecve(fd, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    flags: c_int,
) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as received.
    unsafe { real::execveat(dirfd, path, argv, envp, flags) }
}

extern "C" {
    fn uepoll_execl(path: *const c_char, arg: *const c_char, ...) -> c_int;
    fn uepoll_execle(path: *const c_char, arg: *const c_char, ...) -> c_int;
    fn uepoll_execlp(file: *const c_char, arg: *const c_char, ...) -> c_int;
}

/// `int execl(const char *path, const char *arg, ...)`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execl() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_execl);
}

/// `int execle(const char *path, const char *arg, ..., char *const envp[])`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execle() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_execle);
}

/// `int execlp(const char *file, const char *arg, ...)`
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execlp() {
    std::arch::naked_asm!("jmp {f}", f = sym uepoll_execlp);
}

/// For the shim: the exec of an argument array it gathered; `how` 0 is `execve`, 1 is
/// `execvp` (which searches `PATH` and uses `environ`; `envp` is then unused).
///
/// # Safety
/// `path`, `argv` and `envp` are the program's, passed on as libc would.
#[no_mangle]
pub unsafe extern "C" fn uepoll_exec_array(
    how: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let _exec = Exec::begin();
    // SAFETY: forwarded as the shim gathered them.
    unsafe {
        if how == 1 {
            real::execvp(path, argv)
        } else {
            real::execve(path, argv, envp)
        }
    }
}
