//! Demotion: handing a served file to the kernel when the library can no longer prove
//! it sees every operation that changes the file's readiness (another process shares
//! it after fork or fd passing, stdio or a raw syscall writes to it, splice moves data
//! through it…).
//!
//! Each registration of the file moves from the engine into the instance's kernel epoll
//! fd with the same events and data; the kernel's insert re-polls, so a ready file is
//! reported. Both ends of a pipe or socketpair go together, because each end's
//! readiness depends on the other's. After demotion the fds are plain kernel fds.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::instance::Instance;
use super::openfile::OpenFile;
use super::table::{self, Entry, Table};
use crate::engine::stats::STATS;
use crate::engine::trace::{self, Record, Why, KIND_DEMOTE};
use crate::engine::EpFile;
use crate::sys::syscall;

/// Demote `file` once the calling thread leaves the gate.
pub fn demote_fd_later(file: &Arc<OpenFile>) {
    super::deferred::push_demote(file.any_fd.load(Ordering::Relaxed));
}

/// Demote the file behind `fd`, if the engine serves it.
pub fn demote_fd(fd: i32, why: Why) {
    if !table::is_served(fd) {
        return;
    }
    if let Some(mut gate) = table::enter_mut() {
        if let Some(Entry::File(file)) = gate.get(fd).cloned() {
            demote_channel(&mut gate, &file, why);
        }
    }
}

/// Demote every served file (the process is about to share them).
pub fn demote_everything(why: Why) {
    if let Some(mut gate) = table::enter_mut() {
        demote_all_files(&mut gate, why);
    }
}

/// Demote every served file in `table`.
pub fn demote_all_files(table: &mut Table, why: Why) {
    let files: Vec<Arc<OpenFile>> = table
        .entries()
        .filter_map(|(_, e)| match e {
            Entry::File(f) => Some(Arc::clone(f)),
            _ => None,
        })
        .collect();
    for file in files {
        demote_channel(table, &file, why);
    }
}

/// The distinct epoll instances in `table`.
pub fn instances(table: &Table) -> Vec<Arc<Instance>> {
    let mut out: Vec<Arc<Instance>> = Vec::new();
    for (_, e) in table.entries() {
        if let Entry::Epoll(inst) = e {
            if !out.iter().any(|o| Arc::ptr_eq(o, inst)) {
                out.push(Arc::clone(inst));
            }
        }
    }
    out
}

/// Demote `file` and its peer.
pub fn demote_channel(table: &mut Table, file: &Arc<OpenFile>, why: Why) {
    let peer = file.peer();
    demote_one(table, file, why);
    if let Some(peer) = peer {
        demote_one(table, &peer, why);
    }
}

fn demote_one(table: &mut Table, file: &Arc<OpenFile>, why: Why) {
    let fds: Vec<i32> = table
        .entries()
        .filter(|(_, e)| matches!(e, Entry::File(f) if Arc::ptr_eq(f, file)))
        .map(|(fd, _)| fd)
        .collect();
    if fds.is_empty() {
        return; // already demoted
    }
    let as_epfile: Arc<dyn EpFile> = Arc::clone(file) as Arc<dyn EpFile>;
    let taken: Vec<(Arc<Instance>, Vec<Registration>)> = instances(table)
        .into_iter()
        .map(|inst| {
            let items = inst.take_items_of(&as_epfile);
            (inst, items)
        })
        .collect();
    let orphans = StandIns::new(
        fds[0],
        taken
            .iter()
            .flat_map(|(_, items)| items.iter().map(|&(fd, _, _)| fd))
            .filter(|fd| !fds.contains(fd)),
    );
    let handed_over: usize = taken.iter().map(|(_, items)| items.len()).sum();
    for (inst, items) in taken {
        for (fd, events, data) in items {
            // The item's own fd number, when it still names this file: the same key.
            // Otherwise the duplicate standing in for its closed number.
            let key = if fds.contains(&fd) {
                Some(fd)
            } else {
                orphans.number_for(fd)
            };
            if let Some(key) = key {
                inst.demoted_item(table, key, events, data);
            }
            STATS.demoted(why, 1);
        }
    }
    drop(orphans);
    if trace::on() {
        trace::record(Record {
            kind: KIND_DEMOTE,
            sub: why as u8,
            a: fds[0] as u32,
            b: handed_over as u32,
            ..Record::default()
        });
    }
    for fd in fds {
        table.remove(fd);
    }
    STATS.demoted(why, 1);
}

/// One item handed over by the engine: (fd number, interest, data).
type Registration = (i32, u32, u64);

/// Short-lived duplicates of a file for its orphaned items: items whose fd number was
/// closed while another number (`live`) keeps the file open. The kernel keys such an
/// item by the closed number and keeps it until the file goes away; demotion rebuilds
/// it by registering a duplicate of the file, one per closed number. The duplicate
/// sits on the item's own number when that is free (so the key is exactly the
/// kernel's), else on another free number, never on `live`, whose own registration may
/// share the instance. All of them stay open until every instance is done, so that two
/// closed numbers never land on one key, and the same closed number gets the same key
/// in every instance. Dropping this closes them; the registrations stay, as the
/// kernel's do.
struct StandIns {
    /// (closed number, duplicate)
    dups: Vec<(i32, i32)>,
}

impl StandIns {
    fn new(live: i32, closed: impl Iterator<Item = i32>) -> Self {
        let mut numbers: Vec<i32> = closed.collect();
        numbers.sort_unstable();
        numbers.dedup();
        // Numbers still free first, so that no duplicate takes one of them.
        numbers.sort_by_key(|&n| !number_is_free(n));
        let dups = numbers
            .into_iter()
            .filter_map(|n| {
                // SAFETY: F_DUPFD_CLOEXEC of an fd the table holds open; the new number
                // is ours until `drop`.
                let dup =
                    unsafe { syscall!(fcntl(live, libc::F_DUPFD_CLOEXEC, libc::c_long::from(n))) };
                dup.ok().map(|dup| (n, dup))
            })
            .collect();
        StandIns { dups }
    }

    fn number_for(&self, closed: i32) -> Option<i32> {
        self.dups
            .iter()
            .find(|&&(n, _)| n == closed)
            .map(|&(_, d)| d)
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        for &(_, dup) in &self.dups {
            // SAFETY: closes a duplicate made in `new`; the kernel keeps the
            // registrations while the file stays open through `live`.
            let _ = unsafe { syscall!(close(dup)) };
        }
    }
}

/// True when no fd is open on number `n`.
fn number_is_free(n: i32) -> bool {
    // SAFETY: F_GETFD takes no pointer; a closed number gives EBADF.
    unsafe { syscall!(fcntl(n, libc::F_GETFD, 0)) }.is_err()
}

/// Before a child that runs no library code of its own starts (`clone`): every file is
/// demoted and every instance becomes the kernel's alone for good, because parent and
/// child share them from now on.
pub fn prepare_fork(table: &mut Table) {
    super::filepromo::forget_all();
    demote_all_files(table, Why::Fork);
    for inst in instances(table) {
        inst.make_kernel_only(Why::Fork);
        inst.settle();
    }
}

/// Before `fork` (the atfork prepare step): every file is demoted, and every instance
/// becomes kernel-only while the child may reach it. The child is tracked
/// (`children.rs`) so that the instances can be served again once it has exec'd or
/// exited (`promote.rs`); a child that cannot be tracked keeps them with the kernel for
/// good, as `prepare_fork`.
pub fn prepare_tracked_fork(table: &mut Table) {
    // Pipe pairs and eventfds may be served again once no child reaches them.
    let files = super::filepromo::candidates(table);
    demote_all_files(table, Why::Fork);
    let all = instances(table);
    let slot = super::children::before_fork(table, &all);
    match slot {
        Some(slot) => super::filepromo::remember(slot, files),
        None => super::filepromo::forget_all(),
    }
    let tracked = slot.is_some();
    for inst in all {
        if tracked {
            inst.share_with_child();
        } else {
            inst.make_kernel_only(Why::Fork);
        }
        inst.settle();
    }
}
