//! An epoll instance as the program sees it: a real kernel epoll fd (so close, dup,
//! CLOEXEC, poll() and nesting work), the engine instance serving the fds the library
//! owns, and an eventfd inside the kernel epoll fd through which engine wake-ups reach
//! a thread sleeping in the kernel.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;

use super::parking::{is_disarmed, Parking};
use super::table::Table;
use crate::engine::sync::Mutex;
use crate::engine::{EventPoll, Variant, Waker};
use crate::sys::{real, ErrnoGuard};

/// The `data` of the wake-up eventfd's registration in the kernel epoll fd. Events with
/// it are the library's own and are never shown to the program.
pub const WAKE_MARKER: u64 = 0x9e37_79b9_7f4a_7c15;

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
        let _errno = ErrnoGuard::save();
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the library's own eventfd.
        unsafe {
            real::write(
                self.fd.load(Ordering::Relaxed),
                &one as *const u64 as *const _,
                8,
            )
        };
    }

    fn lower(&self) {
        if !self.level.load(Ordering::SeqCst) {
            return; // edge-triggered: the kernel sleeper consumed the edge
        }
        let _errno = ErrnoGuard::save();
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from the library's own non-blocking
        // eventfd (EAGAIN when it is already low).
        unsafe {
            real::read(
                self.fd.load(Ordering::Relaxed),
                &mut value as *mut u64 as *mut _,
                8,
            )
        };
    }
}

/// One epoll instance.
pub struct Instance {
    pub ep: Arc<EventPoll>,
    /// The wake-up eventfd (moves if the program dup2()s over its number).
    pub wake_fd: Arc<AtomicI32>,
    /// One fd number of the kernel epoll fd, for the library's own kernel calls.
    pub(crate) any_fd: AtomicI32,
    /// fd numbers referring to the instance (under the table's write lock).
    pub(crate) fd_refs: AtomicUsize,
    /// Registrations the program made in the kernel epoll fd (may overcount: the kernel
    /// drops closed files silently). While zero, waits make no epoll syscall.
    pub kernel_items: AtomicUsize,
    /// Everything goes to the kernel: the instance is shared with another process.
    pub kernel_only: AtomicBool,
    /// Alternates which source a wait collects first, so neither starves the other.
    pub turn: AtomicBool,
    /// Outer instances (or pollers) that watch this one through the kernel.
    pub nested_watchers: AtomicUsize,
    /// The wake-up eventfd is registered level-triggered (see `EventfdWaker`).
    wake_level: Arc<AtomicBool>,
    /// Disarmed ONESHOT items that demotion parked (`parking.rs`). Taken only inside
    /// the gate.
    pub(crate) parking: Mutex<Parking>,
    /// Something was parked once: kernel-path `epoll_ctl` calls consult `parking`.
    pub parked: AtomicBool,
}

impl Instance {
    /// Wrap a fresh kernel epoll fd. Returns `None` when the wake-up eventfd cannot be
    /// made (fd exhaustion): the caller then leaves the instance to the kernel alone.
    pub fn create(kfd: i32, variant: Variant) -> Option<(Arc<Self>, i32)> {
        let _errno = ErrnoGuard::save();
        // SAFETY: plain eventfd creation.
        let efd = unsafe { real::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if efd < 0 {
            return None;
        }
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE_MARKER,
        };
        // SAFETY: registers our eventfd in our kernel epoll fd with a valid event.
        if unsafe { real::epoll_ctl(kfd, libc::EPOLL_CTL_ADD, efd, &mut ev) } < 0 {
            // SAFETY: closing the eventfd we just made.
            unsafe { real::close(efd) };
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
        self.ep.free();
        self.parking.lock().close();
        let _errno = ErrnoGuard::save();
        // SAFETY: the eventfd is the library's own and nobody uses it any more.
        unsafe { real::close(self.wake_fd.load(Ordering::Relaxed)) };
    }

    /// Register in the kernel epoll fd, as the library does for demoted items.
    pub fn kernel_add(&self, fd: i32, events: u32, data: u64) -> bool {
        let _errno = ErrnoGuard::save();
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: valid event, fds checked by the kernel.
        let ok = unsafe {
            real::epoll_ctl(
                self.any_fd.load(Ordering::Relaxed),
                libc::EPOLL_CTL_ADD,
                fd,
                &mut ev,
            )
        } == 0;
        if ok {
            self.kernel_items.fetch_add(1, Ordering::Relaxed);
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
        let _errno = ErrnoGuard::save();
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_MARKER,
        };
        // SAFETY: changes our own eventfd's registration in our kernel epoll fd.
        unsafe {
            real::epoll_ctl(
                self.any_fd.load(Ordering::Relaxed),
                libc::EPOLL_CTL_MOD,
                self.wake_fd.load(Ordering::Relaxed),
                &mut ev,
            )
        };
        self.ep.resync_waker();
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
}
