//! The receive queue of one socketpair end as af_unix holds it, reduced to what decides
//! a wake-up: the skbs queued there, in order, and how much of the first one was read.
//!
//! af_unix wakes a sender for write space only when an skb it sent is freed
//! (`sock_wfree` -> `unix_write_space`), and an skb is freed only when it is consumed
//! whole or its queue is purged. The library sees every send and every read on a served
//! socketpair, so it can replay where the kernel drew the skb boundaries:
//!
//! - `SOCK_STREAM`: `unix_stream_sendmsg` cuts a send into skbs of at most
//!   [`stream_skb_max`] bytes and never appends to a queued skb; a read consumes bytes
//!   across skbs and frees each skb it consumes to the end (`unix_stream_read_generic`);
//!   a read that stops inside an skb frees nothing.
//! - `SOCK_DGRAM`, `SOCK_SEQPACKET`: one skb per send, even of 0 bytes
//!   (`unix_dgram_sendmsg`), and one skb consumed per `recvmsg` that finds one, whatever
//!   the size of the buffer (`unix_dgram_recvmsg`, truncation frees the whole skb).
//!
//! When the model can no longer be sure of the order of the skbs (calls on the same
//! queue overlapped in time, a record replayed from a signal handler, `MSG_OOB`, a read
//! of more than it knows of), it is *lost*: every read then counts as freeing an skb
//! (an extra wake-up, never a lost one) until the kernel shows the queue empty again.
//!
//! Pure bookkeeping, with no locking and no calls: the caller keeps it under a lock.

use std::collections::VecDeque;

/// What an operation did to the skbs of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// No skb was freed: the sender is not woken.
    Nothing,
    /// At least one skb was freed: the sender is woken if it is writable now.
    Skbs,
    /// The model lost track: the sender is woken.
    Unknown,
}

/// The kernel's page size on the supported machine (x86_64).
const PAGE_SIZE: usize = 4096;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86_64 with the default
/// `CONFIG_MAX_SKB_FRAGS=17` (6.x): the part of a one-page skb head that is not data.
const SHARED_INFO: usize = 320;
/// `SKB_MAX_HEAD(0)`: the data one page of skb head holds.
const SKB_MAX_HEAD0: usize = PAGE_SIZE - SHARED_INFO;
/// `UNIX_SKB_FRAGS_SZ`: `PAGE_SIZE << get_order(32768)`.
const UNIX_SKB_FRAGS_SZ: usize = 32768;
/// A send of at most this many bytes is one skb whatever the send buffer: the smallest
/// `sk_sndbuf` (`SOCK_MIN_SNDBUF`, 4608) gives skbs of 2240 bytes.
pub const STREAM_ONE_SKB: usize = 2048;

/// The largest skb `unix_stream_sendmsg` forms for a sender whose `sk_sndbuf` is
/// `sndbuf` ("keep two messages in the pipe", then the order-0 fallback limit).
pub fn stream_skb_max(sndbuf: usize) -> usize {
    ((sndbuf >> 1).saturating_sub(64)).clamp(1, SKB_MAX_HEAD0 + UNIX_SKB_FRAGS_SZ)
}

/// Runs of equal stream skbs kept at most. The kernel bounds the queue by the sender's
/// `sk_sndbuf` (each skb costs its truesize), so this is reached only with very large
/// send buffers and many different sizes; the model then gives up instead of growing.
const MAX_RUNS: usize = 4096;

/// A call on a queue in progress: `begin` before the real call, `finish` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    start: u64,
    crowded: bool,
}

/// The skbs queued at one socketpair end (sent by the other end), and the calls on them
/// in progress.
#[derive(Debug, Default)]
pub struct SkbQueue {
    /// Stream: queued skbs as runs of (length, count), oldest first.
    runs: VecDeque<(usize, usize)>,
    /// Stream: bytes of the first skb already read.
    head_read: usize,
    /// Datagram and seqpacket: skbs queued.
    datagrams: u64,
    lost: bool,
    /// Calls begun and not finished.
    in_flight: u32,
    /// Calls begun so far.
    begun: u64,
}

impl SkbQueue {
    pub const fn new() -> Self {
        SkbQueue {
            runs: VecDeque::new(),
            head_read: 0,
            datagrams: 0,
            lost: false,
            in_flight: 0,
            begun: 0,
        }
    }

    /// A call that may change the queue is about to run.
    pub fn begin(&mut self) -> Ticket {
        let ticket = Ticket {
            start: self.begun,
            crowded: self.in_flight > 0,
        };
        self.begun += 1;
        self.in_flight += 1;
        ticket
    }

    /// The call of `ticket` returned. True when no other call on the queue ran at any
    /// time during it, so the order in which the kernel saw the calls is the order in
    /// which they are accounted.
    pub fn finish(&mut self, ticket: Ticket) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        !ticket.crowded && self.begun == ticket.start + 1
    }

    /// No call on the queue is in progress.
    pub fn idle(&self) -> bool {
        self.in_flight == 0
    }

    /// The model no longer knows where the skb boundaries are.
    pub fn lose_track(&mut self) {
        self.clear();
        self.lost = true;
    }

    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The kernel showed the queue empty while no call on it was in progress: the
    /// model is exact again.
    pub fn found_empty(&mut self) {
        self.clear();
        self.lost = false;
    }

    fn clear(&mut self) {
        self.runs.clear();
        self.head_read = 0;
        self.datagrams = 0;
    }

    /// Nothing queued, as far as the model knows.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.datagrams == 0
    }

    /// A stream send of `n` bytes was queued, in skbs of at most `skb_max` bytes. A
    /// short send stopped between skbs, so `n` (what the call returned) is cut the same way.
    pub fn sent_stream(&mut self, n: usize, skb_max: usize) {
        if self.lost || n == 0 {
            return;
        }
        let skb_max = skb_max.max(1);
        self.push_run(skb_max, n / skb_max);
        self.push_run(n % skb_max, 1);
    }

    fn push_run(&mut self, len: usize, count: usize) {
        if len == 0 || count == 0 {
            return;
        }
        if let Some((last, c)) = self.runs.back_mut() {
            if *last == len {
                *c += count;
                return;
            }
        }
        if self.runs.len() >= MAX_RUNS {
            self.lose_track();
        } else {
            self.runs.push_back((len, count));
        }
    }

    /// `k` datagrams (or seqpacket records) were queued.
    pub fn sent_datagrams(&mut self, k: u64) {
        if !self.lost {
            self.datagrams += k;
        }
    }

    /// A stream read consumed `n` bytes.
    pub fn read_stream(&mut self, mut n: usize) -> Freed {
        if self.lost {
            return Freed::Unknown;
        }
        let mut freed = false;
        while n > 0 {
            let Some((len, count)) = self.runs.front_mut() else {
                // More bytes than the model knows of: a send not accounted yet.
                self.lose_track();
                return Freed::Unknown;
            };
            let left = *len - self.head_read;
            if n < left {
                self.head_read += n;
                break;
            }
            n -= left;
            self.head_read = 0;
            freed = true;
            // Whole skbs of this run, without walking them one by one.
            let whole = (n / *len).min(*count - 1);
            n -= whole * *len;
            *count -= 1 + whole;
            if *count == 0 {
                self.runs.pop_front();
            }
        }
        if freed {
            Freed::Skbs
        } else {
            Freed::Nothing
        }
    }

    /// A `recvmsg` on a datagram or seqpacket end returned; `got` when it returned bytes.
    /// One returning 0 consumed an (empty or truncated) datagram if one was queued, and
    /// otherwise was an end of file, which consumes nothing.
    pub fn read_datagram(&mut self, got: bool) -> Freed {
        if self.lost {
            return Freed::Unknown;
        }
        if self.datagrams > 0 {
            self.datagrams -= 1;
            Freed::Skbs
        } else if got {
            self.lose_track();
            Freed::Unknown
        } else {
            Freed::Nothing
        }
    }

    /// The end was released: `unix_release_sock` frees everything queued there.
    pub fn purge(&mut self) -> Freed {
        let freed = if self.lost {
            Freed::Unknown
        } else if self.is_empty() {
            Freed::Nothing
        } else {
            Freed::Skbs
        };
        self.clear();
        freed
    }
}

#[cfg(test)]
#[path = "skbqueue_tests.rs"]
mod tests;
