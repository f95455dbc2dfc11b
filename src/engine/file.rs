//! What the engine needs from a watched file: a way to re-poll it (`f_op->poll`) and the
//! wait queue its wake-ups go through. The engine never talks to the operating system;
//! the file layer (`crate::files`) implements this trait for the fds it serves, and the
//! tests implement it with plain memory.

use std::sync::Arc;

use super::events::{EPOLLHUP, EPOLLIN, EPOLLRDNORM};
use super::sync::plain::{AtomicI64, AtomicU32, Ordering};
use super::waitqueue::WaitQueue;

/// A file the engine can watch: the kernel's `struct file` as far as epoll sees it.
pub trait EpFile: Send + Sync {
    /// The file's current readiness: every `EPOLL*` bit that holds now, unmasked.
    fn poll(&self) -> u32;

    /// The queue that the file's wake-ups run: the epitems watching it.
    fn wait_queue(&self) -> &WaitQueue;

    /// The file's readiness as a `ReadLevel`, when `poll` is exactly
    /// `ReadLevel::poll` of it (a pipe read end). An item keeps it, so that a transfer
    /// re-polls the file without a dynamic call.
    fn read_level(&self) -> Option<&Arc<ReadLevel>> {
        None
    }
}

/// The state a pipe read end's readiness is made of: the bytes buffered and whether
/// the write end is still open. Kept apart from the file so that an item can point at
/// it directly: the hot case of a transfer (event loops watch read ends) then reads one
/// cache line of the item and one of this, with no virtual call between.
#[derive(Debug)]
pub struct ReadLevel {
    /// Bytes buffered (writes seen minus reads seen). Transiently off while a write
    /// and a read race, which only delays a wake-up that follows.
    pub(crate) bytes: AtomicI64,
    /// `EPOLLHUP` once the other end's open file description is gone, 0 while it is
    /// alive: kept as the bit itself, so that a transfer ORs it in with no branch.
    hangup: AtomicU32,
}

impl ReadLevel {
    pub fn new(peer_open: bool) -> Self {
        ReadLevel {
            bytes: AtomicI64::new(0),
            hangup: AtomicU32::new(if peer_open { 0 } else { EPOLLHUP }),
        }
    }

    /// The other end was released (`pipe_release`): from now on the end polls HUP.
    pub fn peer_closed(&self) {
        self.hangup.store(EPOLLHUP, Ordering::SeqCst);
    }

    /// Whether the other end is still open.
    pub fn peer_open(&self) -> bool {
        self.hangup.load(Ordering::SeqCst) == 0
    }

    /// A pipe read end's `pipe_poll`: IN|RDNORM while bytes are buffered, HUP once the
    /// write end is gone. Branch-light: it runs once per event of a transfer.
    #[inline(always)]
    pub fn poll(&self) -> u32 {
        let readable = if self.bytes.load(Ordering::SeqCst) > 0 {
            EPOLLIN | EPOLLRDNORM
        } else {
            0
        };
        readable | self.hangup.load(Ordering::SeqCst)
    }
}
