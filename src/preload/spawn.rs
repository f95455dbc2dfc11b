//! Children and fd tables the library would not otherwise see: `_Fork` (fork without
//! the atfork handlers), `clone`, and `unshare(CLONE_FILES)`.
//!
//! | call | action |
//! |---|---|
//! | `_Fork` | as `fork`: the atfork prepare, parent and child steps run around it |
//! | `clone` without both `CLONE_VM` and `CLONE_FILES` | before: demote every file, every instance becomes the kernel's alone (as fork) |
//! | `clone` with both (a thread) | nothing: it shares the memory and the fd table, as `pthread_create` |
//! | `unshare(CLONE_FILES)` | demote every file and stop serving: from then on a number can mean different files in different threads, and the library keeps one table per process |

use libc::{c_int, c_void, pid_t};

use super::process::{atfork_child, atfork_parent, atfork_prepare};
use crate::files::{self, demote, gate, table};
use crate::sys::{self, real};

#[no_mangle]
pub unsafe extern "C" fn _Fork() -> pid_t {
    if gate::in_library() {
        // SAFETY: forwarded (a fork from inside the library's own code path).
        return unsafe { real::_Fork() };
    }
    atfork_prepare();
    // SAFETY: the real _Fork; the table is held, as during fork.
    let pid = unsafe { real::_Fork() };
    let err = sys::errno();
    if pid == 0 {
        atfork_child();
    } else {
        atfork_parent();
    }
    sys::set_errno(err);
    pid
}

/// True when `flags` make a thread: memory and fd table both shared, as the library
/// already handles for `pthread_create`.
pub(super) fn is_thread(flags: u64) -> bool {
    let both = (libc::CLONE_VM | libc::CLONE_FILES) as u64;
    flags & both == both
}

/// A child that copies or shares the served files is starting, and no code of the
/// library runs in it before it does I/O: every file is demoted and every instance
/// becomes the kernel's alone, as before a fork. Files created meanwhile are not
/// served (`files::creation_stamp`) until this is dropped.
pub(super) struct ChildLikeFork;

impl ChildLikeFork {
    pub(super) fn demote() -> Self {
        let _errno = sys::ErrnoGuard::save();
        files::children::child_shares_onwards();
        files::child_starting();
        if let Some(mut gate) = table::enter_mut() {
            demote::prepare_fork(&mut gate);
        }
        ChildLikeFork
    }
}

impl Drop for ChildLikeFork {
    fn drop(&mut self) {
        files::child_started();
    }
}

/// glibc's `clone` is variadic: `fn`, `stack`, `flags`, `arg`, then `parent_tid`,
/// `tls` and `child_tid` as `flags` asks. On x86_64 the first six travel in registers
/// and the seventh on the stack where a variadic call puts it too, so declaring all
/// seven and forwarding all seven is exact (as the `syscall` hook does). The child
/// starts in `fn` on its own stack and never returns here.
#[no_mangle]
pub unsafe extern "C" fn clone(
    f: *mut c_void,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    ptid: *mut c_void,
    tls: *mut c_void,
    ctid: *mut c_void,
) -> c_int {
    // flags is an int in glibc's prototype; its bits are read as the kernel's u64.
    let _child =
        (!gate::in_library() && !is_thread(flags as u32 as u64)).then(ChildLikeFork::demote);
    // SAFETY: forwarded as received.
    unsafe { real::clone(f, stack, flags, arg, ptid, tls, ctid) }
}

#[no_mangle]
pub unsafe extern "C" fn __clone(
    f: *mut c_void,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    ptid: *mut c_void,
    tls: *mut c_void,
    ctid: *mut c_void,
) -> c_int {
    // SAFETY: the hook of the same function, all seven arguments forwarded.
    unsafe { clone(f, stack, flags, arg, ptid, tls, ctid) }
}

#[no_mangle]
pub unsafe extern "C" fn unshare(flags: c_int) -> c_int {
    if flags & libc::CLONE_FILES != 0 && !gate::in_library() {
        files_unshared();
    }
    // SAFETY: forwarded as received.
    unsafe { real::unshare(flags) }
}

/// The calling thread is about to get its own copy of the fd table.
pub(super) fn files_unshared() {
    let _errno = sys::ErrnoGuard::save();
    super::deactivate();
    demote::demote_everything(crate::engine::trace::Why::StopServing);
}
