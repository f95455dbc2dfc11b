use super::*;

/// The default `sk_sndbuf` (`net.core.wmem_default`).
const DEFAULT_SNDBUF: usize = 212_992;

#[test]
fn stream_skbs_are_capped_by_the_order0_fallback_and_half_the_send_buffer() {
    // Measured on 6.18: a 40000-byte send is an skb of 36544 bytes and one of 3456.
    assert_eq!(stream_skb_max(DEFAULT_SNDBUF), 36544);
    // SO_SNDBUF 4096 (doubled by the kernel): 8192 / 2 - 64.
    assert_eq!(stream_skb_max(8192), 4032);
    assert!(stream_skb_max(4608) > STREAM_ONE_SKB);
}

#[test]
fn partial_stream_read_frees_nothing_and_the_rest_of_the_skb_frees_it() {
    let mut q = SkbQueue::new();
    q.sent_stream(8192, stream_skb_max(DEFAULT_SNDBUF));
    assert_eq!(q.read_stream(100), Freed::Nothing);
    assert_eq!(q.read_stream(8091), Freed::Nothing);
    assert_eq!(q.read_stream(1), Freed::Skbs);
    assert!(q.is_empty());
}

#[test]
fn a_large_stream_send_is_cut_into_skbs_of_the_maximum_size() {
    let mut q = SkbQueue::new();
    q.sent_stream(40000, 36544);
    assert_eq!(q.read_stream(36543), Freed::Nothing);
    assert_eq!(q.read_stream(1), Freed::Skbs);
    assert_eq!(q.read_stream(3455), Freed::Nothing);
    assert_eq!(q.read_stream(1), Freed::Skbs);
    assert!(q.is_empty());
}

#[test]
fn separate_stream_sends_are_separate_skbs() {
    let mut q = SkbQueue::new();
    q.sent_stream(5, 36544);
    q.sent_stream(5, 36544);
    q.sent_stream(5, 36544);
    // Reads across a boundary free the skb they finish.
    assert_eq!(q.read_stream(7), Freed::Skbs);
    assert_eq!(q.read_stream(2), Freed::Nothing);
    assert_eq!(q.read_stream(6), Freed::Skbs);
    assert!(q.is_empty());
}

#[test]
fn one_stream_read_can_free_many_skbs_of_a_run() {
    let mut q = SkbQueue::new();
    for _ in 0..1000 {
        q.sent_stream(100, 36544);
    }
    assert_eq!(q.runs.len(), 1, "equal skbs share one run");
    assert_eq!(q.read_stream(50), Freed::Nothing);
    assert_eq!(q.read_stream(50 + 100 * 500 + 10), Freed::Skbs);
    assert_eq!(q.read_stream(89), Freed::Nothing);
    assert_eq!(q.read_stream(1 + 100 * 498), Freed::Skbs);
    assert!(q.is_empty());
}

#[test]
fn a_stream_read_of_more_than_was_sent_loses_track_until_found_empty() {
    let mut q = SkbQueue::new();
    q.sent_stream(10, 36544);
    assert_eq!(q.read_stream(20), Freed::Unknown);
    assert!(q.is_lost());
    // Lost: every read counts as freeing, sends are not recorded.
    q.sent_stream(10, 36544);
    assert_eq!(q.read_stream(1), Freed::Unknown);
    q.found_empty();
    assert!(!q.is_lost());
    q.sent_stream(10, 36544);
    assert_eq!(q.read_stream(1), Freed::Nothing);
}

#[test]
fn each_datagram_read_consumes_one_skb_and_an_eof_read_none() {
    let mut q = SkbQueue::new();
    q.sent_datagrams(2); // one of them may be empty: a 0-byte read consumes it
    assert_eq!(q.read_datagram(false), Freed::Skbs);
    assert_eq!(q.read_datagram(true), Freed::Skbs);
    // Nothing queued: a read returning 0 is an end of file.
    assert_eq!(q.read_datagram(false), Freed::Nothing);
    // A datagram the model never saw sent.
    assert_eq!(q.read_datagram(true), Freed::Unknown);
    assert!(q.is_lost());
}

#[test]
fn purge_frees_only_what_was_queued() {
    let mut q = SkbQueue::new();
    assert_eq!(q.purge(), Freed::Nothing);
    q.sent_datagrams(1);
    assert_eq!(q.purge(), Freed::Skbs);
    assert_eq!(q.purge(), Freed::Nothing);
    q.sent_stream(3, 36544);
    assert_eq!(q.purge(), Freed::Skbs);
    q.lose_track();
    assert_eq!(q.purge(), Freed::Unknown);
}

#[test]
fn a_call_is_alone_only_if_no_other_call_ran_during_it() {
    let mut q = SkbQueue::new();
    let a = q.begin();
    assert!(q.finish(a));
    // b begins, c begins and finishes inside b: both overlapped.
    let b = q.begin();
    let c = q.begin();
    assert!(!q.finish(c));
    assert!(!q.finish(b));
    assert!(q.idle());
    // d begins while e is in flight, e finishes first: both overlapped.
    let e = q.begin();
    let d = q.begin();
    assert!(!q.finish(e));
    assert!(!q.idle());
    assert!(!q.finish(d));
    let f = q.begin();
    assert!(q.finish(f));
}

#[test]
fn too_many_different_runs_lose_track_instead_of_growing() {
    let mut q = SkbQueue::new();
    for i in 0..MAX_RUNS {
        q.sent_stream(1 + i % 2, 36544);
    }
    assert!(!q.is_lost());
    q.sent_stream(7, 36544);
    assert!(q.is_lost());
    assert!(q.runs.is_empty());
}

#[test]
fn the_running_kernel_cuts_stream_sends_where_the_model_says() {
    assert!(crate::sys::skbprobe::stream_first_skb_is(stream_skb_max));
}

#[test]
fn the_kernel_check_rejects_a_wrong_skb_size() {
    assert!(!crate::sys::skbprobe::stream_first_skb_is(
        |sndbuf| stream_skb_max(sndbuf) - 64
    ));
    assert!(!crate::sys::skbprobe::stream_first_skb_is(
        |sndbuf| stream_skb_max(sndbuf) + 64
    ));
}
