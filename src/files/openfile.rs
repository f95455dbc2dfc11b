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
//! | eventfd | IN and OUT from the counter | nothing |
//! | socketpair end | nothing | everything |
//!
//! The derivation holds only while every operation on the file goes through the hooks.
//! When that can no longer be proven (fork, fd passing, stdio, raw syscalls, splice…),
//! the file is demoted: its registrations move to the kernel and it is served no more.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::engine::events::*;
use crate::engine::{EpFile, WaitQueue};
use crate::sys;

/// What kind of file an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PipeRead,
    PipeWrite,
    EventFd { semaphore: bool },
    Socket { stream: bool },
}

/// The state both ends of a pipe or socketpair share (for an eventfd, its own).
pub struct Channel {
    /// The two ends (pipe: read, write; socketpair: either).
    ends: [OnceLock<Weak<OpenFile>>; 2],
    /// Whether each end's open file description is still alive.
    open: [AtomicBool; 2],
    /// Pipe: bytes buffered (writes seen minus reads seen). Transiently off while a
    /// write and a read race, which only delays a wake-up that follows.
    bytes: AtomicI64,
    /// Eventfd: the counter, signed so that a read accounted before the write it
    /// raced with cannot wrap around.
    counter: Mutex<i128>,
}

/// One open file description served by the engine.
pub struct OpenFile {
    pub kind: Kind,
    channel: Arc<Channel>,
    /// Index of this end in `channel`.
    end: usize,
    wq: WaitQueue,
    /// fd numbers in this process referring to it (changed under the table's write
    /// lock). The description is released when it drops to zero.
    pub(crate) fd_refs: AtomicUsize,
    /// One of those fd numbers, for asking the kernel.
    pub(crate) any_fd: AtomicI32,
}

const EVENTFD_MAX: i128 = 0xffff_ffff_ffff_fffe;

impl OpenFile {
    fn new(kind: Kind, channel: Arc<Channel>, end: usize, fd: i32) -> Arc<Self> {
        let file = Arc::new(OpenFile {
            kind,
            channel,
            end,
            wq: WaitQueue::new(),
            fd_refs: AtomicUsize::new(1),
            any_fd: AtomicI32::new(fd),
        });
        let _ = file.channel.ends[end].set(Arc::downgrade(&file));
        file
    }

    fn channel(counter: i128) -> Arc<Channel> {
        Arc::new(Channel {
            ends: [OnceLock::new(), OnceLock::new()],
            open: [AtomicBool::new(true), AtomicBool::new(true)],
            bytes: AtomicI64::new(0),
            counter: Mutex::new(counter),
        })
    }

    /// The two ends of a new pipe: (read, write).
    pub fn new_pipe(rfd: i32, wfd: i32) -> (Arc<Self>, Arc<Self>) {
        let ch = Self::channel(0);
        (Self::new(Kind::PipeRead, Arc::clone(&ch), 0, rfd), Self::new(Kind::PipeWrite, ch, 1, wfd))
    }

    /// The two ends of a new socketpair.
    pub fn new_socketpair(a: i32, b: i32, stream: bool) -> (Arc<Self>, Arc<Self>) {
        let ch = Self::channel(0);
        let kind = Kind::Socket { stream };
        (Self::new(kind, Arc::clone(&ch), 0, a), Self::new(kind, ch, 1, b))
    }

    /// A new eventfd with its initial counter.
    pub fn new_eventfd(fd: i32, initval: u32, semaphore: bool) -> Arc<Self> {
        let ch = Self::channel(i128::from(initval));
        ch.open[1].store(false, Ordering::Relaxed);
        Self::new(Kind::EventFd { semaphore }, ch, 0, fd)
    }

    /// The other end, if it is still alive.
    pub fn peer(&self) -> Option<Arc<OpenFile>> {
        self.channel.ends[1 - self.end].get().and_then(Weak::upgrade)
    }

    fn peer_open(&self) -> bool {
        self.channel.open[1 - self.end].load(Ordering::SeqCst)
    }

    fn kernel_poll(&self) -> u32 {
        sys::poll_now(self.any_fd.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Bytes buffered in a pipe, as far as the library saw.
    pub fn pipe_bytes(&self) -> i64 {
        self.channel.bytes.load(Ordering::SeqCst)
    }

    /// A write of `n` bytes to this pipe write end went through.
    pub fn pipe_written(&self, n: usize) {
        self.channel.bytes.fetch_add(n as i64, Ordering::SeqCst);
        if let Some(reader) = self.peer() {
            // Every write is an edge for pipe readers (kernel commit 3b844826b6c6).
            reader.wq.wake(KEY_READABLE);
        }
    }

    /// Before a read of this pipe read end: was the pipe full? Asked of the kernel, and
    /// only when somebody watches the write end (nobody else can tell the difference).
    pub fn pipe_full_before_read(&self) -> bool {
        match self.peer() {
            Some(writer) if writer.wq.is_watched() && self.pipe_bytes() > 0 => writer.kernel_poll() & EPOLLOUT == 0,
            _ => false,
        }
    }

    /// A read of `n` bytes from this pipe read end went through.
    pub fn pipe_read(&self, n: usize, was_full: bool) {
        self.channel.bytes.fetch_sub(n as i64, Ordering::SeqCst);
        if was_full {
            if let Some(writer) = self.peer() {
                writer.wq.wake(KEY_WRITABLE);
            }
        }
    }

    /// A write of `value` to this eventfd went through.
    pub fn eventfd_written(&self, value: u64) {
        *self.channel.counter.lock().unwrap_or_else(|p| p.into_inner()) += i128::from(value);
        self.wq.wake(EPOLLIN);
    }

    /// A read of `value` from this eventfd went through.
    pub fn eventfd_read(&self, value: u64) {
        *self.channel.counter.lock().unwrap_or_else(|p| p.into_inner()) -= i128::from(value);
        self.wq.wake(EPOLLOUT);
    }

    /// Data was sent on this socket end (`empty`: a zero-length datagram).
    pub fn socket_sent(&self) {
        if let Some(peer) = self.peer() {
            peer.wq.wake(EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND);
        }
    }

    /// Data was consumed from this socket end: the peer may write again.
    pub fn socket_received(&self) {
        if let Some(peer) = self.peer() {
            peer.wq.wake(EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
        }
    }

    /// `shutdown` on this socket end: both ends change state (`sk_state_change`).
    pub fn socket_shutdown(&self) {
        self.wq.wake(KEY_ALL);
        if let Some(peer) = self.peer() {
            peer.wq.wake(KEY_ALL);
        }
    }

    /// The last descriptor of this end was closed (after the engine dropped its items):
    /// what the kernel's release does to the other end.
    pub fn released(&self) {
        self.channel.open[self.end].store(false, Ordering::SeqCst);
        if let Some(peer) = self.peer() {
            // pipe_release and unix_release_sock wake everyone, without a key.
            peer.wq.wake(KEY_ALL);
        }
    }

    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

impl EpFile for OpenFile {
    fn poll(&self) -> u32 {
        match self.kind {
            Kind::PipeRead => {
                let mut mask = 0;
                if self.pipe_bytes() > 0 {
                    mask |= EPOLLIN | EPOLLRDNORM;
                }
                if !self.peer_open() {
                    mask |= EPOLLHUP;
                }
                mask
            }
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
            Kind::EventFd { .. } => {
                let count = *self.channel.counter.lock().unwrap_or_else(|p| p.into_inner());
                let mut mask = 0;
                if count > 0 {
                    mask |= EPOLLIN;
                }
                if count < EVENTFD_MAX {
                    mask |= EPOLLOUT;
                }
                mask
            }
            Kind::Socket { .. } => self.kernel_poll(),
        }
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}
