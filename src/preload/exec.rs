//! The exec family. The new program image keeps every descriptor opened without
//! close-on-exec, but not the engine's state, which lived in the old image's memory.
//!
//! | call | action |
//! |---|---|
//! | `execve` `execv` `execvp` `execvpe` `fexecve` `execveat` | before: demote every file and make kernel-only every instance without close-on-exec (as `posix_spawn`: the new image keeps them); in a tracked fork child, report whether the new image keeps an epoll fd (`files/children.rs`); after a failed exec, report that the child runs on |
//!
//! glibc's exec functions call one another through internal names, so each entry needs
//! its own hook. `execl`, `execle` and `execlp` are variadic (stable Rust cannot define
//! them) and reach the kernel through glibc's internal `__execve`: a child exec'ing
//! through them reports nothing, so its parent keeps what it shares with the kernel.

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
        super::process::let_child_inherit();
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
