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
use crate::engine::EpFile;

/// Demote `file` once the calling thread leaves the gate.
pub fn demote_fd_later(file: &Arc<OpenFile>) {
    super::deferred::push_demote(file.any_fd.load(Ordering::Relaxed));
}

/// Demote the file behind `fd`, if the engine serves it.
pub fn demote_fd(fd: i32) {
    if !table::is_served(fd) {
        return;
    }
    if let Some(mut gate) = table::enter_mut() {
        if let Some(Entry::File(file)) = gate.get(fd).cloned() {
            demote_channel(&mut gate, &file);
        }
    }
}

/// Demote every served file (the process is about to share them).
pub fn demote_everything() {
    if let Some(mut gate) = table::enter_mut() {
        demote_all_files(&mut gate);
    }
}

/// Demote every served file in `table`.
pub fn demote_all_files(table: &mut Table) {
    let files: Vec<Arc<OpenFile>> = table
        .entries()
        .filter_map(|(_, e)| match e {
            Entry::File(f) => Some(Arc::clone(f)),
            _ => None,
        })
        .collect();
    for file in files {
        demote_channel(table, &file);
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
pub fn demote_channel(table: &mut Table, file: &Arc<OpenFile>) {
    let peer = file.peer();
    demote_one(table, file);
    if let Some(peer) = peer {
        demote_one(table, &peer);
    }
}

fn demote_one(table: &mut Table, file: &Arc<OpenFile>) {
    let fds: Vec<i32> = table
        .entries()
        .filter(|(_, e)| matches!(e, Entry::File(f) if Arc::ptr_eq(f, file)))
        .map(|(fd, _)| fd)
        .collect();
    if fds.is_empty() {
        return; // already demoted
    }
    let as_epfile: Arc<dyn EpFile> = Arc::clone(file) as Arc<dyn EpFile>;
    for inst in instances(table) {
        for (fd, events, data) in inst.ep.take_items_of(&as_epfile) {
            if fds.contains(&fd) {
                // The item's own fd number still names this file: the same key.
                inst.kernel_add(fd, events, data);
            } else {
                add_orphan(&inst, fds[0], fd, events, data);
            }
            STATS.add(&STATS.demotions, 1);
        }
    }
    for fd in fds {
        table.remove(fd);
    }
    STATS.add(&STATS.demotions, 1);
}

/// Register an item whose fd number was closed while another number (`live`) keeps its
/// file open. The kernel keys such an item by the closed number and keeps it until the
/// file goes away; the same state is rebuilt with a short-lived duplicate: on the
/// item's own number when that is free (so the key is exactly the kernel's), else on
/// any free number, never on `live`, whose own registration may share the instance
/// (registering there would collide with it). The duplicate is closed at once; the
/// registration stays, as the kernel's does.
fn add_orphan(inst: &Instance, live: i32, orphan_fd: i32, events: u32, data: u64) {
    let _errno = crate::sys::ErrnoGuard::save();
    // SAFETY: F_DUPFD_CLOEXEC of an fd the table holds open; the new number is ours
    // until the close below.
    let tmp = unsafe {
        crate::sys::real::fcntl(
            live,
            libc::F_DUPFD_CLOEXEC,
            libc::c_long::from(orphan_fd.max(0)),
        )
    };
    if tmp < 0 {
        return;
    }
    inst.kernel_add(tmp, events, data);
    // SAFETY: closes the duplicate made above; the kernel keeps the registration while
    // the file stays open through `live`.
    unsafe { crate::sys::real::close(tmp) };
}

/// Before fork: every file is demoted and every instance becomes the kernel's alone,
/// because parent and child share them from now on.
pub fn prepare_fork(table: &mut Table) {
    demote_all_files(table);
    for inst in instances(table) {
        inst.kernel_only.store(true, Ordering::SeqCst);
        inst.settle();
    }
}
