//! File promotion: serving a pipe or an eventfd again once no fork child can reach it.
//!
//! A tracked fork (`demote::prepare_tracked_fork`) demotes every served file. The pipe
//! pairs (both ends served) and eventfds among them are *remembered* (`Remembered`):
//! the pipe's inode, or the eventfd's `eventfd-id` (all eventfds share one anon inode)
//! and semaphore flag, with the slots of the tracked children that may reach it (the
//! child of that fork, and of every tracked fork after it while it is remembered).
//! Sockets are not remembered: their queues (skb boundaries, ancillary data, peer
//! state) cannot be read back from the kernel.
//!
//! A child that is settled (`children.rs`) lets go of a remembered file unless its
//! exec'd image keeps it: the child reports, at exec, the pipe inodes it keeps without
//! close-on-exec and whether it keeps any eventfd. A child that keeps it, one that
//! starts processes or passes fds (`DOUBT`), one that dies without a word, and any
//! untracked child start (spawn, `system`, `popen`, `clone`, an untracked fork, fd
//! passing by the parent) make the remembered files stay with the kernel for good.
//!
//! Once no child reaches a remembered file, `try_promote` (under the table's write
//! lock) serves it again when it can be done exactly:
//! - its numbers are found in `/proc/self/fd` (every number naming the pipe inode, by
//!   access mode; every eventfd with the remembered id), all servable, both pipe ends
//!   held, none of them the library's;
//! - every registration of it in every instance's kernel epoll fd (the `tfd:` lines,
//!   told apart by `kcmp(KCMP_EPOLL_TFD)`) is level-triggered, not ONESHOT, not
//!   EXCLUSIVE, keyed by a number of the same description, in an instance that is
//!   served again and has parked nothing;
//! - then: the entries are installed (marking the numbers served), the promotion
//!   generation is bumped, the model is read back (`FIONREAD`, `eventfd-count:`) and
//!   each registration moves from the kernel epoll fd into the engine with the same
//!   events and data (the engine's ADD re-polls: a ready LT item is reported by the
//!   next wait).
//!
//! `close` on an unserved number takes no lock either: it announces itself
//! (`gate::UnservedClose`), and the promotion compares every thread's announcements
//! before looking at the numbers again and after installing them, and undoes the
//! installs if a close began meanwhile (else the table would keep a closed number, and
//! the engine its items).
//!
//! I/O on an unserved number takes no lock, so a write that passed its "not served"
//! check before the entries were installed can reach the kernel after the model was
//! read. The hooks that decide "not served" load `generation()` before that check and
//! call `after_unserved` after the real call: when the generation moved and the number
//! is served now, the file is demoted again (the model may miss that write). Two plain
//! loads in the steady state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::demote;
use super::gate;
use super::instance::Instance;
use super::openfile::{Kind, OpenFile};
use super::promote::{fstat, read_fdinfo, same_target};
use super::table::{self, Entry, Table, MAX_FDS};
use crate::engine::events::{EPOLLET, EPOLLEXCLUSIVE, EPOLLONESHOT};
use crate::engine::stats::STATS;
use crate::engine::trace::{self, Record, Why, KIND_PROMOTE};
use crate::sys::{self, syscall};

/// Bumped by each file promotion, after the promoted numbers are marked served and
/// before the model is read back from the kernel.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// What identifies a remembered file in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ident {
    Pipe { ino: u64 },
    EventFd { id: u64, semaphore: bool },
}

#[derive(Clone, Copy, Debug)]
struct Rem {
    ident: Ident,
    /// Tracked children (slots) that may reach it.
    reach: u64,
    /// `FORGOTTEN` when it was remembered: a later `forget_all` drops it.
    epoch: u64,
    /// Passes that found it unmovable (`Outcome::Later`); at `GIVE_UP` it stays with the
    /// kernel for good.
    tries: u8,
}

/// Unmovable in this many passes (an ET, ONESHOT or orphaned registration, say, which
/// programs rarely change): the file stays with the kernel, and later passes no longer
/// pay for looking at it (every instance's list, `kcmp` per item).
const GIVE_UP: u8 = 4;

/// Taken under the table's write lock only, innermost (nothing is taken under it).
static REMEMBERED: Mutex<Vec<Rem>> = Mutex::new(Vec::new());
/// Bumped by `forget_all`, which takes no lock (it runs where a child starts, maybe in
/// a signal handler that interrupted a holder of `REMEMBERED`).
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

/// The remembered files, without those a `forget_all` dropped.
fn remembered() -> MutexGuard<'static, Vec<Rem>> {
    // panic = "abort": a poisoned lock cannot be observed.
    let mut r = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    let now = FORGOTTEN.load(Ordering::SeqCst);
    r.retain(|rem| rem.epoch == now);
    r
}

/// What a child's exec'd image keeps (its report, `children.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Kept<'a> {
    pub pipes: &'a [u64],
    pub eventfd: bool,
    /// More pipes than the report holds, or the scan failed: keeps everything.
    pub everything: bool,
}

/// The promotion generation, loaded before a hook's "not served" check.
#[inline(always)]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// After the real call of a hook that found `fd` not served with generation `before`:
/// a file promoted meanwhile on `fd` may miss what the call did, so it is demoted.
#[inline(always)]
pub fn after_unserved(fd: i32, before: u64) {
    if GENERATION.load(Ordering::Acquire) != before {
        after_unserved_slow(fd);
    }
}

#[cold]
fn after_unserved_slow(fd: i32) {
    if !table::is_served(fd) {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    demote::demote_fd(fd, Why::Unseen);
}

/// `dup`/`F_DUPFD` found `oldfd` not served, with generation `before`, and made
/// `newfd`: a promotion meanwhile may have served `oldfd` without seeing `newfd`.
pub fn after_unserved_dup(oldfd: i32, newfd: i32, before: u64) {
    if newfd < 0 || GENERATION.load(Ordering::Acquire) == before || !table::is_served(oldfd) {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    if let Some(mut gate) = table::enter_mut() {
        if let Some(Entry::File(file)) = gate.get(oldfd).cloned() {
            // Served numbers only: another one takes the file back to the kernel.
            if newfd > 2 && (newfd as usize) < MAX_FDS {
                super::duplicate(&mut gate, oldfd, newfd);
            } else {
                demote::demote_channel(&mut gate, &file, Why::FdNumber);
            }
        }
    }
}

/// A child the library does not track may get any fd (spawn, `system`, `popen`,
/// `clone`, an untracked fork, fd passing): every remembered file stays with the
/// kernel for good.
pub fn forget_all() {
    FORGOTTEN.fetch_add(1, Ordering::SeqCst);
}

/// Something remembered, maybe (a hint for `handed_off`; stale `true` only costs an
/// `fstat`).
static ANY: AtomicBool = AtomicBool::new(false);

/// `fd` is handed to something the hooks will not see again (stdio, glibc AIO,
/// `backtrace_symbols_fd`…): a remembered file may be it, so none is served again.
/// Sockets are never remembered, which keeps `connect` and `setsockopt` cheap.
pub fn handed_off(fd: i32) {
    if !ANY.load(Ordering::Relaxed) {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    if fstat(fd).is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
        return;
    }
    forget_all();
}

/// At a tracked fork, before the demotion (table held exclusively): the pipe pairs and
/// eventfds the table serves, to be remembered for the child in `slot` once they are
/// demoted (`remember`).
pub fn candidates(table: &Table) -> Vec<Ident> {
    let mut out = Vec::new();
    for (fd, e) in table.entries() {
        let Entry::File(file) = e else { continue };
        let ident = match file.kind {
            Kind::PipeRead => {
                // Both ends served: the write end is in the table too.
                let writer = file.peer();
                let both = writer.is_some_and(|w| {
                    table
                        .entries()
                        .any(|(_, e)| matches!(e, Entry::File(f) if Arc::ptr_eq(f, &w)))
                });
                if !both {
                    continue;
                }
                match pipe_ino(fd) {
                    Some(ino) => Ident::Pipe { ino },
                    None => continue,
                }
            }
            Kind::EventFd { semaphore } => match eventfd_info(fd) {
                Some((id, _)) => Ident::EventFd { id, semaphore },
                None => continue,
            },
            _ => continue,
        };
        if !out.contains(&ident) {
            out.push(ident);
        }
    }
    out
}

/// At a tracked fork whose child has `slot`: the files demoted now (`candidates`), and
/// every file still remembered, may be reached by that child.
pub fn remember(slot: usize, new: Vec<Ident>) {
    let bit = 1u64 << slot;
    let mut r = remembered();
    ANY.store(true, Ordering::Relaxed);
    let epoch = FORGOTTEN.load(Ordering::SeqCst);
    for rem in r.iter_mut() {
        rem.reach |= bit;
    }
    for ident in new {
        if !r.iter().any(|x| x.ident == ident) {
            r.push(Rem {
                ident,
                reach: bit,
                epoch,
                tries: 0,
            });
        }
    }
}

/// The child in `slot` was settled: it exec'd keeping `kept`, or exited (nothing
/// kept); `None`: it may still hold anything (doubt, died unseen).
pub fn child_settled(slot: usize, kept: Option<Kept<'_>>) {
    let bit = 1u64 << slot;
    remembered().retain_mut(|rem| {
        if rem.reach & bit == 0 {
            return true;
        }
        let keeps = match (kept, rem.ident) {
            (None, _) => true,
            (Some(k), _) if k.everything => true,
            (Some(k), Ident::Pipe { ino }) => k.pipes.contains(&ino),
            (Some(k), Ident::EventFd { .. }) => k.eventfd,
        };
        rem.reach &= !bit;
        !keeps
    });
}

/// Serve again every remembered file no child reaches, where that can be done exactly
/// (see the module comment); the others wait for a later call, or are dropped when the
/// program holds none of their numbers any more. `table` is held exclusively.
pub fn try_promote(table: &mut Table) {
    let ready: Vec<Ident> = remembered()
        .iter()
        .filter(|r| r.reach == 0)
        .map(|r| r.ident)
        .collect();
    if ready.is_empty() {
        if remembered().is_empty() {
            ANY.store(false, Ordering::Relaxed);
        }
        return;
    }
    let held = held_numbers();
    let mut lists = KernelLists::default();
    for ident in ready {
        let outcome = match held.as_ref() {
            Some(held) => promote_file(table, ident, held, &mut lists),
            None => Outcome::Busy,
        };
        match outcome {
            Outcome::Busy => {}
            Outcome::Later => {
                let mut r = remembered();
                if let Some(rem) = r.iter_mut().find(|r| r.ident == ident) {
                    rem.tries += 1;
                }
                r.retain(|r| r.ident != ident || r.tries < GIVE_UP);
            }
            Outcome::Promoted | Outcome::Gone => {
                remembered().retain(|r| r.ident != ident);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Promoted,
    /// Nothing to promote: the program holds none of its numbers.
    Gone,
    /// Not now (a registration that cannot be moved, an instance still kernel-only):
    /// counts towards `GIVE_UP`.
    Later,
    /// Not now, for a moment (an `epoll_ctl` or an unserved `close` in progress, a
    /// number that changed since the pass listed it): does not count.
    Busy,
}

/// Every open number (not the library's) naming a pipe or an eventfd: (number, what).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    PipeRead(u64),
    PipeWrite(u64),
    EventFd(u64),
}

fn held_numbers() -> Option<Vec<(i32, Held)>> {
    let text = list_fds()?;
    Some(
        text.into_iter()
            .filter_map(|fd| identify(fd).map(|h| (fd, h)))
            .collect(),
    )
}

/// What `fd` names now, if it is a pipe end or an eventfd.
fn identify(fd: i32) -> Option<Held> {
    let link = link_of(fd)?;
    if let Some(ino) = parse_pipe_link(&link) {
        // SAFETY: F_GETFL takes no pointer.
        let fl = unsafe { syscall!(fcntl(fd, libc::F_GETFL, 0)) }.ok()?;
        match fl & libc::O_ACCMODE {
            libc::O_RDONLY => Some(Held::PipeRead(ino)),
            libc::O_WRONLY => Some(Held::PipeWrite(ino)),
            _ => None,
        }
    } else if link == b"anon_inode:[eventfd]" {
        eventfd_info(fd).map(|(id, _)| Held::EventFd(id))
    } else {
        None
    }
}

/// The parsed item lists of kernel epoll fds (instances and parking fds), read once per
/// promotion pass: a pass looks at every instance for every remembered file, and
/// reading an epoll fd's fdinfo costs the kernel a formatted line per item. An entry is
/// dropped when the pass changes that list (a registration moved out of it), and all of
/// them when a demotion may have added to any.
#[derive(Default)]
struct KernelLists {
    lists: Vec<(i32, Vec<Item>)>,
}

impl KernelLists {
    fn get(&mut self, epfd: i32) -> Option<Vec<Item>> {
        if let Some((_, items)) = self.lists.iter().find(|(fd, _)| *fd == epfd) {
            return Some(items.clone());
        }
        let items = parse_items(&read_fdinfo(epfd)?);
        self.lists.push((epfd, items.clone()));
        Some(items)
    }

    fn forget(&mut self, epfd: i32) {
        self.lists.retain(|(fd, _)| *fd != epfd);
    }

    fn forget_all(&mut self) {
        self.lists.clear();
    }
}

fn promote_file(
    table: &mut Table,
    ident: Ident,
    held: &[(i32, Held)],
    lists: &mut KernelLists,
) -> Outcome {
    let numbers = |want: &dyn Fn(Held) -> bool| -> Vec<i32> {
        held.iter()
            .filter(|&&(_, h)| want(h))
            .map(|&(fd, _)| fd)
            .collect()
    };
    let (reads, writes) = match ident {
        Ident::Pipe { ino } => (
            numbers(&|h| h == Held::PipeRead(ino)),
            numbers(&|h| h == Held::PipeWrite(ino)),
        ),
        Ident::EventFd { id, .. } => (numbers(&|h| h == Held::EventFd(id)), Vec::new()),
    };
    if reads.is_empty() && writes.is_empty() {
        return Outcome::Gone;
    }
    let all: Vec<i32> = reads.iter().chain(&writes).copied().collect();
    let servable = |fd: &i32| *fd > 2 && (*fd as usize) < MAX_FDS && table.get(*fd).is_none();
    if !all.iter().all(servable) {
        return Outcome::Later;
    }
    if matches!(ident, Ident::Pipe { .. }) && (reads.is_empty() || writes.is_empty()) {
        return Outcome::Later; // one end is not the program's (or gone): stays
    }
    // An `epoll_ctl` routed to a kernel epoll fd inside the gate and not yet answered
    // may be about this file: wait for it (the last one to end asks for a retry). No
    // new one starts while the pass holds the write side, so the lists `lists` reads
    // from here on stay true for the whole pass, but for what the pass itself moves.
    let instances = demote::instances(table);
    let mut in_flight = false;
    for inst in &instances {
        in_flight |= inst.kernel_ctls_in_flight() != 0;
    }
    if in_flight {
        return Outcome::Busy;
    }
    let Some(moves) = registrations(instances, ident, &[&reads, &writes], lists) else {
        return Outcome::Later;
    };
    // From here to the installs, an unserved close anywhere in the process sends the
    // file back to a later pass (`gate::UnservedClose`): the numbers are looked at
    // again after the snapshot, so that a close before it is seen, and one after it is
    // caught by `unchanged` below.
    let Some(closes) = gate::CloseSnapshot::take() else {
        return Outcome::Busy;
    };
    if !held
        .iter()
        .filter(|(fd, _)| all.contains(fd))
        .all(|&(fd, h)| identify(fd) == Some(h))
    {
        return Outcome::Busy;
    }
    // The entries first: from here a hook that finds a number not served loaded the
    // generation before the bump below, and looks again after its call.
    let files: Vec<(Arc<OpenFile>, Vec<i32>)> = match ident {
        Ident::Pipe { .. } => {
            let (r, w) = OpenFile::new_pipe(reads[0], writes[0]);
            vec![(r, reads.clone()), (w, writes.clone())]
        }
        Ident::EventFd { semaphore, .. } => {
            vec![(OpenFile::new_eventfd(reads[0], 0, semaphore), reads.clone())]
        }
    };
    for (file, fds) in &files {
        for &fd in fds {
            super::install(table, fd, Entry::File(Arc::clone(file)));
        }
    }
    if !closes.unchanged() {
        // A close that found one of these numbers unserved may be about to close it
        // (or has): undone, nothing was moved yet. The entries are new (the numbers
        // had none), so nothing else refers to them.
        for &fd in &all {
            table.remove(fd);
        }
        return Outcome::Busy;
    }
    GENERATION.fetch_add(1, Ordering::SeqCst);
    // The model, read back after the bump.
    let synced = match ident {
        Ident::Pipe { .. } => fionread(reads[0]).map(|n| {
            files[0].0.resync_pipe(n, reads.len());
            files[1].0.resync_pipe(0, writes.len());
        }),
        Ident::EventFd { .. } => eventfd_info(reads[0]).map(|(_, count)| {
            files[0].0.resync_eventfd(count, reads.len());
        }),
    };
    if synced.is_none() {
        demote::demote_channel(table, &files[0].0, Why::Unseen);
        lists.forget_all();
        return Outcome::Gone;
    }
    let mut moved = 0u32;
    let mut refused = false;
    for (inst, fd, events, data) in moves {
        let Some((file, _)) = files.iter().find(|(_, fds)| fds.contains(&fd)) else {
            continue;
        };
        // SAFETY: DEL takes no event pointer on this kernel; the instance's own fd.
        let del = unsafe {
            syscall!(epoll_ctl(
                inst.any_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut()
            ))
        };
        lists.forget(inst.any_fd());
        if del.is_err() {
            continue;
        }
        inst.kernel_item_removed();
        // The engine's item counts against the limit from now on (saturating: an item
        // demotion handed over was never counted as the program's).
        super::watches::kernel_watch_removed();
        file.note_watched();
        if inst
            .ep_ctl(
                libc::EPOLL_CTL_ADD,
                file,
                fd,
                (events, data),
                super::watches::max_watches(),
            )
            .is_err()
        {
            // Past the engine's watch limit: back to the kernel as it was, and the
            // file with it (below), since epoll_ctl on a served number looks in the
            // engine.
            inst.kernel_add(fd, events, data);
            refused = true;
            continue;
        }
        moved += 1;
    }
    if refused {
        demote::demote_channel(table, &files[0].0, Why::Unseen);
        lists.forget_all();
        return Outcome::Gone;
    }
    STATS.add(&STATS.promoted_files, 1);
    if trace::on() {
        trace::record(Record {
            kind: KIND_PROMOTE,
            sub: Why::Fork as u8,
            a: all[0] as u32,
            b: moved,
            g: 0,
            ..Record::default()
        });
    }
    Outcome::Promoted
}

/// One registration to move: (instance, fd number, events, data).
type Move = (Arc<Instance>, i32, u32, u64);

/// The registrations of the file in the instances' kernel epoll fds, if every one of
/// them can be moved into the engine exactly; `None` otherwise. `ends` holds the
/// numbers of each open file description (a pipe's read end and write end, or the
/// eventfd): an item is the file's when `kcmp(KCMP_EPOLL_TFD)` says its target is
/// one of them, whatever number keys it; it can be moved only when that key is a
/// number of the same description (an item keyed by a closed or reused number, an
/// orphan, stays with the kernel, and so does its file).
fn registrations(
    instances: Vec<Arc<Instance>>,
    ident: Ident,
    ends: &[&[i32]],
    lists: &mut KernelLists,
) -> Option<Vec<Move>> {
    let first = *ends.iter().find_map(|e| e.first())?;
    let ino = match ident {
        Ident::Pipe { ino } => ino,
        Ident::EventFd { .. } => anon_ino(first)?,
    };
    let mut out = Vec::new();
    for inst in instances {
        // A disarmed ONESHOT item that demotion parked (`parking.rs`) lives in the
        // parking fd, where `epoll_ctl` on a served number would not look.
        if let (_, Some(parking)) = inst.internal_fds() {
            let parked = lists.get(parking)?;
            for (i, item) in parked.iter().enumerate() {
                if item.ino != ino {
                    continue;
                }
                let toff = parked[..i].iter().filter(|l| l.tfd == item.tfd).count() as u32;
                for numbers in ends {
                    let Some(&n) = numbers.first() else { continue };
                    if same_target(parking, item.tfd, toff, n)? {
                        return None;
                    }
                }
            }
        }
        let epfd = inst.any_fd();
        let items = lists.get(epfd)?;
        for (i, item) in items.iter().enumerate() {
            if item.ino != ino {
                continue;
            }
            // Items keyed by the same number are told apart by their rank among them.
            let toff = items[..i].iter().filter(|l| l.tfd == item.tfd).count() as u32;
            let mut end_of_item = None;
            for (e, numbers) in ends.iter().enumerate() {
                let Some(&n) = numbers.first() else { continue };
                if same_target(epfd, item.tfd, toff, n)? {
                    end_of_item = Some(e);
                    break;
                }
            }
            let Some(e) = end_of_item else {
                continue; // another file in the same inode (another eventfd)
            };
            if !ends[e].contains(&item.tfd) {
                return None; // an orphan, or keyed by the other end's number
            }
            if inst.is_kernel_only() || inst.has_parked() {
                return None;
            }
            if item.events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE) != 0 {
                return None;
            }
            out.push((Arc::clone(&inst), item.tfd, item.events, item.data));
        }
    }
    Some(out)
}

/// One `tfd:` line of an epoll fd's fdinfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    tfd: i32,
    events: u32,
    data: u64,
    ino: u64,
}

/// `tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x`.
fn parse_items(text: &[u8]) -> Vec<Item> {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tfd:")?;
            let mut words = rest.split_whitespace();
            let tfd = words.next()?.parse().ok()?;
            let mut events = None;
            let mut data = None;
            let mut ino = None;
            while let Some(w) = words.next() {
                match w {
                    "events:" => events = u32::from_str_radix(words.next()?, 16).ok(),
                    "data:" => data = u64::from_str_radix(words.next()?, 16).ok(),
                    _ => {
                        if let Some(h) = w.strip_prefix("ino:") {
                            ino = u64::from_str_radix(h, 16).ok();
                        }
                    }
                }
            }
            Some(Item {
                tfd,
                events: events?,
                data: data?,
                ino: ino?,
            })
        })
        .collect()
}

/// `eventfd-id:` and `eventfd-count:` of eventfd `fd`.
fn eventfd_info(fd: i32) -> Option<(u64, u64)> {
    parse_eventfd(&read_fdinfo(fd)?)
}

fn parse_eventfd(text: &[u8]) -> Option<(u64, u64)> {
    let text = String::from_utf8_lossy(text);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .map(str::to_owned)
    };
    let id = field("eventfd-id:")?.parse().ok()?;
    let count = u64::from_str_radix(&field("eventfd-count:")?, 16).ok()?;
    Some((id, count))
}

fn pipe_ino(fd: i32) -> Option<u64> {
    fstat(fd).map(|st| st.st_ino)
}

fn anon_ino(fd: i32) -> Option<u64> {
    fstat(fd).map(|st| st.st_ino)
}

fn fionread(fd: i32) -> Option<i64> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into our own variable.
    unsafe {
        syscall!(syscall(
            libc::SYS_ioctl,
            libc::c_long::from(fd),
            libc::FIONREAD as libc::c_long,
            &mut n as *mut libc::c_int as libc::c_long,
            0,
            0,
            0
        ))
    }
    .ok()?;
    Some(i64::from(n))
}

/// The open numbers of this process, from `/proc/self/fd`.
fn list_fds() -> Option<Vec<i32>> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry.ok()?;
        if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            out.push(fd);
        }
    }
    Some(out)
}

fn link_of(fd: i32) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    Some(link.as_os_str().as_bytes().to_vec())
}

/// The inode in `pipe:[N]`.
pub fn parse_pipe_link(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"pipe:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

#[cfg(test)]
#[path = "filepromo_tests.rs"]
mod tests;
