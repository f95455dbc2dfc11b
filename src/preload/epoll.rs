//! `epoll_create`, `epoll_create1`, `epoll_ctl`, `epoll_wait`, `epoll_pwait` and
//! `epoll_pwait2`.
//!
//! Every instance is a real kernel epoll fd. Fds the engine serves are registered in
//! the engine; every other fd is registered in the kernel epoll fd. A wait collects from
//! both without blocking, alternating which goes first, and sleeps in the kernel (on the
//! instance's own fd) only when both are empty, so timeouts, signal masks and EINTR are
//! the kernel's. Engine wake-ups reach the sleeper through the instance's eventfd.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use libc::{c_int, epoll_event, sigset_t, timespec};

use super::user::{self, UserEvents};
use super::{active, count_kernel_watch, max_watches, variant};
use crate::engine::events::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD};
use crate::engine::stats::STATS;
use crate::engine::trace;
use crate::engine::{check_exclusive, CtlError};
use crate::files::instance::{Instance, WAKE_MARKER};
use crate::files::table::{self, Entry, MAX_FDS};
use crate::sys::{self, fail, real, ErrnoGuard};

/// The kernel's `EP_MAX_EVENTS`.
const EP_MAX_EVENTS: c_int = (i32::MAX as usize / std::mem::size_of::<epoll_event>()) as c_int;

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: plain forwarding.
    let kfd = unsafe { real::epoll_create(size) };
    adopt(kfd)
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: plain forwarding.
    let kfd = unsafe { real::epoll_create1(flags) };
    adopt(kfd)
}

/// Wrap a new kernel epoll fd in an instance. When that cannot be done (fd exhaustion,
/// re-entry) the kernel serves the instance alone, which is always correct.
fn adopt(kfd: c_int) -> c_int {
    if kfd < 0 || kfd as usize >= MAX_FDS || !active() {
        return kfd;
    }
    let Some(mut gate) = table::enter_mut() else {
        return kfd;
    };
    if let Some((inst, efd)) = Instance::create(kfd, variant()) {
        crate::files::install(&mut gate, kfd, Entry::Epoll(inst));
        crate::files::install(&mut gate, efd, Entry::Internal);
    }
    kfd
}

/// Look up the instance behind `epfd`, if it is one of ours.
fn instance_of(epfd: c_int) -> Option<Arc<Instance>> {
    if !table::is_served(epfd) {
        return None;
    }
    let gate = table::enter()?;
    match gate.get(epfd) {
        Some(Entry::Epoll(inst)) => Some(Arc::clone(inst)),
        _ => None,
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    // SAFETY: the program's arguments, passed on.
    let r = unsafe { ctl(epfd, op, fd, event) };
    if trace::on() {
        super::trace::ctl(epfd, op, fd, event, r);
    }
    r
}

unsafe fn ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut epoll_event) -> c_int {
    if !table::is_served(epfd) {
        // SAFETY: forwarded; the kernel checks everything.
        let r = unsafe { real::epoll_ctl(epfd, op, fd, event) };
        if r == 0 {
            track_nested(op, fd);
        }
        return r;
    }
    let Some(gate) = table::enter() else {
        // Re-entered from a signal handler inside the library: only the kernel's side
        // can be used without deadlock.
        // SAFETY: forwarded.
        return unsafe { real::epoll_ctl(epfd, op, fd, event) };
    };
    let Some(Entry::Epoll(inst)) = gate.get(epfd) else {
        drop(gate);
        // SAFETY: not an instance of ours: the kernel answers.
        return unsafe { real::epoll_ctl(epfd, op, fd, event) };
    };
    if !inst.kernel_only.load(Ordering::SeqCst) {
        match gate.get(fd) {
            // The engine path, entirely under this one pass through the gate.
            Some(Entry::File(file)) => return engine_ctl(inst, op, fd, file, event),
            Some(Entry::Internal) => return fail(libc::EBADF),
            Some(Entry::Epoll(_)) | None => {}
        }
    }
    if inst.parked.load(Ordering::Relaxed) {
        if let Some(r) = parked_ctl(inst, epfd, op, fd, event) {
            return r;
        }
    }
    let inst = Arc::clone(inst);
    drop(gate);
    // SAFETY: forwarded to the instance's own kernel epoll fd; the kernel checks the
    // target, nesting and loops.
    let r = unsafe { real::epoll_ctl(epfd, op, fd, event) };
    if r == 0 {
        match op {
            EPOLL_CTL_ADD => {
                if !count_kernel_watch(true) {
                    // Past the user's limit once the engine's watches are counted: the
                    // kernel's ENOSPC, after its other checks passed (as in ep_insert).
                    count_kernel_watch(false);
                    let _errno = ErrnoGuard::save();
                    // SAFETY: removes the registration just made.
                    unsafe { real::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
                    drop(_errno);
                    return fail(libc::ENOSPC);
                }
                inst.kernel_items.fetch_add(1, Ordering::Relaxed);
            }
            EPOLL_CTL_DEL => {
                count_kernel_watch(false);
                let _ = inst
                    .kernel_items
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
            _ => {}
        }
        // Also for a kernel-only outer: an inner instance of ours must signal it.
        track_nested(op, fd);
    }
    r
}

/// `epoll_ctl` through the kernel on an instance that parked ONESHOT items which had
/// fired (`files/parking.rs`), when `fd` keys one of them: the answers the kernel gives
/// for a disarmed item, in its order (the event copy, then the EPOLLEXCLUSIVE rules,
/// then the lookup). EBADF and EPERM cannot arise: the parked item's fd is open and
/// pollable. `None` when `fd` keys no parked item. The caller holds the gate.
fn parked_ctl(
    inst: &Instance,
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> Option<c_int> {
    if !matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_MOD | EPOLL_CTL_DEL) {
        return None;
    }
    let mut parking = inst.parking.lock();
    if !parking.may_hold(fd) || !parking.holds(fd) {
        return None;
    }
    if let Err(e) = checked_event(op, event) {
        return Some(fail(e));
    }
    Some(match op {
        EPOLL_CTL_ADD => fail(libc::EEXIST),
        EPOLL_CTL_DEL => {
            parking.take(fd);
            0
        }
        _ => {
            // The re-arm: the item moves into the instance with its new interest. The
            // kernel's insert polls the file, so a ready file is reported.
            parking.take(fd);
            // SAFETY: the program's event, readable (checked above), to its instance.
            let r = unsafe { real::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, event) };
            if r == 0 {
                inst.kernel_items.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
    })
}

/// An epoll fd of ours was added to (or removed from) another instance through the
/// kernel: it must signal that outer instance for every engine wake-up.
fn track_nested(op: c_int, fd: c_int) {
    if let Some(inner) = instance_of(fd) {
        let Some(_gate) = table::enter() else { return };
        match op {
            EPOLL_CTL_ADD => inner.watch_from_kernel(),
            EPOLL_CTL_DEL => inner.unwatch_from_kernel(),
            _ => {}
        }
    }
}

/// `epoll_ctl` on a served file, with the kernel's checks in the kernel's order: the
/// event pointer (EFAULT), then the EPOLLEXCLUSIVE rules (EINVAL), then the item lookup.
/// EBADF, EPERM and `fd == epfd` cannot happen: both fds are open, and the target is a
/// pollable file that is not the instance. The caller holds the gate.
fn engine_ctl(
    inst: &Arc<Instance>,
    op: c_int,
    fd: c_int,
    file: &Arc<crate::files::openfile::OpenFile>,
    event: *mut epoll_event,
) -> c_int {
    let (events, data) = match checked_event(op, event) {
        Ok(ev) => ev,
        Err(e) => return fail(e),
    };
    if op == EPOLL_CTL_ADD {
        // Before the engine's insert polls the file (see `OpenFile::pipe_read`).
        file.note_watched();
    }
    match inst.ep.ctl(op, file, fd, (events, data), max_watches()) {
        Ok(()) => 0,
        Err(CtlError::Exists) => fail(libc::EEXIST),
        Err(CtlError::NotFound) => fail(libc::ENOENT),
        Err(CtlError::Invalid) => fail(libc::EINVAL),
        Err(CtlError::NoSpace) => fail(libc::ENOSPC),
    }
}

/// The checks the kernel makes on `epoll_ctl`'s event before it looks at the
/// instance's items, in its order: the copy of the event (EFAULT; DEL reads none), then
/// the EPOLLEXCLUSIVE rules for a target that is not an epoll fd (EINVAL). Returns the
/// event, `(0, 0)` for DEL, or the errno.
fn checked_event(op: c_int, event: *mut epoll_event) -> Result<(u32, u64), c_int> {
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        user::read_event(event).ok_or(libc::EFAULT)?
    };
    check_exclusive(op, events, false).map_err(|_| libc::EINVAL)?;
    Ok((events, data))
}

/// How the program asked to wait.
#[derive(Clone, Copy)]
enum Call {
    Wait(c_int),
    Pwait(c_int, *const sigset_t),
    Pwait2(*const timespec, *const sigset_t),
}

impl Call {
    /// Forward to the kernel unchanged.
    unsafe fn forward(self, epfd: c_int, events: *mut epoll_event, maxevents: c_int) -> c_int {
        // SAFETY: the program's own arguments, passed on; the kernel checks them.
        unsafe {
            match self {
                Call::Wait(t) => real::epoll_wait(epfd, events, maxevents, t),
                Call::Pwait(t, mask) => real::epoll_pwait(epfd, events, maxevents, t, mask),
                Call::Pwait2(ts, mask) => real::epoll_pwait2(epfd, events, maxevents, ts, mask),
            }
        }
    }

    /// Forward a wait on one of our instances to the kernel, hiding the library's own
    /// wake-up events. A wait that saw only those reports nothing rather than waiting
    /// again: the caller is a kernel-only instance or a signal handler, where a short
    /// spurious return is the lesser evil.
    unsafe fn forward_ours(self, epfd: c_int, events: *mut epoll_event, maxevents: c_int) -> c_int {
        // SAFETY: as `forward`.
        let r = unsafe { self.forward(epfd, events, maxevents) };
        if r <= 0 {
            return r;
        }
        // A kernel-only instance (after fork, say) still counts what it delivers.
        let n = strip_marker(events, r as usize).0;
        STATS.add(&STATS.kernel_events, n as u64);
        n as c_int
    }

    fn sigmask(self) -> *const sigset_t {
        match self {
            Call::Wait(_) => std::ptr::null(),
            Call::Pwait(_, m) | Call::Pwait2(_, m) => m,
        }
    }
}

/// When a wait gives up, in CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy)]
enum Deadline {
    Never,
    Now,
    At(i128),
}

impl Deadline {
    fn from_ms(ms: c_int) -> Self {
        match ms {
            ..=-1 => Deadline::Never,
            0 => Deadline::Now,
            ms => Deadline::At(sys::monotonic_ns() + i128::from(ms) * 1_000_000),
        }
    }

    /// From `epoll_pwait2`'s timespec: NULL is infinite; an invalid one is EINVAL; an
    /// unreadable one EFAULT.
    fn from_timespec(ts: *const timespec) -> Result<Self, c_int> {
        if ts.is_null() {
            return Ok(Deadline::Never);
        }
        let Some(ts) = user::read_plain(ts) else {
            return Err(libc::EFAULT);
        };
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(libc::EINVAL);
        }
        if ts.tv_sec == 0 && ts.tv_nsec == 0 {
            return Ok(Deadline::Now);
        }
        let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
        Ok(Deadline::At(sys::monotonic_ns() + ns))
    }

    /// The time left as a timespec for the kernel sleep; None for infinite.
    fn remaining(self) -> Option<timespec> {
        match self {
            Deadline::Never => None,
            Deadline::Now => Some(timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
            Deadline::At(at) => {
                let left = (at - sys::monotonic_ns()).max(0);
                Some(timespec {
                    tv_sec: (left / 1_000_000_000) as libc::time_t,
                    tv_nsec: (left % 1_000_000_000) as libc::c_long,
                })
            }
        }
    }

    fn expired(self) -> bool {
        match self {
            Deadline::Never => false,
            Deadline::Now => true,
            Deadline::At(at) => sys::monotonic_ns() >= at,
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { wait(epfd, events, maxevents, Call::Wait(timeout)) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { wait(epfd, events, maxevents, Call::Pwait(timeout, sigmask)) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: arguments forwarded as received.
    unsafe { wait(epfd, events, maxevents, Call::Pwait2(timeout, sigmask)) }
}

/// Every wait, recorded on entry and on return when tracing is on.
unsafe fn wait(epfd: c_int, events: *mut epoll_event, maxevents: c_int, call: Call) -> c_int {
    if !trace::on() {
        // SAFETY: arguments forwarded as received.
        return unsafe { wait_untraced(epfd, events, maxevents, call) };
    }
    let (kind, timeout) = match call {
        Call::Wait(ms) => (trace::CALL_WAIT, super::trace::ms_ns(ms)),
        Call::Pwait(ms, _) => (trace::CALL_PWAIT, super::trace::ms_ns(ms)),
        Call::Pwait2(ts, _) => (trace::CALL_PWAIT2, super::trace::timespec_ns(ts)),
    };
    let since = super::trace::wait_enter(epfd, maxevents, kind, timeout);
    // SAFETY: arguments forwarded as received.
    let r = unsafe { wait_untraced(epfd, events, maxevents, call) };
    super::trace::wait_return(epfd, maxevents, kind, r, since);
    r
}

#[inline(always)]
unsafe fn wait_untraced(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    call: Call,
) -> c_int {
    if !table::is_served(epfd) {
        // SAFETY: not ours: the kernel answers.
        return unsafe { call.forward(epfd, events, maxevents) };
    }
    // The fast path: one pass through the gate looks the instance up and, when only
    // engine-served fds are registered, transfers. No syscall, no reference counting.
    let inst = {
        let Some(gate) = table::enter() else {
            // SAFETY: re-entered from a signal handler inside the library.
            return unsafe { call.forward_ours(epfd, events, maxevents) };
        };
        let Some(Entry::Epoll(inst)) = gate.get(epfd) else {
            drop(gate);
            // SAFETY: not an instance of ours: the kernel answers.
            return unsafe { call.forward(epfd, events, maxevents) };
        };
        if let Err(e) = check_wait_args(events, maxevents, call) {
            return fail(e);
        }
        if inst.kernel_only.load(Ordering::SeqCst) {
            drop(gate);
            // SAFETY: the instance is the kernel's alone now.
            return unsafe { call.forward_ours(epfd, events, maxevents) };
        }
        if !inst.has_kernel_items() {
            let mut sink = UserEvents::new(events, maxevents as usize);
            match inst.ep.send_events(&mut sink, maxevents as usize) {
                Ok(0) => {}
                Ok(n) => return n as c_int,
                Err(_) => return fail(libc::EFAULT),
            }
        }
        Arc::clone(inst)
    };
    let deadline = match call {
        Call::Wait(ms) | Call::Pwait(ms, _) => Deadline::from_ms(ms),
        Call::Pwait2(ts, _) => match Deadline::from_timespec(ts) {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
    };
    let max = maxevents as usize;
    // A blocking wait whose engine side has nothing ready goes straight to the kernel
    // sleep: it returns at once when a kernel-served fd is ready, so a separate
    // non-blocking look first would only add a system call to every such wait (what
    // a program serving mostly TCP would pay on each turn of its loop). When the
    // engine has something, `prepare_sleep` refuses and the loop collects first.
    let mut look_first = matches!(deadline, Deadline::Now);
    loop {
        if look_first {
            match collect(&inst, epfd, events, max) {
                Ok(0) => {}
                Ok(n) => return n as c_int,
                Err(e) => return fail(e),
            }
            if deadline.expired() {
                return 0;
            }
        }
        look_first = true;
        // Engine locks are taken only inside the gate (fork and signal-handler safety).
        match table::enter() {
            Some(_gate) if inst.ep.prepare_sleep() => {}
            Some(_gate) => continue,
            // Re-entered from a signal handler inside the library: no engine access,
            // so sleep only for what the kernel itself can report.
            None => {}
        }
        let left = deadline.remaining();
        let ts_ptr = left
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const timespec);
        // SAFETY: sleeps in the kernel on the instance's own epoll fd with the program's
        // buffer (range-checked) and signal mask.
        let r = unsafe { real::epoll_sleep(epfd, events, maxevents, ts_ptr, call.sigmask()) };
        let err = sys::errno();
        let (kernel_n, signalled) = if r > 0 {
            strip_marker(events, r as usize)
        } else {
            (0, false)
        };
        if let Some(_gate) = table::enter() {
            inst.ep.finish_sleep(signalled);
        }
        if r < 0 {
            return fail(err);
        }
        if kernel_n > 0 {
            STATS.add(&STATS.kernel_events, kernel_n as u64);
            // Top up from the engine so its events are not held back behind the kernel's
            // (a look at the ready list first: cheaper than a transfer that finds it empty).
            let engine_ready =
                kernel_n < max && matches!(table::enter(), Some(_gate) if inst.ep.has_ready());
            let more = if engine_ready {
                engine_collect(&inst, events, kernel_n, max).unwrap_or(0)
            } else {
                0
            };
            return (kernel_n + more) as c_int;
        }
    }
}

/// The kernel's argument checks, in its order: the timeout (pwait2), the signal mask
/// (pwait, pwait2: copied before anything else is looked at), maxevents, then the
/// buffer's range.
fn check_wait_args(events: *mut epoll_event, maxevents: c_int, call: Call) -> Result<(), c_int> {
    if let Call::Pwait2(ts, _) = call {
        Deadline::from_timespec(ts)?;
    }
    let mask = call.sigmask();
    // The kernel copies `sigsetsize` bytes, which glibc passes as 8 (_NSIG / 8).
    if !mask.is_null() && user::read_plain(mask as *const u64).is_none() {
        return Err(libc::EFAULT);
    }
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(libc::EINVAL);
    }
    if !user::access_ok(
        events as *const u8,
        maxevents as usize * std::mem::size_of::<epoll_event>(),
    ) {
        return Err(libc::EFAULT);
    }
    Ok(())
}

/// Collect ready events without blocking from both sources.
fn collect(
    inst: &Arc<Instance>,
    epfd: c_int,
    events: *mut epoll_event,
    max: usize,
) -> Result<usize, c_int> {
    let kernel = inst.has_kernel_items();
    let kernel_first = kernel && inst.turn.fetch_xor(true, Ordering::Relaxed);
    let mut n = 0;
    let mut fault = false;
    if kernel_first {
        match kernel_collect(inst, epfd, events, 0, max) {
            Ok(k) => n += k,
            Err(_) => fault = true,
        }
    }
    if n < max {
        match engine_collect(inst, events, n, max) {
            Ok(k) => n += k,
            Err(_) => fault = true,
        }
    }
    if kernel && !kernel_first && n < max {
        match kernel_collect(inst, epfd, events, n, max) {
            Ok(k) => n += k,
            Err(_) => fault = true,
        }
    }
    if n == 0 && fault {
        return Err(libc::EFAULT);
    }
    Ok(n)
}

/// The engine's transfer into `events[from..max]`.
fn engine_collect(
    inst: &Arc<Instance>,
    events: *mut epoll_event,
    from: usize,
    max: usize,
) -> Result<usize, ()> {
    let Some(_gate) = table::enter() else {
        return Ok(0);
    };
    let mut sink = UserEvents::new(events.wrapping_add(from), max - from);
    inst.ep.send_events(&mut sink, max - from).map_err(|_| ())
}

/// A non-blocking look at the kernel-registered fds into `events[from..max]`.
fn kernel_collect(
    inst: &Arc<Instance>,
    epfd: c_int,
    events: *mut epoll_event,
    from: usize,
    max: usize,
) -> Result<usize, ()> {
    let _errno = ErrnoGuard::save();
    let at = events.wrapping_add(from);
    // SAFETY: the buffer range was checked with access_ok; the kernel faults cleanly.
    let r = unsafe { real::epoll_wait(epfd, at, (max - from) as c_int, 0) };
    if r < 0 {
        return Err(());
    }
    let (n, signalled) = strip_marker(at, r as usize);
    if signalled {
        if let Some(_gate) = table::enter() {
            inst.settle();
        }
    }
    STATS.add(&STATS.kernel_events, n as u64);
    Ok(n)
}

/// Remove the library's own wake-up events from `events[..n]`, keeping order. Returns
/// the number left and whether a wake-up was seen.
fn strip_marker(events: *mut epoll_event, n: usize) -> (usize, bool) {
    let mut kept = 0;
    let mut seen = false;
    for i in 0..n {
        // SAFETY: the kernel just wrote n events at events[0..n].
        let ev = unsafe { std::ptr::read_unaligned(events.add(i)) };
        if ev.u64 == WAKE_MARKER {
            seen = true;
            continue;
        }
        if kept != i {
            // SAFETY: kept < i < n, inside what the kernel wrote.
            unsafe { std::ptr::write_unaligned(events.add(kept), ev) };
        }
        kept += 1;
    }
    (kept, seen)
}
