//! `epoll_wait`, `epoll_pwait` and `epoll_pwait2` on an instance.
//!
//! A wait on an instance with only engine items is one transfer inside one pass
//! through the gate (`engine_only`). With kernel items too, it collects from both
//! without blocking, alternating which goes first (`collect.rs`), and sleeps in the
//! kernel (on the instance's own fd) only when both are empty, so timeouts, signal
//! masks and EINTR are the kernel's (`Instance::wait`). Engine wake-ups reach the
//! sleeper through the instance's eventfd.

use std::sync::Arc;

use libc::{c_int, epoll_event, sigset_t, timespec};

use super::collect::strip_marker;
use super::deadline::Deadline;
use super::instance::Instance;
use super::table::{self, Entry};
use crate::engine::stats::STATS;
use crate::engine::sync::{arc_clone, arc_drop};
use crate::sys::{syscall, user, Errno};

/// The kernel's `EP_MAX_EVENTS`.
const EP_MAX_EVENTS: c_int = (i32::MAX as usize / std::mem::size_of::<epoll_event>()) as c_int;

/// How the program asked to wait.
#[derive(Clone, Copy)]
pub enum Call {
    Wait(c_int),
    Pwait(c_int, *const sigset_t),
    Pwait2(*const timespec, *const sigset_t),
}

impl Call {
    /// Forward to the kernel unchanged.
    ///
    /// # Safety
    /// The program's own arguments, passed on; the kernel checks them.
    unsafe fn forward(
        self,
        epfd: c_int,
        events: *mut epoll_event,
        maxevents: c_int,
    ) -> Result<c_int, Errno> {
        // SAFETY: the caller's contract.
        unsafe {
            match self {
                Call::Wait(t) => syscall!(epoll_wait(epfd, events, maxevents, t)),
                Call::Pwait(t, mask) => syscall!(epoll_pwait(epfd, events, maxevents, t, mask)),
                Call::Pwait2(ts, mask) => {
                    syscall!(epoll_pwait2(epfd, events, maxevents, ts, mask))
                }
            }
        }
    }

    /// Forward a wait on one of our instances to the kernel, hiding the library's own
    /// wake-up events. A wait that saw only those reports nothing rather than waiting
    /// again: the caller is a kernel-only instance or a signal handler, where a short
    /// spurious return is the lesser evil.
    ///
    /// # Safety
    /// As `forward`.
    unsafe fn forward_ours(
        self,
        epfd: c_int,
        events: *mut epoll_event,
        maxevents: c_int,
    ) -> Result<c_int, Errno> {
        // SAFETY: the caller's contract.
        let r = unsafe { self.forward(epfd, events, maxevents) }?;
        if r == 0 {
            return Ok(0);
        }
        // SAFETY: the kernel just wrote r events at `events`.
        let n = unsafe { strip_marker(events, r as usize) }.0;
        // A kernel-only instance (after fork, say) still counts what it delivers.
        STATS.add(&STATS.kernel_events, n as u64);
        Ok(n as c_int)
    }

    fn sigmask(self) -> *const sigset_t {
        match self {
            Call::Wait(_) => std::ptr::null(),
            Call::Pwait(_, m) | Call::Pwait2(_, m) => m,
        }
    }

    /// The deadline of the call's timeout, from now.
    fn deadline(self) -> Result<Deadline, Errno> {
        match self {
            Call::Wait(ms) | Call::Pwait(ms, _) => Ok(Deadline::from_ms(ms)),
            Call::Pwait2(ts, _) => Deadline::from_timespec(ts),
        }
    }
}

/// A wait as the kernel answers it: the number of events written to `events`.
///
/// # Safety
/// `events`, the timespec and the signal mask in `call` are the program's pointers:
/// passed to the kernel as they are, or accessed with fault-tolerant accesses.
#[inline(always)]
pub unsafe fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    call: Call,
) -> Result<c_int, Errno> {
    if !table::is_served(epfd) {
        // SAFETY: not ours: the kernel answers.
        return unsafe { call.forward(epfd, events, maxevents) };
    }
    super::children::check();
    // SAFETY: the caller's contract.
    let inst = match unsafe { engine_only(epfd, events, maxevents, call) } {
        Step::Done(answer) => return answer,
        Step::Both(inst) => inst,
    };
    let deadline = call.deadline()?;
    let n = inst.wait(epfd, events, maxevents as usize, deadline, call.sigmask());
    arc_drop(inst);
    n.map(|n| n as c_int)
}

/// What the fast path leaves to do.
enum Step {
    /// The wait is answered.
    Done(Result<c_int, Errno>),
    /// The instance has kernel items too, or its engine had nothing ready.
    Both(Arc<Instance>),
}

/// The fast path: one pass through the gate looks the instance up, checks the
/// arguments and, when only engine-served fds are registered, transfers. No syscall,
/// no reference counting.
///
/// # Safety
/// As `epoll_wait`.
#[inline(always)]
unsafe fn engine_only(epfd: c_int, events: *mut epoll_event, maxevents: c_int, call: Call) -> Step {
    let Some(gate) = table::enter() else {
        // SAFETY: re-entered from a signal handler inside the library.
        return Step::Done(unsafe { call.forward_ours(epfd, events, maxevents) });
    };
    let Some(Entry::Epoll(inst)) = gate.get(epfd) else {
        drop(gate);
        // SAFETY: not an instance of ours: the kernel answers.
        return Step::Done(unsafe { call.forward(epfd, events, maxevents) });
    };
    if let Err(e) = check_wait_args(events, maxevents, call) {
        return Step::Done(Err(e));
    }
    if inst.is_kernel_only() {
        // Counted inside the gate, so a promotion (under the write side) sees it.
        let inst = Arc::clone(inst);
        inst.forward_begins();
        drop(gate);
        // SAFETY: the instance is the kernel's alone now.
        let answer = unsafe { call.forward_ours(epfd, events, maxevents) };
        inst.forward_ends();
        return Step::Done(answer);
    }
    if !inst.has_kernel_items() {
        match inst.transfer(events, maxevents as usize) {
            Ok(0) => {}
            Ok(n) => return Step::Done(Ok(n as c_int)),
            Err(_) => return Step::Done(Err(Errno(libc::EFAULT))),
        }
    }
    Step::Both(arc_clone(inst))
}

/// The kernel's argument checks, in its order: the timeout (pwait2), the signal mask
/// (pwait, pwait2: copied before anything else is looked at), maxevents, then the
/// buffer's range.
fn check_wait_args(events: *mut epoll_event, maxevents: c_int, call: Call) -> Result<(), Errno> {
    if let Call::Pwait2(ts, _) = call {
        Deadline::from_timespec(ts)?;
    }
    let mask = call.sigmask();
    // The kernel copies `sigsetsize` bytes, which glibc passes as 8 (_NSIG / 8).
    if !mask.is_null() && user::read_plain(mask as *const u64).is_none() {
        return Err(Errno(libc::EFAULT));
    }
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(Errno(libc::EINVAL));
    }
    if !user::access_ok(
        events as *const u8,
        maxevents as usize * std::mem::size_of::<epoll_event>(),
    ) {
        return Err(Errno(libc::EFAULT));
    }
    Ok(())
}

impl Instance {
    /// The wait of an instance with kernel items (or whose engine had nothing ready):
    /// look at both sources, sleep in the kernel when both are empty, and look again
    /// after a wake-up, until something is found or `deadline` passes. `events` is the
    /// program's buffer of `max` entries, checked by `check_wait_args`.
    fn wait(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        max: usize,
        deadline: Deadline,
        sigmask: *const sigset_t,
    ) -> Result<usize, Errno> {
        // A blocking wait whose engine side has nothing ready goes straight to the
        // kernel sleep: it returns at once when a kernel-served fd is ready, so a
        // separate non-blocking look first would only add a system call to every such
        // wait (what a program serving mostly TCP would pay on each turn of its loop).
        // When the engine has something, `may_sleep` refuses and the loop collects
        // first.
        let mut look_first = matches!(deadline, Deadline::Now);
        loop {
            if look_first {
                let n = self.collect(epfd, events, max)?;
                if n > 0 {
                    return Ok(n);
                }
                if deadline.expired() {
                    return Ok(0);
                }
            }
            look_first = true;
            if !self.may_sleep() {
                continue;
            }
            let kernel_n = self.sleep(epfd, events, max, deadline, sigmask)?;
            if kernel_n > 0 {
                return Ok(kernel_n + self.top_up(events, kernel_n, max));
            }
        }
    }

    /// Whether the engine lets the thread sleep in the kernel: not while engine items
    /// are ready. Engine locks are taken only inside the gate (fork and signal-handler
    /// safety); re-entered from a signal handler inside the library, there is no
    /// engine access, so the thread sleeps only for what the kernel itself can report.
    fn may_sleep(&self) -> bool {
        match table::enter() {
            Some(_gate) => self.prepare_sleep(),
            None => true,
        }
    }

    /// Sleep in the kernel on the instance's own epoll fd until a kernel-served fd is
    /// ready, an engine wake-up arrives through the eventfd, a signal, or `deadline`.
    /// Returns the number of the program's events the kernel delivered into `events`.
    fn sleep(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        max: usize,
        deadline: Deadline,
        sigmask: *const sigset_t,
    ) -> Result<usize, Errno> {
        let left = deadline.remaining();
        let ts_ptr = left
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const timespec);
        // SAFETY: sleeps in the kernel on the instance's own epoll fd with the program's
        // buffer (range-checked) and signal mask.
        let r = unsafe { syscall!(epoll_sleep(epfd, events, max as c_int, ts_ptr, sigmask)) };
        let (kernel_n, signalled) = match r {
            // SAFETY: the kernel just wrote n events at `events`.
            Ok(n) if n > 0 => unsafe { strip_marker(events, n as usize) },
            _ => (0, false),
        };
        if let Some(_gate) = table::enter() {
            self.finish_sleep(signalled);
        }
        r?;
        if kernel_n > 0 {
            STATS.add(&STATS.kernel_events, kernel_n as u64);
        }
        Ok(kernel_n)
    }

    /// After the kernel delivered `kernel_n` events: add the engine's ready ones behind
    /// them, so they are not held back behind the kernel's (a look at the ready list
    /// first: cheaper than a transfer that finds it empty). Returns how many.
    fn top_up(&self, events: *mut epoll_event, kernel_n: usize, max: usize) -> usize {
        let engine_ready =
            kernel_n < max && matches!(table::enter(), Some(_gate) if self.engine_has_ready());
        if engine_ready {
            self.engine_collect(events, kernel_n, max).unwrap_or(0)
        } else {
            0
        }
    }
}
