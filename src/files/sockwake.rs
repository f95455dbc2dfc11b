//! Socket wake-ups: which of the program's calls on a served socketpair wake the other
//! end for write space. Each end keeps the skbs queued at it ([`SkbQueue`]); a read
//! wakes the sender when it frees one of the sender's skbs and the sender is then
//! writable, as `sock_wfree` -> `unix_write_space` does. Readiness itself stays asked of
//! the kernel (`OpenFile::kernel_poll`); only the wake-ups are modelled.
//!
//! The queue is changed by sends from the other end and by reads at this end. Each such
//! call takes a ticket before the real call (`begin`, in `prepare`) and returns it when
//! accounted (`account`): a call that overlapped another one on the same queue cannot
//! know in which order the kernel ran them, and the model is lost until the kernel
//! shows the queue empty again (see `skbqueue.rs`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::openfile::{Kind, OpenFile};
use super::skbqueue::{self, Freed, Ticket};
use super::{Dir, Done};
use crate::engine::events::*;

const WRITE_SPACE: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

/// The end whose receive queue a call in direction `dir` on `file` changes: its own for
/// a read, the peer's for a send.
fn queue_end(file: &Arc<OpenFile>, dir: Dir) -> Option<Arc<OpenFile>> {
    match dir {
        Dir::Read => Some(Arc::clone(file)),
        Dir::Write => file.peer(),
    }
}

/// Before the real call: a ticket on the queue the call may change.
pub fn begin(file: &Arc<OpenFile>, dir: Dir) -> Option<Ticket> {
    queue_end(file, dir).and_then(|end| end.rx().map(|mut q| q.begin()))
}

/// What a finished call did to its queue.
enum Change {
    None,
    Sent,
    Received,
}

fn change(file: &OpenFile, done: &Done) -> Change {
    if done.peek || !done.reached {
        return Change::None;
    }
    if done.result >= 0 {
        return match done.dir {
            Dir::Write => Change::Sent,
            Dir::Read => Change::Received,
        };
    }
    // unix_dgram_recvmsg dequeued the datagram before the copy out failed: it is freed
    // all the same. (A stream read consumes an skb only after copying from it.)
    if done.error == libc::EFAULT
        && done.dir == Dir::Read
        && matches!(file.kind, Kind::Socket { stream: false, .. })
    {
        return Change::Received;
    }
    Change::None
}

/// Account a finished call on socket `file` and run the wake-ups it causes. `replayed`:
/// the record comes from a signal handler, accounted after calls that may have run
/// after it.
pub fn account(file: &Arc<OpenFile>, done: &Done, replayed: bool) {
    let Kind::Socket { stream, dgram } = file.kind else {
        return;
    };
    // unix_seqpacket_sendmsg ignores the address; a datagram goes where it names.
    let named = dgram && done.named;
    let change = change(file, done);
    let n = done.result.max(0) as usize;
    let mut freed = Freed::Nothing;
    let end = queue_end(file, done.dir);
    if let Some((end, mut q)) = end.as_deref().and_then(|e| Some((e, e.rx()?))) {
        let alone = match done.ticket {
            Some(ticket) => q.finish(ticket),
            None => false,
        };
        if !matches!(change, Change::None) {
            if !alone || replayed || done.oob || named || (stream && done.messages) {
                // The order against other calls is unknown, or the skbs are cut or
                // sent in ways not modelled (out-of-band byte, per-message lengths of
                // mmsg, a datagram to a named socket).
                q.lose_track();
            }
            match change {
                Change::Sent if stream => {
                    if !q.is_lost() {
                        q.sent_stream(n, stream_skb_max(file, n));
                    }
                }
                Change::Sent => q.sent_datagrams(if done.messages { n as u64 } else { 1 }),
                Change::Received if stream => freed = q.read_stream(n),
                Change::Received if done.empty_vfs_read && n == 0 => {}
                Change::Received if done.messages => {
                    for _ in 0..n {
                        freed = worse(freed, q.read_datagram(true));
                    }
                }
                Change::Received => freed = q.read_datagram(n > 0 || done.result < 0),
                Change::None => {}
            }
        }
        if q.is_lost() && q.idle() && end.fd_refs.load(Ordering::SeqCst) > 0 {
            // Nothing in flight: if the kernel shows no data queued, the model is
            // exact again (POLLIN of a unix socket is set whenever its queue is not
            // empty; a shut-down end stays lost, at worst waking too often).
            if end.kernel_poll() & EPOLLIN == 0 {
                q.found_empty();
            }
        }
    }
    match change {
        Change::Sent if n > 0 || !stream => file.socket_sent(),
        Change::Received => wake_sender(file, freed),
        Change::None if done.dir == Dir::Write && done.result < 0 && done.reached => {
            send_failed(file, done.error, named)
        }
        _ => {}
    }
    if named && matches!(change, Change::Sent) {
        // The datagram went to a socket the library may not serve, whose reads (which
        // free it and wake this sender) it cannot see: the kernel takes the pair.
        super::demote::demote_fd_later(file);
    }
    // After the skbs it queued (and the peer's wake-ups).
    if stream && done.short_send && matches!(change, Change::Sent) {
        // Stopped early. On EAGAIN (or a signal while waiting for memory) the sender
        // is not writable and nothing happens; on a fault or a vanished peer the skb
        // being filled was freed, and unix_write_space wakes the sender if writable.
        wake_if_writable(file);
    }
}

/// A send on `file` failed with `error`. Where the kernel had allocated the skb (charged
/// to the sender) before failing, freeing it runs `unix_write_space` on the sender,
/// which wakes it if it is writable.
fn send_failed(file: &OpenFile, error: i32, named: bool) {
    let Kind::Socket { dgram, .. } = file.kind else {
        return;
    };
    let skb_freed = match error {
        // To a named socket, every failure after the skb was allocated frees it (no
        // such name, not allowed to send, the receiver shut down or gone, a wait for
        // room interrupted); before it, the sender is not writable (EAGAIN, or a
        // signal while waiting for memory), so the wake-up below does nothing, except
        // EPIPE from its own shutdown.
        libc::EPIPE if named => !file.send_shut(),
        _ if named => true,
        // The copy into the skb faulted (any type).
        libc::EFAULT => true,
        // unix_dgram_sendmsg found the peer dead: it disconnects and wakes the sender
        // for write space whether or not it is writable
        // (`unix_dgram_peer_wake_disconnect_wakeup`), then frees the skb.
        libc::ECONNREFUSED if dgram => {
            file.wait_queue().wake(WRITE_SPACE);
            return;
        }
        // No peer any more (after ECONNREFUSED), or the peer shut down its receiving.
        libc::ENOTCONN if dgram => true,
        // EPIPE from this end's own SEND_SHUTDOWN comes from `sock_alloc_send_pskb`,
        // before any skb.
        libc::EPIPE if dgram => !file.send_shut(),
        // Stream and seqpacket: a shut-down or closed peer sets this end's
        // SEND_SHUTDOWN, so the send fails before allocating.
        _ => false,
    };
    if skb_freed {
        wake_if_writable(file);
    }
}

/// `unix_write_space` on `sender`: a write-space wake-up if it is writable.
fn wake_if_writable(sender: &OpenFile) {
    if sender.wait_queue().wants(WRITE_SPACE) && sender.kernel_poll() & EPOLLOUT != 0 {
        sender.wait_queue().wake(WRITE_SPACE);
    }
}

fn worse(a: Freed, b: Freed) -> Freed {
    match (a, b) {
        (Freed::Unknown, _) | (_, Freed::Unknown) => Freed::Unknown,
        (Freed::Skbs, _) | (_, Freed::Skbs) => Freed::Skbs,
        _ => Freed::Nothing,
    }
}

/// The largest skb the stream sender `file` formed for a send of `n` bytes; its
/// `sk_sndbuf` is asked of the kernel (`SO_SNDBUF`, once) only when the send may have been
/// cut. Where the cut is not known, 1: a boundary after every byte, so every read
/// wakes (an extra edge, never a lost one).
fn stream_skb_max(file: &OpenFile, n: usize) -> usize {
    if n <= skbqueue::STREAM_ONE_SKB {
        return n.max(1);
    }
    if !stream_cut_checked() {
        return 1;
    }
    match file.sndbuf() {
        Some(sndbuf) => skbqueue::stream_skb_max(sndbuf),
        None => 1,
    }
}

/// Whether the running kernel cuts stream sends where `skbqueue::stream_skb_max` says
/// (`sys::skbprobe`), checked once per process. While one thread checks, the others
/// take the cut as unknown.
fn stream_cut_checked() -> bool {
    const UNCHECKED: u8 = 0;
    const CHECKING: u8 = 1;
    const AGREES: u8 = 2;
    const DIFFERS: u8 = 3;
    static STATE: AtomicU8 = AtomicU8::new(UNCHECKED);
    match STATE.compare_exchange(UNCHECKED, CHECKING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            let agrees = crate::sys::skbprobe::stream_first_skb_is(skbqueue::stream_skb_max);
            STATE.store(if agrees { AGREES } else { DIFFERS }, Ordering::SeqCst);
            agrees
        }
        Err(state) => state == AGREES,
    }
}

/// A read at `reader` freed `freed` of the skbs its peer sent: `unix_write_space` wakes
/// the peer if it is writable after the free.
fn wake_sender(reader: &OpenFile, freed: Freed) {
    if freed == Freed::Nothing {
        return;
    }
    let Some(sender) = reader.peer() else {
        return;
    };
    // A released sender's skbs wake nobody, and its fd number may be reused.
    if sender.fd_refs.load(Ordering::SeqCst) == 0 || !sender.wait_queue().wants(WRITE_SPACE) {
        return;
    }
    if freed == Freed::Unknown || sender.kernel_poll() & EPOLLOUT != 0 {
        sender.wait_queue().wake(WRITE_SPACE);
    }
}

/// `file`, a socket end, was released (its peer's `peer_open` already cleared): its
/// queue is purged, which frees the skbs `peer` sent (`unix_release_sock` ->
/// `kfree_skb` -> `sock_wfree`). A stream or seqpacket peer also changes state
/// (`sk_state_change`, every waiter woken, which covers the write space); a datagram
/// peer is woken only for the freed skbs, if it is then writable.
pub fn released(file: &OpenFile, peer: &OpenFile) {
    let freed = file.rx().map_or(Freed::Nothing, |mut q| q.purge());
    if !matches!(file.kind, Kind::Socket { dgram: true, .. }) {
        peer.wait_queue().wake(KEY_ALL);
        return;
    }
    // A released peer's fd number may be reused: nobody is to be woken or asked.
    if peer.fd_refs.load(Ordering::SeqCst) == 0 || !peer.wait_queue().wants(WRITE_SPACE) {
        return;
    }
    let wake = match freed {
        Freed::Nothing => false,
        Freed::Unknown => true,
        Freed::Skbs => peer.kernel_poll() & EPOLLOUT != 0,
    };
    if wake {
        peer.wait_queue().wake(WRITE_SPACE);
    }
}
