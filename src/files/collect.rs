//! Non-blocking looks at both sources of an instance with engine and kernel items:
//! the engine's transfer and a zero-timeout `epoll_wait` on the kernel epoll fd,
//! alternating which goes first so neither starves the other. The library's own
//! wake-up events are stripped from what the kernel reports.
//!
//! While the wake-up eventfd is level-triggered (an outer epoll or poll() watches the
//! instance), it sits in the kernel epoll fd's ready list exactly while engine items
//! are ready, and a look at the kernel fd can return it in one of the slots. The
//! kernel goes first then, and the engine fills the slot the wake-up took: a second
//! look at the kernel fd could return a level-triggered item twice, and engine items
//! already taken by an engine-first transfer cannot be returned again.

use libc::{c_int, epoll_event};

use super::instance::{Instance, WAKE_MARKER};
use super::table;
use crate::engine::stats::STATS;
use crate::sys::user;
use crate::sys::{syscall, Errno};

impl Instance {
    /// Collect ready events without blocking from both sources into `events[..max]`.
    /// `events` is the program's buffer, range-checked by the caller.
    pub(super) fn collect(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        max: usize,
    ) -> Result<usize, Errno> {
        let kernel = self.has_kernel_items();
        let marker_in_ready_list = kernel && self.marker_may_take_a_slot();
        let kernel_first = kernel && (marker_in_ready_list || self.kernel_first_turn());
        let mut n = 0;
        let mut fault = false;
        if kernel_first {
            match self.kernel_collect(epfd, events, 0, max) {
                Ok(k) => n += k,
                Err(_) => fault = true,
            }
        }
        if n < max {
            match self.engine_collect(events, n, max) {
                Ok(k) => n += k,
                Err(_) => fault = true,
            }
        }
        if kernel && !kernel_first && n < max {
            match self.kernel_collect(epfd, events, n, max) {
                Ok(k) => n += k,
                Err(_) => fault = true,
            }
        }
        if n == 0 && fault {
            return Err(Errno(libc::EFAULT));
        }
        Ok(n)
    }

    /// Whether the wake-up eventfd can be in the kernel epoll fd's ready list, taking a
    /// slot of the kernel's look: while it is level-triggered. It is then up only while
    /// the engine has an item to put in that slot: stale entries at the head of the
    /// engine's ready list (files no longer ready, which the next transfer would drop
    /// too) are dropped first, and the eventfd is lowered when none is left
    /// (`EventPoll::prune_head`). So when the kernel's look returns the wake-up, the
    /// engine's transfer, which starts at that head, fills its slot, and the count is
    /// the kernel's.
    fn marker_may_take_a_slot(&self) -> bool {
        if !self.has_level_wakeups() {
            return false;
        }
        if let Some(_gate) = table::enter() {
            self.prune_engine_head();
        }
        true
    }

    /// The engine's transfer into `events[from..max]`.
    pub(super) fn engine_collect(
        &self,
        events: *mut epoll_event,
        from: usize,
        max: usize,
    ) -> Result<usize, ()> {
        let Some(_gate) = table::enter() else {
            return Ok(0);
        };
        self.transfer(events.wrapping_add(from), max - from)
            .map_err(|_| ())
    }

    /// A non-blocking look at the kernel-registered fds into `events[from..max]`.
    fn kernel_collect(
        &self,
        epfd: c_int,
        events: *mut epoll_event,
        from: usize,
        max: usize,
    ) -> Result<usize, ()> {
        let at = events.wrapping_add(from);
        // SAFETY: the buffer range was checked with access_ok; the kernel faults cleanly.
        let r =
            unsafe { syscall!(epoll_wait(epfd, at, (max - from) as c_int, 0)) }.map_err(|_| ())?;
        // SAFETY: the kernel just wrote r events at `at`.
        let (n, signalled) = unsafe { strip_marker(at, r as usize) };
        if signalled {
            if let Some(_gate) = table::enter() {
                self.settle();
            }
        }
        STATS.add(&STATS.kernel_events, n as u64);
        Ok(n)
    }
}

/// Remove the library's own wake-up events from `events[..n]`, keeping order. Returns
/// the number left and whether a wake-up was seen.
///
/// The buffer is the program's: it is read and written through the fault-tolerant
/// access in `sys::user`, so a buffer another thread unmaps meanwhile ends the walk
/// (what was kept so far is returned) instead of crashing the program.
///
/// # Safety
/// The kernel just wrote `n` events at `events` (the program's buffer).
pub(super) unsafe fn strip_marker(events: *mut epoll_event, n: usize) -> (usize, bool) {
    let mut kept = 0;
    let mut seen = false;
    for i in 0..n {
        let at = events.wrapping_add(i);
        let Some((bits, data)) = user::read_event(at) else {
            break;
        };
        if data == WAKE_MARKER {
            seen = true;
            continue;
        }
        // SAFETY: kept < i < n, inside what the kernel wrote (the caller's contract).
        if kept != i && !unsafe { user::put_event(events.wrapping_add(kept), bits, data) } {
            break;
        }
        kept += 1;
    }
    (kept, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(data: u64) -> epoll_event {
        epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        }
    }

    #[test]
    fn strip_marker_removes_wakeups_and_keeps_order() {
        let mut buf = [ev(1), ev(WAKE_MARKER), ev(2), ev(3), ev(WAKE_MARKER), ev(4)];
        // SAFETY: six events written just above.
        let (n, seen) = unsafe { strip_marker(buf.as_mut_ptr(), buf.len()) };
        assert!(seen);
        let kept: Vec<u64> = buf[..n].iter().map(|e| e.u64).collect();
        assert_eq!(kept, [1, 2, 3, 4]);

        let mut plain = [ev(7), ev(8)];
        // SAFETY: two events written just above.
        let (n, seen) = unsafe { strip_marker(plain.as_mut_ptr(), plain.len()) };
        assert_eq!((n, seen), (2, false));
        assert_eq!((plain[0].u64, plain[1].u64), (7, 8));
    }
}
