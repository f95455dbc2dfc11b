//! An epoll instance as the program sees it: a real kernel epoll fd (so close, dup,
//! CLOEXEC, poll() and nesting work), the engine instance serving the fds the library
//! owns, and an eventfd inside the kernel epoll fd through which engine wake-ups reach
//! a thread sleeping in the kernel.
//!
//! `Instance` owns all of it, as mio's `Selector` owns its epoll fd: its fields are
//! private, and the rest of the library goes through its methods. The paths of an
//! instance with both engine and kernel items live next to it, one per file:
//! `ctl.rs` (routing `epoll_ctl`), `wait.rs` with `deadline.rs` (the wait loop and its
//! timeout) and `collect.rs` (non-blocking looks at both sources).

use crate::engine::sync::plain::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::atomic::{AtomicU16, AtomicU8};
use std::sync::Arc;

use libc::epoll_event;

use super::openfile::OpenFile;
use super::parking::{is_disarmed, Parking};
use super::table::{self, Entry, Table, MAX_FDS};
use crate::engine::stats::STATS;
use crate::engine::sync::{Mutex, MutexGuard};
use crate::engine::trace::{
    self, Record, Why, KIND_KERNEL_ONLY, KIND_PROMOTE, PROMOTE_CHILD_EXEC, PROMOTE_CHILD_EXIT,
};
use crate::engine::{CtlError, EpFile, EventPoll, EventSink, Fault, Variant, Waker};
use crate::sys::{syscall, user, Errno};

/// The `data` of the wake-up eventfd's registration in the kernel epoll fd. Events with
/// it are the library's own and are never shown to the program.
pub const WAKE_MARKER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Wrap the program's new kernel epoll fd `kfd` (or -1) in an instance. When that
/// cannot be done (a number past the table, fd exhaustion, re-entry) the kernel serves
/// the instance alone, which is always correct.
pub fn adopt(kfd: i32, variant: Variant) {
    if kfd < 0 || kfd as usize >= MAX_FDS {
        return;
    }
    let Some(mut gate) = table::enter_mut() else {
        return;
    };
    if let Some((inst, efd)) = Instance::create(kfd, variant) {
        super::install(&mut gate, kfd, Entry::Epoll(inst));
        super::install(&mut gate, efd, Entry::Internal);
    }
}

/// Raises and lowers an instance's wake-up eventfd.
///
/// The eventfd starts registered edge-triggered: each raise (a write) is one edge that
/// wakes one kernel sleeper, and the sleeper's wait consumes it, so lowering needs no
/// read. A stale edge (raised, then the items were taken by a transfer) costs at most
/// one spurious return from the kernel sleep, which the wait loop absorbs. Watchers
/// that look at the epoll fd's level (an outer epoll, poll()) need the signal to fall
/// when nothing is ready: the first of them switches the instance to a
/// level-triggered registration for good (`Instance::level_wakeups`), and from then on
/// `lower` reads the eventfd back to zero.
struct EventfdWaker {
    fd: Arc<AtomicI32>,
    level: Arc<AtomicBool>,
}

impl Waker for EventfdWaker {
    fn raise(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the library's own eventfd. A
        // failure (a counter at its maximum) leaves the signal raised anyway.
        let _ = unsafe {
            syscall!(write(
                self.fd.load(Ordering::Relaxed),
                &one as *const u64 as *const _,
                8
            ))
        };
        // What a write does from here runs while the sleeper wakes (`spans`).
        crate::sys::spans::mark(crate::sys::spans::Kind::Write);
    }

    fn lower(&self) {
        if !self.level.load(Ordering::SeqCst) {
            return; // edge-triggered: the kernel sleeper consumed the edge
        }
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from the library's own non-blocking
        // eventfd (EAGAIN when it is already low, which is the goal).
        let _ = unsafe {
            syscall!(read(
                self.fd.load(Ordering::Relaxed),
                &mut value as *mut u64 as *mut _,
                8
            ))
        };
    }
}

/// One epoll instance.
pub struct Instance {
    ep: Arc<EventPoll>,
    /// The wake-up eventfd (moves if the program dup2()s over its number).
    wake_fd: Arc<AtomicI32>,
    /// One fd number of the kernel epoll fd, for the library's own kernel calls.
    any_fd: AtomicI32,
    /// fd numbers referring to the instance (under the table's write lock).
    fd_refs: AtomicUsize,
    /// Registrations the program made in the kernel epoll fd (may overcount: the kernel
    /// drops closed files silently). While zero, waits make no epoll syscall.
    kernel_items: AtomicUsize,
    /// Everything goes to the kernel: the instance is shared with another process.
    kernel_only: AtomicBool,
    /// Why it became kernel-only (`Why as u8`), once it is.
    kernel_only_why: AtomicU8,
    /// `PROMOTE_CHILD_EXEC` or `PROMOTE_CHILD_EXIT`: how the last child that let go of
    /// the instance ended (`note_child_ended`), for the `promote` trace record.
    last_child_end: AtomicU16,
    /// Kernel-only for good: shared in a way no child reports on (a raw syscall, fd
    /// passing, a spawn, a number past the table, an untracked child).
    kernel_only_for_good: AtomicBool,
    /// Tracked fork children that may still reach the instance (`children.rs`); while
    /// non-zero the instance is kernel-only. Changed under the table's write lock.
    shared: AtomicUsize,
    /// Threads inside a wait or an `epoll_ctl` that a kernel-only instance forwarded
    /// to the kernel: a promotion waits until none is left, because engine wake-ups
    /// would not reach such a wait, and such a ctl may register a served file in the
    /// kernel epoll fd after the promotion looked there (`promote.rs`).
    forwarded_waits: AtomicUsize,
    /// `epoll_ctl` calls routed to the kernel epoll fd inside the gate and not yet
    /// answered; a file promotion waits for none to be left (`filepromo.rs`).
    kernel_ctls: AtomicUsize,
    /// A file promotion waits for `kernel_ctls`: the last one to end asks for a retry.
    file_promotion_waits: AtomicBool,
    /// A promotion waits for the forwarded waits to end: the last one to end asks
    /// for a retry (`children::retry_promotions`).
    promotion_waits: AtomicBool,
    /// Alternates which source a wait collects first, so neither starves the other.
    turn: AtomicBool,
    /// Outer instances (or pollers) that watch this one through the kernel.
    nested_watchers: AtomicUsize,
    /// The wake-up eventfd is registered level-triggered (see `EventfdWaker`).
    wake_level: Arc<AtomicBool>,
    /// Disarmed ONESHOT items that demotion parked (`parking.rs`). Taken only inside
    /// the gate.
    parking: Mutex<Parking>,
    /// Something was parked once: kernel-path `epoll_ctl` calls consult `parking`.
    parked: AtomicBool,
}

impl Instance {
    /// Wrap a fresh kernel epoll fd. Returns `None` when the wake-up eventfd cannot be
    /// made (fd exhaustion): the caller then leaves the instance to the kernel alone.
    pub fn create(kfd: i32, variant: Variant) -> Option<(Arc<Self>, i32)> {
        // SAFETY: plain eventfd creation.
        let efd = unsafe { syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)) }.ok()?;
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE_MARKER,
        };
        // SAFETY: registers our eventfd in our kernel epoll fd with a valid event.
        if unsafe { syscall!(epoll_ctl(kfd, libc::EPOLL_CTL_ADD, efd, &mut ev)) }.is_err() {
            // SAFETY: closing the eventfd we just made.
            let _ = unsafe { syscall!(close(efd)) };
            return None;
        }
        let wake_fd = Arc::new(AtomicI32::new(efd));
        let wake_level = Arc::new(AtomicBool::new(false));
        let waker = Box::new(EventfdWaker {
            fd: Arc::clone(&wake_fd),
            level: Arc::clone(&wake_level),
        });
        let inst = Arc::new(Instance {
            ep: EventPoll::new(waker, variant),
            wake_fd,
            any_fd: AtomicI32::new(kfd),
            fd_refs: AtomicUsize::new(1),
            kernel_items: AtomicUsize::new(0),
            kernel_only: AtomicBool::new(false),
            kernel_only_why: AtomicU8::new(0),
            last_child_end: AtomicU16::new(0),
            kernel_only_for_good: AtomicBool::new(false),
            shared: AtomicUsize::new(0),
            forwarded_waits: AtomicUsize::new(0),
            kernel_ctls: AtomicUsize::new(0),
            file_promotion_waits: AtomicBool::new(false),
            promotion_waits: AtomicBool::new(false),
            turn: AtomicBool::new(false),
            nested_watchers: AtomicUsize::new(0),
            wake_level,
            parking: Mutex::new(Parking::default()),
            parked: AtomicBool::new(false),
        });
        Some((inst, efd))
    }

    /// The last fd of the instance was closed: free the engine side, the eventfd and
    /// the parking fd (the caller removes their table entries).
    pub fn released(&self) {
        if self.is_kernel_only() {
            if let Some(why) = Why::from_sub(self.kernel_only_why.load(Ordering::Relaxed)) {
                STATS.kernel_only_ended(why);
            }
        }
        self.ep.free();
        self.parking.lock().close();
        // SAFETY: the eventfd is the library's own and nobody uses it any more.
        let _ = unsafe { syscall!(close(self.wake_fd.load(Ordering::Relaxed))) };
    }

    /// Register in the kernel epoll fd, as the library does for demoted items.
    pub fn kernel_add(&self, fd: i32, events: u32, data: u64) -> bool {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: valid event, fds checked by the kernel.
        let ok = unsafe {
            syscall!(epoll_ctl(
                self.any_fd.load(Ordering::Relaxed),
                libc::EPOLL_CTL_ADD,
                fd,
                &mut ev
            ))
        }
        .is_ok();
        if ok {
            self.kernel_item_added();
        }
        ok
    }

    /// Demotion of the item `(fd, events, data)`: a ONESHOT item that already fired is
    /// parked (`parking.rs`), every other one goes into the kernel epoll fd. `table`
    /// is held exclusively.
    pub fn demoted_item(&self, table: &mut Table, fd: i32, events: u32, data: u64) {
        if is_disarmed(events) && self.parking.lock().park(table, fd, events, data) {
            self.parked.store(true, Ordering::Relaxed);
            return;
        }
        self.kernel_add(fd, events, data);
    }

    /// True when the program registered kernel-served fds worth a non-blocking look.
    pub fn has_kernel_items(&self) -> bool {
        self.kernel_items.load(Ordering::Relaxed) != 0
    }

    /// Lower the wake-up signal if nothing is ready (after a poll() on the instance).
    pub fn settle(&self) {
        self.ep.settle();
    }

    /// Something is about to look at the kernel epoll fd's level (an outer epoll, or
    /// poll()): make the wake-up signal level-triggered, for good. The registration
    /// changes first, then the eventfd's accumulated count is read back to zero and
    /// the signal re-raised if items are ready (`EventPoll::resync_waker`).
    pub fn level_wakeups(&self) {
        if self.wake_level.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_MARKER,
        };
        // SAFETY: changes our own eventfd's registration in our kernel epoll fd.
        let _ = unsafe {
            syscall!(epoll_ctl(
                self.any_fd.load(Ordering::Relaxed),
                libc::EPOLL_CTL_MOD,
                self.wake_fd.load(Ordering::Relaxed),
                &mut ev
            ))
        };
        self.ep.resync_waker();
    }

    /// True once the wake-up eventfd is registered level-triggered (`level_wakeups`).
    pub(super) fn has_level_wakeups(&self) -> bool {
        self.wake_level.load(Ordering::SeqCst)
    }

    /// Drop the engine's ready-list entries that are no longer ready from its head, up
    /// to the first ready one, and lower the wake-up signal if none is left
    /// (`EventPoll::prune_head`). Inside the gate.
    pub(super) fn prune_engine_head(&self) {
        self.ep.prune_head();
    }

    /// Add a watcher through the kernel (an outer epoll, or a poller).
    pub fn watch_from_kernel(&self) {
        self.level_wakeups();
        self.nested_watchers.fetch_add(1, Ordering::SeqCst);
        self.ep.add_kernel_watcher();
    }

    pub fn unwatch_from_kernel(&self) {
        if self
            .nested_watchers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.ep.remove_kernel_watcher();
        }
    }

    /// The instance's engine-side `epoll_ctl` of a served `file` (the kernel's order
    /// of checks before it is the caller's: `ctl.rs`).
    pub(super) fn ep_ctl(
        &self,
        op: i32,
        file: &Arc<OpenFile>,
        fd: i32,
        event: (u32, u64),
        max_watches: usize,
    ) -> Result<(), Errno> {
        self.ep.ctl(op, file, fd, event, max_watches).map_err(|e| {
            Errno(match e {
                CtlError::Exists => libc::EEXIST,
                CtlError::NotFound => libc::ENOENT,
                CtlError::Invalid => libc::EINVAL,
                CtlError::NoSpace => libc::ENOSPC,
            })
        })
    }

    /// The engine's transfer (`ep_send_events`) into `len` entries of the program's
    /// buffer at `events`.
    #[inline]
    pub(super) fn transfer(&self, events: *mut epoll_event, len: usize) -> Result<usize, Fault> {
        let mut sink = UserEvents::new(events, len);
        self.ep.send_events(&mut sink, len)
    }

    /// True when the engine's ready list is not empty (no transfer).
    pub(super) fn engine_has_ready(&self) -> bool {
        self.ep.has_ready()
    }

    /// The engine's `ep_events_available`, without its ready lock: false when a
    /// transfer would answer 0 at once (`EventPoll::events_available`).
    #[inline(always)]
    pub(super) fn engine_events_available(&self) -> bool {
        self.ep.events_available()
    }

    /// Before a kernel sleep: false when engine items are ready (collect instead).
    /// A waiter that will sleep records its CPU, for the raise ahead of a write
    /// (`EventPoll::note_sleeper_cpu`): after its announcement, whose read-modify-write
    /// has just taken the line, and only when it sleeps. Recorded before it, on every
    /// announcement, it cost the 2-thread churn, whose waiters announce often and
    /// rarely sleep, about 2% more CPU per event.
    pub(super) fn prepare_sleep(&self) -> bool {
        let sleeps = self.ep.prepare_sleep();
        if sleeps {
            self.ep.note_sleeper_cpu(crate::sys::current_cpu());
        }
        sleeps
    }

    /// After a kernel sleep; `signalled` when the wake-up eventfd fired.
    pub(super) fn finish_sleep(&self, signalled: bool) {
        self.ep.finish_sleep(signalled)
    }

    /// After a kernel sleep that brought no kernel event, on an instance with engine
    /// items only: `finish_sleep` and the transfer into `events[..len]` in one go.
    pub(super) fn finish_sleep_and_transfer(
        &self,
        signalled: bool,
        events: *mut epoll_event,
        len: usize,
    ) -> Result<usize, Fault> {
        let mut sink = UserEvents::new(events, len);
        self.ep.finish_sleep_and_send(signalled, &mut sink, len)
    }

    /// Demotion: the engine hands over its items of `file` as (fd, events, data).
    pub(super) fn take_items_of(&self, file: &Arc<dyn EpFile>) -> Vec<(i32, u32, u64)> {
        self.ep.take_items_of(file)
    }

    /// True once the instance is the kernel's alone (shared with another process).
    #[inline]
    pub fn is_kernel_only(&self) -> bool {
        self.kernel_only.load(Ordering::SeqCst)
    }

    /// Hand the instance to the kernel for good (a raw syscall on it, a number past the
    /// table, a spawned child, a child the library cannot track), for `why`: counted
    /// (`UEPOLL_STATS`) and recorded (`UEPOLL_TRACE`) when it was served until now.
    pub fn make_kernel_only(&self, why: Why) {
        self.kernel_only_for_good.store(true, Ordering::SeqCst);
        self.become_kernel_only(why);
    }

    /// The instance goes to the kernel (for good or while shared with a tracked child):
    /// counted and recorded the first time only, until a promotion.
    fn become_kernel_only(&self, why: Why) {
        if self.kernel_only.swap(true, Ordering::SeqCst) {
            return;
        }
        self.kernel_only_why.store(why as u8, Ordering::Relaxed);
        STATS.kernel_only_began(why);
        if trace::on() {
            trace::record(Record {
                kind: KIND_KERNEL_ONLY,
                sub: why as u8,
                a: self.any_fd() as u32,
                g: trace::instance_id(&self.ep),
                ..Record::default()
            });
        }
    }

    /// A tracked fork child gets the instance (`children.rs`): kernel-only until every
    /// such child has exec'd or exited without keeping it. Under the table's write
    /// lock.
    pub fn share_with_child(&self) {
        self.shared.fetch_add(1, Ordering::SeqCst);
        self.become_kernel_only(Why::Fork);
    }

    /// A tracked child can no longer reach the instance; true when it was the last.
    /// Under the table's write lock.
    /// How the last child that let go of the instance ended (for the `promote` trace
    /// record): exited, or exec'd. Under the table's write lock.
    pub fn note_child_ended(&self, exited: bool) {
        let cause = if exited {
            PROMOTE_CHILD_EXIT
        } else {
            PROMOTE_CHILD_EXEC
        };
        self.last_child_end.store(cause, Ordering::Relaxed);
    }

    pub fn child_let_go(&self) -> bool {
        self.shared
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            == Ok(1)
    }

    /// True when only tracked children made the instance kernel-only, and none of them
    /// can reach it any more: it may be served again (`promote.rs`).
    pub fn may_promote(&self) -> bool {
        self.kernel_only.load(Ordering::SeqCst)
            && !self.kernel_only_for_good.load(Ordering::SeqCst)
            && self.shared.load(Ordering::SeqCst) == 0
    }

    /// Serve the instance again (`promote.rs`), under the table's write lock.
    pub(super) fn promoted(&self, kernel_items: usize) {
        self.kernel_items.store(kernel_items, Ordering::Relaxed);
        if !self.kernel_only.swap(false, Ordering::SeqCst) {
            return;
        }
        let why = Why::from_sub(self.kernel_only_why.load(Ordering::Relaxed));
        if let Some(why) = why {
            STATS.kernel_only_ended(why);
        }
        if trace::on() {
            trace::record(Record {
                kind: KIND_PROMOTE,
                sub: why.unwrap_or(Why::Fork) as u8,
                flags: self.last_child_end.load(Ordering::Relaxed),
                a: self.any_fd() as u32,
                g: trace::instance_id(&self.ep),
                ..Record::default()
            });
        }
    }

    /// A wait or ctl on the kernel-only instance goes to the kernel; called inside the
    /// gate.
    pub(super) fn forward_begins(&self) {
        self.forwarded_waits.fetch_add(1, Ordering::SeqCst);
    }

    /// An `epoll_ctl` goes to the kernel epoll fd; called inside the gate.
    pub(super) fn kernel_ctl_begins(&self) {
        self.kernel_ctls.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn kernel_ctl_ends(&self) {
        if self.kernel_ctls.fetch_sub(1, Ordering::SeqCst) == 1
            && self.file_promotion_waits.load(Ordering::SeqCst)
        {
            super::children::retry_promotions();
        }
    }

    /// `epoll_ctl` calls on their way to the kernel right now; a file promotion waits
    /// for them (the last one to end asks for a retry). Under the table's write lock.
    pub(super) fn kernel_ctls_in_flight(&self) -> usize {
        self.file_promotion_waits.store(true, Ordering::SeqCst);
        let n = self.kernel_ctls.load(Ordering::SeqCst);
        if n == 0 {
            self.file_promotion_waits.store(false, Ordering::SeqCst);
        }
        n
    }

    pub(super) fn forward_ends(&self) {
        if self.forwarded_waits.fetch_sub(1, Ordering::SeqCst) == 1
            && self.promotion_waits.load(Ordering::SeqCst)
        {
            super::children::retry_promotions();
        }
    }

    /// Threads in a forwarded wait or ctl right now; with `waiting`, a promotion
    /// waits for them (the last one to end asks for a retry). Under the table's write
    /// lock.
    pub(super) fn forwarded_waits(&self, waiting: bool) -> usize {
        self.promotion_waits.store(waiting, Ordering::SeqCst);
        let n = self.forwarded_waits.load(Ordering::SeqCst);
        if n == 0 {
            self.promotion_waits.store(false, Ordering::SeqCst);
        }
        n
    }

    /// The wake-up eventfd's number.
    pub(super) fn wake_fd(&self) -> i32 {
        self.wake_fd.load(Ordering::Relaxed)
    }

    /// The program registered a kernel-served fd in the kernel epoll fd.
    pub(super) fn kernel_item_added(&self) {
        self.kernel_items.fetch_add(1, Ordering::Relaxed);
    }

    /// The program removed one.
    pub(super) fn kernel_item_removed(&self) {
        let _ = self
            .kernel_items
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Which source a wait collects first this time: alternates, so neither starves.
    pub(super) fn kernel_first_turn(&self) -> bool {
        self.turn.fetch_xor(true, Ordering::Relaxed)
    }

    /// Something was parked once, so kernel-path `epoll_ctl` calls consult the parking.
    pub(super) fn has_parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// The parked items, taken only inside the gate.
    pub(super) fn parking(&self) -> MutexGuard<'_, Parking> {
        self.parking.lock()
    }

    /// One fd number of the kernel epoll fd.
    pub fn any_fd(&self) -> i32 {
        self.any_fd.load(Ordering::Relaxed)
    }

    /// Another number of the instance becomes the one the library uses.
    pub(super) fn set_any_fd(&self, fd: i32) {
        self.any_fd.store(fd, Ordering::Relaxed);
    }

    /// One more fd number refers to the instance (`dup`), under the table's write lock.
    pub(super) fn add_ref(&self) {
        self.fd_refs.fetch_add(1, Ordering::SeqCst);
    }

    /// One fd number less; true when it was the last.
    pub(super) fn drop_ref(&self) -> bool {
        self.fd_refs.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// The library's own fds of the instance: the wake-up eventfd, and the parking fd
    /// if one was made.
    pub(super) fn internal_fds(&self) -> (i32, Option<i32>) {
        (
            self.wake_fd.load(Ordering::Relaxed),
            self.parking.lock().fd(),
        )
    }

    /// The program is about to reuse number `from`: a library fd of the instance that
    /// sits there now lives at `to`.
    pub fn internal_moved(&self, from: i32, to: i32) {
        if self.wake_fd.load(Ordering::Relaxed) == from {
            self.wake_fd.store(to, Ordering::Relaxed);
        }
        self.parking.lock().moved(from, to);
    }

    /// poll(), select() or a trace watch the instance's level for a while.
    pub fn add_observer(&self) {
        self.ep.add_observer();
    }

    pub fn remove_observer(&self) {
        self.ep.remove_observer();
    }

    /// The instance's id in trace records.
    pub fn trace_id(&self) -> u64 {
        crate::engine::trace::instance_id(&self.ep)
    }
}

/// The program's event buffer as the engine's sink: `len` entries at `ptr`; `len` is 0
/// when the range is not in user space, so that one bounds check per event is the
/// whole of `access_ok` (the first copy then fails: EFAULT).
struct UserEvents {
    ptr: *mut epoll_event,
    len: usize,
}

impl UserEvents {
    fn new(ptr: *mut epoll_event, len: usize) -> Self {
        let usable = user::access_ok(
            ptr as *const u8,
            len.saturating_mul(std::mem::size_of::<epoll_event>()),
        );
        UserEvents {
            ptr,
            len: if usable { len } else { 0 },
        }
    }
}

impl EventSink for UserEvents {
    #[inline]
    fn put(&mut self, index: usize, events: u32, data: u64) -> Result<(), Fault> {
        if index >= self.len {
            return Err(Fault);
        }
        // SAFETY: index < len, inside the program's buffer whose range `access_ok`
        // passed; a fault in either store is EFAULT for this event.
        if unsafe { user::put_event(self.ptr.wrapping_add(index), events, data) } {
            Ok(())
        } else {
            Err(Fault)
        }
    }
}
