//! `sigaction` and the `signal` family, for SIGSEGV and SIGBUS only: the library keeps
//! its own handler for those (it turns faults in its user accesses into EFAULT, see
//! `sys::fault`) and records the program's disposition instead of installing it. Every
//! other signal goes straight to libc.

use libc::{c_int, sighandler_t};

use crate::sys::{fail, fault, real, set_errno};

#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    if !fault::is_guarded(sig) {
        // SAFETY: forwarded as received.
        return unsafe { real::sigaction(sig, act, oldact) };
    }
    // SAFETY: the program's pointers, read and written fault-tolerantly.
    match unsafe { fault::program_sigaction(sig, act, oldact) } {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// glibc's `signal` semantics on a guarded signal: `flags`, and the signal itself
/// blocked in its handler unless `SA_NODEFER`.
fn guarded_signal(sig: c_int, handler: sighandler_t, flags: c_int) -> sighandler_t {
    if handler == libc::SIG_ERR {
        set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    // SAFETY: plain data.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    if flags & libc::SA_NODEFER == 0 {
        // SAFETY: a valid sigset of our own.
        unsafe { libc::sigaddset(&mut act.sa_mask, sig) };
    }
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are our own structs.
    match unsafe { fault::program_sigaction(sig, &act, &mut old) } {
        Ok(()) => old.sa_sigaction,
        Err(e) => {
            set_errno(e);
            libc::SIG_ERR
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    if !fault::is_guarded(sig) {
        // SAFETY: forwarded as received.
        return unsafe { real::signal(sig, handler) };
    }
    guarded_signal(sig, handler, libc::SA_RESTART)
}

#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    if !fault::is_guarded(sig) {
        // SAFETY: forwarded as received.
        return unsafe { real::bsd_signal(sig, handler) };
    }
    guarded_signal(sig, handler, libc::SA_RESTART)
}

#[no_mangle]
pub unsafe extern "C" fn sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    if !fault::is_guarded(sig) {
        // SAFETY: forwarded as received.
        return unsafe { real::sysv_signal(sig, handler) };
    }
    guarded_signal(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER)
}
