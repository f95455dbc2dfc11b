//! Process-wide counters, printed at exit with `UEPOLL_STATS=1`. Relaxed atomics: they
//! are statistics, not part of the protocol, so they stay std atomics even under loom.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::trace_format::Why;

const WHYS: usize = Why::ALL.len();

/// The counters. Every field is monotonic except `transfers_in_flight`. Counting is
/// off unless `enable` was called (`UEPOLL_STATS=1`), so that the transfer path pays
/// one predictable branch instead of shared-cache-line increments.
#[derive(Default)]
pub struct Stats {
    enabled: std::sync::atomic::AtomicBool,
    /// Events copied to callers by the engine.
    pub engine_events: AtomicU64,
    /// Events the kernel delivered for fds the engine does not serve.
    pub kernel_events: AtomicU64,
    /// Transfers (`ep_send_events` calls that spliced a non-empty list).
    pub transfers: AtomicU64,
    transfers_in_flight: AtomicU64,
    /// The most transfers seen running at the same time.
    pub max_concurrent_transfers: AtomicU64,
    /// Items re-injected at the tail (level-triggered, or a wake-up was missed).
    pub requeues: AtomicU64,
    /// Poll callbacks that found the item already linked.
    pub callbacks_skipped_linked: AtomicU64,
    /// Times a sleeper was signalled.
    pub wakeups: AtomicU64,
    /// The part of `wakeups` decided in a poll callback: raised by the thread whose
    /// I/O woke the file (the others: ctl, transfers, sleeps).
    pub wakeups_by_callbacks: AtomicU64,
    /// The part of `wakeups` raised ahead of the write that then queued the item, for
    /// a sleeper on another CPU (`eventpoll::raise_ahead`).
    pub wakeups_ahead: AtomicU64,
    /// Registrations and files handed over to the kernel.
    pub demotions: AtomicU64,
    /// I/O results accounted late because a signal handler made the call while its
    /// thread was inside the library.
    pub deferred: AtomicU64,
    /// Transfers that found the ready list empty while another transfer had items in
    /// flight, and waited for it (case 6).
    pub in_flight_waits: AtomicU64,
    /// Instances that are the kernel's alone now, by the reason they became so: a
    /// state, not work, so a fork child keeps it (the instances are still there).
    kernel_only_now: [AtomicU64; WHYS],
    /// `demotions`, by reason.
    demotions_by: [AtomicU64; WHYS],
    /// Instances served again after every fork child that shared them exec'd or
    /// exited without keeping them.
    pub promotions: AtomicU64,
    /// Pipe pairs and eventfds served again after every fork child that could reach
    /// them exec'd (without keeping them) or exited (`files/filepromo.rs`).
    pub promoted_files: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only an initialiser for the arrays
const ZERO: AtomicU64 = AtomicU64::new(0);

pub static STATS: Stats = Stats {
    enabled: std::sync::atomic::AtomicBool::new(false),
    engine_events: AtomicU64::new(0),
    kernel_events: AtomicU64::new(0),
    transfers: AtomicU64::new(0),
    transfers_in_flight: AtomicU64::new(0),
    max_concurrent_transfers: AtomicU64::new(0),
    requeues: AtomicU64::new(0),
    callbacks_skipped_linked: AtomicU64::new(0),
    wakeups: AtomicU64::new(0),
    wakeups_by_callbacks: AtomicU64::new(0),
    wakeups_ahead: AtomicU64::new(0),
    demotions: AtomicU64::new(0),
    deferred: AtomicU64::new(0),
    in_flight_waits: AtomicU64::new(0),
    kernel_only_now: [ZERO; WHYS],
    demotions_by: [ZERO; WHYS],
    promotions: AtomicU64::new(0),
    promoted_files: AtomicU64::new(0),
};

impl Stats {
    /// Start counting.
    pub fn enable(&self) {
        self.enabled.store(true, Relaxed);
    }

    #[inline(always)]
    fn on(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Start again from zero: a fork child counts its own work only, so the blocks
    /// the processes of one program print add up (`transfers_in_flight` is zero in
    /// the child: no transfer runs across a fork).
    pub fn reset(&self) {
        for c in [
            &self.engine_events,
            &self.kernel_events,
            &self.transfers,
            &self.transfers_in_flight,
            &self.max_concurrent_transfers,
            &self.requeues,
            &self.callbacks_skipped_linked,
            &self.wakeups,
            &self.wakeups_by_callbacks,
            &self.wakeups_ahead,
            &self.demotions,
            &self.deferred,
            &self.in_flight_waits,
            &self.promotions,
            &self.promoted_files,
        ] {
            c.store(0, Relaxed);
        }
        for c in &self.demotions_by {
            c.store(0, Relaxed);
        }
    }

    /// True when counting (`UEPOLL_STATS=1`).
    pub fn is_enabled(&self) -> bool {
        self.on()
    }

    /// Count `n` more of `counter`, if counting.
    #[inline(always)]
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if self.on() {
            counter.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn transfer_begin(&self) -> u64 {
        if !self.on() {
            return 0;
        }
        self.transfers.fetch_add(1, Relaxed);
        let now = self.transfers_in_flight.fetch_add(1, Relaxed) + 1;
        self.max_concurrent_transfers.fetch_max(now, Relaxed);
        now
    }

    pub(crate) fn transfer_end(&self, events: u64) {
        if !self.on() {
            return;
        }
        self.transfers_in_flight.fetch_sub(1, Relaxed);
        self.engine_events.fetch_add(events, Relaxed);
    }

    pub(crate) fn add_requeues(&self, n: u64) {
        if n != 0 && self.on() {
            self.requeues.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn skipped_linked(&self) {
        self.add(&self.callbacks_skipped_linked, 1);
    }

    pub(crate) fn wakeup(&self) {
        self.add(&self.wakeups, 1);
    }

    /// One of `wakeups` was raised ahead of a write.
    pub(crate) fn wakeup_ahead(&self) {
        self.add(&self.wakeups_ahead, 1);
    }

    /// One of `wakeups` was decided in a poll callback.
    pub(crate) fn wakeup_by_callback(&self) {
        self.add(&self.wakeups_by_callbacks, 1);
    }

    pub(crate) fn in_flight_wait(&self) {
        self.add(&self.in_flight_waits, 1);
    }

    /// Registrations or files handed to the kernel for `why` (`n` of them).
    pub fn demoted(&self, why: Why, n: u64) {
        if self.on() {
            self.demotions.fetch_add(n, Relaxed);
            self.demotions_by[why as usize].fetch_add(n, Relaxed);
        }
    }

    /// An instance became the kernel's alone for `why`.
    pub fn kernel_only_began(&self, why: Why) {
        self.add(&self.kernel_only_now[why as usize], 1);
    }

    /// A kernel-only instance (made so for `why`) was released or came back.
    pub fn kernel_only_ended(&self, why: Why) {
        if self.on() {
            let _ = self.kernel_only_now[why as usize]
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        }
    }

    /// The counters by reason, after `snapshot`'s: the number of kernel-only instances
    /// now (always), then each reason's share of it and of `demotions` that is not
    /// zero.
    pub fn by_reason(&self) -> Vec<(String, u64)> {
        let now: Vec<u64> = self
            .kernel_only_now
            .iter()
            .map(|c| c.load(Relaxed))
            .collect();
        let mut out = vec![("kernel_only_now".to_string(), now.iter().sum())];
        for why in Why::ALL {
            let n = now[why as usize];
            if n != 0 {
                out.push((format!("kernel_only_now_{}", why.name()), n));
            }
        }
        for why in Why::ALL {
            let n = self.demotions_by[why as usize].load(Relaxed);
            if n != 0 {
                out.push((format!("demotions_{}", why.name()), n));
            }
        }
        out
    }

    /// The last line of the block printed at exit: the share of events the engine
    /// delivered, engine_events / (engine_events + kernel_events), so that a user of
    /// `uepoll run --stats` sees at once whether the engine served the program.
    pub fn served_share_line(&self) -> String {
        served_share_line(
            self.engine_events.load(Relaxed),
            self.kernel_events.load(Relaxed),
        )
    }

    /// The counters as `name value` pairs, in a fixed order.
    pub fn snapshot(&self) -> [(&'static str, u64); 14] {
        [
            ("engine_events", self.engine_events.load(Relaxed)),
            ("kernel_events", self.kernel_events.load(Relaxed)),
            ("transfers", self.transfers.load(Relaxed)),
            (
                "max_concurrent_transfers",
                self.max_concurrent_transfers.load(Relaxed),
            ),
            ("requeues", self.requeues.load(Relaxed)),
            (
                "callbacks_skipped_linked",
                self.callbacks_skipped_linked.load(Relaxed),
            ),
            ("wakeups", self.wakeups.load(Relaxed)),
            (
                "wakeups_by_callbacks",
                self.wakeups_by_callbacks.load(Relaxed),
            ),
            ("wakeups_ahead", self.wakeups_ahead.load(Relaxed)),
            ("demotions", self.demotions.load(Relaxed)),
            ("deferred", self.deferred.load(Relaxed)),
            ("in_flight_waits", self.in_flight_waits.load(Relaxed)),
            ("promotions", self.promotions.load(Relaxed)),
            ("promoted_files", self.promoted_files.load(Relaxed)),
        ]
    }
}

/// Below this share the line says the kernel delivered most events.
const LOW_SHARE_PERCENT: u64 = 50;

fn served_share_line(engine: u64, kernel: u64) -> String {
    let all = engine as u128 + kernel as u128;
    if all == 0 {
        return format!("  {:<26} - (no events)\n", "served share");
    }
    let share = engine as f64 / (engine as f64 + kernel as f64) * 100.0;
    let low = if (engine as u128) * 100 < all * LOW_SHARE_PERCENT as u128 {
        "; low: the kernel delivered most events (kernel_only_now_*, demotions_* say why)"
    } else {
        ""
    };
    format!(
        "  {:<26} {share:.2}% of {all} events (engine_events / (engine_events + kernel_events)){low}\n",
        "served share"
    )
}

#[cfg(test)]
mod tests {
    use super::served_share_line;

    #[test]
    fn served_share() {
        assert_eq!(
            served_share_line(0, 0),
            "  served share               - (no events)\n"
        );
        assert_eq!(
            served_share_line(390, 10),
            "  served share               97.50% of 400 events (engine_events / (engine_events + kernel_events))\n"
        );
        let low = served_share_line(1, 3);
        assert!(
            low.starts_with("  served share               25.00% of 4 events"),
            "{low}"
        );
        assert!(
            low.contains("; low: the kernel delivered most events"),
            "{low}"
        );
        assert!(!served_share_line(1, 1).contains("low"));
        assert!(served_share_line(u64::MAX, u64::MAX).contains("50.00%"));
    }
}
