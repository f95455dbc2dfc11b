//! Accounting deferred from signal handlers.
//!
//! A signal handler may call `write` (the self-pipe trick) while the thread it
//! interrupted holds the gate or an engine lock. The hook then cannot take any lock: it
//! performs the real write and records it here, in a fixed-size per-thread buffer that
//! needs no allocation and no lock. When the interrupted code leaves the gate it
//! replays the records with signals blocked. If the buffer overflows, the library can
//! no longer account exactly and hands every served file to the kernel.

use std::cell::Cell;

use super::{gate, table, Done};
use crate::sys;

const SLOTS: usize = 32;

thread_local! {
    static RECORDS: [Cell<Option<(i32, Done)>>; SLOTS] = const { [const { Cell::new(None) }; SLOTS] };
    static LEN: Cell<usize> = const { Cell::new(0) };
    static OVERFLOW: Cell<bool> = const { Cell::new(false) };
    static DEMOTE: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Ask for `fd`'s file to be demoted once the thread leaves the gate (demotion needs the
/// table exclusively, which a thread inside the gate cannot take).
pub fn push_demote(fd: i32) {
    if DEMOTE.with(|d| d.replace(Some(fd))).is_some() {
        OVERFLOW.with(|o| o.set(true));
    }
    gate::mark_deferred();
}

/// Record an I/O result on `fd` for later accounting.
pub fn push(fd: i32, done: Done) {
    let len = LEN.with(Cell::get);
    if len == SLOTS {
        OVERFLOW.with(|o| o.set(true));
        gate::mark_deferred();
        return;
    }
    RECORDS.with(|r| r[len].set(Some((fd, done))));
    LEN.with(|l| l.set(len + 1));
    gate::mark_deferred();
}

/// Replay what was recorded. Called when the thread leaves the gate.
pub fn run() {
    if !gate::take_deferred() {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    // No handler appends while the records are taken and replayed.
    let _blocked = sys::SignalsBlocked::block_all();
    let len = LEN.with(|l| l.replace(0));
    let overflow = OVERFLOW.with(|o| o.replace(false));
    // Taken one at a time, without collecting them: this can run in a signal handler
    // that entered the library, where allocating is not allowed.
    crate::engine::stats::STATS.add(&crate::engine::stats::STATS.deferred, len as u64);
    for i in 0..len {
        let Some((fd, done)) = RECORDS.with(|r| r.get(i).and_then(Cell::take)) else {
            continue;
        };
        if let Some(gate) = table::enter() {
            if let Some(table::Entry::File(file)) = gate.get(fd) {
                let file = std::sync::Arc::clone(file);
                // Whether the pipe was full is lost: wake the writer rather than risk
                // losing its edge.
                super::account(&file, Some(true), done);
            }
        }
    }
    if let Some(fd) = DEMOTE.with(Cell::take) {
        super::demote::demote_fd(fd);
    }
    if overflow {
        super::demote::demote_everything();
    }
}
