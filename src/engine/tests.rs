//! Unit tests of the engine with plain memory files (`mock.rs`) and real threads.
//!
//! Every test builds its own instance and calls `clear()` at the end: an item holds its
//! instance (`Arc<EventPoll>`), so without `ep_free` the pair would leak and keep the
//! process-wide watch count up for the other tests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::events::*;
use super::mock::{as_dyn, mock_ep, mock_file, MockFile, MockWaker};
use super::waitqueue::WaitQueue;
use super::{check_exclusive, CtlError, EpFile, EventPoll, EventSink, Fault, Variant, Waker};

const NO_LIMIT: usize = usize::MAX;

fn add<F: EpFile + 'static>(ep: &Arc<EventPoll>, f: &Arc<F>, fd: i32, events: u32, data: u64) {
    ep.ctl(EPOLL_CTL_ADD, f, fd, (events, data), NO_LIMIT)
        .expect("ADD");
}

fn modify<F: EpFile + 'static>(ep: &Arc<EventPoll>, f: &Arc<F>, fd: i32, events: u32, data: u64) {
    ep.ctl(EPOLL_CTL_MOD, f, fd, (events, data), NO_LIMIT)
        .expect("MOD");
}

fn del<F: EpFile + 'static>(ep: &Arc<EventPoll>, f: &Arc<F>, fd: i32) {
    ep.ctl(EPOLL_CTL_DEL, f, fd, (0, 0), NO_LIMIT).expect("DEL");
}

/// One transfer into a fresh vector.
fn wait(ep: &EventPoll, maxevents: usize) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let n = ep.send_events(&mut out, maxevents).expect("transfer");
    assert_eq!(n, out.len(), "returned count matches copied events");
    out
}

fn datas(events: &[(u32, u64)]) -> Vec<u64> {
    events.iter().map(|&(_, d)| d).collect()
}

/// A sink whose buffer is writable for `writable` slots only (EFAULT past them).
struct FaultingSink {
    writable: usize,
    got: Vec<(u32, u64)>,
}

impl EventSink for FaultingSink {
    fn put(&mut self, index: usize, events: u32, data: u64) -> Result<(), Fault> {
        if index >= self.writable {
            return Err(Fault);
        }
        self.got.push((events, data));
        Ok(())
    }
}

/// Code a test runs from inside the engine, at a chosen point.
type Hook = Box<dyn FnOnce() + Send>;

/// A file that runs a hook once, inside its next `poll()`, after reading its readiness:
/// this puts the hook exactly between the transfer's re-poll and its re-link (the seed's
/// case-5 window), deterministically.
struct HookFile {
    ready: AtomicU32,
    wq: WaitQueue,
    hook: Mutex<Option<Hook>>,
}

impl HookFile {
    fn new(bits: u32) -> Arc<HookFile> {
        Arc::new(HookFile {
            ready: AtomicU32::new(bits),
            wq: WaitQueue::new(),
            hook: Mutex::new(None),
        })
    }

    fn arm(&self, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    fn set(&self, bits: u32, key: u32) {
        self.ready.store(bits, SeqCst);
        self.wq.wake(key);
    }
}

impl EpFile for HookFile {
    fn poll(&self) -> u32 {
        let seen = self.ready.load(SeqCst);
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        seen
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }
}

// ---------------------------------------------------------------------------------------
// Reported bits and data
// ---------------------------------------------------------------------------------------

/// The transfer's level-triggered loop stops at the first item that is not ready,
/// or not level-triggered, and the general loop takes that item over with the result of
/// the re-poll already made: every item is re-polled once, and each gets its own
/// decision (the two ready LT items go back, the unready one and the ET one do not).
#[test]
fn a_transfer_re_polls_each_item_once_where_its_steady_loop_hands_over() {
    for variant in [Variant::SinglePass, Variant::Seed, Variant::MultiPass] {
        let (ep, _w) = mock_ep(variant);
        let lt: Vec<_> = (0..2).map(|_| mock_file(EPOLLIN)).collect();
        let unready = mock_file(EPOLLIN);
        let et = mock_file(EPOLLIN);
        add(&ep, &lt[0], 0, EPOLLIN, 0);
        add(&ep, &lt[1], 1, EPOLLIN, 1);
        add(&ep, &unready, 2, EPOLLIN, 2);
        add(&ep, &et, 3, EPOLLIN | EPOLLET, 3);
        lt.iter()
            .chain([&unready, &et])
            .for_each(|f| assert_eq!(f.polls(), 1));
        unready.set_quietly(0);
        assert_eq!(datas(&wait(&ep, 8)), vec![0, 1, 3], "{variant:?}");
        let polls: Vec<usize> = lt
            .iter()
            .chain([&unready, &et])
            .map(|f| f.polls())
            .collect();
        assert_eq!(polls, vec![2, 2, 2, 2], "{variant:?}: one re-poll per item");
        assert_eq!(
            datas(&wait(&ep, 8)),
            vec![0, 1],
            "{variant:?}: only LT went back"
        );
        // The item where the steady loop stops may be the first one.
        lt[0].set_quietly(0);
        assert_eq!(datas(&wait(&ep, 8)), vec![1], "{variant:?}");
        assert_eq!(datas(&wait(&ep, 8)), vec![1], "{variant:?}");
        ep.free();
    }
}

#[test]
fn level_triggered_item_is_requeued_at_tail() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..3).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN, i as u64);
    }
    // The head item is delivered and, still ready, goes behind the other two.
    assert_eq!(datas(&wait(&ep, 1)), vec![0]);
    assert_eq!(datas(&wait(&ep, 3)), vec![1, 2, 0]);
    // Still ready: level-triggered items keep coming.
    assert_eq!(datas(&wait(&ep, 3)), vec![1, 2, 0]);
    ep.free();
}

#[test]
fn level_triggered_item_no_longer_ready_is_dropped() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN, 7);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 7)]);
    // Drained without telling the engine: the re-poll finds nothing and unlinks it.
    file.set_quietly(0);
    assert_eq!(wait(&ep, 8), vec![]);
    assert!(!ep.has_ready());
    file.add(EPOLLIN, KEY_READABLE);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 7)]);
    ep.free();
}

#[test]
fn edge_triggered_item_reported_once_per_wakeup() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 9);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 9)]);
    assert_eq!(wait(&ep, 8), vec![], "no wake-up, no second report");
    // Every wake-up is an edge, even without a state change (pipe semantics).
    file.add(EPOLLIN, KEY_READABLE);
    file.add(EPOLLIN, KEY_READABLE);
    assert_eq!(
        wait(&ep, 8),
        vec![(EPOLLIN, 9)],
        "two wake-ups before a transfer: one report"
    );
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn oneshot_disarms_after_one_delivery_until_mod() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLONESHOT, 5);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 5)]);
    // Disarmed: neither wake-ups nor HUP are reported, but the item is still there.
    file.add(EPOLLIN | EPOLLHUP, KEY_ALL);
    assert_eq!(wait(&ep, 8), vec![]);
    assert!(!ep.has_ready());
    assert_eq!(
        ep.ctl(EPOLL_CTL_ADD, &f, 3, (EPOLLIN, 5), NO_LIMIT),
        Err(CtlError::Exists)
    );
    // The private bits survive the disarm.
    let epi = f.wait_queue().snapshot().pop().unwrap();
    assert_eq!(epi.registration().0, EPOLLONESHOT);
    // MOD re-arms and, the file being ready, queues it.
    modify(&ep, &f, 3, EPOLLIN | EPOLLONESHOT, 6);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN | EPOLLHUP, 6)]);
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn err_and_hup_always_reported() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    // Interest in nothing at all still gets ERR and HUP.
    add(&ep, &f, 3, 0, 1);
    file.set(EPOLLERR | EPOLLHUP | EPOLLIN, KEY_ALL);
    assert_eq!(wait(&ep, 8), vec![(EPOLLERR | EPOLLHUP, 1)]);
    // MOD adds them too.
    modify(&ep, &f, 3, EPOLLOUT, 2);
    assert_eq!(wait(&ep, 8), vec![(EPOLLERR | EPOLLHUP, 2)]);
    ep.free();
}

#[test]
fn unrequested_bits_are_masked() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLPRI | EPOLLOUT | EPOLLWRNORM);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLRDHUP, 1);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN | EPOLLRDHUP, 1)]);
    ep.free();
}

#[test]
fn private_bits_never_returned() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    // Even a file claiming every bit cannot make a private bit appear.
    let file = mock_file(u32::MAX);
    let f = Arc::clone(&file);
    add(
        &ep,
        &f,
        3,
        EPOLLIN | EPOLLET | EPOLLONESHOT | EPOLLWAKEUP,
        1,
    );
    let file2 = mock_file(u32::MAX);
    let f2 = Arc::clone(&file2);
    add(&ep, &f2, 4, EPOLLIN | EPOLLEXCLUSIVE, 2);
    let got = wait(&ep, 8);
    assert_eq!(
        got,
        vec![
            (EPOLLIN | EPOLLERR | EPOLLHUP, 1),
            (EPOLLIN | EPOLLERR | EPOLLHUP, 2)
        ]
    );
    ep.free();
}

#[test]
fn data_returned_untouched() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let values = [0u64, u64::MAX, 0x8000_0000_0000_0001, 0xdead_beef_0000_0000];
    let files: Vec<_> = values.iter().map(|_| mock_file(EPOLLIN)).collect();
    for (i, (f, &d)) in files.iter().zip(&values).enumerate() {
        add(&ep, f, i as i32, EPOLLIN | EPOLLET, d);
    }
    assert_eq!(datas(&wait(&ep, 8)), values.to_vec());
    // MOD replaces the data, all 64 bits of it.
    modify(&ep, &files[0], 0, EPOLLIN | EPOLLET, 0x0123_4567_89ab_cdef);
    assert_eq!(datas(&wait(&ep, 8)), vec![0x0123_4567_89ab_cdef]);
    ep.free();
}

#[test]
fn round_robin_with_small_maxevents() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..5).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN, i as u64);
    }
    // Five always-ready items, two per call: nobody starves, in strict rotation.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let got = wait(&ep, 2);
        assert_eq!(got.len(), 2);
        seen.extend(datas(&got));
    }
    assert_eq!(seen, vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    ep.free();
}

#[test]
fn dup_numbers_of_one_file_are_separate_items() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN, 30);
    add(&ep, &f, 4, EPOLLIN, 40);
    assert_eq!(ep.len(), 2);
    assert_eq!(datas(&wait(&ep, 8)), vec![30, 40]);
    del(&ep, &f, 3);
    assert_eq!(datas(&wait(&ep, 8)), vec![40]);
    ep.free();
}

#[test]
fn two_files_under_one_fd_number_are_separate_items() {
    // The kernel's key is (file, fd): after close(3) while a dup kept the first file
    // open, a new file can be added under 3 too. Both items live side by side.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let first = mock_file(EPOLLIN);
    let second = mock_file(EPOLLIN);
    add(&ep, &first, 3, EPOLLIN, 1);
    add(&ep, &second, 3, EPOLLIN, 2);
    assert_eq!(ep.len(), 2);
    assert_eq!(datas(&wait(&ep, 8)), vec![1, 2]);
    assert_eq!(
        ep.ctl(EPOLL_CTL_ADD, &second, 3, (EPOLLIN, 9), NO_LIMIT),
        Err(CtlError::Exists)
    );
    del(&ep, &first, 3);
    assert_eq!(
        ep.ctl(EPOLL_CTL_MOD, &second, 3, (EPOLLIN, 22), NO_LIMIT),
        Ok(())
    );
    assert_eq!(datas(&wait(&ep, 8)), vec![22]);
    assert_eq!(
        ep.ctl(EPOLL_CTL_DEL, &first, 3, (0, 0), NO_LIMIT),
        Err(CtlError::NotFound)
    );
    del(&ep, &second, 3);
    assert!(ep.is_empty());
    ep.free();
}

#[test]
fn del_then_add_of_the_same_key_revives_the_item_with_the_new_registration() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    add(&ep, &file, 3, EPOLLIN | EPOLLET, 1);
    del(&ep, &file, 3);
    // Dead, but still on the file's wait queue: wake-ups do nothing.
    file.set(EPOLLIN, KEY_READABLE);
    assert!(!ep.has_ready());
    assert_eq!(wait(&ep, 8), vec![]);
    // Re-added: the insert's poll sees the readiness that arrived meanwhile.
    add(&ep, &file, 3, EPOLLIN, 2);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)]);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)], "now level-triggered");
    del(&ep, &file, 3);
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn an_item_still_on_the_ready_list_is_revived_and_its_stale_entry_never_reports() {
    // DEL of a queued item far from the list's tail leaves its entry there, stale; the
    // next ADD of the same key revives the item (no new one: the file keeps a single
    // watcher), which is queued anew at the tail, where the kernel's re-insert puts it.
    // The stale entry must never report, neither the old registration nor the new.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    add(&ep, &file, 3, EPOLLIN, 7);
    file.set(EPOLLIN, KEY_READABLE); // queued at the head
    let others: Vec<_> = (0..80).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in others.iter().enumerate() {
        add(&ep, f, 10 + i as i32, EPOLLIN, 100 + i as u64);
    }
    del(&ep, &file, 3);
    add(&ep, &file, 3, EPOLLIN, 8);
    assert_eq!(
        file.wait_queue().snapshot().len(),
        1,
        "revived, not a new item"
    );
    // Again before any transfer dropped the first stale entry: the revived item's new
    // entry is far from the tail too once 80 more items follow it, so one item has two
    // stale entries at once.
    let more: Vec<_> = (0..80).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in more.iter().enumerate() {
        add(&ep, f, 200 + i as i32, EPOLLIN, 300 + i as u64);
    }
    del(&ep, &file, 3);
    add(&ep, &file, 3, EPOLLIN, 9);
    assert_eq!(file.wait_queue().snapshot().len(), 1, "revived again");
    let mut want: Vec<u64> = (100..180).chain(300..380).collect();
    want.push(9);
    assert_eq!(
        datas(&wait(&ep, 512)),
        want,
        "the kernel's order, once each"
    );
    del(&ep, &file, 3);
    file.set(EPOLLIN, KEY_READABLE);
    assert!(!datas(&wait(&ep, 512)).contains(&9), "deleted for good");
    ep.free();
}

#[test]
fn release_and_demotion_forget_the_item_kept_after_del() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let as_file = as_dyn(&file);
    add(&ep, &file, 3, EPOLLIN, 1);
    del(&ep, &file, 3);
    assert_eq!(
        ep.take_items_of(&as_file),
        vec![],
        "a dead item is not handed to the kernel"
    );
    assert!(
        !file.wait_queue().is_watched(),
        "and it left the wait queue"
    );
    add(&ep, &file, 4, EPOLLIN, 2);
    del(&ep, &file, 4);
    assert_eq!(ep.release_file(&as_file), 0, "no live item");
    assert!(!file.wait_queue().is_watched());
    ep.free();
}

// ---------------------------------------------------------------------------------------
// epoll_ctl
// ---------------------------------------------------------------------------------------

#[test]
fn add_twice_is_eexist() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN, 1);
    assert_eq!(
        ep.ctl(EPOLL_CTL_ADD, &f, 3, (EPOLLOUT, 2), NO_LIMIT),
        Err(CtlError::Exists)
    );
    assert_eq!(ep.len(), 1);
    ep.free();
}

#[test]
fn mod_del_missing_is_enoent() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    assert_eq!(
        ep.ctl(EPOLL_CTL_MOD, &f, 3, (EPOLLIN, 0), NO_LIMIT),
        Err(CtlError::NotFound)
    );
    assert_eq!(
        ep.ctl(EPOLL_CTL_DEL, &f, 3, (0, 0), NO_LIMIT),
        Err(CtlError::NotFound)
    );
    // Same file, other number: still missing.
    add(&ep, &f, 3, EPOLLIN, 1);
    assert_eq!(
        ep.ctl(EPOLL_CTL_DEL, &f, 4, (0, 0), NO_LIMIT),
        Err(CtlError::NotFound)
    );
    del(&ep, &f, 3);
    assert_eq!(
        ep.ctl(EPOLL_CTL_DEL, &f, 3, (0, 0), NO_LIMIT),
        Err(CtlError::NotFound)
    );
    ep.free();
}

#[test]
fn unknown_op_is_einval_and_watch_limit_is_enospc() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    assert_eq!(
        ep.ctl(42, &f, 3, (EPOLLIN, 0), NO_LIMIT),
        Err(CtlError::Invalid)
    );
    // A limit of zero is always reached, whatever other tests hold.
    assert_eq!(
        ep.ctl(EPOLL_CTL_ADD, &f, 3, (EPOLLIN, 0), 0),
        Err(CtlError::NoSpace)
    );
    assert!(ep.is_empty());
    ep.free();
}

#[test]
fn mod_of_exclusive_item_is_einval() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLEXCLUSIVE, 1);
    assert_eq!(
        ep.ctl(EPOLL_CTL_MOD, &f, 3, (EPOLLIN, 2), NO_LIMIT),
        Err(CtlError::Invalid)
    );
    // DEL is still allowed.
    del(&ep, &f, 3);
    ep.free();
}

#[test]
fn check_exclusive_rules() {
    let ok_bits = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET;
    assert_eq!(
        check_exclusive(EPOLL_CTL_ADD, EPOLLEXCLUSIVE | ok_bits, false),
        Ok(())
    );
    assert_eq!(
        check_exclusive(EPOLL_CTL_ADD, EPOLLEXCLUSIVE | EPOLLIN, true),
        Err(CtlError::Invalid)
    );
    assert_eq!(
        check_exclusive(EPOLL_CTL_MOD, EPOLLEXCLUSIVE | EPOLLIN, false),
        Err(CtlError::Invalid)
    );
    for bad in [EPOLLONESHOT, EPOLLRDHUP, EPOLLPRI, EPOLLRDNORM, EPOLLWRNORM] {
        assert_eq!(
            check_exclusive(EPOLL_CTL_ADD, EPOLLEXCLUSIVE | EPOLLIN | bad, false),
            Err(CtlError::Invalid)
        );
    }
    // DEL ignores the event; without EXCLUSIVE nothing is checked.
    assert_eq!(check_exclusive(EPOLL_CTL_DEL, u32::MAX, true), Ok(()));
    assert_eq!(
        check_exclusive(EPOLL_CTL_ADD, EPOLLONESHOT | EPOLLRDHUP, true),
        Ok(())
    );
    assert_eq!(check_exclusive(EPOLL_CTL_MOD, EPOLLIN, false), Ok(()));
}

#[test]
fn mod_requeues_ready_item() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 1);
    assert_eq!(wait(&ep, 8).len(), 1);
    assert_eq!(wait(&ep, 8).len(), 0);
    // No wake-up: MOD's own re-poll queues the ready edge-triggered item.
    modify(&ep, &f, 3, EPOLLIN | EPOLLET, 2);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)]);
    // A MOD to an interest the file does not satisfy queues nothing.
    modify(&ep, &f, 3, EPOLLOUT | EPOLLET, 3);
    assert!(!ep.has_ready());
    ep.free();
}

#[test]
fn del_of_linked_item_is_never_reported() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    let file2 = mock_file(EPOLLIN);
    let f2 = Arc::clone(&file2);
    add(&ep, &f, 3, EPOLLIN, 1);
    add(&ep, &f2, 4, EPOLLIN, 2);
    assert!(ep.has_ready());
    del(&ep, &f, 3);
    // The stale ready-list entry does not count, and is never reported.
    assert_eq!(datas(&wait(&ep, 8)), vec![2]);
    del(&ep, &f2, 4);
    assert!(!ep.has_ready());
    // The file no longer reaches the instance.
    assert!(!file.wait_queue().is_watched());
    file.add(EPOLLIN, KEY_ALL);
    assert_eq!(wait(&ep, 8), vec![]);
    // Re-adding makes a fresh item, reported once with the new data.
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 11);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 11)]);
    ep.free();
}

#[test]
fn many_deleted_linked_items_are_compacted_away() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..200).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN, i as u64);
    }
    // Enough dead entries to trigger the lazy compaction, some left alive.
    for (i, f) in files.iter().enumerate().take(190) {
        del(&ep, f, i as i32);
    }
    assert!(ep.has_ready());
    assert_eq!(datas(&wait(&ep, 64)), (190..200).collect::<Vec<u64>>());
    for (i, f) in files.iter().enumerate().skip(190) {
        del(&ep, f, i as i32);
    }
    assert!(!ep.has_ready());
    assert_eq!(wait(&ep, 64), vec![]);
    ep.free();
}

// ---------------------------------------------------------------------------------------
// Wake-ups and keys
// ---------------------------------------------------------------------------------------

#[test]
fn key_filter_skips_uninterested_items() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 1);
    // A write-side wake-up does not concern an IN-only item, even if the file is ready.
    file.set(EPOLLIN | EPOLLOUT, KEY_WRITABLE);
    assert!(!ep.has_ready());
    assert_eq!(wait(&ep, 8), vec![]);
    file.add(EPOLLIN, KEY_READABLE);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 1)]);
    ep.free();
}

#[test]
fn a_bit_that_mod_adds_is_not_skipped_by_the_wait_queues_interest() {
    // The wait queue skips keyed wake-ups no watcher asked for without running a
    // callback; MOD must add its new bits first, or the wake-up of the state change
    // after it is dropped.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLOUT | EPOLLET, 1);
    assert!(!file.wait_queue().wants(EPOLLIN));
    modify(&ep, &f, 3, EPOLLIN | EPOLLET, 2);
    file.set(EPOLLIN, KEY_READABLE);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)]);
    ep.free();
}

#[test]
fn a_bit_that_a_reviving_add_brings_is_not_skipped_by_the_wait_queues_interest() {
    // The item a DEL leaves on the queue, dead, is revived by the next ADD of the same
    // key with the new mask: its bits join the queue's interest as an ADD's do.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLOUT | EPOLLET, 1);
    del(&ep, &f, 3);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 2);
    file.set(EPOLLIN, KEY_READABLE);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)]);
    ep.free();
}

#[test]
fn the_wait_queues_interest_is_forgotten_with_its_last_watcher() {
    // Interest only grows while the file is watched (a shrinking mask leaves its bits),
    // and starts over once no watcher is left.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLOUT, 1);
    assert!(file.wait_queue().wants(EPOLLOUT));
    ep.free();
    let (ep, _w) = mock_ep(Variant::SinglePass);
    add(&ep, &f, 3, EPOLLIN, 1);
    assert!(file.wait_queue().wants(EPOLLIN));
    assert!(!file.wait_queue().wants(EPOLLOUT));
    file.set(EPOLLOUT, KEY_WRITABLE);
    assert!(!ep.has_ready());
    ep.free();
}

#[test]
fn key_all_wakes_everyone() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let (ep2, _w2) = mock_ep(Variant::SinglePass);
    let file = mock_file(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 1);
    add(&ep, &f, 4, EPOLLOUT | EPOLLET, 2);
    add(&ep2, &f, 3, EPOLLRDHUP | EPOLLET, 3);
    file.set(EPOLLIN | EPOLLOUT | EPOLLRDHUP, KEY_ALL);
    // Newest registration first: the kernel's add_wait_queue inserts at the head.
    assert_eq!(wait(&ep, 8), vec![(EPOLLOUT, 2), (EPOLLIN, 1)]);
    assert_eq!(wait(&ep2, 8), vec![(EPOLLRDHUP, 3)]);
    ep.free();
    ep2.free();
}

#[test]
fn exclusive_wakes_stop_after_first_waking_item() {
    let eps: Vec<_> = (0..4).map(|_| mock_ep(Variant::SinglePass)).collect();
    let file = mock_file(0);
    let f = Arc::clone(&file);
    // eps[0] is a plain watcher; eps[1..] watch exclusively, in that order.
    add(&eps[0].0, &f, 3, EPOLLIN | EPOLLET, 0);
    for (i, (ep, _)) in eps.iter().enumerate().skip(1) {
        add(ep, &f, 3, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, i as u64);
    }
    // Nobody waits on eps[1]: its item is queued but wakes nobody, so the wake-up goes on
    // to eps[2], whose waiter takes it; eps[3] is left alone.
    assert!(eps[2].0.prepare_sleep());
    assert!(eps[3].0.prepare_sleep());
    file.set(EPOLLIN, KEY_READABLE);
    let ready: Vec<bool> = eps.iter().map(|(ep, _)| ep.has_ready()).collect();
    assert_eq!(ready, vec![true, true, true, false]);
    assert_eq!(eps[2].1.raises(), 1);
    assert_eq!(eps[3].1.raises(), 0);
    // A write-side key does not count as delivered to an IN-only exclusive item.
    let (ep5, _w5) = mock_ep(Variant::SinglePass);
    add(&ep5, &f, 4, EPOLLOUT | EPOLLEXCLUSIVE | EPOLLET, 5);
    assert!(ep5.prepare_sleep());
    for (ep, _) in &eps {
        wait(ep, 8);
    }
    file.set(EPOLLIN | EPOLLOUT, KEY_WRITABLE);
    assert!(
        ep5.has_ready(),
        "the OUT watcher gets the write-side wake-up"
    );
    ep5.finish_sleep(true);
    eps[2].0.finish_sleep(true);
    eps[3].0.finish_sleep(false);
    for (ep, _) in &eps {
        ep.free();
    }
    ep5.free();
}

// ---------------------------------------------------------------------------------------
// The transfer
// ---------------------------------------------------------------------------------------

#[test]
fn leftovers_return_to_head_in_order() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..4).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN | EPOLLET, i as u64);
    }
    assert_eq!(datas(&wait(&ep, 2)), vec![0, 1]);
    // A fresh wake-up of item 0 queues it behind the leftovers 2 and 3.
    files[0].add(EPOLLIN, KEY_READABLE);
    assert_eq!(datas(&wait(&ep, 8)), vec![2, 3, 0]);
    ep.free();
}

#[test]
fn fault_on_first_copy_returns_fault_and_keeps_item() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let a = mock_file(EPOLLIN);
    let fa = Arc::clone(&a);
    let b = mock_file(EPOLLIN);
    let fb = Arc::clone(&b);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET | EPOLLONESHOT, 1);
    add(&ep, &fb, 4, EPOLLIN | EPOLLET, 2);
    let mut sink = FaultingSink {
        writable: 0,
        got: vec![],
    };
    assert_eq!(ep.send_events(&mut sink, 8), Err(Fault));
    // Nothing was consumed: the ONESHOT item is still armed and both are still queued.
    let mut sink = FaultingSink {
        writable: 1,
        got: vec![],
    };
    assert_eq!(
        ep.send_events(&mut sink, 8),
        Ok(1),
        "a fault after a copy returns the count"
    );
    assert_eq!(sink.got, vec![(EPOLLIN, 1)]);
    assert_eq!(
        wait(&ep, 8),
        vec![(EPOLLIN, 2)],
        "the item that faulted is kept"
    );
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn zero_maxevents_transfers_nothing_and_keeps_everything() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let a = mock_file(EPOLLIN);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    assert_eq!(wait(&ep, 0), vec![]);
    assert_eq!(wait(&ep, 1), vec![(EPOLLIN, 1)]);
    ep.free();
}

/// Case 5 made deterministic: an ET item is queued by a wake-up, goes unready before
/// the transfer polls it, and becomes ready again (with a wake-up) right after the
/// re-poll read "not ready", while the item still looks linked. Returns the instance
/// and the file after that first transfer, which found nothing.
fn wakeup_landing_after_repoll(variant: Variant) -> (Arc<EventPoll>, Arc<HookFile>) {
    let (ep, _w) = mock_ep(variant);
    let file = HookFile::new(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 1);
    file.set(EPOLLIN, KEY_READABLE);
    file.ready.store(0, SeqCst);
    let hooked = file.clone();
    file.arm(move || hooked.set(EPOLLIN, KEY_READABLE));
    assert_eq!(wait(&ep, 8), vec![]);
    (ep, file)
}

#[test]
fn callback_during_repoll_is_remembered_singlepass() {
    // SinglePass must remember the wake-up the callback could not queue.
    let (ep, _file) = wakeup_landing_after_repoll(Variant::SinglePass);
    assert!(ep.has_ready(), "the missed wake-up re-injected the item");
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 1)]);
    ep.free();
}

#[test]
fn a_missed_flag_the_steady_loop_left_set_costs_one_repoll_not_a_stuck_item() {
    // The level-triggered steady loop leaves `missed` alone on items it puts back. When
    // such an item goes unready, the transfer that finds it so must clear the flag
    // before its last re-poll, or `unlink` keeps the item linked on every transfer and
    // the instance stays readable with nothing to report.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN, 1);
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 1)]);
    file.set(EPOLLIN, KEY_READABLE); // the item is linked: the wake-up is remembered
    assert_eq!(
        wait(&ep, 8),
        vec![(EPOLLIN, 1)],
        "steady loop, flag still set"
    );
    file.set_quietly(0);
    assert_eq!(wait(&ep, 8), vec![]);
    assert!(
        !ep.has_ready(),
        "the unready item was taken off in one transfer"
    );
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn a_level_triggered_wakeup_landing_after_the_steady_loops_repoll_is_kept() {
    // Case 5 for a level-triggered item, which the steady loop re-polls first: a
    // wake-up lands right after its re-poll read "not ready". The flag it sets sends
    // the item to the general loop, which clears it and re-polls: the event is
    // delivered by this transfer (the kernel's would leave it to the next, through
    // `ovflist`: either is a possible outcome of the race), and the next.
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let file = HookFile::new(0);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN, 1);
    file.set(EPOLLIN, KEY_READABLE);
    file.ready.store(0, SeqCst);
    let hooked = file.clone();
    file.arm(move || hooked.set(EPOLLIN, KEY_READABLE));
    let mut got = wait(&ep, 8);
    got.extend(wait(&ep, 8));
    assert_eq!(
        got,
        vec![(EPOLLIN, 1), (EPOLLIN, 1)],
        "ready, level-triggered"
    );
    file.ready.store(0, SeqCst);
    assert_eq!(wait(&ep, 8), vec![]);
    assert!(!ep.has_ready());
    ep.free();
}

#[test]
fn seed_variant_loses_wakeup_landing_after_repoll() {
    // The same sequence on the faithful 2007 seed: the wake-up is dropped, the file is
    // ready, and no transfer will ever report it. This documents the window SinglePass
    // closes; if it starts failing, the Seed variant no longer reproduces the seed.
    let (ep, file) = wakeup_landing_after_repoll(Variant::Seed);
    assert!(!ep.has_ready());
    assert_eq!(wait(&ep, 8), vec![], "the event is lost");
    assert_eq!(file.poll(), EPOLLIN);
    ep.free();
}

// ---------------------------------------------------------------------------------------
// Removal of files and instances
// ---------------------------------------------------------------------------------------

#[test]
fn release_file_removes_items_in_every_instance() {
    let (ep1, _w1) = mock_ep(Variant::SinglePass);
    let (ep2, _w2) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    let other = mock_file(EPOLLIN);
    let fo = Arc::clone(&other);
    add(&ep1, &f, 3, EPOLLIN, 1);
    add(&ep1, &f, 4, EPOLLIN, 2); // a dup of the same description
    add(&ep1, &fo, 5, EPOLLIN, 3);
    add(&ep2, &f, 3, EPOLLIN, 4);
    // The file layer calls release_file on each instance; each removes only its own.
    assert_eq!(ep1.release_file(&as_dyn(&f)), 2);
    assert!(file.wait_queue().is_watched(), "ep2 still watches the file");
    assert_eq!(datas(&wait(&ep1, 8)), vec![3]);
    assert_eq!(datas(&wait(&ep2, 8)), vec![4]);
    assert_eq!(ep2.release_file(&as_dyn(&f)), 1);
    assert!(!file.wait_queue().is_watched());
    assert_eq!((ep1.len(), ep2.len()), (1, 0));
    file.add(EPOLLIN, KEY_ALL);
    assert_eq!(datas(&wait(&ep2, 8)), Vec::<u64>::new());
    assert_eq!(ep1.release_file(&as_dyn(&f)), 0);
    ep1.free();
    ep2.free();
}

#[test]
fn take_items_of_returns_registrations() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let (ep2, _w2) = mock_ep(Variant::SinglePass);
    let file = mock_file(EPOLLIN);
    let f = Arc::clone(&file);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 30);
    add(&ep, &f, 4, EPOLLOUT | EPOLLONESHOT, 40);
    add(&ep2, &f, 3, EPOLLIN, 50);
    let mut regs = ep.take_items_of(&as_dyn(&f));
    regs.sort();
    // ERR and HUP were added at ADD time and are part of the registration.
    assert_eq!(
        regs,
        vec![
            (3, EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP, 30),
            (4, EPOLLOUT | EPOLLONESHOT | EPOLLERR | EPOLLHUP, 40)
        ]
    );
    assert!(ep.is_empty());
    assert_eq!(wait(&ep, 8), vec![], "taken items are no longer reported");
    assert_eq!(file.wait_queue().snapshot().len(), 1, "ep2's item stays");
    ep.free();
    ep2.free();
}

#[test]
fn clear_unhooks_everything() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..3).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN, i as u64);
    }
    ep.free();
    assert!(ep.is_empty());
    assert!(!ep.has_ready());
    for file in &files {
        assert!(!file.wait_queue().is_watched());
        file.add(EPOLLIN, KEY_ALL);
    }
    assert_eq!(wait(&ep, 8), vec![]);
    // The item -> instance reference cycle is broken: only our handle is left.
    assert_eq!(Arc::strong_count(&ep), 1);
}

// ---------------------------------------------------------------------------------------
// The sleeping protocol
// ---------------------------------------------------------------------------------------

#[test]
fn signal_raises_only_with_observers() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    let b = mock_file(0);
    let fb = Arc::clone(&b);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    add(&ep, &fb, 4, EPOLLIN | EPOLLET, 2);
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 0, "nobody observes: no raise");
    wait(&ep, 8);
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1);
    // Already raised: a second queue does not raise again.
    b.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1);
    assert!(w.is_raised());
    // Both items are still ready: the woken sleeper keeps the signal up (case 6: an
    // outer instance or a poller must see the instance readable while it transfers).
    ep.finish_sleep(true);
    assert!(w.is_raised());
    assert_eq!(w.lowers(), 0);
    // The transfer takes both edge-triggered items; nothing is left, so it lowers.
    assert_eq!(wait(&ep, 8).len(), 2);
    assert!(!w.is_raised());
    assert_eq!(w.lowers(), 1);
    ep.free();
}

#[test]
fn add_observer_raises_when_ready() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN, 1);
    ep.add_observer();
    assert_eq!(w.raises(), 0, "nothing ready");
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1, "an outer watcher is told");
    ep.remove_observer();
    let (ep2, w2) = mock_ep(Variant::SinglePass);
    add(&ep2, &fa, 3, EPOLLIN, 1);
    ep2.add_observer();
    assert_eq!(w2.raises(), 1, "already ready when the observer arrives");
    ep2.remove_observer();
    ep.free();
    ep2.free();
}

#[test]
fn prepare_sleep_refuses_when_ready() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(EPOLLIN);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    assert!(
        !ep.prepare_sleep(),
        "an item is queued: transfer instead of sleeping"
    );
    // A refusal leaves no observer behind: queueing later raises nothing.
    wait(&ep, 8);
    fa.wait_queue().wake(KEY_ALL);
    assert_eq!(w.raises(), 0);
    wait(&ep, 8);
    assert!(ep.prepare_sleep());
    ep.finish_sleep(false);
    ep.free();
}

#[test]
fn finish_sleep_lowers_whenever_signalled_and_nothing_is_ready() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    // Two sleepers, one raise, and the item taken before they finish (by a third
    // waiter): both see the signal and both lower it (the second finds it low), so
    // that a raise landing after its `raised` flag was cleared never stays up
    // unowned (`raise_landing_after_settle_is_consumed_by_next_sleeper`).
    assert!(ep.prepare_sleep());
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1);
    assert_eq!(wait(&ep, 8).len(), 1);
    let lowered = w.lowers();
    ep.finish_sleep(true);
    ep.finish_sleep(true);
    assert_eq!(w.lowers(), lowered + 2);
    assert!(!w.is_raised());
    // A sleeper that timed out without the signal lowers nothing.
    a.add(EPOLLIN, KEY_READABLE);
    assert!(!ep.prepare_sleep());
    wait(&ep, 8);
    assert!(ep.prepare_sleep());
    ep.finish_sleep(false);
    assert_eq!(w.lowers(), lowered + 2);
    ep.free();
}

#[test]
fn woken_sleeper_keeps_the_signal_up_while_items_are_ready() {
    // epoll41 of the kernel's selftests: one thread sleeps on the inner instance,
    // another polls an outer one that watches it. While the woken sleeper transfers a
    // level-triggered item, the inner instance must stay readable, as the kernel's
    // poll of an epoll file (which waits on `ep->mtx`) sees it.
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN, 1);
    ep.add_observer(); // the outer instance
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1);
    ep.finish_sleep(true);
    assert!(w.is_raised(), "lowered under a ready item");
    assert_eq!(wait(&ep, 1), vec![(EPOLLIN, 1)]);
    assert!(w.is_raised(), "lowered with the item re-queued");
    assert_eq!(w.lowers(), 0);
    // A second sleeper still gets an edge for the item left behind.
    assert!(!ep.prepare_sleep(), "the item is ready: no sleep");
    ep.remove_observer();
    ep.free();
}

#[test]
fn transfer_leaving_items_raises_for_a_sleeper_even_when_signal_is_up() {
    // epoll64: two sleepers on one level-triggered item. The first is woken and keeps
    // the signal up; its transfer re-queues the item and must raise again (a new edge)
    // for the second, who slept through the first raise.
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN, 1);
    assert!(ep.prepare_sleep());
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1);
    ep.finish_sleep(true);
    assert_eq!(wait(&ep, 1), vec![(EPOLLIN, 1)]);
    assert_eq!(w.raises(), 2, "the second sleeper was not raised for");
    ep.finish_sleep(true);
    assert_eq!(wait(&ep, 1), vec![(EPOLLIN, 1)]);
    ep.free();
}

#[test]
fn settle_lowers_stale_signal() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert!(w.is_raised());
    // Another thread takes the event before the sleeper runs: the transfer that empties
    // the list lowers the now stale signal.
    assert_eq!(wait(&ep, 8).len(), 1);
    assert!(!w.is_raised());
    assert_eq!(w.lowers(), 1);
    // Settling again with nothing raised does nothing.
    ep.settle();
    assert_eq!(w.lowers(), 1);
    ep.finish_sleep(false);
    ep.free();
}

#[test]
fn settle_keeps_signal_while_items_are_ready() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    ep.settle();
    assert!(w.is_raised());
    assert_eq!(w.lowers(), 0);
    ep.finish_sleep(true);
    ep.free();
}

/// A queued entry woken a second time (which sets `missed`) and then made unready, as a
/// pipe read end that got two writes and was MODded to EPOLLOUT: `prune` drops it and
/// lowers the signal an outer instance watches. It used to keep the entry for its stale
/// `missed` flag, so the signal stayed up with nothing to report, and a wait on a
/// nested instance with kernel-served fds came back one event short (the wake-up took
/// a slot of the kernel's look that the engine could not fill).
#[test]
fn prune_drops_an_unready_entry_woken_twice() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    ep.add_kernel_watcher();
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    a.add(EPOLLIN, KEY_READABLE);
    a.add(EPOLLIN, KEY_READABLE);
    assert!(w.is_raised());
    a.set_quietly(0);
    ep.prune();
    assert!(!ep.has_ready(), "the unready entry is dropped");
    assert!(!w.is_raised(), "and the signal lowered");
    // A wake-up after the prune queues it again.
    a.add(EPOLLIN, KEY_READABLE);
    assert!(w.is_raised());
    assert_eq!(datas(&wait(&ep, 8)), [1]);
    ep.remove_kernel_watcher();
    ep.free();
}

/// `prune_head` drops unready entries from the head up to the first ready one (which
/// a transfer then delivers), leaves what follows alone, and lowers the signal when it
/// empties the list.
#[test]
fn prune_head_stops_at_the_first_ready_entry() {
    let (ep, w) = mock_ep(Variant::SinglePass);
    ep.add_kernel_watcher();
    let files: Vec<Arc<MockFile>> = (0..4).map(|_| mock_file(0)).collect();
    for (i, f) in files.iter().enumerate() {
        let fi = Arc::clone(f);
        add(&ep, &fi, 3 + i as i32, EPOLLIN, i as u64);
        f.add(EPOLLIN, KEY_READABLE);
    }
    // Queued 0, 1, 2, 3; 0 and 1 (twice woken) and 3 go stale, 2 stays ready.
    files[1].add(EPOLLIN, KEY_READABLE);
    files[0].set_quietly(0);
    files[1].set_quietly(0);
    files[3].set_quietly(0);
    ep.prune_head();
    assert!(w.is_raised());
    // 2 is now the head and is delivered; 3 was not looked at, and goes at this
    // transfer (level-triggered 2 goes back).
    assert_eq!(datas(&wait(&ep, 1)), [2]);
    assert_eq!(datas(&wait(&ep, 8)), [2]);
    files[2].set_quietly(0);
    ep.prune_head();
    assert!(!ep.has_ready(), "every stale entry dropped");
    assert!(!w.is_raised(), "and the signal lowered");
    ep.remove_kernel_watcher();
    ep.free();
}

/// Case 4 of the seed, made deterministic: waiter 2 tries to sleep while waiter 1's
/// transfer has the whole list spliced away. Returns whether waiter 2 slept, the raises
/// seen once waiter 1 is done, and every event delivered in the end.
fn surplus_scenario(variant: Variant) -> (bool, usize, Vec<u64>) {
    let (ep, w) = mock_ep(variant);
    let first = HookFile::new(EPOLLIN);
    let ff = Arc::clone(&first);
    add(&ep, &ff, 0, EPOLLIN | EPOLLET, 0);
    let rest: Vec<_> = (1..50).map(|_| mock_file(EPOLLIN)).collect();
    for (i, f) in rest.iter().enumerate() {
        add(&ep, f, i as i32 + 1, EPOLLIN | EPOLLET, i as u64 + 1);
    }
    assert_eq!(w.raises(), 0);
    let slept = Arc::new(AtomicBool::new(false));
    let (ep2, slept2) = (Arc::clone(&ep), Arc::clone(&slept));
    first.arm(move || slept2.store(ep2.prepare_sleep(), SeqCst));
    let got = wait(&ep, 10);
    assert_eq!(datas(&got), (0..10).collect::<Vec<u64>>());
    let slept = slept.load(SeqCst);
    let raises = w.raises();
    if slept {
        ep.finish_sleep(true);
    }
    let mut all = datas(&got);
    loop {
        let more = wait(&ep, 10);
        if more.is_empty() {
            break;
        }
        all.extend(datas(&more));
    }
    ep.free();
    (slept, raises, all)
}

#[test]
fn surplus_left_by_a_transfer_wakes_the_next_waiter() {
    // The 2007 patch (Seed): waiter 2 finds the list empty and sleeps; only the
    // re-injection of waiter 1's surplus 40 can wake it.
    let (slept, raises, all) = surplus_scenario(Variant::Seed);
    assert!(slept, "waiter 2 found the list empty and slept");
    assert_eq!(raises, 1, "the 40 left behind woke waiter 2");
    assert_eq!(all, (0..50).collect::<Vec<u64>>());
}

#[test]
fn waiter_does_not_sleep_while_a_transfer_has_items_in_flight() {
    // Case 6: the kernel counts an active transfer's items as available (ovflist), so
    // waiter 2 does not sleep; it transfers next, after waiter 1 put the surplus back.
    for variant in [Variant::SinglePass, Variant::MultiPass] {
        let (slept, _, all) = surplus_scenario(variant);
        assert!(!slept, "{variant:?}: waiter 2 slept with items in flight");
        assert_eq!(all, (0..50).collect::<Vec<u64>>(), "{variant:?}");
    }
}

/// A waker whose `lower()` runs a hook just before consuming the signal: this puts the
/// hook inside `settle`'s lowering, deterministically.
struct HookWaker {
    inner: Arc<MockWaker>,
    hook: Arc<Mutex<Option<Hook>>>,
}

impl Waker for HookWaker {
    fn raise(&self) {
        self.inner.raise();
    }

    fn lower(&self) {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.lower();
    }
}

/// Regression test of the lost wake-up fixed in b4f0075: `settle()` used to clear
/// `raised` and then call `lower()`; a callback raising in between had its raise consumed
/// by that `lower()`, and the re-check, finding `raised` set again, did not raise: the
/// sleeper stayed asleep with an item queued and the waker down.
#[test]
fn settle_racing_a_callback_does_not_swallow_its_raise() {
    let inner = MockWaker::new();
    let hook: Arc<Mutex<Option<Hook>>> = Arc::new(Mutex::new(None));
    let ep = EventPoll::new(
        Box::new(HookWaker {
            inner: Arc::clone(&inner),
            hook: Arc::clone(&hook),
        }),
        Variant::SinglePass,
    );
    let a = mock_file(0);
    let fa = Arc::clone(&a);
    let b = mock_file(0);
    let fb = Arc::clone(&b);
    add(&ep, &fa, 3, EPOLLIN | EPOLLET, 1);
    add(&ep, &fb, 4, EPOLLIN | EPOLLET, 2);
    // A sleeper observes; `a` becomes ready and raises the waker for it.
    assert!(ep.prepare_sleep());
    a.add(EPOLLIN, KEY_READABLE);
    assert!(inner.is_raised());
    // Before the sleeper runs, another thread transfers `a`, and its settle() lowers the
    // stale signal; in that instant, `b` becomes ready on a third thread.
    let b2 = Arc::clone(&b);
    *hook.lock().unwrap() = Some(Box::new(move || b2.add(EPOLLIN, KEY_READABLE)));
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 1)]);
    // `b` is queued and the sleeper still observes: the waker must be up.
    assert!(ep.has_ready());
    assert!(
        inner.is_raised(),
        "sleeper left asleep: raises={} lowers={}",
        inner.raises(),
        inner.lowers()
    );
    ep.finish_sleep(true);
    ep.free();
}

// ---------------------------------------------------------------------------------------
// Real threads
// ---------------------------------------------------------------------------------------

/// Sleep as the preload library would, with the mock waker as the kernel-visible signal.
/// Returns whether the signal was seen (bounded, so a lost wake-up fails instead of
/// hanging the test run).
fn sleep_on(w: &MockWaker, limit: Duration) -> bool {
    let start = Instant::now();
    while !w.is_raised() {
        if start.elapsed() > limit {
            return false;
        }
        thread::yield_now();
    }
    true
}

#[test]
fn two_waiters_fifty_items_buffers_of_ten_threads() {
    for _round in 0..20 {
        let (ep, w) = mock_ep(Variant::SinglePass);
        let files: Vec<_> = (0..50).map(|_| mock_file(0)).collect();
        for (i, f) in files.iter().enumerate() {
            add(&ep, f, i as i32, EPOLLIN | EPOLLET, i as u64);
        }
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let total = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(3));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (ep, w, delivered, total, start) = (
                    Arc::clone(&ep),
                    Arc::clone(&w),
                    Arc::clone(&delivered),
                    Arc::clone(&total),
                    Arc::clone(&start),
                );
                thread::spawn(move || {
                    start.wait();
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while total.load(SeqCst) < 50 && Instant::now() < deadline {
                        let mut buf = Vec::new();
                        let n = ep.send_events(&mut buf, 10).unwrap();
                        assert!(n <= 10);
                        if n > 0 {
                            total.fetch_add(n, SeqCst);
                            delivered.lock().unwrap().extend(datas(&buf));
                        } else if ep.prepare_sleep() {
                            let signalled = sleep_on(&w, Duration::from_millis(5));
                            ep.finish_sleep(signalled);
                        }
                    }
                })
            })
            .collect();
        start.wait();
        for file in &files {
            file.add(EPOLLIN, KEY_READABLE);
        }
        for t in waiters {
            t.join().unwrap();
        }
        let mut got = delivered.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(
            got,
            (0..50).collect::<Vec<u64>>(),
            "every event exactly once"
        );
        assert_eq!(wait(&ep, 64), vec![], "nothing left");
        ep.free();
    }
}

/// A tiny deterministic PRNG (xorshift), so that the stress test needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn stress_toggles_transfers_and_ctl_churn_keep_invariants() {
    const SLOTS: usize = 16;
    const RUN: Duration = Duration::from_millis(400);
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Arc<Vec<Arc<MockFile>>> = Arc::new((0..SLOTS).map(|_| mock_file(0)).collect());
    // Item data = slot << 32 | generation; a generation is dead once DEL of it returned.
    let dead_upto: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    // Upper bounds on how often an edge-triggered slot may be delivered.
    let queue_causes: Arc<Vec<AtomicU64>> =
        Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let et_deliveries: Arc<Vec<AtomicU64>> =
        Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let pending: Arc<Vec<AtomicBool>> =
        Arc::new((0..SLOTS).map(|_| AtomicBool::new(false)).collect());
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let et = |slot: usize| slot.is_multiple_of(2);
    let interest = move |slot: usize| if et(slot) { EPOLLIN | EPOLLET } else { EPOLLIN };

    for (slot, f) in files.iter().enumerate() {
        add(&ep, f, slot as i32, interest(slot), (slot as u64) << 32 | 1);
        queue_causes[slot].fetch_add(1, SeqCst);
    }

    /// A sink that checks every event as it is copied, under the transfer's read lock.
    struct CheckingSink<'a> {
        dead_upto: &'a [AtomicU64],
        et_deliveries: &'a [AtomicU64],
        pending: &'a [AtomicBool],
        seen: HashSet<u64>,
        violations: &'a Mutex<Vec<String>>,
    }
    impl EventSink for CheckingSink<'_> {
        fn put(&mut self, _index: usize, events: u32, data: u64) -> Result<(), Fault> {
            let (slot, gen) = ((data >> 32) as usize, data & 0xffff_ffff);
            let mut bad = Vec::new();
            if gen <= self.dead_upto[slot].load(SeqCst) {
                bad.push(format!(
                    "slot {slot} gen {gen} reported after its DEL returned"
                ));
            }
            if !self.seen.insert(data) {
                bad.push(format!("slot {slot} reported twice in one transfer"));
            }
            if events & !(EPOLLIN | EPOLLERR | EPOLLHUP) != 0 {
                bad.push(format!("slot {slot} unexpected bits {events:#x}"));
            }
            if slot.is_multiple_of(2) {
                self.et_deliveries[slot].fetch_add(1, SeqCst);
            }
            self.pending[slot].store(false, SeqCst);
            self.violations.lock().unwrap().extend(bad);
            Ok(())
        }
    }

    let transfer = {
        let (dead_upto, et_deliveries, pending, violations) = (
            Arc::clone(&dead_upto),
            Arc::clone(&et_deliveries),
            Arc::clone(&pending),
            Arc::clone(&violations),
        );
        move |ep: &EventPoll, max: usize| {
            let mut sink = CheckingSink {
                dead_upto: &dead_upto,
                et_deliveries: &et_deliveries,
                pending: &pending,
                seen: HashSet::new(),
                violations: &violations,
            };
            ep.send_events(&mut sink, max).unwrap()
        }
    };

    let mut threads = Vec::new();
    // Two togglers: readiness up with a read-side wake-up, or down with a write-side one.
    for seed in [0x9e37_79b9_u64, 0x1234_5678] {
        let (files, queue_causes, stop) = (
            Arc::clone(&files),
            Arc::clone(&queue_causes),
            Arc::clone(&stop),
        );
        threads.push(thread::spawn(move || {
            let mut rng = Rng(seed);
            while !stop.load(SeqCst) {
                let slot = rng.below(SLOTS);
                if rng.below(3) == 0 {
                    files[slot].clear(EPOLLIN, KEY_WRITABLE);
                } else {
                    queue_causes[slot].fetch_add(1, SeqCst);
                    files[slot].add(EPOLLIN, KEY_READABLE);
                }
            }
        }));
    }
    // Two transferers with small buffers, so leftovers and rotation happen.
    for max in [3usize, 5] {
        let (ep, stop, transfer) = (Arc::clone(&ep), Arc::clone(&stop), transfer.clone());
        threads.push(thread::spawn(move || {
            while !stop.load(SeqCst) {
                if transfer(&ep, max) == 0 {
                    thread::yield_now();
                }
            }
        }));
    }
    // One ctl thread: DEL + re-ADD with a new generation, or MOD keeping the data.
    let churn = {
        let (ep, files, dead_upto, queue_causes, stop) = (
            Arc::clone(&ep),
            Arc::clone(&files),
            Arc::clone(&dead_upto),
            Arc::clone(&queue_causes),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            let mut rng = Rng(0xdead_beef);
            let mut gens = [1u64; SLOTS];
            while !stop.load(SeqCst) {
                let slot = rng.below(SLOTS);
                let f = &files[slot];
                let data = (slot as u64) << 32 | gens[slot];
                if rng.below(2) == 0 {
                    del(&ep, f, slot as i32);
                    dead_upto[slot].store(gens[slot], SeqCst);
                    gens[slot] += 1;
                    queue_causes[slot].fetch_add(1, SeqCst);
                    add(
                        &ep,
                        f,
                        slot as i32,
                        interest(slot),
                        (slot as u64) << 32 | gens[slot],
                    );
                } else {
                    queue_causes[slot].fetch_add(1, SeqCst);
                    modify(&ep, f, slot as i32, interest(slot), data);
                }
            }
        })
    };

    thread::sleep(RUN);
    stop.store(true, SeqCst);
    churn.join().unwrap();
    for t in threads.drain(..) {
        t.join().unwrap();
    }

    // Final phase, in rounds, with two transferers running: every file is emptied with a
    // wake-up (which queues its item only to be re-polled as not ready), then made ready
    // with a wake-up, which races with those re-polls (the seed's case-5 window). Each
    // round must end with every slot reported after its last wake-up.
    let done = Arc::new(AtomicBool::new(false));
    let finals: Vec<_> = (0..2)
        .map(|_| {
            let (ep, done, transfer) = (Arc::clone(&ep), Arc::clone(&done), transfer.clone());
            thread::spawn(move || {
                while !done.load(SeqCst) {
                    transfer(&ep, 4);
                }
            })
        })
        .collect();
    let mut lost = None;
    'rounds: for round in 0..200 {
        for file in files.iter() {
            file.clear(EPOLLIN, KEY_ALL);
        }
        for (slot, file) in files.iter().enumerate() {
            pending[slot].store(true, SeqCst);
            queue_causes[slot].fetch_add(1, SeqCst);
            file.add(EPOLLIN, KEY_READABLE);
        }
        // A queued item is reported within microseconds; a second means it was lost.
        let deadline = Instant::now() + Duration::from_secs(1);
        while pending.iter().any(|p| p.load(SeqCst)) {
            if Instant::now() > deadline {
                lost = Some(round);
                break 'rounds;
            }
            thread::yield_now();
        }
    }
    done.store(true, SeqCst);
    for t in finals {
        t.join().unwrap();
    }
    assert_eq!(lost, None, "a wake-up was lost in the final rounds");

    let violations = violations.lock().unwrap();
    assert!(
        violations.is_empty(),
        "{} violations, first: {:?}",
        violations.len(),
        violations.first()
    );
    for slot in 0..SLOTS {
        assert!(
            !pending[slot].load(SeqCst),
            "slot {slot}: ready after its last wake-up, never reported"
        );
        if et(slot) {
            let (d, c) = (
                et_deliveries[slot].load(SeqCst),
                queue_causes[slot].load(SeqCst),
            );
            assert!(
                d <= c,
                "slot {slot}: {d} edge-triggered deliveries for {c} wake-ups/ctl"
            );
        }
    }
    assert_eq!(ep.len(), SLOTS);
    ep.free();
}

// ---------------------------------------------------------------------------------------
// The three transfer algorithms agree on everything a single thread can see
// ---------------------------------------------------------------------------------------

const ALL_VARIANTS: [Variant; 3] = [Variant::SinglePass, Variant::MultiPass, Variant::Seed];

#[test]
fn every_variant_requeues_level_triggered_items_at_tail() {
    for v in ALL_VARIANTS {
        let (ep, _w) = mock_ep(v);
        let files: Vec<_> = (0..3).map(|_| mock_file(EPOLLIN)).collect();
        for (i, f) in files.iter().enumerate() {
            add(&ep, f, i as i32, EPOLLIN, i as u64);
        }
        assert_eq!(datas(&wait(&ep, 1)), vec![0], "{v:?}");
        assert_eq!(datas(&wait(&ep, 3)), vec![1, 2, 0], "{v:?}");
        assert_eq!(datas(&wait(&ep, 2)), vec![1, 2], "{v:?}");
        assert_eq!(datas(&wait(&ep, 8)), vec![0, 1, 2], "{v:?}");
        // Drained without a wake-up: the re-poll finds nothing and drops them.
        files[1].set_quietly(0);
        assert_eq!(datas(&wait(&ep, 8)), vec![0, 2], "{v:?}");
        assert_eq!(datas(&wait(&ep, 8)), vec![0, 2], "{v:?}");
        files[1].add(EPOLLIN, KEY_READABLE);
        assert_eq!(datas(&wait(&ep, 8)), vec![0, 2, 1], "{v:?}");
        ep.free();
    }
}

#[test]
fn every_variant_reports_edge_and_oneshot_items_once() {
    for v in ALL_VARIANTS {
        let (ep, _w) = mock_ep(v);
        let et = mock_file(EPOLLIN);
        let one = mock_file(EPOLLIN);
        add(&ep, &et, 3, EPOLLIN | EPOLLET, 1);
        add(&ep, &one, 4, EPOLLIN | EPOLLONESHOT, 2);
        assert_eq!(datas(&wait(&ep, 8)), vec![1, 2], "{v:?}");
        assert_eq!(wait(&ep, 8), vec![], "{v:?}");
        et.add(EPOLLIN, KEY_READABLE);
        one.add(EPOLLIN, KEY_READABLE);
        assert_eq!(
            datas(&wait(&ep, 8)),
            vec![1],
            "{v:?}: ONESHOT stays disarmed"
        );
        modify(&ep, &one, 4, EPOLLIN | EPOLLONESHOT, 5);
        assert_eq!(datas(&wait(&ep, 8)), vec![5], "{v:?}");
        ep.free();
    }
}

#[test]
fn every_variant_keeps_undelivered_items_after_a_fault() {
    for v in ALL_VARIANTS {
        let (ep, _w) = mock_ep(v);
        let files: Vec<_> = (0..3).map(|_| mock_file(EPOLLIN)).collect();
        for (i, f) in files.iter().enumerate() {
            add(&ep, f, i as i32, EPOLLIN | EPOLLET, i as u64);
        }
        // Nothing writable: EFAULT, and nothing is consumed.
        let mut sink = FaultingSink {
            writable: 0,
            got: Vec::new(),
        };
        assert_eq!(ep.send_events(&mut sink, 8), Err(Fault), "{v:?}");
        // One slot writable: one event, the others stay ready.
        let mut sink = FaultingSink {
            writable: 1,
            got: Vec::new(),
        };
        assert_eq!(ep.send_events(&mut sink, 8), Ok(1), "{v:?}");
        assert_eq!(datas(&sink.got), vec![0], "{v:?}");
        let mut rest = datas(&wait(&ep, 8));
        rest.sort_unstable();
        assert_eq!(rest, vec![1, 2], "{v:?}");
        assert_eq!(wait(&ep, 8), vec![], "{v:?}");
        ep.free();
    }
}

#[test]
fn multipass_wakeup_during_transfer_requeues_the_item() {
    // The pre-2007 transfer unlinks what it collects, so a callback between collect and
    // re-inject queues the item again on the ready list (ET: reported by the next wait).
    let (ep, _w) = mock_ep(Variant::MultiPass);
    let file = mock_file(EPOLLIN);
    add(&ep, &file, 3, EPOLLIN | EPOLLET, 7);
    struct WakeDuringPut<'a>(&'a MockFile, Vec<(u32, u64)>);
    impl EventSink for WakeDuringPut<'_> {
        fn put(&mut self, _i: usize, events: u32, data: u64) -> Result<(), Fault> {
            self.0.add(EPOLLIN, KEY_READABLE);
            self.1.push((events, data));
            Ok(())
        }
    }
    let mut sink = WakeDuringPut(&file, Vec::new());
    assert_eq!(ep.send_events(&mut sink, 8), Ok(1));
    assert_eq!(datas(&wait(&ep, 8)), vec![7], "the wake-up is not lost");
    assert_eq!(wait(&ep, 8), vec![]);
    ep.free();
}

#[test]
fn raise_landing_after_settle_is_consumed_by_next_sleeper() {
    // A callback decides to raise, a transfer takes the item and settles (clearing
    // `raised`), and only then the deferred raise lands: the signal is up with
    // `raised` clear. The next sleeper sees it and must lower it, or a level-triggered
    // kernel sleep would return at once forever.
    let (ep, w) = mock_ep(Variant::SinglePass);
    let a = mock_file(0);
    add(&ep, &a, 3, EPOLLIN | EPOLLET, 1);
    assert!(ep.prepare_sleep());
    w.raise(); // the late raise, as if from a `Raises` flushed after the settle
    ep.finish_sleep(true);
    assert!(!w.is_raised(), "the sleeper that saw the signal lowered it");
    ep.free();
}

#[test]
fn wait_queue_wants_a_key_only_while_a_watcher_asks_for_it() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let f = mock_file(EPOLLIN | EPOLLOUT);
    let space = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
    assert!(!f.wait_queue().wants(space), "nobody watches");
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 1);
    assert!(!f.wait_queue().wants(space), "only IN asked for");
    assert!(f.wait_queue().wants(EPOLLIN));
    modify(&ep, &f, 3, EPOLLOUT | EPOLLONESHOT, 1);
    assert!(f.wait_queue().wants(space));
    // A ONESHOT item that fired keeps only private bits: a wake-up could not queue it.
    assert_eq!(wait(&ep, 4).len(), 1);
    assert!(!f.wait_queue().wants(space), "disarmed");
    del(&ep, &f, 3);
    assert!(!f.wait_queue().wants(space));
    ep.free();
}

/// `count-atomics`: the level-triggered steady state takes no locked instruction per
/// event (the transfer's cost is per call), and a re-arm (ADD of the key just deleted)
/// takes no reference-count change and always the same count (`docs/benchmarks.md`, "Locked operations").
#[cfg(feature = "count-atomics")]
#[test]
fn counted_locked_ops_per_event_and_per_rearm() {
    use super::counting::counts;
    let per_call = |n: usize| {
        let (ep, _w) = mock_ep(Variant::SinglePass);
        let files: Vec<_> = (0..n).map(|_| mock_file(EPOLLIN)).collect();
        for (i, f) in files.iter().enumerate() {
            add(&ep, f, i as i32, EPOLLIN, i as u64);
        }
        assert_eq!(wait(&ep, n).len(), n); // warm-up: the steady state
        let before = counts();
        assert_eq!(wait(&ep, n).len(), n);
        let after = counts();
        ep.free();
        after.total() - before.total()
    };
    let (small, large) = (per_call(10), per_call(200));
    assert!(small > 0, "a transfer takes its locks");
    assert_eq!(small, large, "no locked instruction per event");

    let (ep, _w) = mock_ep(Variant::SinglePass);
    let f = mock_file(0);
    add(&ep, &f, 3, EPOLLIN, 0);
    del(&ep, &f, 3);
    let before = counts();
    add(&ep, &f, 3, EPOLLIN, 0);
    let after = counts();
    assert_eq!(after.arc, before.arc, "a re-arm takes no reference");
    // Every re-arm costs the same: none takes the ready lock now and then to check
    // the ready list's room (`ItemMap::note_removed`).
    let rearm = || {
        let before = counts();
        del(&ep, &f, 3);
        add(&ep, &f, 3, EPOLLIN, 0);
        counts().total() - before.total()
    };
    let first = rearm();
    for _ in 0..50 {
        assert_eq!(rearm(), first, "the same count for every DEL+ADD");
    }
    ep.free();
}

/// `count-atomics`: once its item has been queued once, an edge-triggered event takes no
/// reference-count change: the callback moves the item's parked reference onto the ready
/// list and the transfer that delivers the event moves it back (`ReadyList::parked`).
/// Before, each event took a locked increment in the callback and a locked decrement in
/// the transfer.
#[cfg(feature = "count-atomics")]
#[test]
fn an_edge_triggered_event_moves_the_parked_reference_instead_of_counting_it() {
    use super::counting::counts;
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let f = mock_file(0);
    add(&ep, &f, 3, EPOLLIN | EPOLLET, 7);
    f.set(EPOLLIN, EPOLLIN);
    assert_eq!(datas(&wait(&ep, 8)), vec![7]); // the first queueing takes the reference
    for _ in 0..3 {
        let before = counts();
        f.set(EPOLLIN, EPOLLIN);
        assert_eq!(datas(&wait(&ep, 8)), vec![7]);
        assert_eq!(counts().arc, before.arc, "no reference counted per event");
    }
    ep.free();
}

/// An item's parked reference goes when the item leaves the instance for good: evicted as
/// the removed item kept for revival, removed with its file, or by `ep_free`. Otherwise
/// the reference would keep the item, its file and its instance alive.
#[test]
fn an_item_leaving_for_good_drops_its_parked_reference() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let files: Vec<_> = (0..4).map(|_| mock_file(0)).collect();
    for (i, f) in files.iter().enumerate() {
        add(&ep, f, i as i32, EPOLLIN | EPOLLET, i as u64);
        f.set(EPOLLIN, EPOLLIN);
    }
    assert_eq!(wait(&ep, 8).len(), 4); // every item's reference is parked now
    let item = |f: &Arc<MockFile>| Arc::downgrade(&f.wait_queue().snapshot()[0]);
    let weak: Vec<_> = files.iter().map(item).collect();

    del(&ep, &files[0], 0);
    assert!(weak[0].upgrade().is_some(), "kept for revival");
    del(&ep, &files[1], 1);
    assert!(
        weak[0].upgrade().is_none(),
        "evicted by the next DEL: freed"
    );

    assert_eq!(ep.release_file(&as_dyn(&files[1])), 0); // the one kept for revival
    assert!(weak[1].upgrade().is_none(), "released with its file: freed");
    assert_eq!(ep.release_file(&as_dyn(&files[2])), 1); // a live one
    assert!(weak[2].upgrade().is_none(), "released with its file: freed");

    ep.free();
    assert!(weak[3].upgrade().is_none(), "freed with its instance");
}

/// A slot given back by an item that left goes to the next new item; the reference parked
/// there for the old item is never queued for the new one.
#[test]
fn a_reused_slot_queues_its_new_item_not_the_old_one() {
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let (a, b, c) = (mock_file(0), mock_file(0), mock_file(0));
    add(&ep, &a, 3, EPOLLIN | EPOLLET, 1);
    a.set(EPOLLIN, EPOLLIN);
    assert_eq!(datas(&wait(&ep, 8)), vec![1]); // a's reference parked in its slot
    del(&ep, &a, 3);
    add(&ep, &b, 4, EPOLLIN | EPOLLET, 2);
    del(&ep, &b, 4); // evicts a: its slot is free
    add(&ep, &c, 5, EPOLLIN | EPOLLET, 3); // takes a's slot
    c.set(EPOLLIN, EPOLLIN);
    assert_eq!(datas(&wait(&ep, 8)), vec![3]);
    c.set(EPOLLIN, EPOLLIN);
    assert_eq!(datas(&wait(&ep, 8)), vec![3]);
    ep.free();
}

/// A pipe read end as the engine sees it: readiness in a `ReadLevel` that items re-poll
/// directly, without the file's `poll`.
struct LevelFile {
    level: Arc<super::file::ReadLevel>,
    wq: WaitQueue,
}

impl EpFile for LevelFile {
    fn poll(&self) -> u32 {
        unreachable!("an item of a file with a ReadLevel re-polls the level")
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    fn read_level(&self) -> Option<&Arc<super::file::ReadLevel>> {
        Some(&self.level)
    }
}

#[test]
fn read_level_is_what_a_transfer_re_polls() {
    use super::sync::plain::Ordering as O;
    let (ep, _w) = mock_ep(Variant::SinglePass);
    let f = Arc::new(LevelFile {
        level: Arc::new(super::file::ReadLevel::new(true)),
        wq: WaitQueue::new(),
    });
    add(&ep, &f, 3, EPOLLIN | EPOLLRDHUP, 7);
    add(&ep, &f, 4, EPOLLIN | EPOLLET, 8);
    assert_eq!(wait(&ep, 8), vec![], "nothing buffered");

    f.level.bytes.fetch_add(5, O::SeqCst);
    f.wq.wake(KEY_READABLE);
    assert_eq!(
        wait(&ep, 8),
        vec![(EPOLLIN, 8), (EPOLLIN, 7)],
        "bytes buffered: IN, RDNORM masked out (a wake-up runs the newest watcher first)"
    );
    assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 7)], "LT stays, ET once");

    // Drained without a wake-up (a read): the level-triggered item is dropped.
    f.level.bytes.fetch_sub(5, O::SeqCst);
    assert_eq!(wait(&ep, 8), vec![]);
    assert_eq!(wait(&ep, 8), vec![]);

    // The write end released: HUP, whatever the mask.
    f.level.peer_closed();
    f.wq.wake(KEY_ALL);
    assert_eq!(wait(&ep, 8), vec![(EPOLLHUP, 8), (EPOLLHUP, 7)]);
    assert_eq!(f.level.poll(), EPOLLHUP);
    ep.free();
}

/// A sink that looks at the instance's lock-free `events_available` from inside the
/// transfer, while the transfer's items are in flight.
struct LookingSink<'a> {
    ep: &'a EventPoll,
    seen: Vec<bool>,
    out: Vec<(u32, u64)>,
}

impl EventSink for LookingSink<'_> {
    fn put(&mut self, _index: usize, events: u32, data: u64) -> Result<(), Fault> {
        self.seen.push(self.ep.events_available());
        self.out.push((events, data));
        Ok(())
    }
}

/// A wait reads `events_available` without the ready lock and skips its transfer when
/// it says no (the kernel's `ep_events_available` in `ep_poll`). It must say no only
/// when the transfer would have answered 0 at its first look with nothing else done:
/// an empty ready list (a stale entry left by a DEL counts: a transfer drops it and
/// settles the waker) and no transfer in flight (case 6: another waiter's items are
/// still available). `MultiPass`, whose empty transfer settles the waker, always
/// transfers.
#[test]
fn a_wait_skips_its_transfer_only_when_the_transfer_would_find_nothing() {
    for variant in [Variant::SinglePass, Variant::Seed] {
        let (ep, _w) = mock_ep(variant);
        assert!(!ep.events_available(), "{variant:?}: a new instance");
        let et = mock_file(0);
        let lt = mock_file(0);
        add(&ep, &et, 1, EPOLLIN | EPOLLET, 1);
        add(&ep, &lt, 2, EPOLLIN, 2);
        assert!(!ep.events_available(), "{variant:?}: ADD of unready files");
        et.add(EPOLLIN, KEY_READABLE);
        assert!(
            ep.events_available(),
            "{variant:?}: a callback queued an item"
        );

        // In flight: the edge-triggered item is off the list, and still available to
        // another waiter, which must wait for this transfer (not for Seed).
        let mut sink = LookingSink {
            ep: &ep,
            seen: Vec::new(),
            out: Vec::new(),
        };
        assert_eq!(ep.send_events(&mut sink, 8), Ok(1));
        assert_eq!(sink.out, vec![(EPOLLIN, 1)]);
        assert_eq!(
            sink.seen,
            vec![variant != Variant::Seed],
            "{variant:?}: looked at while the item was in flight"
        );
        assert!(!ep.events_available(), "{variant:?}: the edge was taken");

        lt.add(EPOLLIN, KEY_READABLE);
        assert_eq!(wait(&ep, 8), vec![(EPOLLIN, 2)]);
        assert!(
            ep.events_available(),
            "{variant:?}: a level-triggered item went back"
        );
        lt.set_quietly(0);
        assert!(wait(&ep, 8).is_empty());
        assert!(
            !ep.events_available(),
            "{variant:?}: the transfer found it no longer ready"
        );

        // A DEL far from the list's tail leaves the entry there, stale; the others,
        // removed from the tail, are unlinked.
        et.add(EPOLLIN, KEY_READABLE);
        let others: Vec<_> = (0..70).map(|_| mock_file(EPOLLIN)).collect();
        for (i, f) in others.iter().enumerate() {
            add(&ep, f, 10 + i as i32, EPOLLIN, 10 + i as u64);
        }
        del(&ep, &et, 1);
        for (i, f) in others.iter().enumerate().rev() {
            del(&ep, f, 10 + i as i32);
        }
        assert!(!ep.has_ready(), "{variant:?}: only a stale entry is left");
        assert!(
            ep.events_available(),
            "{variant:?}: a stale entry is the transfer's to drop"
        );
        assert!(wait(&ep, 8).is_empty());
        assert!(
            !ep.events_available(),
            "{variant:?}: the stale entry dropped"
        );
        ep.free();
    }
    let (ep, _w) = mock_ep(Variant::MultiPass);
    assert!(ep.events_available(), "MultiPass transfers every time");
    ep.free();
}

/// `ready_hint`, which the re-check after a swap of `raised` reads without the ready
/// lock, is stored on every release of that lock (`ReadyGuard`): after each kind of
/// change of the ready list, on every variant, it must say what `has_ready` says. A
/// path that changed the list without going through the guard would leave it stale,
/// and a stale "nothing ready" there strands a queued item behind a lowered waker.
#[test]
fn the_lock_free_ready_hint_follows_every_change_of_the_ready_list() {
    for variant in [Variant::SinglePass, Variant::MultiPass, Variant::Seed] {
        let (ep, _w) = mock_ep(variant);
        let same = |what: &str| {
            // `has_ready` first: it takes the lock, so it also republishes the hint;
            // the hint is read before, as left by the operation itself.
            let hint = ep.ready_after_clear();
            assert_eq!(hint, ep.has_ready(), "{variant:?}: after {what}");
        };
        same("nothing");
        let files: Vec<_> = (0..4).map(|_| mock_file(0)).collect();
        add(&ep, &files[0], 0, EPOLLIN, 0);
        add(&ep, &files[1], 1, EPOLLIN | EPOLLET, 1);
        add(&ep, &files[2], 2, EPOLLIN | EPOLLONESHOT, 2);
        add(&ep, &files[3], 3, EPOLLIN, 3);
        same("ADD of unready files");
        files[1].add(EPOLLIN, KEY_READABLE);
        same("a callback queueing an item");
        assert_eq!(wait(&ep, 8).len(), 1);
        same("an edge-triggered transfer emptying the list");
        files[0].add(EPOLLIN, KEY_READABLE);
        files[2].add(EPOLLIN, KEY_READABLE);
        files[3].add(EPOLLIN, KEY_READABLE);
        same("three callbacks");
        assert_eq!(wait(&ep, 1).len(), 1);
        same("a transfer leaving items behind");
        wait(&ep, 8);
        same("a transfer re-queueing level-triggered items, the ONESHOT one disarmed");
        del(&ep, &files[0], 0);
        same("DEL of a queued item");
        files[3].set_quietly(0);
        ep.prune();
        same("prune dropping an item no longer ready");
        add(&ep, &files[0], 0, EPOLLIN, 0);
        same("ADD reviving the deleted item, still ready");
        modify(&ep, &files[2], 2, EPOLLIN | EPOLLONESHOT, 2);
        same("MOD re-arming the ONESHOT item");
        while !wait(&ep, 8).is_empty() {
            for f in &files {
                f.set_quietly(0);
            }
        }
        same("the list drained");
        ep.free();
    }
}
