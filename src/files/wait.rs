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
use crate::sys::{spans, syscall, user, Errno};

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
    // The library's own time in this call, built with `spans` (`sys/spans.rs`).
    let span = spans::Span::begin(spans::Kind::Wait);
    if !table::is_served(epfd) {
        span.discard();
        // SAFETY: not ours: the kernel answers.
        return unsafe { call.forward(epfd, events, maxevents) };
    }
    super::children::check();
    // SAFETY: the caller's contract.
    let (inst, deadline, prepared) = match unsafe { engine_only(epfd, events, maxevents, call) } {
        Step::Done(answer) => return answer,
        Step::Both(inst) => match call.deadline() {
            Ok(deadline) => (inst, deadline, None),
            Err(e) => {
                arc_drop(inst);
                return Err(e);
            }
        },
        Step::Sleep(inst, deadline, prepared) => (inst, deadline, Some(prepared)),
    };
    let max = maxevents as usize;
    let n = inst.wait(epfd, events, max, deadline, call.sigmask(), prepared);
    arc_drop(inst);
    n.map(|n| n as c_int)
}

/// What the fast path leaves to do.
enum Step {
    /// The wait is answered.
    Done(Result<c_int, Errno>),
    /// The instance has kernel items too.
    Both(Arc<Instance>),
    /// Engine items only, none ready, and the call blocks until `Deadline`:
    /// `prepare_sleep` was called in the same pass through the gate as the transfer,
    /// and answered the bool (true: sleep; false: items became ready, look again).
    Sleep(Arc<Instance>, Deadline, bool),
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
        // `ep_poll`'s first look, without the ready lock: a transfer that would answer
        // 0 at once is skipped. A blocking wait's `prepare_sleep` below looks again
        // under the lock; a non-blocking one answers 0, as the kernel's racy look may
        // (`EventPoll::events_available` says why no event is lost either way).
        if inst.engine_events_available() {
            match inst.transfer(events, maxevents as usize) {
                Ok(0) => {}
                Ok(n) => return Step::Done(Ok(n as c_int)),
                Err(_) => return Step::Done(Err(Errno(libc::EFAULT))),
            }
        }
        // Nothing ready: a non-blocking call is answered (the engine is its only
        // source); a blocking one prepares its sleep without leaving the gate, which
        // saves the gate's fence of a second pass.
        let deadline = match call.deadline() {
            Ok(deadline) => deadline,
            Err(e) => return Step::Done(Err(e)),
        };
        if matches!(deadline, Deadline::Now) {
            return Step::Done(Ok(0));
        }
        let prepared = inst.prepare_sleep();
        return Step::Sleep(arc_clone(inst), deadline, prepared);
    }
    Step::Both(arc_clone(inst))
}

/// The kernel's argument checks, in its order: the timeout (pwait2), the signal mask
/// (pwait, pwait2: copied before anything else is looked at), maxevents, then the
/// buffer's range.
#[inline(always)]
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

/// What a kernel sleep brought.
enum Woke {
    /// This many of the program's events from the kernel, in the buffer.
    Kernel(usize),
    /// No kernel event, and the engine's transfer after the wake-up copied this many
    /// (0: it found nothing).
    Engine(usize),
    /// No kernel event, and the engine was not looked at.
    Nothing,
}

impl Instance {
    /// The wait of an instance with kernel items (or whose engine had nothing ready):
    /// look at both sources, sleep in the kernel when both are empty, and look again
    /// after a wake-up, until something is found or `deadline` passes. `events` is the
    /// program's buffer of `max` entries, checked by `check_wait_args`. `prepared` is
    /// `prepare_sleep`'s answer when `engine_only` already asked it (the first round
    /// then neither looks nor asks again).
    fn wait(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        max: usize,
        deadline: Deadline,
        sigmask: *const sigset_t,
        mut prepared: Option<bool>,
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
            if !prepared.take().unwrap_or_else(|| self.may_sleep()) {
                continue;
            }
            match self.sleep(epfd, events, max, deadline, sigmask)? {
                Woke::Kernel(n) => return Ok(n + self.top_up(events, n, max)),
                Woke::Engine(0) => {
                    // The engine was just looked at, and the kernel side is empty.
                    if deadline.expired() {
                        return Ok(0);
                    }
                    look_first = false;
                }
                Woke::Engine(n) => return Ok(n),
                Woke::Nothing => {}
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
    /// Returns what the wake-up brought (`Woke`).
    fn sleep(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        max: usize,
        deadline: Deadline,
        sigmask: *const sigset_t,
    ) -> Result<Woke, Errno> {
        let left = deadline.remaining();
        let ts_ptr = left
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const timespec);
        // SAFETY: sleeps in the kernel on the instance's own epoll fd with the program's
        // buffer (range-checked) and signal mask.
        let r = unsafe { syscall!(epoll_sleep(epfd, events, max as c_int, ts_ptr, sigmask)) };
        // What the wait does from here is between a wake-up and the program (`spans`).
        spans::mark(spans::Kind::Wait);
        let (kernel_n, signalled) = match r {
            // SAFETY: the kernel just wrote n events at `events`.
            Ok(n) if n > 0 => unsafe { strip_marker(events, n as usize) },
            _ => (0, false),
        };
        let mut engine = None;
        if let Some(_gate) = table::enter() {
            if kernel_n == 0 && r.is_ok() && !self.has_kernel_items() {
                // The engine is the only source left to look at: its transfer runs
                // in this pass through the gate, with `finish_sleep` (which then
                // needs no look at the ready list of its own).
                engine = Some(self.finish_sleep_and_transfer(signalled, events, max));
            } else {
                self.finish_sleep(signalled);
            }
        }
        r?;
        if let Some(sent) = engine {
            return sent.map(Woke::Engine).map_err(|_| Errno(libc::EFAULT));
        }
        if kernel_n > 0 {
            STATS.add(&STATS.kernel_events, kernel_n as u64);
            return Ok(Woke::Kernel(kernel_n));
        }
        Ok(Woke::Nothing)
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
