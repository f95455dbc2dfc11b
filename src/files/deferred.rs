//! Accounting deferred from signal handlers.
//!
//! A signal handler may call `write` (the self-pipe trick) while the thread it
//! interrupted holds the gate or an engine lock. The hook then cannot take any lock: it
//! performs the real write and records it here, in a fixed-size per-thread buffer that
//! needs no allocation and no lock. When the interrupted code leaves the gate it
//! replays the records with signals blocked. If the buffer overflows, the library can
//! no longer account exactly and hands every served file to the kernel.

use crate::engine::sync::plain::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::cell::Cell;

use super::{gate, table, Done, FileName};
use crate::sys;

const SLOTS: usize = 32;

/// `DEMOTE` when no demotion is asked for.
const NO_FD: i32 = -1;

// A record is pushed by a signal handler, and another handler (a different signal) can
// land in the middle of that push and push its own. So every step that claims shared
// state is one atomic instruction, which a signal cannot split: a slot is claimed with a
// single `fetch_add` before it is filled, and the demotion request is a single `swap`.
// A load-then-store of `LEN` let the nested handler's record be overwritten, or the
// count be cut short past it: a byte or an eventfd increment the kernel holds and the
// library never counted, so level-triggered readiness was lost for good (`torture
// signals`). Only the replay reads the records, with signals blocked, after every
// handler that pushed has returned; no handler replays while another handler of its
// thread is inside `push` (that thread is inside the library), so a claimed slot is
// always filled before it is read. Relaxed suffices: everything is one thread.
thread_local! {
    static RECORDS: [Cell<Option<(FileName, Done)>>; SLOTS] = const { [const { Cell::new(None) }; SLOTS] };
    /// Slots claimed; past `SLOTS` the claim failed (overflow).
    static LEN: AtomicUsize = const { AtomicUsize::new(0) };
    static OVERFLOW: AtomicBool = const { AtomicBool::new(false) };
    static DEMOTE: AtomicI32 = const { AtomicI32::new(NO_FD) };
}

/// Ask for `fd`'s file to be demoted once the thread leaves the gate (demotion needs the
/// table exclusively, which a thread inside the gate cannot take).
pub fn push_demote(fd: i32) {
    if DEMOTE.with(|d| d.swap(fd, Ordering::Relaxed)) != NO_FD {
        // Two files to demote and one place: demote everything (rare).
        OVERFLOW.with(|o| o.store(true, Ordering::Relaxed));
    }
    gate::mark_deferred();
}

/// Record an I/O result on the file `file` names for later accounting.
pub fn push(file: FileName, done: Done) {
    signal_may_land();
    let slot = LEN.with(|l| l.fetch_add(1, Ordering::Relaxed));
    signal_may_land();
    if slot >= SLOTS {
        OVERFLOW.with(|o| o.store(true, Ordering::Relaxed));
        gate::mark_deferred();
        return;
    }
    RECORDS.with(|r| r[slot].set(Some((file, done))));
    signal_may_land();
    gate::mark_deferred();
    signal_may_land();
}

/// Replay what was recorded. Called when the thread leaves the gate.
pub fn run() {
    if !gate::take_deferred() {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    // No handler appends while the records are taken and replayed.
    let _blocked = sys::SignalsBlocked::block_all();
    let len = LEN.with(|l| l.swap(0, Ordering::Relaxed)).min(SLOTS);
    let overflow = OVERFLOW.with(|o| o.swap(false, Ordering::Relaxed));
    // Taken one at a time, without collecting them: this can run in a signal handler
    // that entered the library, where allocating is not allowed.
    crate::engine::stats::STATS.add(&crate::engine::stats::STATS.deferred, len as u64);
    for i in 0..len {
        let Some((name, done)) = RECORDS.with(|r| r.get(i).and_then(Cell::take)) else {
            continue;
        };
        if let Some(gate) = table::enter() {
            if let Some(file) = name.resolve(&gate) {
                // Whether the pipe was full is lost: wake the writer rather than risk
                // losing its edge.
                super::account(file, Some(true), done, true);
            }
        }
    }
    let demote = DEMOTE.with(|d| d.swap(NO_FD, Ordering::Relaxed));
    if demote != NO_FD {
        super::demote::demote_fd(demote, crate::engine::trace::Why::Unseen);
    }
    if overflow {
        super::demote::demote_everything(crate::engine::trace::Why::Unseen);
    }
}

/// A point where a second signal handler may interrupt the first one's `push`. In the
/// unit tests a nested "handler" can be made to run there (`tests::signal_lands`).
#[inline(always)]
fn signal_may_land() {
    #[cfg(test)]
    tests::signal_lands();
}

#[cfg(test)]
#[path = "deferred_tests.rs"]
mod tests;
