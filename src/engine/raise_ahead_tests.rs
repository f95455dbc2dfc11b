//! The raise ahead of a write (`eventpoll::raise_ahead`, `WaitQueue::raise_ahead`):
//! when it raises a sleeper's waker before the write, when it leaves it to the
//! callback after the write, and that a sleeper woken ahead of its item still gets it.
//! The race of the last case is also modelled under loom
//! (`raise_ahead_racing_the_sleep_loses_no_wake_up`).

use std::sync::Arc;

use super::eventpoll::UNKNOWN_CPU;
use super::events::*;
use super::mock::{mock_ep, mock_file, MockFile, MockWaker};
use super::{EpFile, EventPoll, Variant};

const NO_LIMIT: usize = usize::MAX;
const WRITER_CPU: u16 = 0;
const OTHER_CPU: u16 = 1;

/// An instance of `variant` watching one mock file, not ready, with `events`.
fn watched(variant: Variant, events: u32) -> (Arc<EventPoll>, Arc<MockWaker>, Arc<MockFile>) {
    let (ep, w) = mock_ep(variant);
    let file = mock_file(0);
    ep.ctl(EPOLL_CTL_ADD, &file, 5, (events, 7), NO_LIMIT)
        .expect("ADD");
    (ep, w, file)
}

/// A waiter announces its sleep from `cpu` and finds nothing ready, as the file
/// layer's `prepare_sleep` does, which then records the CPU.
fn announce(ep: &EventPoll, cpu: u16) {
    assert!(ep.prepare_sleep(), "nothing ready: the waiter sleeps");
    ep.note_sleeper_cpu(cpu);
}

/// The sleeper wakes on the waker's signal and transfers, as a waiter with engine
/// items only does; returns the data of what it got.
fn wake_and_transfer(ep: &EventPoll) -> Vec<u64> {
    let mut out = Vec::new();
    ep.finish_sleep_and_send(true, &mut out, 8)
        .expect("transfer");
    out.into_iter().map(|(_, data)| data).collect()
}

#[test]
fn a_sleeper_on_another_cpu_is_raised_ahead_of_the_write_and_once_only() {
    for variant in [Variant::SinglePass, Variant::Seed, Variant::MultiPass] {
        let (ep, w, file) = watched(variant, EPOLLIN);
        announce(&ep, OTHER_CPU);
        file.wait_queue().raise_ahead(KEY_READABLE, WRITER_CPU);
        assert_eq!(w.raises(), 1, "{variant:?}: raised before the write");
        assert!(w.is_raised());
        file.set(EPOLLIN, KEY_READABLE);
        assert_eq!(w.raises(), 1, "{variant:?}: the callback found it raised");
        assert_eq!(wake_and_transfer(&ep), vec![7], "{variant:?}");
        ep.free();
    }
}

#[test]
fn no_raise_ahead_for_a_sleeper_on_the_writers_cpu() {
    let (ep, w, file) = watched(Variant::SinglePass, EPOLLIN);
    announce(&ep, WRITER_CPU);
    file.wait_queue().raise_ahead(KEY_READABLE, WRITER_CPU);
    assert_eq!(w.raises(), 0, "the woken thread would preempt the writer");
    file.set(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 1, "raised by the callback after the write");
    assert_eq!(wake_and_transfer(&ep), vec![7]);
    ep.free();
}

/// The raises a write from `writer_cpu` makes ahead of itself, for a waiter that
/// announced its sleep from `OTHER_CPU` on an instance watching the file with
/// `events`, with `observe` run before the announcement and `unobserve` after.
fn raised_ahead(
    events: u32,
    writer_cpu: u16,
    observe: impl Fn(&EventPoll),
    unobserve: impl Fn(&EventPoll),
) -> usize {
    let (ep, w, file) = watched(Variant::SinglePass, events);
    observe(&ep);
    announce(&ep, OTHER_CPU);
    file.wait_queue().raise_ahead(KEY_READABLE, writer_cpu);
    let raises = w.raises();
    ep.finish_sleep(false);
    unobserve(&ep);
    ep.free();
    raises
}

fn nothing(_: &EventPoll) {}

#[test]
fn no_raise_ahead_from_a_writer_whose_cpu_is_unknown() {
    assert_eq!(raised_ahead(EPOLLIN, UNKNOWN_CPU, nothing, nothing), 0);
}

#[test]
fn no_raise_ahead_while_a_poller_observes_the_instance() {
    let raises = raised_ahead(
        EPOLLIN,
        WRITER_CPU,
        |ep| ep.add_observer(),
        |ep| ep.remove_observer(),
    );
    assert_eq!(
        raises, 0,
        "the poller would see the instance readable early"
    );
}

#[test]
fn no_raise_ahead_while_an_outer_instance_watches_through_the_kernel() {
    let raises = raised_ahead(
        EPOLLIN,
        WRITER_CPU,
        |ep| ep.add_kernel_watcher(),
        |ep| ep.remove_kernel_watcher(),
    );
    assert_eq!(raises, 0);
}

#[test]
fn no_raise_ahead_for_an_item_that_does_not_wait_for_the_key() {
    assert_eq!(raised_ahead(EPOLLOUT, WRITER_CPU, nothing, nothing), 0);
}

#[test]
fn no_raise_ahead_for_an_exclusive_watcher() {
    let raises = raised_ahead(EPOLLIN | EPOLLEXCLUSIVE, WRITER_CPU, nothing, nothing);
    assert_eq!(raises, 0, "the wake-up picks one exclusive watcher");
}

#[test]
fn the_same_write_from_another_cpu_raises_ahead() {
    assert_eq!(raised_ahead(EPOLLIN, WRITER_CPU, nothing, nothing), 1);
}

#[test]
fn no_raise_ahead_without_a_sleeper() {
    let (ep, w, file) = watched(Variant::SinglePass, EPOLLIN);
    ep.note_sleeper_cpu(OTHER_CPU);
    file.wait_queue().raise_ahead(KEY_READABLE, WRITER_CPU);
    assert_eq!(w.raises(), 0);
    ep.free();
}

#[test]
fn no_raise_ahead_for_a_disarmed_oneshot_item() {
    let (ep, w, file) = watched(Variant::SinglePass, EPOLLIN | EPOLLONESHOT);
    file.set(EPOLLIN, KEY_READABLE);
    let mut out = Vec::new();
    assert_eq!(ep.send_events(&mut out, 8).expect("transfer"), 1);
    file.set(0, KEY_ALL);
    announce(&ep, OTHER_CPU);
    let before = w.raises();
    file.wait_queue().raise_ahead(KEY_READABLE, WRITER_CPU);
    assert_eq!(
        w.raises(),
        before,
        "a disarmed item is not queued by the write"
    );
    ep.finish_sleep(false);
    ep.free();
}

/// The race the protocol must absorb: the sleeper wakes before the write queues the
/// item, finds nothing, settles and sleeps again; the callback then finds `raised`
/// down and raises for it.
#[test]
fn a_sleeper_woken_ahead_of_its_item_sleeps_again_and_is_woken_by_it() {
    let (ep, w, file) = watched(Variant::SinglePass, EPOLLIN | EPOLLET);
    announce(&ep, OTHER_CPU);
    file.wait_queue().raise_ahead(KEY_READABLE, WRITER_CPU);
    assert_eq!(w.raises(), 1);
    assert!(wake_and_transfer(&ep).is_empty(), "woken before the item");
    assert!(!w.is_raised(), "the empty transfer lowered the waker");
    announce(&ep, OTHER_CPU);
    file.set(EPOLLIN, KEY_READABLE);
    assert_eq!(w.raises(), 2, "the callback raised for the second sleep");
    assert_eq!(wake_and_transfer(&ep), vec![7]);
    ep.free();
}

#[test]
fn a_wake_up_answers_the_cpu_of_the_sleeper_it_queued_an_item_for() {
    let (ep, _w, file) = watched(Variant::SinglePass, EPOLLIN | EPOLLET);
    file.set_quietly(EPOLLIN);
    assert_eq!(
        file.wait_queue().wake(KEY_READABLE),
        UNKNOWN_CPU,
        "queued, nobody asleep"
    );
    let mut out = Vec::new();
    assert_eq!(ep.send_events(&mut out, 8).expect("transfer"), 1);
    announce(&ep, OTHER_CPU);
    assert_eq!(file.wait_queue().wake(KEY_READABLE), OTHER_CPU);
    assert_eq!(
        file.wait_queue().wake(KEY_READABLE),
        UNKNOWN_CPU,
        "already queued: nothing queued this time"
    );
    assert_eq!(wake_and_transfer(&ep), vec![7]);
    ep.free();
}
