//! Child tracking: which fork children can still reach the epoll instances they
//! inherited, so that the parent can serve an instance again once none can
//! (`promote.rs`).
//!
//! Before each fork (`before_fork`, under the table's write lock) the parent takes a
//! slot in its *bulletin*, one `MAP_SHARED` anonymous page shared with all its
//! children, and makes a close-on-exec *sentinel* pipe: the read end stays with the
//! parent (a library fd, `Entry::Internal`), the write end only with the child
//! (`Entry::Internal` there, so the program cannot close it). The kernel closes the
//! write end when the child exec's or its last thread dies: EOF on the read end.
//!
//! The child (the same library image) writes its slot's state:
//!
//! | state | written when |
//! |---|---|
//! | `RUNNING` | by the parent, before the fork |
//! | `EXEC_CLEAN` / `EXEC_HOLDS` | at `execve` and the rest of the family, before the real call: whether the new image keeps an epoll fd (a descriptor open without close-on-exec, found in `/proc/self/fd`); back to `RUNNING` when the exec fails |
//! | `EXITED` | at `_exit`, `_Exit`, `exit` |
//! | `DOUBT` | the child starts a process of its own (fork, clone, spawn) or passes fds with `SCM_RIGHTS`: it stops reporting |
//!
//! and then bumps the bulletin's `reports` counter. The parent looks at that counter,
//! one load, at the entry of `epoll_wait` and `epoll_ctl` (`check`). When it moved,
//! `check_slow` reads the states; a child whose state says it exec'd or exited is
//! settled only once its sentinel shows EOF, so a report written before an exec that
//! then fails is never trusted. A settled `EXEC_CLEAN` or `EXITED` child lets go of
//! its instances; every other outcome keeps them kernel-only for good (never promote
//! on doubt): `EXEC_HOLDS`, `DOUBT`, and a child that dies without a word (its state
//! stays `RUNNING`, so it is never settled). An exec the library does not see (a raw
//! `SYS_execve`) leaves `RUNNING` too.
//!
//! Lock order: the table's gate, then `TRACKER` (innermost; nothing else is taken
//! under it).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::instance::Instance;
use super::table::{self, Entry, Table, MAX_FDS};
use crate::sys::{self, syscall};

/// Children tracked at once; a fork past that is not tracked (its instances stay
/// kernel-only for good).
const SLOTS: usize = 64;

const FREE: u32 = 0;
const RUNNING: u32 = 1;
const EXEC_CLEAN: u32 = 2;
const EXEC_HOLDS: u32 = 3;
const EXITED: u32 = 4;
const DOUBT: u32 = 5;

/// Pipe inodes a child's report can list (`Bulletin::kept`); more keep everything.
const KEPT_PIPES: usize = 8;
/// `Bulletin::kept_flags`: the exec'd image keeps some eventfd.
const KEPT_EVENTFD: u32 = 1;
/// More pipes than `KEPT_PIPES`, or the scan failed: it may keep anything.
const KEPT_EVERYTHING: u32 = 2;

/// The page a parent shares with its children.
#[repr(C)]
struct Bulletin {
    /// Bumped by a child after each change of its state.
    reports: AtomicU64,
    states: [AtomicU32; SLOTS],
    /// Per slot, written by the child before its `EXEC_*` report: the pipe inodes its
    /// new image keeps without close-on-exec (0: none), and `KEPT_*` flags
    /// (`filepromo.rs`).
    kept: [[AtomicU64; KEPT_PIPES]; SLOTS],
    kept_flags: [AtomicU32; SLOTS],
}

/// This process's bulletin, for its own children (null until the first tracked fork).
static BULLETIN: AtomicPtr<Bulletin> = AtomicPtr::new(std::ptr::null_mut());
/// The value of `reports` when every report was last dealt with.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// A forwarded wait ended on an instance whose promotion waits for that
/// (`Instance::forward_ends`): the next entry tries the promotion again.
static RETRY: AtomicBool = AtomicBool::new(false);
/// In a tracked child: its slot in the parent's bulletin, and that bulletin.
static MY_SLOT: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());
static MY_BULLETIN: AtomicPtr<Bulletin> = AtomicPtr::new(std::ptr::null_mut());

/// One tracked child.
struct Child {
    slot: usize,
    /// The sentinel's read end.
    sentinel: i32,
    /// The instances it inherited.
    instances: Vec<Weak<Instance>>,
}

/// A child being forked: what `before_fork` made, for the parent and child steps.
struct Forking {
    slot: usize,
    read: i32,
    write: i32,
    instances: Vec<Weak<Instance>>,
}

struct Tracker {
    children: Vec<Child>,
    forking: Option<Forking>,
    /// Slots in use, one bit each.
    used: u64,
    /// Instances no child reaches any more, waiting for forwarded waits to end.
    pending: Vec<Weak<Instance>>,
}

static TRACKER: Mutex<Tracker> = Mutex::new(Tracker {
    children: Vec::new(),
    forking: None,
    used: 0,
    pending: Vec::new(),
});

fn tracker() -> MutexGuard<'static, Tracker> {
    // The library is built with panic = "abort": a poisoned lock cannot be observed.
    TRACKER.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's bulletin, mapped on first use.
fn bulletin() -> Option<&'static Bulletin> {
    let mut b = BULLETIN.load(Ordering::Acquire);
    if b.is_null() {
        // SAFETY: a fresh anonymous shared mapping; zero-filled, which is a valid
        // `Bulletin` (atomics at zero: every slot FREE).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Bulletin>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        b = p as *mut Bulletin;
        BULLETIN.store(b, Ordering::Release);
    }
    // SAFETY: the mapping is never unmapped in this process (a child forgets it as
    // its own bulletin but keeps it mapped), and holds only atomics.
    Some(unsafe { &*b })
}

/// Before a fork, under the table's write lock (`demote::prepare_tracked_fork`): a
/// slot and a sentinel for the child that will get `instances`. False when the child
/// cannot be tracked, else its slot.
pub fn before_fork(table: &mut Table, instances: &[Arc<Instance>]) -> Option<usize> {
    let mut t = tracker();
    t.forking = None;
    let b = bulletin()?;
    forget_silent_children(&mut t, table, b);
    let slot = (!t.used).trailing_zeros() as usize;
    if slot >= SLOTS {
        return None;
    }
    let mut ends = [0i32; 2];
    // SAFETY: pipe2 writes two fds into `ends`.
    if unsafe { syscall!(pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC)) }.is_err() {
        return None;
    }
    let [read, write] = ends.map(out_of_the_way);
    if read as usize >= MAX_FDS || write as usize >= MAX_FDS {
        close_quietly(read);
        close_quietly(write);
        return None;
    }
    super::install(table, read, Entry::Internal);
    b.states[slot].store(RUNNING, Ordering::SeqCst);
    t.used |= 1 << slot;
    t.forking = Some(Forking {
        slot,
        read,
        write,
        instances: instances.iter().map(Arc::downgrade).collect(),
    });
    Some(slot)
}

/// Children that exec'd unseen or died without a word (state still `RUNNING`, EOF on
/// the sentinel) are forgotten, so their slots and sentinels do not pile up: their
/// instances stay kernel-only for good.
fn forget_silent_children(t: &mut Tracker, table: &mut Table, b: &Bulletin) {
    let mut i = 0;
    while i < t.children.len() {
        let c = &t.children[i];
        if b.states[c.slot].load(Ordering::SeqCst) == RUNNING && sentinel_closed(c.sentinel) {
            let c = t.children.swap_remove(i);
            table.remove(c.sentinel);
            close_quietly(c.sentinel);
            b.states[c.slot].store(FREE, Ordering::SeqCst);
            t.used &= !(1u64 << c.slot);
            super::filepromo::child_settled(c.slot, None);
        } else {
            i += 1;
        }
    }
}

/// Move a sentinel end of the library's to a high number (near the soft fd limit, at
/// most 4096), so
/// that the numbers the program's own files get stay the ones the kernel alone would
/// give; `fd` itself when that cannot be done.
fn out_of_the_way(fd: i32) -> i32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our own struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return fd;
    }
    // Below 4096 even when the limit is higher (Node.js raises it to the hard limit,
    // often 2^20): the table grows to the highest number it holds.
    let top = lim.rlim_cur.min(4096) as i64;
    let floor = top - 256;
    if floor <= i64::from(fd) {
        return fd;
    }
    // SAFETY: duplicates the library's own new descriptor; close-on-exec as the
    // original.
    match unsafe { syscall!(fcntl(fd, libc::F_DUPFD_CLOEXEC, floor as libc::c_long)) } {
        Ok(high) => {
            close_quietly(fd);
            high
        }
        Err(_) => fd,
    }
}

/// In the parent after the fork, with the table still held: the child is tracked
/// (a failed fork leaves a child that never reports: its instances stay kernel-only).
pub fn parent_after_fork() {
    let mut t = tracker();
    if let Some(f) = t.forking.take() {
        close_quietly(f.write);
        t.children.push(Child {
            slot: f.slot,
            sentinel: f.read,
            instances: f.instances,
        });
    }
}

/// In the child after the fork, with the table still held (the only thread): the
/// parent's children are not this process's; its own report goes to its slot.
pub fn child_after_fork(table: &mut Table) {
    let mut t = tracker();
    let parent_bulletin = BULLETIN.swap(std::ptr::null_mut(), Ordering::SeqCst);
    SEEN.store(0, Ordering::SeqCst);
    RETRY.store(false, Ordering::SeqCst);
    t.pending.clear();
    t.used = 0;
    // The parent's remembered files are about the parent's children.
    super::filepromo::forget_all();
    for c in std::mem::take(&mut t.children) {
        table.remove(c.sentinel);
        close_quietly(c.sentinel);
    }
    match t.forking.take() {
        Some(f) if !parent_bulletin.is_null() => {
            table.remove(f.read);
            close_quietly(f.read);
            super::install(table, f.write, Entry::Internal);
            // SAFETY: the parent's bulletin, mapped in this process too.
            let b = unsafe { &*parent_bulletin };
            MY_SLOT.store(
                &b.states[f.slot] as *const AtomicU32 as *mut AtomicU32,
                Ordering::SeqCst,
            );
            MY_BULLETIN.store(parent_bulletin, Ordering::SeqCst);
        }
        _ => MY_SLOT.store(std::ptr::null_mut(), Ordering::SeqCst),
    }
}

/// The program moves one of the library's fds away from `from` (`fds.rs`): a sentinel
/// there now lives at `to`. Under the table's write lock.
pub fn internal_moved(from: i32, to: i32) {
    let mut t = tracker();
    for c in t.children.iter_mut().filter(|c| c.sentinel == from) {
        c.sentinel = to;
    }
}

fn close_quietly(fd: i32) {
    // SAFETY: closes a descriptor the library made for itself.
    let _ = unsafe { syscall!(close(fd)) };
}

/// Change this child's state from one of `from` to `to`, and tell the parent.
fn report(from: &[u32], to: u32) {
    let slot = MY_SLOT.load(Ordering::SeqCst);
    if slot.is_null() {
        return;
    }
    // SAFETY: MY_SLOT points into the parent's bulletin, mapped for this process's
    // whole life.
    let slot = unsafe { &*slot };
    let changed = slot
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
            from.contains(&s).then_some(to)
        })
        .is_ok();
    if changed {
        // SAFETY: as above, the same mapping.
        let b = unsafe { &*MY_BULLETIN.load(Ordering::SeqCst) };
        b.reports.fetch_add(1, Ordering::SeqCst);
    }
}

/// In a tracked child, just before an exec: report whether the new image keeps an
/// epoll fd.
pub fn child_exec_begins() {
    let slot = MY_SLOT.load(Ordering::SeqCst);
    if slot.is_null() {
        return;
    }
    let kept = scan_kept();
    let state = if kept.epoll { EXEC_HOLDS } else { EXEC_CLEAN };
    // SAFETY: MY_BULLETIN is the parent's mapping, mapped for this process's life.
    let b = unsafe { &*MY_BULLETIN.load(Ordering::SeqCst) };
    if let Some(i) = b.states.iter().position(|s| std::ptr::eq(s, slot)) {
        for (cell, &ino) in b.kept[i].iter().zip(kept.pipes.iter()) {
            cell.store(ino, Ordering::SeqCst);
        }
        let mut flags = 0;
        if kept.eventfd {
            flags |= KEPT_EVENTFD;
        }
        if kept.everything {
            flags |= KEPT_EVERYTHING;
        }
        b.kept_flags[i].store(flags, Ordering::SeqCst);
    }
    report(&[RUNNING], state);
}

/// The exec failed: the child runs on with everything it had.
pub fn child_exec_failed() {
    report(&[EXEC_CLEAN, EXEC_HOLDS], RUNNING);
}

/// The child is leaving (`_exit`, `exit`).
pub fn child_exits() {
    report(&[RUNNING], EXITED);
}

/// The child shares what it inherited in a way it does not report on (it starts a
/// process, or passes fds): the parent keeps everything with the kernel. The child
/// stops reporting, so nothing it starts writes to the slot either.
pub fn child_shares_onwards() {
    report(&[RUNNING, EXEC_CLEAN, EXEC_HOLDS, EXITED], DOUBT);
    MY_SLOT.store(std::ptr::null_mut(), Ordering::SeqCst);
}

/// What the image an exec starts keeps: the descriptors open without close-on-exec.
#[derive(Default)]
struct KeptScan {
    /// An epoll instance (or a descriptor that cannot be looked at).
    epoll: bool,
    pipes: [u64; KEPT_PIPES],
    npipes: usize,
    eventfd: bool,
    /// More pipes than fit, or the scan failed.
    everything: bool,
}

impl KeptScan {
    fn doubt() -> Self {
        KeptScan {
            epoll: true,
            everything: true,
            ..KeptScan::default()
        }
    }
}

/// The descriptors the exec'd image keeps. Raw system calls only: this runs in a fork
/// child of a possibly multi-threaded program, where no lock of libc's may be taken.
fn scan_kept() -> KeptScan {
    // SAFETY: openat of a NUL-terminated path.
    let dir = unsafe {
        syscall!(syscall(
            libc::SYS_openat,
            libc::c_long::from(libc::AT_FDCWD),
            c"/proc/self/fd".as_ptr() as libc::c_long,
            libc::c_long::from(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC),
            0,
            0,
            0
        ))
    };
    let Ok(dir) = dir else {
        return KeptScan::doubt();
    };
    let dir = dir as i32;
    let mut kept = KeptScan::default();
    if !scan_dir(dir, &mut kept) {
        kept = KeptScan::doubt();
    }
    close_quietly(dir);
    kept
}

/// False when the directory cannot be read to its end.
fn scan_dir(dir: i32, kept: &mut KeptScan) -> bool {
    let mut buf = [0u64; 512];
    loop {
        // SAFETY: getdents64 into our own 4 KiB buffer.
        let n = unsafe {
            syscall!(syscall(
                libc::SYS_getdents64,
                libc::c_long::from(dir),
                buf.as_mut_ptr() as libc::c_long,
                std::mem::size_of_val(&buf) as libc::c_long,
                0,
                0,
                0
            ))
        };
        let n = match n {
            Ok(0) => return true,
            Ok(n) => n as usize,
            Err(_) => return false,
        };
        // SAFETY: the kernel wrote `n` bytes of records into `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, n) };
        let mut off = 0usize;
        // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        while off + 19 <= n {
            let reclen = u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                return false;
            }
            let name = &bytes[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            if let Some(fd) = parse_fd(name) {
                if fd != dir {
                    look_at_kept(fd, kept);
                }
            }
            off += reclen;
        }
    }
}

fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        name.iter()
            .fold(0i32, |acc, &c| acc * 10 + i32::from(c - b'0')),
    )
}

/// Note what `fd` is when it survives an exec: an epoll instance (or unknown), a
/// pipe, an eventfd.
fn look_at_kept(fd: i32, kept: &mut KeptScan) {
    // SAFETY: F_GETFD takes no pointer.
    match unsafe { syscall!(fcntl(fd, libc::F_GETFD, 0)) } {
        Ok(flags) if flags & libc::FD_CLOEXEC != 0 => return,
        Err(_) => return, // closed meanwhile
        Ok(_) => {}
    }
    // The path, built without allocating (no lock of malloc's is taken in the child).
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut rest = fd.unsigned_abs();
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for i in 0..len {
        path[14 + i] = digits[len - 1 - i];
    }
    let mut target = [0u8; 64];
    // SAFETY: readlinkat of a NUL-terminated path into our own buffer.
    let n = unsafe {
        syscall!(syscall(
            libc::SYS_readlinkat,
            libc::c_long::from(libc::AT_FDCWD),
            path.as_ptr() as libc::c_long,
            target.as_mut_ptr() as libc::c_long,
            target.len() as libc::c_long,
            0,
            0
        ))
    };
    let Ok(n) = n else {
        *kept = KeptScan::doubt();
        return;
    };
    let target = &target[..n as usize];
    if target.starts_with(b"anon_inode:[eventpoll]") {
        kept.epoll = true;
    } else if target == b"anon_inode:[eventfd]" {
        kept.eventfd = true;
    } else if let Some(ino) = super::filepromo::parse_pipe_link(target) {
        if kept.pipes[..kept.npipes].contains(&ino) {
            return;
        }
        if kept.npipes == KEPT_PIPES {
            kept.everything = true;
        } else {
            kept.pipes[kept.npipes] = ino;
            kept.npipes += 1;
        }
    }
}

/// At the entry of `epoll_wait` and `epoll_ctl` on an instance of ours: deal with the
/// children's reports, if any arrived, and retry a promotion that waited for a
/// forwarded wait once one ended. Two loads when nothing changed.
#[inline]
pub fn check() {
    let b = BULLETIN.load(Ordering::Relaxed);
    // SAFETY: a non-null BULLETIN is this process's mapping, never unmapped.
    let reported = !b.is_null()
        && unsafe { &*b }.reports.load(Ordering::Acquire) != SEEN.load(Ordering::Relaxed);
    if reported || RETRY.load(Ordering::Relaxed) {
        check_slow();
    }
}

/// A forwarded wait ended on an instance whose promotion waits for none to be left.
pub fn retry_promotions() {
    RETRY.store(true, Ordering::SeqCst);
}

#[cold]
fn check_slow() {
    if super::gate::in_library() {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    let Some(mut gate) = table::enter_mut() else {
        return;
    };
    let Some(b) = bulletin() else {
        return;
    };
    let reports = b.reports.load(Ordering::SeqCst);
    // Before the forwarded waits are counted (`promote_instance`): a wait that ends
    // after that sets it again.
    RETRY.store(false, Ordering::SeqCst);
    let mut t = tracker();
    let mut retry = false;
    let mut let_go: Vec<Arc<Instance>> = Vec::new();
    let mut i = 0;
    while i < t.children.len() {
        let c = &t.children[i];
        let outcome = match b.states[c.slot].load(Ordering::SeqCst) {
            RUNNING => None,
            DOUBT => Some((false, DOUBT)),
            _ if sentinel_closed(c.sentinel) => {
                // The write end is gone: the child exec'd or died, and wrote its last
                // state before that.
                let state = b.states[c.slot].load(Ordering::SeqCst);
                Some((state == EXEC_CLEAN || state == EXITED, state))
            }
            _ => {
                // Reported, but the exec has not happened yet (or will fail).
                retry = true;
                None
            }
        };
        let Some((clean, state)) = outcome else {
            i += 1;
            continue;
        };
        let c = t.children.swap_remove(i);
        gate.remove(c.sentinel);
        close_quietly(c.sentinel);
        settle_files(b, c.slot);
        b.states[c.slot].store(FREE, Ordering::SeqCst);
        t.used &= !(1u64 << c.slot);
        if clean {
            let_go.extend(c.instances.iter().filter_map(Weak::upgrade).filter(|inst| {
                inst.note_child_ended(state == EXITED);
                inst.child_let_go()
            }));
        }
    }
    if !retry {
        SEEN.store(reports, Ordering::Relaxed);
    }
    let mut candidates: Vec<Arc<Instance>> =
        t.pending.drain(..).filter_map(|w| w.upgrade()).collect();
    candidates.extend(let_go);
    for inst in candidates {
        if super::promote::promote_instance(&mut gate, &inst) == super::promote::Outcome::Wait {
            t.pending.push(Arc::downgrade(&inst));
        }
    }
    drop(t);
    super::filepromo::try_promote(&mut gate);
}

/// The child in `slot` is settled: unless in doubt, it lets go of the remembered files
/// its exec'd image does not keep (`filepromo.rs`).
fn settle_files(b: &Bulletin, slot: usize) {
    let state = b.states[slot].load(Ordering::SeqCst);
    if state == DOUBT {
        super::filepromo::child_settled(slot, None);
        return;
    }
    let mut pipes = [0u64; KEPT_PIPES];
    let mut n = 0;
    let flags = if state == EXITED {
        0
    } else {
        for cell in &b.kept[slot] {
            let ino = cell.load(Ordering::SeqCst);
            if ino != 0 {
                pipes[n] = ino;
                n += 1;
            }
        }
        b.kept_flags[slot].load(Ordering::SeqCst)
    };
    for cell in &b.kept[slot] {
        cell.store(0, Ordering::SeqCst);
    }
    b.kept_flags[slot].store(0, Ordering::SeqCst);
    super::filepromo::child_settled(
        slot,
        Some(super::filepromo::Kept {
            pipes: &pipes[..n],
            eventfd: flags & KEPT_EVENTFD != 0,
            everything: flags & KEPT_EVERYTHING != 0,
        }),
    );
}

/// True when the sentinel's write end is closed everywhere (EOF): the child exec'd
/// or is gone, and so is every process it started (they would hold the write end).
fn sentinel_closed(fd: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the real poll.
    let r = unsafe { syscall!(poll(&mut pfd, 1, 0)) };
    // Nothing is ever written to the pipe, so any readiness is the hang-up.
    matches!(r, Ok(1))
        && pfd.revents & (libc::POLLHUP | libc::POLLIN) != 0
        && pfd.revents & libc::POLLNVAL == 0
}
