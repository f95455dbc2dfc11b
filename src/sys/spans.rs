//! Where a hook's time goes: the library's own time in the hooks that carry a
//! wake-up (a served fd's read or write, an epoll wait on a served instance), apart
//! from the system calls they make. Built only with the cargo feature `spans`
//! (`make spans-lib`); without it every function here is an empty
//! `#[inline(always)]` body and the library is unchanged.
//!
//! A round trip through epoll is mostly the kernel's: the system calls, the sleep,
//! the wake-up of another CPU. Its time on this kind of host moves by several
//! percent from one run to the next, so a difference of a few hundred nanoseconds
//! in the library cannot be seen in it. This module measures the library's part
//! directly: a `Span` reads the time-stamp counter when the hook begins and ends,
//! and every system call made inside it (`syscall!`, and the hook's real libc call,
//! `Span::exclude`) is timed too and left out. What remains is the library's own
//! code: the gate, the lookups, the poll callbacks, the transfer, the cache misses
//! they take. `make bench` runs the latency benchmark on this build (the `spans`
//! side) to tell the library's own time per round trip from the kernel's.
//!
//! A write that raises a sleeper and a wait that went to the kernel's sleep are also
//! split at that point (`mark`; a wait that slept more than once, at its last sleep):
//! what such a write does after its raise, and such a wait before its sleep ended,
//! runs while the other thread's CPU wakes up, beside a round trip rather than on it
//! (`docs/benchmarks.md`, "Wake-ups: where the time goes, and the floor").
//!
//! The counts go to a slot per thread, on cache lines of its own, so that measuring
//! does not make the threads share a line the library does not share; each slot is
//! written by its thread only. Printed at exit with `UEPOLL_STATS=1` (`report`),
//! in nanoseconds, converted with the counter's rate measured between the first span
//! and the report, less what the measurement itself costs (`overhead`, timed at
//! report time on a span with one empty system call inside).

/// The hooks measured, in the order of `report`'s lines.
#[derive(Clone, Copy)]
pub enum Kind {
    /// `read` and its family on a served fd (`preload/io.rs:io_served`).
    Read,
    /// `write` and its family on a served fd.
    Write,
    /// `epoll_wait` and its family on a served instance (`files/wait.rs:epoll_wait`).
    Wait,
}

#[cfg(feature = "spans")]
pub use imp::{mark, report, syscall_begin, syscall_end, Span};
#[cfg(not(feature = "spans"))]
pub use off::{mark, report, syscall_begin, syscall_end, Span};

#[cfg(not(feature = "spans"))]
mod off {
    use super::Kind;

    /// Nothing: the feature is off.
    pub struct Span;

    impl Span {
        #[inline(always)]
        pub fn begin(_kind: Kind) -> Span {
            Span
        }
        #[inline(always)]
        pub fn exclude<R>(&self, call: impl FnOnce() -> R) -> R {
            call()
        }
        #[inline(always)]
        pub fn discard(self) {}
    }

    #[inline(always)]
    pub fn mark(_kind: Kind) {}

    #[inline(always)]
    pub fn syscall_begin() -> u64 {
        0
    }

    #[inline(always)]
    pub fn syscall_end(_begun: u64) {}

    pub fn report() -> Vec<(String, u64)> {
        Vec::new()
    }
}

#[cfg(feature = "spans")]
mod imp {
    use super::Kind;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

    /// One thread's totals per kind: calls and own cycles, and of the calls that
    /// reached their mark, how many, their own cycles and those before it. Written by its
    /// thread only (a thread beyond the last slot shares the last one, hence the
    /// `fetch_add`).
    #[repr(align(64))]
    struct Slot {
        calls: [AtomicU64; 3],
        own: [AtomicU64; 3],
        marked: [AtomicU64; 3],
        marked_own: [AtomicU64; 3],
        before: [AtomicU64; 3],
    }

    const KINDS: [(Kind, &str); 3] = [
        (Kind::Read, "read"),
        (Kind::Write, "write"),
        (Kind::Wait, "wait"),
    ];
    const SLOTS: usize = 64;
    static SLOT: [Slot; SLOTS] = [const {
        Slot {
            calls: [const { AtomicU64::new(0) }; 3],
            own: [const { AtomicU64::new(0) }; 3],
            marked: [const { AtomicU64::new(0) }; 3],
            marked_own: [const { AtomicU64::new(0) }; 3],
            before: [const { AtomicU64::new(0) }; 3],
        }
    }; SLOTS];
    static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
    /// The counter and the monotonic clock at the first span, for the rate.
    static FIRST_TSC: AtomicU64 = AtomicU64::new(0);
    static FIRST_NS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        /// This thread's slot, once it has one.
        static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
        /// The kind of the span open on this thread, if any (a hook re-entered from a
        /// signal handler inside one is not measured on its own).
        static OPEN: Cell<Option<Kind>> = const { Cell::new(None) };
        /// The counter when the open span began.
        static BEGUN: Cell<u64> = const { Cell::new(0) };
        /// Cycles of the system calls made inside the open span.
        static INNER: Cell<u64> = const { Cell::new(0) };
        /// The open span's own cycles before its last mark, if it reached one.
        static MARK: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// The time-stamp counter (elsewhere than x86-64, the monotonic clock in ns).
    #[inline(always)]
    fn tsc() -> u64 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `rdtsc` reads the time-stamp counter; it has no preconditions and
        // touches no memory.
        return unsafe { core::arch::x86_64::_rdtsc() };
        #[cfg(not(target_arch = "x86_64"))]
        return crate::sys::monotonic_ns() as u64;
    }

    /// A hook being measured: dropped at the hook's end (whichever way it returns), it
    /// adds its own cycles to the thread's slot.
    pub struct Span {
        kind: Kind,
        /// False: not measured (a span was already open on this thread), or closed.
        /// Its start is `BEGUN`, where `mark` finds it too.
        measured: bool,
    }

    impl Span {
        #[inline(always)]
        pub fn begin(kind: Kind) -> Span {
            if OPEN.with(|o| o.get()).is_some() {
                return Span {
                    kind,
                    measured: false,
                };
            }
            OPEN.with(|o| o.set(Some(kind)));
            INNER.with(|i| i.set(0));
            MARK.with(|m| m.set(None));
            let begun = tsc();
            BEGUN.with(|b| b.set(begun));
            if FIRST_TSC.load(Relaxed) == 0 {
                FIRST_NS.store(crate::sys::monotonic_ns() as u64, Relaxed);
                FIRST_TSC.store(begun, Relaxed);
            }
            Span {
                kind,
                measured: true,
            }
        }

        /// Run the hook's real call, its time left out of the span.
        #[inline(always)]
        pub fn exclude<R>(&self, call: impl FnOnce() -> R) -> R {
            let t = syscall_begin();
            let r = call();
            syscall_end(t);
            r
        }

        /// Not a call to measure after all (the fd is not served): close the span
        /// without counting it.
        #[inline(always)]
        pub fn discard(mut self) {
            if self.measured {
                self.measured = false;
                OPEN.with(|o| o.set(None));
            }
        }
    }

    impl Span {
        /// Close the span: its own cycles (`None` when it was not measured).
        #[inline(always)]
        fn finish(&mut self) -> Option<u64> {
            if !self.measured {
                return None;
            }
            let own = own_so_far();
            self.measured = false;
            OPEN.with(|o| o.set(None));
            Some(own)
        }
    }

    /// The open span's own cycles until now: since `BEGUN`, less its system calls.
    #[inline(always)]
    fn own_so_far() -> u64 {
        tsc()
            .wrapping_sub(BEGUN.with(|b| b.get()))
            .saturating_sub(INNER.with(|i| i.get()))
    }

    /// The point where the open span's work splits, if the span is of `kind`: the
    /// wait's sleep has ended, the write has raised a sleeper. Its own cycles so far are
    /// kept (the last mark counts).
    #[inline(always)]
    pub fn mark(kind: Kind) {
        if OPEN
            .with(|o| o.get())
            .is_some_and(|open| open as usize == kind as usize)
        {
            MARK.with(|m| m.set(Some(own_so_far())));
        }
    }

    impl Drop for Span {
        #[inline(always)]
        fn drop(&mut self) {
            let kind = self.kind as usize;
            if let Some(own) = self.finish() {
                let slot = &SLOT[my_slot()];
                slot.calls[kind].fetch_add(1, Relaxed);
                slot.own[kind].fetch_add(own, Relaxed);
                if let Some(before) = MARK.with(|m| m.take()) {
                    slot.marked[kind].fetch_add(1, Relaxed);
                    slot.marked_own[kind].fetch_add(own, Relaxed);
                    slot.before[kind].fetch_add(before.min(own), Relaxed);
                }
            }
        }
    }

    /// This thread's totals of `kind`: calls and own cycles (for the tests).
    #[cfg(test)]
    pub(super) fn thread_totals(kind: Kind) -> (u64, u64) {
        let slot = &SLOT[my_slot()];
        (
            slot.calls[kind as usize].load(Relaxed),
            slot.own[kind as usize].load(Relaxed),
        )
    }

    /// This thread's calls of `kind` that reached their mark, and their own cycles
    /// before it (for the tests).
    #[cfg(test)]
    pub(super) fn thread_marked(kind: Kind) -> (u64, u64) {
        let slot = &SLOT[my_slot()];
        (
            slot.marked[kind as usize].load(Relaxed),
            slot.before[kind as usize].load(Relaxed),
        )
    }

    fn my_slot() -> usize {
        MY_SLOT.with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT_SLOT.fetch_add(1, Relaxed).min(SLOTS - 1));
            }
            s.get()
        })
    }

    /// Before a system call: the counter, when a span is open (else 0).
    #[inline(always)]
    pub fn syscall_begin() -> u64 {
        if OPEN.with(|o| o.get()).is_some() {
            tsc()
        } else {
            0
        }
    }

    /// After it: its cycles go to the open span's system calls.
    #[inline(always)]
    pub fn syscall_end(begun: u64) {
        if begun != 0 {
            let spent = tsc().wrapping_sub(begun);
            INNER.with(|i| i.set(i.get() + spent));
        }
    }

    /// What one measured hook with one system call inside costs the measurement
    /// itself, in cycles: the median own time of empty spans, each around an empty
    /// call timed as a system call is, closed without being counted.
    fn overhead() -> u64 {
        let mut samples = [0u64; 255];
        for s in samples.iter_mut() {
            let mut span = Span::begin(Kind::Read);
            syscall_end(syscall_begin());
            *s = span.finish().unwrap_or(0);
        }
        samples.sort_unstable();
        samples[samples.len() / 2]
    }

    /// The totals over every thread, as `(name, value)` lines for the stats block:
    /// per kind the calls and the mean own time per call in nanoseconds (less the
    /// measurement's overhead), then the counter's rate and the overhead.
    pub fn report() -> Vec<(String, u64)> {
        let first_tsc = FIRST_TSC.load(Relaxed);
        if first_tsc == 0 {
            return Vec::new();
        }
        let overhead = overhead();
        let (tsc_now, ns_now) = (tsc(), crate::sys::monotonic_ns() as u64);
        let ns = ns_now.saturating_sub(FIRST_NS.load(Relaxed));
        let cycles = tsc_now.wrapping_sub(first_tsc);
        // The counter's rate in cycles per microsecond (MHz); 0 when too little time
        // passed to tell.
        let mhz = if ns >= 1_000_000 {
            (cycles as u128 * 1000 / ns as u128) as u64
        } else {
            0
        };
        let mut out = Vec::new();
        for (kind, name) in KINDS {
            let k = kind as usize;
            let sum = |field: fn(&Slot) -> &[AtomicU64; 3]| -> u64 {
                SLOT.iter().map(|slot| field(slot)[k].load(Relaxed)).sum()
            };
            let (calls, own) = (sum(|s| &s.calls), sum(|s| &s.own));
            let (marked, marked_own, before) = (
                sum(|s| &s.marked),
                sum(|s| &s.marked_own),
                sum(|s| &s.before),
            );
            if calls == 0 {
                continue;
            }
            let ns = |cycles: u64| (cycles * 1000).checked_div(mhz);
            out.push((format!("span_{name}_calls"), calls));
            if let Some(v) = ns((own / calls).saturating_sub(overhead)) {
                out.push((format!("span_{name}_own_ns"), v));
            }
            if marked == 0 {
                continue;
            }
            // The calls that reached their mark, split there, half the overhead taken
            // off each part.
            let (b, a) = (before / marked, marked_own.saturating_sub(before) / marked);
            out.push((format!("span_{name}_marked"), marked));
            if let (Some(b), Some(a)) = (
                ns(b.saturating_sub(overhead / 2)),
                ns(a.saturating_sub(overhead / 2)),
            ) {
                out.push((format!("span_{name}_before_mark_ns"), b));
                out.push((format!("span_{name}_after_mark_ns"), a));
            }
        }
        out.push(("span_tsc_mhz".to_string(), mhz));
        out.push(("span_overhead_cycles".to_string(), overhead));
        out
    }
}

#[cfg(all(test, feature = "spans"))]
mod tests {
    use super::imp::{thread_marked, thread_totals};
    use super::{mark, report, Kind, Span};
    use crate::sys::syscall;
    use std::time::Duration;

    /// 20 ms asleep is at least 10 million cycles on any counter of 0.5 GHz or more;
    /// the code around it, well under a million.
    const ASLEEP: u64 = 10_000_000;

    #[test]
    fn a_span_leaves_its_system_calls_out() {
        let (calls, own) = thread_totals(Kind::Read);
        {
            let _span = Span::begin(Kind::Read);
            // SAFETY: poll on no fds with a timeout only sleeps.
            let r = unsafe { syscall!(poll(std::ptr::null_mut(), 0, 20)) };
            assert_eq!(r, Ok(0));
        }
        let (calls2, own2) = thread_totals(Kind::Read);
        assert_eq!(calls2, calls + 1);
        assert!(own2 - own < ASLEEP / 10, "own cycles {}", own2 - own);
    }

    #[test]
    fn a_span_leaves_its_real_call_out() {
        let (calls, own) = thread_totals(Kind::Write);
        {
            let span = Span::begin(Kind::Write);
            span.exclude(|| std::thread::sleep(Duration::from_millis(20)));
        }
        let (calls2, own2) = thread_totals(Kind::Write);
        assert_eq!(calls2, calls + 1);
        assert!(own2 - own < ASLEEP / 10, "own cycles {}", own2 - own);
    }

    #[test]
    fn a_span_counts_the_time_outside_its_calls() {
        let (_, own) = thread_totals(Kind::Wait);
        {
            let _span = Span::begin(Kind::Wait);
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, own2) = thread_totals(Kind::Wait);
        assert!(own2 - own >= ASLEEP, "own cycles {}", own2 - own);
    }

    #[test]
    fn a_mark_splits_the_span_where_it_is_made() {
        let (marked, before) = thread_marked(Kind::Wait);
        let (_, own) = thread_totals(Kind::Wait);
        {
            let _span = Span::begin(Kind::Wait);
            std::thread::sleep(Duration::from_millis(20));
            mark(Kind::Wait);
        }
        let (marked2, before2) = thread_marked(Kind::Wait);
        let (_, own2) = thread_totals(Kind::Wait);
        assert_eq!(marked2, marked + 1);
        assert!(
            before2 - before >= ASLEEP,
            "before the mark {}",
            before2 - before
        );
        let after = (own2 - own) - (before2 - before);
        assert!(after < ASLEEP / 10, "after the mark {after}");
    }

    #[test]
    fn a_mark_of_another_kind_is_not_the_open_spans() {
        let (marked, _) = thread_marked(Kind::Read);
        {
            let _span = Span::begin(Kind::Read);
            mark(Kind::Write);
        }
        assert_eq!(thread_marked(Kind::Read).0, marked);
        mark(Kind::Read); // no span open: nothing
        assert_eq!(thread_marked(Kind::Read).0, marked);
    }

    #[test]
    fn a_discarded_span_is_not_counted_and_closes() {
        let (calls, _) = thread_totals(Kind::Read);
        Span::begin(Kind::Read).discard();
        assert_eq!(thread_totals(Kind::Read).0, calls);
        drop(Span::begin(Kind::Read));
        assert_eq!(thread_totals(Kind::Read).0, calls + 1);
    }

    #[test]
    fn a_span_opened_inside_another_is_part_of_it() {
        let (calls, _) = thread_totals(Kind::Write);
        let outer = Span::begin(Kind::Write);
        drop(Span::begin(Kind::Write));
        assert_eq!(thread_totals(Kind::Write).0, calls);
        drop(outer);
        assert_eq!(thread_totals(Kind::Write).0, calls + 1);
    }

    #[test]
    fn the_report_gives_each_kind_measured_and_the_counter_rate() {
        drop(Span::begin(Kind::Wait));
        std::thread::sleep(Duration::from_millis(2));
        let lines = report();
        let get = |name: &str| lines.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert!(get("span_wait_calls").is_some_and(|n| n >= 1), "{lines:?}");
        assert!(get("span_wait_own_ns").is_some(), "{lines:?}");
        assert!(
            get("span_tsc_mhz").is_some_and(|mhz| mhz > 100),
            "{lines:?}"
        );
    }
}
