//! The library's SIGSEGV/SIGBUS handler, which turns a fault in one of its user
//! accesses (`sys::uaccess`) into EFAULT, and the program's own dispositions for those
//! two signals, which the handler carries out for every other fault.
//!
//! The library's handler stays installed for the life of the process. A program that
//! sets a disposition for SIGSEGV or SIGBUS through `sigaction`, `signal` and friends
//! (hooked in `preload::signals`) gets it recorded here, and sees it back from the
//! next query, as if it were installed. The kernel-side action keeps the program's
//! mask and flags, with `SA_SIGINFO` added and `SA_RESETHAND` emulated, so the
//! program's handler runs under the mask it asked for.
//!
//! A fault that is not the library's is handled as the program asked:
//! - its handler is called, with `(sig)` or `(sig, info, context)` per `SA_SIGINFO`;
//! - default (or ignore, for a real fault, which the kernel does not let a program
//!   ignore): the default action is restored and the handler returns, so the faulting
//!   instruction runs again and the kernel kills the process as it would have;
//! - a SIGSEGV or SIGBUS sent with `kill` is re-sent under the default action, or
//!   dropped when ignored.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, c_void, siginfo_t};

use super::{real, uaccess, ErrnoGuard, SignalsBlocked};

/// glibc adds this flag and its own restorer to every action it installs.
const SA_RESTORER: c_int = 0x0400_0000;

/// The program's disposition for one signal, behind a spin lock. Writers block every
/// signal while they hold it, so the handler on the same thread never waits for it.
struct Disposition {
    lock: AtomicBool,
    action: UnsafeCell<libc::sigaction>,
}

// SAFETY: `action` is only accessed while `lock` is held.
unsafe impl Sync for Disposition {}

impl Disposition {
    const fn new() -> Self {
        Disposition {
            lock: AtomicBool::new(false),
            // SAFETY: sigaction is plain data; all-zero is SIG_DFL with no flags.
            action: UnsafeCell::new(unsafe { std::mem::zeroed() }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut libc::sigaction) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held.
        let r = f(unsafe { &mut *self.action.get() });
        self.lock.store(false, Ordering::Release);
        r
    }
}

static SEGV: Disposition = Disposition::new();
static BUS: Disposition = Disposition::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn disposition(sig: c_int) -> Option<&'static Disposition> {
    match sig {
        libc::SIGSEGV => Some(&SEGV),
        libc::SIGBUS => Some(&BUS),
        _ => None,
    }
}

/// True when `sig` is one the library keeps its own handler for.
pub fn is_guarded(sig: c_int) -> bool {
    INSTALLED.load(Ordering::Relaxed) && disposition(sig).is_some()
}

/// Install the handler for SIGSEGV and SIGBUS, recording what was there as the
/// program's. Called once by the constructor.
pub fn install() {
    let _errno = ErrnoGuard::save();
    let _blocked = SignalsBlocked::block_all();
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        let Some(d) = disposition(sig) else { continue };
        // SAFETY: plain data.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a query into a valid struct.
        if unsafe { real::sigaction(sig, std::ptr::null(), &mut current) } != 0 {
            return;
        }
        d.with(|a| *a = current);
        if install_for(sig, &current).is_err() {
            return;
        }
    }
    INSTALLED.store(true, Ordering::Relaxed);
}

/// Put the library's handler in place for `sig`, with the mask and flags of the
/// program's action `prog`.
fn install_for(sig: c_int, prog: &libc::sigaction) -> Result<(), ()> {
    // SAFETY: plain data.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = handler as *const () as usize;
    ours.sa_mask = prog.sa_mask;
    ours.sa_flags = (prog.sa_flags | libc::SA_SIGINFO) & !(libc::SA_RESETHAND | SA_RESTORER);
    // SAFETY: a valid action whose handler is `handler` below.
    if unsafe { real::sigaction(sig, &ours, std::ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// `sigaction` for a guarded signal: record `act` as the program's (after checking it
/// can be read) and report the previous one in `oldact`. Returns 0 or an errno value.
///
/// # Safety
/// `act` and `oldact` are the program's pointers (either may be NULL).
pub unsafe fn program_sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> Result<(), c_int> {
    let Some(d) = disposition(sig) else {
        return Err(libc::EINVAL);
    };
    let new = if act.is_null() {
        None
    } else {
        // SAFETY: plain data, filled from the program's struct below.
        let mut a: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `a` is ours and exactly the struct's size; `act` is the program's.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                &mut a as *mut libc::sigaction as *mut u8,
                std::mem::size_of::<libc::sigaction>(),
            )
        };
        // SAFETY: a fault-tolerant read of the program's pointer.
        if !unsafe { uaccess::copy_from_user(bytes, act as *const u8) } {
            return Err(libc::EFAULT);
        }
        Some(a)
    };
    let _blocked = SignalsBlocked::block_all();
    let old = d.with(|cur| {
        let old = *cur;
        if let Some(mut a) = new {
            // What glibc's sigaction would report back: it always adds its restorer.
            a.sa_flags |= old.sa_flags & SA_RESTORER;
            a.sa_restorer = old.sa_restorer;
            *cur = a;
        }
        old
    });
    if let Some(a) = new {
        if install_for(sig, &a).is_err() {
            d.with(|cur| *cur = old);
            return Err(libc::EINVAL);
        }
    }
    if !oldact.is_null() {
        // SAFETY: the words of a plain-data struct, stored with fault-tolerant writes.
        let words = unsafe {
            std::slice::from_raw_parts(
                &old as *const libc::sigaction as *const u64,
                std::mem::size_of::<libc::sigaction>() / 8,
            )
        };
        for (i, &w) in words.iter().enumerate() {
            // SAFETY: the program's pointer, fault-tolerant store.
            if !unsafe { uaccess::put_u64((oldact as *mut u64).wrapping_add(i), w) } {
                return Err(libc::EFAULT);
            }
        }
    }
    Ok(())
}

/// The program's handler for `sig` right now (for `signal()`'s return value).
pub fn program_handler(sig: c_int) -> usize {
    disposition(sig).map_or(libc::SIG_DFL, |d| d.with(|a| a.sa_sigaction))
}

extern "C" fn handler(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let code = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_code }
    };
    let synchronous = code > 0;
    if synchronous && !ctx.is_null() {
        let uc = ctx as *mut libc::ucontext_t;
        // SAFETY: as above; the saved registers of the interrupted thread.
        let rip = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] } as usize;
        if let Some(fixup) = uaccess::fixup_for(rip) {
            // SAFETY: resume at the access's fix-up stub (see `sys::uaccess`).
            unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = fixup as i64 };
            return;
        }
    }
    let _errno = ErrnoGuard::save();
    let Some(d) = disposition(sig) else { return };
    let action = d.with(|a| {
        let now = *a;
        if now.sa_flags & libc::SA_RESETHAND != 0 && now.sa_sigaction > libc::SIG_IGN {
            a.sa_sigaction = libc::SIG_DFL; // the kernel resets the handler only
        }
        now
    });
    match action.sa_sigaction {
        libc::SIG_IGN if !synchronous => {}
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: plain data; all-zero is SIG_DFL.
            let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: restores the default action.
            unsafe { real::sigaction(sig, &dfl, std::ptr::null_mut()) };
            if !synchronous {
                // Sent, not raised by a fault: send it again, now with its default.
                // SAFETY: plain syscalls on this thread.
                unsafe {
                    real::syscall(
                        libc::SYS_tgkill,
                        libc::c_long::from(libc::getpid()),
                        libc::c_long::from(libc::gettid()),
                        libc::c_long::from(sig),
                        0,
                        0,
                        0,
                    )
                };
            }
            // A fault re-runs the instruction and the kernel now kills the process.
        }
        f => {
            drop(_errno);
            if action.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the program installed this three-argument handler.
                let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
                    unsafe { std::mem::transmute(f) };
                f(sig, info, ctx);
            } else {
                // SAFETY: the program installed this one-argument handler.
                let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(f) };
                f(sig);
            }
        }
    }
}
