//! Waits in the gate hold signals back (module comment: "Waiting with signals blocked").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::files::table;

/// Set by the test's SIGUSR2 handler.
static HANDLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    HANDLED.store(true, Ordering::SeqCst);
}

/// Runs `wait` (a gate entry that must wait for `holder`'s side) on a new thread, sends
/// that thread a signal once it waits, and checks that its handler runs only after the
/// holder let go. Without blocked signals the handler ran during the wait, where a hook
/// could only leave a deferred record: under a signal storm the records overflowed
/// and every served file was demoted (`torture signals`).
fn signal_waits_for_the_gate(holder: impl FnOnce() -> Box<dyn FnOnce()>, wait: fn()) {
    HANDLED.store(false, Ordering::SeqCst);
    let release = holder();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        wait();
    });
    let tid = rx.recv().unwrap();
    // Long enough for the waiter to be past its first spins, in the slow wait.
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: the waiter is alive: it cannot finish before `release` runs.
    assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR2) }, 0);
    std::thread::sleep(Duration::from_millis(100));
    let during = HANDLED.load(Ordering::SeqCst);
    release();
    waiter.join().unwrap();
    assert!(
        !during,
        "the signal was handled while the thread waited in the gate"
    );
    assert!(
        HANDLED.load(Ordering::SeqCst),
        "the signal was never handled"
    );
}

#[test]
fn a_thread_waiting_in_the_gate_takes_signals_once_through() {
    // SAFETY: installs a handler that only stores to an atomic; SIGUSR2 is used by no
    // other test.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        assert_eq!(
            libc::sigaction(libc::SIGUSR2, &act, std::ptr::null_mut()),
            0
        );
    }
    let enter_read = || drop(table::enter().expect("outside the library"));
    let enter_write = || drop(table::enter_mut().expect("outside the library"));
    // A writer behind a reader that stays inside.
    signal_waits_for_the_gate(|| hold_inside(false), enter_write);
    // A writer behind a writer that stays inside.
    signal_waits_for_the_gate(|| hold_inside(true), enter_write);
    // A reader behind a writer that stays inside.
    signal_waits_for_the_gate(|| hold_inside(true), enter_read);
}

/// A thread that enters the gate (for writing when `write`) and stays inside until
/// the returned closure lets it leave and joins it.
fn hold_inside(write: bool) -> Box<dyn FnOnce()> {
    let (tx, rx) = mpsc::channel::<()>();
    let (in_tx, in_rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        if write {
            let _gate = table::enter_mut().expect("outside the library");
            in_tx.send(()).unwrap();
            rx.recv().unwrap();
        } else {
            let _gate = table::enter().expect("outside the library");
            in_tx.send(()).unwrap();
            rx.recv().unwrap();
        }
    });
    in_rx.recv().unwrap();
    Box::new(move || {
        tx.send(()).unwrap();
        holder.join().unwrap();
    })
}

/// Two counters that a writer steps one after the other: a reader that finds them
/// unequal ran while a writer was inside.
struct Pair {
    first: std::sync::atomic::AtomicUsize,
    second: std::sync::atomic::AtomicUsize,
}

static PAIR: super::GateLock<Pair> = super::GateLock::new(Pair {
    first: std::sync::atomic::AtomicUsize::new(0),
    second: std::sync::atomic::AtomicUsize::new(0),
});

/// The Dekker handshake of the module comment (reader: `active`, fence, `WRITER`;
/// writer: `WRITER`, fence, every `active`): with readers and writers entering
/// concurrently, no reader is ever inside with a writer. It fails at once when a writer
/// does not wait for the readers' `active`. The fences' part is a store-buffer race a
/// few cycles wide: with the reader's fence replaced by a compiler fence the test passed
/// 6 runs of 6 on a loaded 2-CPU VM, so it is no proof of them; the argument is the
/// module comment's.
#[test]
fn readers_and_writers_never_overlap() {
    use std::sync::atomic::Ordering::Relaxed;
    const READS: usize = 100_000;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..READS {
                    let slot = super::enter_library().expect("outside the library");
                    let pair = PAIR.read(slot);
                    let first = pair.first.load(Relaxed);
                    // Give a writer that wrongly entered time to step `first` again.
                    std::hint::spin_loop();
                    let second = pair.second.load(Relaxed);
                    assert_eq!(first, second, "a reader was inside with a writer");
                    assert_eq!(
                        pair.first.load(Relaxed),
                        first,
                        "the pair moved under a reader"
                    );
                }
            })
        })
        .collect();
    static DONE: AtomicBool = AtomicBool::new(false);
    DONE.store(false, Ordering::SeqCst);
    // Writes as often as it can while the readers run, to meet a reader's window.
    let writer = std::thread::spawn(|| {
        let mut writes = 0;
        while !DONE.load(Ordering::SeqCst) {
            writes += 1;
            let slot = super::enter_library().expect("outside the library");
            let pair = PAIR.write(slot);
            pair.first.fetch_add(1, Relaxed);
            std::hint::spin_loop();
            pair.second.fetch_add(1, Relaxed);
        }
        writes
    });
    for reader in readers {
        reader.join().unwrap();
    }
    DONE.store(true, Ordering::SeqCst);
    let writes = writer.join().unwrap();
    let pair = PAIR.read(super::enter_library().expect("outside the library"));
    assert_eq!(pair.first.load(Relaxed), writes);
    assert_eq!(pair.second.load(Relaxed), writes);
}

/// Pinned: redis-server hung at start-up. jemalloc closes a descriptor through
/// `syscall(SYS_close)` while it holds its own lock, and the close's announcement
/// (`UnservedClose`) took the thread's gate slot, whose first use allocates: the
/// allocation waited for that lock. A thread with no slot now announces in a shared
/// word, and the close allocates nothing; a snapshot sees that word too.
#[test]
fn an_unserved_close_on_a_thread_without_a_slot_takes_none() {
    let _alone = crate::files::test_support::announcing();
    std::thread::spawn(|| {
        assert!(!super::has_slot(), "a new thread");
        let snapshot = super::CloseSnapshot::take();
        let closing = super::UnservedClose::begin();
        assert!(!super::has_slot(), "the close took no slot");
        assert!(super::CloseSnapshot::take().is_none(), "in progress, seen");
        drop(closing);
        assert!(!super::has_slot());
        if let Some(snapshot) = snapshot {
            assert!(!snapshot.unchanged(), "a close began since the snapshot");
        }
    })
    .join()
    .unwrap();
}
