//! The open file descriptions the engine serves: pipe ends, eventfds and socketpair
//! ends created by this process, with the readiness the library can prove.
//!
//! Readiness truth is the kernel's. The library keeps only what it can derive from the
//! operations it sees, and asks the kernel for the rest:
//!
//! | file | derived from seen operations | asked of the kernel (`poll`) |
//! |---|---|---|
//! | pipe read end | IN/RDNORM (bytes buffered), HUP (write end released) | nothing |
//! | pipe write end | OUT/WRNORM when empty, ERR (read end released) | OUT/WRNORM when not empty |
//! | eventfd | IN and OUT from the counter | everything, once the counter reached 2^63 |
//! | socketpair end | nothing | everything |
//!
//! Socket wake-ups are modelled, not readiness: each socketpair end keeps the skbs
//! queued at it (`skbqueue.rs`), so that a read wakes the sender only when it frees
//! one of the sender's skbs, as af_unix does (`sockwake.rs`).
//!
//! The derivation holds only while every operation on the file goes through the hooks.
//! When that can no longer be proven (fork, fd passing, stdio, raw syscalls, splice…),
//! the file is demoted: its registrations move to the kernel and it is served no more.

use crate::engine::sync::plain::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::skbqueue::SkbQueue;
use crate::engine::eventpoll::UNKNOWN_CPU;
use crate::engine::events::*;
use crate::engine::{EpFile, ReadLevel, WaitQueue};
use crate::sys;

/// What kind of file an entry is. A socket's `dgram` marks SOCK_DGRAM, whose shutdown
/// leaves the peer's state alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PipeRead,
    PipeWrite,
    EventFd { semaphore: bool },
    Socket { stream: bool, dgram: bool },
}

/// One open file description served by the engine.
///
/// A pipe's buffered byte count and its writer's liveness live in the read end's
/// `ReadLevel`, which the write end reaches through its strong reference to the read
/// end, and which the engine's items of the read end re-poll directly.
///
/// Two cache lines, in declaration order (`repr(C)`): the first holds what the hooks
/// only read once the file exists, the second what every write, read and wake-up of
/// the file writes (the wait queue's lock and count, an eventfd's counter). An eventfd
/// passes messages between threads through the second line only, so the first stays
/// shared in every CPU's cache. When the kind and the counter shared a line, a
/// message's writer had to fetch that line after each reader's change of the counter
/// (for the kind, then again to change the counter), and the wait queue's line
/// besides. (This host has no hardware counters to count the misses, and the timing
/// of the change is within its noise: `docs/benchmarks.md`.)
#[repr(C, align(64))]
pub struct OpenFile {
    pub kind: Kind,
    /// Whether the other end's open file description is still alive (all kinds but
    /// a pipe read end, which keeps it in `level`).
    peer_open: AtomicBool,
    /// One of the fd numbers referring to it, for asking the kernel.
    pub(crate) any_fd: AtomicI32,
    /// Unique in the process for the library's life (`NEXT_SERIAL`): with the address,
    /// it names the file across a real call without a reference held (`FileName`).
    pub(crate) serial: u64,
    /// Pipe read end: the write end has been registered in an instance at least once,
    /// so reads must find out whether they un-fill the pipe (sticky: clearing it
    /// would race with registrations).
    writer_watched: AtomicBool,
    /// Pipe write end: the CPU of a sleeper that its last write's wake-up queued an
    /// item for (`WaitQueue::wake`'s answer; `UNKNOWN_CPU`: none), so that the next
    /// write from another CPU looks for sleepers to raise ahead of it
    /// (`raise_ahead_of_write`). In this line, which the write's hook reads anyway,
    /// rather than the read end's wait queue, which other writers' wake-ups write: a
    /// write whose readers stay awake, or sleep on its own CPU, pays one load of a
    /// line it holds and a look at its CPU. Written only when it changes, so a steady
    /// workload leaves the line alone.
    sleeper_cpu_seen: AtomicU16,
    /// Pipe read end: the bytes buffered and whether the write end is alive, apart,
    /// so that the engine's items of the read end point at them and re-poll without a
    /// virtual call (`EpFile::read_level`).
    level: Option<Arc<ReadLevel>>,
    /// Pipe write end: its read end, which holds the shared byte count.
    reader: Option<Arc<OpenFile>>,
    /// The other end of a pipe or socketpair, weakly (the read end does not keep its
    /// writer alive).
    peer: OnceLock<Weak<OpenFile>>,
    /// Socket end: what its wake-ups depend on; boxed, so that pipe ends and eventfds
    /// do not carry it.
    sock: Option<Box<SockState>>,
    // The second line: written on every operation.
    wq: WaitQueue,
    /// Eventfd: the counter as far as the library saw (`EventCount`).
    counter: EventCount,
    /// fd numbers in this process referring to it (changed under the table's write
    /// lock). The description is released when it drops to zero.
    pub(crate) fd_refs: AtomicUsize,
}

// The split above, kept by the compiler.
const _: () = assert!(std::mem::offset_of!(OpenFile, wq) == 64);
const _: () = assert!(std::mem::size_of::<OpenFile>() == 128);
// `Arc<OpenFile>`'s allocation (two counters padded to the alignment, then the file)
// is the size class the library's allocator pools (`sys/alloc.rs`).
const _: () = assert!(
    std::mem::align_of::<OpenFile>() == crate::sys::alloc::POOLED_ALIGN
        && std::mem::align_of::<OpenFile>() + std::mem::size_of::<OpenFile>()
            == crate::sys::alloc::POOLED_SIZE
);

/// The state of a socketpair end that the wake-up model (`sockwake.rs`) keeps.
struct SockState {
    /// The skbs queued here by the peer, which decide when a read wakes the peer for
    /// write space.
    rx: Mutex<SkbQueue>,
    /// `shutdown` stopped this end's sending (its SEND_SHUTDOWN), so a send fails
    /// before an skb is allocated.
    send_shut: AtomicBool,
    /// `sk_sndbuf`, once asked of the kernel (0: not yet). It cannot change while the
    /// file is served: `setsockopt(SO_SNDBUF)` demotes it first.
    sndbuf: AtomicUsize,
}

/// An eventfd's counter, mirrored from the writes and reads the hooks account, in one
/// word that a write or read changes with one compare-and-swap and a re-poll reads with
/// a plain load.
///
/// States:
/// - **Known** (any value but `UNKNOWN`): the counter, once every write and read that
///   returned has been accounted. It is signed because a read may be accounted before
///   the write it raced with, leaving it below zero for a moment (and a write before
///   the read it raced with, above the true value): `poll` shows neither readable nor
///   unwritable for a negative value, as the counter was on both sides of that moment.
/// - **Unknown** (`UNKNOWN`): an update would have left the signed range (a counter of
///   2^63 or more, which the kernel allows up to `ULLONG_MAX - 1`). The file's readiness
///   is asked of the kernel from then on, which is exact, and the word stays unknown:
///   updates leave it alone. Wake-ups do not depend on the word, so they are unchanged.
///
/// Known → Unknown only; promotion (`resync_eventfd`) sets either state afresh.
struct EventCount(AtomicI64);

impl EventCount {
    const UNKNOWN: i64 = i64::MIN;

    fn new(value: u64) -> Self {
        EventCount(AtomicI64::new(Self::known_or_unknown(value)))
    }

    fn known_or_unknown(value: u64) -> i64 {
        i64::try_from(value).unwrap_or(Self::UNKNOWN)
    }

    fn set(&self, value: u64) {
        self.0
            .store(Self::known_or_unknown(value), Ordering::SeqCst);
    }

    /// Add `delta` (negative for a read), or go unknown if the sum leaves the range.
    fn update(&self, delta: impl Fn(i64) -> Option<i64>) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                if now == Self::UNKNOWN {
                    return None; // stays unknown: nothing to store
                }
                // A sum that lands on `UNKNOWN` itself reads as unknown too.
                Some(delta(now).unwrap_or(Self::UNKNOWN))
            });
    }

    fn add(&self, value: u64) {
        self.update(|now| i64::try_from(value).ok().and_then(|v| now.checked_add(v)));
    }

    fn sub(&self, value: u64) {
        self.update(|now| i64::try_from(value).ok().and_then(|v| now.checked_sub(v)));
    }

    /// The counter, or `None` when it is unknown.
    fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::SeqCst)).filter(|&v| v != Self::UNKNOWN)
    }
}

/// The next `OpenFile::serial`.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

impl OpenFile {
    fn new(kind: Kind, fd: i32, counter: u64, reader: Option<Arc<OpenFile>>) -> Arc<Self> {
        Arc::new(OpenFile {
            kind,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            peer_open: AtomicBool::new(!matches!(kind, Kind::EventFd { .. })),
            level: matches!(kind, Kind::PipeRead).then(|| Arc::new(ReadLevel::new(true))),
            writer_watched: AtomicBool::new(false),
            sleeper_cpu_seen: AtomicU16::new(UNKNOWN_CPU),
            counter: EventCount::new(counter),
            reader,
            peer: OnceLock::new(),
            wq: WaitQueue::new(),
            fd_refs: AtomicUsize::new(1),
            any_fd: AtomicI32::new(fd),
            sock: matches!(kind, Kind::Socket { .. }).then(|| {
                Box::new(SockState {
                    rx: Mutex::new(SkbQueue::new()),
                    send_shut: AtomicBool::new(false),
                    sndbuf: AtomicUsize::new(0),
                })
            }),
        })
    }

    fn link(a: &Arc<Self>, b: &Arc<Self>) {
        let _ = a.peer.set(Arc::downgrade(b));
        let _ = b.peer.set(Arc::downgrade(a));
    }

    /// The two ends of a new pipe: (read, write).
    pub fn new_pipe(rfd: i32, wfd: i32) -> (Arc<Self>, Arc<Self>) {
        let reader = Self::new(Kind::PipeRead, rfd, 0, None);
        let writer = Self::new(Kind::PipeWrite, wfd, 0, Some(Arc::clone(&reader)));
        Self::link(&reader, &writer);
        (reader, writer)
    }

    /// The two ends of a new socketpair.
    pub fn new_socketpair(a: i32, b: i32, stream: bool, dgram: bool) -> (Arc<Self>, Arc<Self>) {
        let kind = Kind::Socket { stream, dgram };
        let (ea, eb) = (Self::new(kind, a, 0, None), Self::new(kind, b, 0, None));
        Self::link(&ea, &eb);
        (ea, eb)
    }

    /// A new eventfd with its initial counter.
    pub fn new_eventfd(fd: i32, initval: u32, semaphore: bool) -> Arc<Self> {
        Self::new(Kind::EventFd { semaphore }, fd, u64::from(initval), None)
    }

    /// Promotion (`filepromo.rs`): the model taken back from the kernel, under the
    /// table's write lock before any registration of the file is in the engine: the
    /// bytes buffered in this pipe read end, and how many numbers refer to the file.
    pub fn resync_pipe(&self, bytes: i64, fd_refs: usize) {
        if let Some(level) = &self.level {
            level.bytes.store(bytes, Ordering::SeqCst);
        }
        self.fd_refs.store(fd_refs, Ordering::SeqCst);
    }

    /// Promotion: this eventfd's counter, read from the kernel, and its number count.
    pub fn resync_eventfd(&self, count: u64, fd_refs: usize) {
        self.counter.set(count);
        self.fd_refs.store(fd_refs, Ordering::SeqCst);
    }

    /// The other end, if it is still alive.
    pub fn peer(&self) -> Option<Arc<OpenFile>> {
        // The reference taken here and the caller's drop of it (`count-atomics`).
        crate::engine::sync::note_arc_drops(2);
        match &self.reader {
            Some(reader) => Some(Arc::clone(reader)),
            None => self.peer.get().and_then(Weak::upgrade),
        }
    }

    pub(crate) fn kernel_poll(&self) -> u32 {
        sys::poll_now(self.any_fd.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Bytes buffered in the pipe this end belongs to, as far as the library saw.
    pub fn pipe_bytes(&self) -> i64 {
        self.reader
            .as_deref()
            .unwrap_or(self)
            .level
            .as_ref()
            .map_or(0, |level| level.bytes.load(Ordering::SeqCst))
    }

    /// Pipe write end: a write is about to be made. When the last one found a
    /// sleeper on a CPU other than this thread's (`sleeper_cpu_seen`), raise ahead of
    /// it the wakers of the read end's sleepers on other CPUs
    /// (`WaitQueue::raise_ahead`), so that they wake while the write runs.
    pub fn raise_ahead_of_write(&self) {
        let seen = self.sleeper_cpu_seen.load(Ordering::Relaxed);
        if seen == UNKNOWN_CPU {
            return;
        }
        let cpu = sys::current_cpu();
        if cpu == seen {
            return;
        }
        if let Some(reader) = &self.reader {
            reader.wq.raise_ahead(KEY_READABLE, cpu);
        }
    }

    /// A write of `n` bytes to this pipe write end went through. Keeps the wake-up's
    /// answer (`WaitQueue::wake`) as the next write's hint (`sleeper_cpu_seen`).
    pub fn pipe_written(&self, n: usize) {
        if let Some(reader) = &self.reader {
            if let Some(level) = &reader.level {
                level.bytes.fetch_add(n as i64, Ordering::SeqCst);
            }
            // Every write is an edge for pipe readers (kernel commit 3b844826b6c6).
            let seen = reader.wq.wake(KEY_READABLE);
            if self.sleeper_cpu_seen.load(Ordering::Relaxed) != seen {
                self.sleeper_cpu_seen.store(seen, Ordering::Relaxed);
            }
        }
    }

    /// An instance is about to watch this file. For a pipe write end, reads of the
    /// pipe start checking whether they un-fill it (see `pipe_full_before_read`).
    pub fn note_watched(&self) {
        if let Some(reader) = &self.reader {
            reader.writer_watched.store(true, Ordering::SeqCst);
        }
    }

    /// Before a read of this pipe read end: was the pipe full? Asked of the kernel, and
    /// only once somebody watches the write end (nobody else can tell the difference).
    /// `None`: nobody watched it when the read began.
    pub fn pipe_full_before_read(&self) -> Option<bool> {
        if !self.writer_watched.load(Ordering::SeqCst) {
            return None;
        }
        if self.pipe_bytes() <= 0 {
            return Some(false);
        }
        Some(match self.peer() {
            Some(writer) if writer.wq.is_watched() => writer.kernel_poll() & EPOLLOUT == 0,
            _ => false,
        })
    }

    /// A read of `n` bytes from this pipe read end went through. `was_full` is what
    /// `pipe_full_before_read` said.
    pub fn pipe_read(&self, n: usize, was_full: Option<bool>) {
        if let Some(level) = &self.level {
            level.bytes.fetch_sub(n as i64, Ordering::SeqCst);
        }
        // Unknown, and the write end became watched meanwhile: its registration polled
        // the pipe either after this read (and saw the room) or before it, when the
        // pipe may have been full. Wake it: an edge the kernel would also have given.
        let wake = was_full.unwrap_or_else(|| self.writer_watched.load(Ordering::SeqCst));
        if wake {
            if let Some(writer) = self.peer() {
                // pipe_read wakes the writers only when it frees a slot of a full pipe
                // (`wake_writer`): a read of part of a page leaves the pipe full and
                // wakes nobody. Full before and writable now means a slot was freed.
                if was_full.is_none() || writer.kernel_poll() & EPOLLOUT != 0 {
                    writer.wq.wake(KEY_WRITABLE);
                }
            }
        }
    }

    /// A write of `value` to this eventfd went through.
    pub fn eventfd_written(&self, value: u64) {
        self.counter.add(value);
        self.wq.wake(EPOLLIN);
    }

    /// A read of `value` from this eventfd went through.
    pub fn eventfd_read(&self, value: u64) {
        self.counter.sub(value);
        self.wq.wake(EPOLLOUT);
    }

    /// Data was sent on this socket end.
    pub fn socket_sent(&self) {
        if let Some(peer) = self.peer() {
            peer.wq.wake(EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND);
        }
    }

    /// Socket end: the skbs queued here, locked.
    pub(crate) fn rx(&self) -> Option<std::sync::MutexGuard<'_, SkbQueue>> {
        let sock = self.sock.as_deref()?;
        Some(sock.rx.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Socket end: its `sk_sndbuf`.
    pub(crate) fn sndbuf(&self) -> Option<usize> {
        let sock = self.sock.as_deref()?;
        let known = sock.sndbuf.load(Ordering::Relaxed);
        if known != 0 {
            return Some(known);
        }
        let asked = sys::sndbuf(self.any_fd.load(Ordering::Relaxed))?;
        sock.sndbuf.store(asked, Ordering::Relaxed);
        Some(asked)
    }

    fn note_send_shut(&self) {
        if let Some(sock) = self.sock.as_deref() {
            sock.send_shut.store(true, Ordering::SeqCst);
        }
    }

    /// Socket end: whether `shutdown` stopped its sending (SEND_SHUTDOWN).
    pub(crate) fn send_shut(&self) -> bool {
        self.sock
            .as_deref()
            .is_some_and(|s| s.send_shut.load(Ordering::SeqCst))
    }

    /// `shutdown(how)` on this socket end succeeded: both ends change state
    /// (`sk_state_change`), except that `unix_shutdown` leaves a SOCK_DGRAM peer alone.
    pub fn socket_shutdown(&self, how: i32) {
        let dgram = matches!(self.kind, Kind::Socket { dgram: true, .. });
        if how == libc::SHUT_WR || how == libc::SHUT_RDWR {
            self.note_send_shut();
        }
        self.wq.wake(KEY_ALL);
        if dgram {
            return;
        }
        if let Some(peer) = self.peer() {
            // A stream or seqpacket peer stops sending when this end stops receiving.
            if how == libc::SHUT_RD || how == libc::SHUT_RDWR {
                peer.note_send_shut();
            }
            peer.wq.wake(KEY_ALL);
        }
    }

    /// The last descriptor of this end was closed (after the engine dropped its items):
    /// what the kernel's release does to the other end.
    pub fn released(&self) {
        if let Some(peer) = self.peer() {
            peer.note_peer_closed();
            // pipe_release and unix_release_sock wake everyone, without a key; but
            // unix_release_sock changes (and wakes) the peer only for SOCK_STREAM and
            // SOCK_SEQPACKET. Freeing the skbs the peer sent that were still queued
            // here wakes it for write space if it is then writable (sock_wfree ->
            // unix_write_space); for a datagram peer that is the only wake-up.
            if let Kind::Socket { .. } = self.kind {
                super::sockwake::released(self, &peer);
            } else {
                peer.wq.wake(KEY_ALL);
            }
        }
    }

    /// The other end was released.
    fn note_peer_closed(&self) {
        match &self.level {
            Some(level) => level.peer_closed(),
            None => self.peer_open.store(false, Ordering::SeqCst),
        }
    }

    /// Whether the other end is still open.
    fn peer_open(&self) -> bool {
        match &self.level {
            Some(level) => level.peer_open(),
            None => self.peer_open.load(Ordering::SeqCst),
        }
    }

    /// `poll` for everything but a pipe read end.
    #[cold]
    fn poll_other(&self) -> u32 {
        match self.kind {
            Kind::PipeRead => 0, // answered above, before the match
            Kind::PipeWrite => {
                let mut mask = 0;
                if !self.peer_open() {
                    mask |= EPOLLERR;
                }
                if self.pipe_bytes() <= 0 {
                    mask |= EPOLLOUT | EPOLLWRNORM;
                } else {
                    // Room depends on page-slot use the library cannot see.
                    mask |= self.kernel_poll() & (EPOLLOUT | EPOLLWRNORM);
                }
                mask
            }
            Kind::EventFd { .. } => match self.counter.get() {
                Some(count) => {
                    let mut mask = 0;
                    if count > 0 {
                        mask |= EPOLLIN;
                    }
                    // Writable below EVENTFD_MAX, which a known count (< 2^63) always is.
                    mask | EPOLLOUT
                }
                None => self.kernel_poll() & (EPOLLIN | EPOLLOUT | EPOLLERR),
            },
            Kind::Socket { .. } => self.kernel_poll(),
        }
    }

    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

impl EpFile for OpenFile {
    #[inline]
    fn poll(&self) -> u32 {
        if let Some(level) = &self.level {
            // A pipe read end, the hot case: read ends are what event loops watch.
            return level.poll();
        }
        self.poll_other()
    }

    fn read_level(&self) -> Option<&Arc<ReadLevel>> {
        self.level.as_ref()
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

#[cfg(test)]
#[path = "openfile_tests.rs"]
mod tests;
