//! Process-wide counters, printed at exit with `UEPOLL_STATS=1`. Relaxed atomics: they
//! are statistics, not part of the protocol, so they stay std atomics even under loom.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters. Every field is monotonic except `transfers_in_flight`.
#[derive(Default)]
pub struct Stats {
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
    /// Registrations and files handed over to the kernel.
    pub demotions: AtomicU64,
}

pub static STATS: Stats = Stats {
    engine_events: AtomicU64::new(0),
    kernel_events: AtomicU64::new(0),
    transfers: AtomicU64::new(0),
    transfers_in_flight: AtomicU64::new(0),
    max_concurrent_transfers: AtomicU64::new(0),
    requeues: AtomicU64::new(0),
    callbacks_skipped_linked: AtomicU64::new(0),
    wakeups: AtomicU64::new(0),
    demotions: AtomicU64::new(0),
};

impl Stats {
    pub(crate) fn transfer_begin(&self) -> u64 {
        self.transfers.fetch_add(1, Relaxed);
        let now = self.transfers_in_flight.fetch_add(1, Relaxed) + 1;
        self.max_concurrent_transfers.fetch_max(now, Relaxed);
        now
    }

    pub(crate) fn transfer_end(&self, events: u64) {
        self.transfers_in_flight.fetch_sub(1, Relaxed);
        self.engine_events.fetch_add(events, Relaxed);
    }

    pub(crate) fn add_requeues(&self, n: u64) {
        if n != 0 {
            self.requeues.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn skipped_linked(&self) {
        self.callbacks_skipped_linked.fetch_add(1, Relaxed);
    }

    pub(crate) fn wakeup(&self) {
        self.wakeups.fetch_add(1, Relaxed);
    }

    /// The counters as `name value` pairs, in a fixed order.
    pub fn snapshot(&self) -> [(&'static str, u64); 8] {
        [
            ("engine_events", self.engine_events.load(Relaxed)),
            ("kernel_events", self.kernel_events.load(Relaxed)),
            ("transfers", self.transfers.load(Relaxed)),
            ("max_concurrent_transfers", self.max_concurrent_transfers.load(Relaxed)),
            ("requeues", self.requeues.load(Relaxed)),
            ("callbacks_skipped_linked", self.callbacks_skipped_linked.load(Relaxed)),
            ("wakeups", self.wakeups.load(Relaxed)),
            ("demotions", self.demotions.load(Relaxed)),
        ]
    }
}
