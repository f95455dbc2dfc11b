//! The file layer: which fds the engine serves, what their readiness is, and which
//! wake-ups the program's I/O on them causes. The hooks in `crate::preload` call into
//! this module around each real libc call:
//!
//! ```text
//!   prepare(fd)  ->  real libc call  ->  complete(prep, result)
//! ```
//!
//! `prepare` looks the fd up under the gate (and, for a pipe read, asks whether the
//! pipe was full, which decides the writer's wake-up); the real call runs outside every
//! lock, so a blocking read holds nothing; `complete` accounts the result and runs the
//! wake-ups (the poll callbacks).

pub mod children;
mod collect;
pub mod ctl;
mod deadline;
pub mod deferred;
pub mod demote;
#[cfg(test)]
#[path = "filename_tests.rs"]
mod filename_tests;
pub mod filepromo;
pub mod gate;
pub mod instance;
pub mod openfile;
pub mod parking;
pub mod promote;
mod skbqueue;
mod sockwake;
pub mod spawn_actions;
pub mod table;
#[cfg(test)]
mod test_support;
pub mod wait;
pub mod watches;

use std::sync::Arc;

use openfile::{Kind, OpenFile};
pub use skbqueue::Ticket;
use table::{Entry, Table};

/// The direction of an I/O operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Read,
    Write,
}

/// A served file named across a real call, without a reference to it: the number the
/// call used, and the file's address and serial, resolved again under the gate by
/// `complete` (`resolve`).
///
/// Holding an `Arc` across the call cost every served read and write two locked
/// instructions, on a counter that every thread doing I/O on the same file writes (an
/// eventfd's producer and its consumers). The file cannot be freed while it is in the
/// table, and the serial tells it from a new file at the same address, so the name
/// finds the very file the call used, or nothing when it left the table meanwhile
/// (released, demoted, promoted anew), where the old reference only fed a file that
/// no instance or number reached any more.
#[derive(Clone, Copy, Debug)]
pub struct FileName {
    /// The number the call used.
    pub fd: i32,
    /// `Arc::as_ptr` of the file, as an address (never dereferenced); 0: the number
    /// alone (a record made where the table could not be read).
    addr: usize,
    serial: u64,
}

impl FileName {
    fn of(fd: i32, file: &Arc<OpenFile>) -> Self {
        FileName {
            fd,
            addr: Arc::as_ptr(file) as usize,
            serial: file.serial,
        }
    }

    /// Whatever file is at `fd` when it is looked at.
    pub fn number(fd: i32) -> Self {
        FileName {
            fd,
            addr: 0,
            serial: 0,
        }
    }

    /// The file in `table`: at `fd` if it is still there, else under another number
    /// (the call's number was closed or reused during the call while the file stayed
    /// open elsewhere, where the kernel's call still acted on it).
    pub(crate) fn resolve<'t>(&self, table: &'t Table) -> Option<&'t Arc<OpenFile>> {
        let named = |f: &Arc<OpenFile>| {
            self.addr == 0 || (Arc::as_ptr(f) as usize == self.addr && f.serial == self.serial)
        };
        if let Some(Entry::File(f)) = table.get(self.fd) {
            if named(f) {
                return Some(f);
            }
        }
        if self.addr == 0 {
            return None;
        }
        table.entries().find_map(|(_, e)| match e {
            Entry::File(f) if named(f) => Some(f),
            _ => None,
        })
    }
}

/// What `prepare` found.
pub enum Prep {
    /// Not an fd the engine serves: nothing to do after the call.
    NotServed,
    /// A served file, with what was known before the call.
    Served {
        file: FileName,
        kind: Kind,
        was_full: Option<bool>,
        /// A socket call's ticket on the receive queue it may change.
        ticket: Option<Ticket>,
    },
    /// A served fd, but this thread is already inside the library (a signal handler):
    /// the accounting is deferred until the interrupted code leaves.
    Deferred { fd: i32 },
}

impl Prep {
    /// A served eventfd.
    pub fn eventfd(&self) -> bool {
        matches!(
            self,
            Prep::Served {
                kind: Kind::EventFd { .. },
                ..
            }
        )
    }

    /// For a served socket end: `Some(stream)`.
    pub fn socket(&self) -> Option<bool> {
        match self {
            Prep::Served {
                kind: Kind::Socket { stream, .. },
                ..
            } => Some(*stream),
            _ => None,
        }
    }
}

/// Look `fd` up before an I/O call in direction `dir`.
#[inline(always)]
pub fn prepare(fd: i32, dir: Dir) -> Prep {
    if !table::is_served(fd) {
        return Prep::NotServed;
    }
    let Some(gate) = table::enter() else {
        return Prep::Deferred { fd };
    };
    match gate.get(fd) {
        Some(Entry::File(file)) => {
            let was_full = if dir == Dir::Read && file.kind == Kind::PipeRead {
                file.pipe_full_before_read()
            } else {
                None
            };
            if dir == Dir::Write && file.kind == Kind::PipeWrite {
                file.raise_ahead_of_write();
            }
            let ticket = match file.kind {
                Kind::Socket { .. } => sockwake::begin(file, dir),
                _ => None,
            };
            Prep::Served {
                file: FileName::of(fd, file),
                kind: file.kind,
                was_full,
                ticket,
            }
        }
        _ => Prep::NotServed,
    }
}

/// What an I/O call did, for accounting.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    pub dir: Dir,
    /// The call's return value (bytes, or -1).
    pub result: isize,
    /// errno when `result` is -1.
    pub error: i32,
    /// For eventfds: the 8-byte value written or read, when the hook could see it.
    pub value: Option<u64>,
    /// The call only peeked (MSG_PEEK): nothing was consumed.
    pub peek: bool,
    /// A failed call got as far as the file's own read or write (the hook's judgement
    /// from errno and the arguments it could read); always true for a success.
    pub reached: bool,
    /// Socket calls: MSG_OOB was given (an out-of-band byte is its own skb, read apart).
    pub oob: bool,
    /// A socket send given a destination address (for SOCK_DGRAM, the datagram goes to
    /// the named socket, which need not be the peer).
    pub named: bool,
    /// The result counts messages (recvmmsg, sendmmsg), not bytes.
    pub messages: bool,
    /// A read through the VFS (`read`, `readv`) of 0 bytes: `sock_read_iter` returns
    /// without calling the socket's recvmsg, so no datagram is consumed (`recv` with
    /// length 0 does consume one).
    pub empty_vfs_read: bool,
    /// A send that moved fewer bytes than it asked to (the hook could tell): a stream
    /// send stops early on EAGAIN, a signal, a fault or the peer going away, and in the
    /// last two cases the kernel frees the skb it was filling.
    pub short_send: bool,
    /// The socket call's ticket (set by `complete`).
    pub ticket: Option<Ticket>,
}

/// Account a finished I/O call and run the wake-ups it causes.
#[inline(always)]
pub fn complete(prep: Prep, done: Done) {
    match prep {
        Prep::NotServed => {}
        Prep::Served {
            file,
            was_full,
            ticket,
            ..
        } => {
            let done = Done { ticket, ..done };
            if let Some(gate) = table::enter() {
                if let Some(f) = file.resolve(&gate) {
                    account(f, was_full, done, false);
                }
            } else {
                deferred::push(file, done);
            }
        }
        Prep::Deferred { fd } => deferred::push(FileName::number(fd), done),
    }
}

/// Account `done` on `file`: the file layer's model of the kernel's wake-ups.
/// `replayed`: a record deferred from a signal handler, accounted out of order.
#[inline(always)]
pub(crate) fn account(file: &Arc<OpenFile>, was_full: Option<bool>, done: Done, replayed: bool) {
    if let Kind::Socket { .. } = file.kind {
        // Every socket call returns its ticket, whatever it did.
        sockwake::account(file, &done, replayed);
    }
    let n = done.result;
    if n < 0 && !done.reached {
        // Refused before the file's op (wrong kind of fd, a header or iovec array the
        // kernel could not copy): the file saw nothing, and nobody is woken.
        return;
    }
    if n < 0 && done.error == libc::EFAULT && !done.peek {
        fault_after_op(file, &done);
    }
    if n < 0 && file.kind == Kind::PipeWrite && done.dir == Dir::Write {
        // pipe_write wakes the readers on its way out even when it wrote nothing
        // (EAGAIN on a full pipe): an edge for edge-triggered readers, as in the kernel.
        file.pipe_written(0);
    }
    if n < 0 || done.peek {
        return;
    }
    match (file.kind, done.dir) {
        (Kind::PipeRead, Dir::Read) if n > 0 => file.pipe_read(n as usize, was_full),
        (Kind::PipeWrite, Dir::Write) if n > 0 => file.pipe_written(n as usize),
        (Kind::EventFd { .. }, dir) if n == 8 => match (dir, done.value) {
            (Dir::Read, Some(v)) => file.eventfd_read(v),
            (Dir::Write, Some(v)) => file.eventfd_written(v),
            // The value is out of sight (readv, writev…): stop trusting the counter.
            (_, None) => demote::demote_fd_later(file),
        },
        // Sockets: sockwake::account above.
        _ => {}
    }
    if done.dir == Dir::Read && crate::engine::eventpoll::any_nested() {
        prune_nested(file);
    }
}

/// The copy between the file and the program's buffer faulted inside the file's op:
/// what the kernel had done by then stays done. (Sockets: `sockwake::account`, for a
/// send's skb freed and a datagram dequeued.)
fn fault_after_op(file: &Arc<OpenFile>, done: &Done) {
    // eventfd_read consumed the counter before copying it out. Read through the
    // library's own buffer (`preload/io.rs:eventfd_own_buffer`), the value is known;
    // otherwise it is lost to the library, and the kernel takes the file.
    if let (Kind::EventFd { .. }, Dir::Read) = (file.kind, done.dir) {
        match done.value {
            Some(value) => file.eventfd_read(value),
            None => demote::demote_fd_later(file),
        }
    }
}

/// A read may have made `file` unready: instances watched through the kernel must not
/// stay readable for it.
fn prune_nested(file: &Arc<OpenFile>) {
    if !file.wait_queue().is_watched() {
        return;
    }
    for epi in file.wait_queue().snapshot() {
        if epi.ep.has_kernel_watchers() {
            epi.ep.prune();
        }
    }
}

/// An fd number stopped referring to `entry` (close, dup2 over it, or a stale entry
/// found when the number was reused): drop its reference, and release the file or
/// instance when it was the last. `table` no longer holds the number.
pub fn forget(table: &mut table::Table, entry: Option<Entry>) {
    match entry {
        Some(Entry::File(file)) => {
            if file
                .fd_refs
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                == 1
            {
                release_file(&file);
            } else {
                repoint_any_fd(table, &file);
            }
        }
        Some(Entry::Epoll(inst)) => {
            if inst.drop_ref() {
                let (wake_fd, parking_fd) = inst.internal_fds();
                table.remove(wake_fd);
                if let Some(pfd) = parking_fd {
                    table.remove(pfd);
                }
                inst.released();
            } else if let Some((fd, _)) = table
                .entries()
                .find(|(_, e)| matches!(e, Entry::Epoll(i) if Arc::ptr_eq(i, &inst)))
            {
                inst.set_any_fd(fd);
            }
        }
        Some(Entry::Internal) | None => {}
    }
}

/// Keep `any_fd` naming a live number of `file`.
fn repoint_any_fd(table: &table::Table, file: &Arc<OpenFile>) {
    if let Some((fd, _)) = table
        .entries()
        .find(|(_, e)| matches!(e, Entry::File(f) if Arc::ptr_eq(f, file)))
    {
        file.any_fd.store(fd, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The last descriptor of `file` is gone: `eventpoll_release_file`, then what the
/// kernel's release does to the peer.
fn release_file(file: &Arc<OpenFile>) {
    let as_epfile: Arc<dyn crate::engine::EpFile> =
        Arc::clone(file) as Arc<dyn crate::engine::EpFile>;
    let mut seen: Vec<Arc<crate::engine::EventPoll>> = Vec::new();
    for epi in file.wait_queue().snapshot() {
        if !seen.iter().any(|ep| Arc::ptr_eq(ep, &epi.ep)) {
            seen.push(Arc::clone(&epi.ep));
        }
    }
    for ep in seen {
        ep.release_file(&as_epfile);
    }
    file.released();
}

/// Child processes being started (fork, posix_spawn, system, popen) and how many
/// have started: a file created while one starts may be inherited by the child, and a
/// file a child shares cannot be served (its I/O there is unseen).
static STARTING: crate::engine::sync::plain::AtomicUsize =
    crate::engine::sync::plain::AtomicUsize::new(0);
static STARTED: crate::engine::sync::plain::AtomicU64 =
    crate::engine::sync::plain::AtomicU64::new(0);

/// A child is about to be started: call before demoting (under the table's write
/// lock) and before the real call; `child_started` after it.
pub fn child_starting() {
    // The child may get any fd: files remembered at earlier forks stay with the kernel.
    filepromo::forget_all();
    child_starting_tracked();
}

/// `child_starting` for a tracked fork: the remembered files are followed into the
/// child (`demote::prepare_tracked_fork`).
pub fn child_starting_tracked() {
    STARTING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

pub fn child_started() {
    STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    STARTING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

/// True while a child is being started (posix_spawn, system, popen): a served number
/// that loses close-on-exec now may go into the child.
pub fn child_may_inherit() -> bool {
    STARTING.load(std::sync::atomic::Ordering::SeqCst) != 0
}

/// Read before a call that creates files; `may_serve_new(stamp)` under the table's
/// write lock afterwards says whether no child can have inherited them. A child
/// started before the creation was demoted together with everything else (the
/// demotion takes the write lock after `child_starting`); one started during or
/// after it shows in the counters.
pub fn creation_stamp() -> u64 {
    STARTED.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn may_serve_new(stamp: u64) -> bool {
    STARTING.load(std::sync::atomic::Ordering::SeqCst) == 0
        && STARTED.load(std::sync::atomic::Ordering::SeqCst) == stamp
}

/// Install a file the program just created at `fd`, unless a child started since
/// `stamp` (see `creation_stamp`) and may share it: then the number only loses any
/// stale entry, and the kernel serves the file.
pub fn install_created(table: &mut table::Table, stamp: u64, fd: i32, entry: Entry) {
    if may_serve_new(stamp) {
        install(table, fd, entry);
    } else {
        let stale = table.remove(fd);
        forget(table, stale);
    }
}

/// Install a new file at `fd`, forgetting a stale entry the number may still carry.
pub fn install(table: &mut table::Table, fd: i32, entry: Entry) {
    let stale = table.install(fd, entry);
    forget(table, stale);
}

/// `dup`: `newfd` now refers to what `oldfd` refers to.
pub fn duplicate(table: &mut table::Table, oldfd: i32, newfd: i32) {
    let stale = table.remove(newfd);
    forget(table, stale);
    match table.get(oldfd).cloned() {
        Some(Entry::File(file)) => {
            file.fd_refs
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            table.install(newfd, Entry::File(file));
        }
        Some(Entry::Epoll(inst)) => {
            inst.add_ref();
            table.install(newfd, Entry::Epoll(inst));
        }
        Some(Entry::Internal) | None => {}
    }
}
