//! Where the host has put the first two CPUs this process may use, relative to each
//! other, measured from inside: the round trip of one cache line between a thread
//! pinned to each (the same probe as `c-tests/bench-placement.c`, which `make bench`
//! runs).
//!
//! Why `uepoll ab` cares: on a shared VM the host moves its vCPUs. On the 2-vCPU EPYC
//! of `docs/benchmarks.md` the round trip is about 55 to 90 ns in one placement and
//! 330 to 390 ns in the other, it changes every few seconds to minutes, and in the far
//! placement every program whose threads share cache lines runs up to twice as slowly,
//! on the kernel's epoll and under uepoll alike ("The two states of this machine"). A
//! round whose runs saw different placements compares the host, not the engines, so
//! `uepoll ab` probes before each round and after each run, and runs such a round again
//! (`--placement-tries`); one that still saw a move at the last attempt counts, and the
//! report says how many did.
//!
//! The probe's threads are its own: the thread that forks the program is never
//! pinned, so the program inherits the affinity `uepoll` was given.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Round trips per burst, bursts per probe: about 2.5 ms near and 13 ms far on the
/// EPYC VM.
const ROUND_TRIPS: u64 = 5_000;
const BURSTS: usize = 7;
/// A burst that takes longer (a probe thread preempted) ends there and counts what it
/// did; the probe gives up after `PROBE_CAP`.
const BURST_CAP: Duration = Duration::from_millis(50);
const PROBE_CAP: Duration = Duration::from_secs(1);

/// Two placements differ when one round trip is more than this many times the other.
pub const MOVED_FACTOR: f64 = 2.0;

/// The line that crosses between the two CPUs, and nothing else on it.
#[repr(align(64))]
struct Line(AtomicU64);

/// The first two CPUs of this process's affinity mask, if it has two.
pub fn cpus() -> Option<(usize, usize)> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live, writable cpu_set_t of the size passed; pid 0 is this
    // thread.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return None;
    }
    let mut found = (0..libc::CPU_SETSIZE as usize).filter(|&c| {
        // SAFETY: c < CPU_SETSIZE, the bound of the set's bit array.
        unsafe { libc::CPU_ISSET(c, &set) }
    });
    Some((found.next()?, found.next()?))
}

/// Pins the calling thread (a probe thread, never the one that forks) to `cpu`.
fn pin(cpu: usize) -> bool {
    // SAFETY: as in cpus().
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu < CPU_SETSIZE (it came from cpus()); `set` is a live cpu_set_t.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live cpu_set_t of the size passed; pid 0 is this thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// One probe: the median burst's ns per round trip, or None when the process has
/// fewer than two CPUs, a probe thread could not be pinned, or no round trip
/// completed.
pub fn probe() -> Option<f64> {
    let (a, b) = cpus()?;
    let line = Line(AtomicU64::new(0));
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let answer = s.spawn(|| {
            if !pin(b) {
                return false;
            }
            // Answers every odd number with the next even one.
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                let v = line.0.load(Ordering::Acquire);
                if v != seen && v & 1 == 1 {
                    line.0.store(v + 1, Ordering::Release);
                    seen = v + 1;
                }
                std::hint::spin_loop();
            }
            true
        });
        let ask = s.spawn(|| {
            if !pin(a) {
                return None;
            }
            let start = Instant::now();
            // The first burst warms up: both threads running, the line in play.
            burst(&line, ROUND_TRIPS / 10 + 1);
            let mut per: Vec<f64> = Vec::with_capacity(BURSTS);
            while per.len() < BURSTS && start.elapsed() < PROBE_CAP {
                match burst(&line, ROUND_TRIPS) {
                    Some(ns) => per.push(ns),
                    None => break,
                }
            }
            (!per.is_empty()).then(|| super::stats::median(&per))
        });
        let got = ask.join().unwrap_or(None);
        done.store(true, Ordering::Relaxed);
        let pinned = answer.join().unwrap_or(false);
        got.filter(|_| pinned)
    })
}

/// Up to `n` round trips; ns per round trip, None if none completed within the cap.
fn burst(line: &Line, n: u64) -> Option<f64> {
    let start = Instant::now();
    let mut k = 0;
    'trips: while k < n {
        let v = line.0.load(Ordering::Relaxed) + 1;
        line.0.store(v, Ordering::Release);
        let mut spins: u32 = 0;
        while line.0.load(Ordering::Acquire) != v + 1 {
            spins = spins.wrapping_add(1);
            // The clock every 4096 spins only: a far round trip is a few hundred ns.
            if spins.is_multiple_of(4096) && start.elapsed() > BURST_CAP {
                break 'trips;
            }
            std::hint::spin_loop();
        }
        k += 1;
    }
    (k > 0).then(|| start.elapsed().as_nanos() as f64 / k as f64)
}

/// Whether a round's probes saw two placements: all measured, and the largest more
/// than `MOVED_FACTOR` times the smallest.
pub fn moved(probes: &[Option<f64>]) -> bool {
    let v: Option<Vec<f64>> = probes.iter().copied().collect();
    match v {
        Some(v) if v.len() >= 2 => {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            hi > MOVED_FACTOR * lo
        }
        _ => false,
    }
}

/// What becomes of a round once its runs and probes are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Its figures count.
    Keep,
    /// The host moved its CPUs during it: its figures are dropped and it runs again.
    Again,
    /// Moved, and this was the last attempt: its figures count, and the report names
    /// the round (the figures are never dropped without a replacement).
    KeepMoved,
}

/// A counted round whose probes saw two placements runs again while attempts are
/// left; a warm-up round is never judged, and a round with a failed run is kept as
/// it is (a failure is not the host's doing, and must be reported).
pub fn decide(
    counted: bool,
    probes: &[Option<f64>],
    failed: bool,
    attempt: u32,
    tries: u32,
) -> Round {
    if !counted || failed || !moved(probes) {
        Round::Keep
    } else if attempt < tries {
        Round::Again
    } else {
        Round::KeepMoved
    }
}

/// What the probes of a whole `uepoll ab` saw, for its report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Every probe's ns per round trip, of every attempt.
    pub probes: Vec<f64>,
    /// Counted rounds run again because their probes saw two placements.
    pub reruns: u32,
    /// Counted rounds that still saw two placements at the last attempt (counted).
    pub mixed: u32,
}

impl Summary {
    pub fn add(&mut self, probes: &[Option<f64>]) {
        self.probes.extend(probes.iter().flatten());
    }

    /// The probes near (at most `MOVED_FACTOR` times the nearest) and far: count and
    /// median of each.
    pub fn split(&self) -> ((usize, f64), (usize, f64)) {
        let lo = self.probes.iter().copied().fold(f64::INFINITY, f64::min);
        let (near, far): (Vec<f64>, Vec<f64>) =
            self.probes.iter().partition(|&&p| p <= MOVED_FACTOR * lo);
        let med = |v: &[f64]| super::stats::median(v);
        ((near.len(), med(&near)), (far.len(), med(&far)))
    }

    /// The report's line, without its indent; None when nothing was probed.
    pub fn text(&self, tries: u32) -> Option<String> {
        if self.probes.is_empty() {
            return None;
        }
        let ((nn, mn), (nf, mf)) = self.split();
        // Near and far are relative to the nearest probe: with one group there is
        // nothing to call far, and nothing to call near either.
        let groups = if nf == 0 {
            format!("all in one placement ({mn:.0} ns)")
        } else {
            format!("{nn} near ({mn:.0} ns), {nf} far ({mf:.0} ns)")
        };
        let rounds = |n: u32| if n == 1 { "round" } else { "rounds" };
        let mut s = format!(
            "host CPUs: {} probes of a cache line's round trip between the first two, {groups}",
            self.probes.len()
        );
        match self.reruns {
            0 if tries > 1 => s.push_str("; no round run again"),
            0 => {}
            n => s.push_str(&format!(
                "; {n} {} run again (the host moved the CPUs during {})",
                rounds(n),
                if n == 1 { "it" } else { "them" }
            )),
        }
        if self.mixed > 0 {
            s.push_str(&format!(
                "; {} {} still moved at the last of {tries} attempt{} (counted: {} figures compare the host as much as the engines)",
                self.mixed,
                rounds(self.mixed),
                if tries == 1 { "" } else { "s" },
                if self.mixed == 1 { "its" } else { "their" }
            ));
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_moved_only_when_two_probes_differ_by_more_than_twice() {
        assert!(!moved(&[Some(55.0), Some(60.0), Some(90.0)]));
        assert!(moved(&[Some(55.0), Some(350.0), Some(60.0)]));
        assert!(
            !moved(&[Some(55.0), Some(110.0)]),
            "exactly twice is one placement"
        );
        assert!(moved(&[Some(55.0), Some(110.1)]));
        // A probe that could not measure says nothing.
        assert!(!moved(&[Some(55.0), None, Some(350.0)]));
        assert!(!moved(&[Some(55.0)]));
        assert!(!moved(&[]));
    }

    #[test]
    fn a_moved_counted_round_runs_again_until_its_last_attempt() {
        let near = [Some(55.0), Some(60.0), Some(58.0)];
        let moved = [Some(55.0), Some(350.0), Some(58.0)];
        assert_eq!(decide(true, &near, false, 1, 3), Round::Keep);
        assert_eq!(decide(true, &moved, false, 1, 3), Round::Again);
        assert_eq!(decide(true, &moved, false, 2, 3), Round::Again);
        assert_eq!(decide(true, &moved, false, 3, 3), Round::KeepMoved);
        assert_eq!(
            decide(true, &moved, false, 1, 1),
            Round::KeepMoved,
            "one attempt: flagged only"
        );
        assert_eq!(
            decide(false, &moved, false, 1, 3),
            Round::Keep,
            "warm-up rounds are not judged"
        );
        assert_eq!(
            decide(true, &moved, true, 1, 3),
            Round::Keep,
            "a failed run is reported, not rerun"
        );
        assert_eq!(
            decide(true, &[None, None], false, 1, 3),
            Round::Keep,
            "not probed"
        );
    }

    #[test]
    fn summary_splits_near_and_far_from_the_nearest_probe() {
        let mut s = Summary::default();
        s.add(&[Some(58.0), Some(60.0), None, Some(344.0)]);
        s.add(&[Some(56.0), Some(350.0), Some(338.0)]);
        s.reruns = 1;
        let ((nn, mn), (nf, mf)) = s.split();
        assert_eq!((nn, nf), (3, 3));
        assert_eq!((mn, mf), (58.0, 344.0));
        let text = s.text(3).unwrap();
        assert!(text.contains("6 probes"), "{text}");
        assert!(text.contains("3 near (58 ns), 3 far (344 ns)"), "{text}");
        assert!(
            text.contains("; 1 round run again (the host moved the CPUs during it)"),
            "{text}"
        );
        assert!(!text.contains("still moved"), "{text}");
        s.mixed = 2;
        assert!(s
            .text(3)
            .unwrap()
            .contains("; 2 rounds still moved at the last of 3 attempts (counted"));
        assert_eq!(Summary::default().text(3), None);
        s.reruns = 0;
        s.mixed = 0;
        assert!(s.text(3).unwrap().ends_with("; no round run again"));
        assert!(
            s.text(1).unwrap().ends_with("3 far (344 ns)"),
            "one attempt: nothing to say of reruns"
        );
        let mut one = Summary::default();
        one.add(&[Some(343.0), Some(330.0), Some(350.0)]);
        let text = one.text(3).unwrap();
        assert!(
            text.ends_with("3 probes of a cache line's round trip between the first two, all in one placement (343 ns); no round run again"),
            "{text}"
        );
    }

    #[test]
    fn probe_measures_a_round_trip_on_two_cpus_and_leaves_the_caller_unpinned() {
        let before = cpus();
        let p = probe();
        match before {
            // One CPU: nothing crosses.
            None => assert_eq!(p, None),
            Some(_) => {
                let ns = p.expect("a probe on two CPUs measures");
                // A round trip between two CPUs takes at least a few ns and, even on
                // a far placement of a loaded host, well under the burst cap.
                assert!(ns > 1.0 && ns < 5_000_000.0, "{ns}");
            }
        }
        assert_eq!(cpus(), before, "the calling thread's affinity is unchanged");
    }
}
