//! The recorder behind `UEPOLL_TRACE` (`uepoll trace`): fixed-size records
//! (`trace_format.rs`) of every ctl, wait, poll callback and transfer, gathered in
//! per-thread buffers and handed to a sink that the preload layer registers (it owns
//! the clock, the thread ids and the file). The engine itself makes no OS call here.
//!
//! Off, a hook point costs one relaxed load of `ON` and a branch (`on()`); nothing
//! else of this module runs. On:
//!
//! - Each thread appends to its own buffer, behind a mutex that only the process-exit
//!   flush ever contends. A buffer is handed to the sink when full, when its thread
//!   exits (thread-local destructor) and at process exit (`flush_all`, which also
//!   takes the buffers of threads still running).
//! - A record made while the same thread is already recording (a signal handler) is
//!   dropped and counted; the count is written as a `lost` record later.
//! - Fork: `fork_prepare`/`fork_parent`/`fork_child` keep the buffer registry
//!   consistent across `fork()`. In the child every inherited buffer belongs to the
//!   parent, which writes it itself: the child bumps a generation, so its buffers are
//!   emptied before their first use and the parent's threads' buffers are never
//!   written by the child.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};

pub use super::trace_format::*;

use super::epitem::Epitem;
use super::eventpoll::EventPoll;
use super::events::{EPOLLEXCLUSIVE, EP_PRIVATE_BITS, KEY_ALL};

static ON: AtomicBool = AtomicBool::new(false);

/// True when tracing. The only cost of a hook point when tracing is off.
#[inline(always)]
pub fn on() -> bool {
    ON.load(Relaxed)
}

/// What the recorder needs from outside the engine.
pub struct Sink {
    /// CLOCK_MONOTONIC ns.
    pub now: fn() -> u64,
    /// The calling thread's id.
    pub tid: fn() -> u32,
    /// Append whole records to the trace; false if they could not be written.
    pub write: fn(&[u8]) -> bool,
}

static SINK: OnceLock<Sink> = OnceLock::new();
static PID: AtomicU32 = AtomicU32::new(0);
/// Bumped in a fork child: buffers of an older generation hold the parent's records.
static GEN: AtomicU64 = AtomicU64::new(0);
/// Records dropped and not yet reported.
static LOST: AtomicU64 = AtomicU64::new(0);
/// Every thread's buffer, for the flush at process exit.
static REGISTRY: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

/// Records per thread buffer before it is written out.
const BUFFER_RECORDS: usize = 2048;

struct Shared {
    /// The `GEN` the buffer's contents belong to.
    gen: AtomicU64,
    buf: Mutex<Buf>,
}

struct Buf {
    tid: u32,
    bytes: Vec<u8>,
}

struct Local {
    shared: OnceCell<Arc<Shared>>,
    busy: Cell<bool>,
}

impl Drop for Local {
    /// Thread exit: write what is left and leave the registry.
    fn drop(&mut self) {
        let Some(shared) = self.shared.get() else {
            return;
        };
        if !self.busy.get() && shared.gen.load(Relaxed) == GEN.load(Relaxed) {
            if let Some(sink) = SINK.get() {
                flush(sink, &mut lock(&shared.buf));
            }
        }
        lock(&REGISTRY).retain(|s| !Arc::ptr_eq(s, shared));
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            shared: OnceCell::new(),
            busy: Cell::new(false),
        }
    };
    /// The registry held across `fork()` by the forking thread.
    static FORK_GUARD: RefCell<Option<MutexGuard<'static, Vec<Arc<Shared>>>>> =
        const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Start recording, with `pid` as the process id in records. Returns false if a sink
/// was already registered (then the first one stays).
pub fn enable(sink: Sink, pid: u32) -> bool {
    PID.store(pid, Relaxed);
    let fresh = SINK.set(sink).is_ok();
    ON.store(true, Relaxed);
    fresh
}

/// Append one record (time, pid and tid are filled in here).
#[cold]
#[inline(never)]
pub fn record(mut rec: Record) {
    let Some(sink) = SINK.get() else {
        return;
    };
    rec.time = (sink.now)();
    rec.pid = PID.load(Relaxed);
    let kept = LOCAL.try_with(|local| {
        if local.busy.replace(true) {
            LOST.fetch_add(1, Relaxed);
            return;
        }
        let shared = local.shared.get_or_init(|| {
            let shared = Arc::new(Shared {
                gen: AtomicU64::new(GEN.load(Relaxed)),
                buf: Mutex::new(Buf {
                    tid: (sink.tid)(),
                    bytes: Vec::with_capacity(BUFFER_RECORDS * RECORD_SIZE),
                }),
            });
            lock(&REGISTRY).push(Arc::clone(&shared));
            shared
        });
        let mut buf = lock(&shared.buf);
        let gen = GEN.load(Relaxed);
        if shared.gen.load(Relaxed) != gen {
            // First record in a fork child: the contents are the parent's.
            buf.bytes.clear();
            buf.tid = (sink.tid)();
            shared.gen.store(gen, Relaxed);
            lock(&REGISTRY).push(Arc::clone(shared));
        }
        rec.tid = buf.tid;
        if LOST.load(Relaxed) != 0 {
            let n = LOST.swap(0, Relaxed);
            let lost = Record {
                kind: KIND_LOST,
                d: n,
                ..rec
            };
            buf.bytes.extend_from_slice(&lost.to_bytes());
        }
        buf.bytes.extend_from_slice(&rec.to_bytes());
        if buf.bytes.len() >= BUFFER_RECORDS * RECORD_SIZE {
            flush(sink, &mut buf);
        }
        drop(buf);
        local.busy.set(false);
    });
    if kept.is_err() {
        // The thread's buffer is gone (thread or process exit): write this one alone.
        rec.tid = (sink.tid)();
        if !(sink.write)(&rec.to_bytes()) {
            LOST.fetch_add(1, Relaxed);
        }
    }
}

/// Write one record at once, past the buffer (a process's `start`, so that it shows
/// even if the process later execs or dies with records still buffered).
#[cold]
#[inline(never)]
pub fn record_now(mut rec: Record) {
    let Some(sink) = SINK.get() else {
        return;
    };
    rec.time = (sink.now)();
    rec.pid = PID.load(Relaxed);
    rec.tid = (sink.tid)();
    if !(sink.write)(&rec.to_bytes()) {
        LOST.fetch_add(1, Relaxed);
    }
}

fn flush(sink: &Sink, buf: &mut Buf) {
    if buf.bytes.is_empty() {
        return;
    }
    if !(sink.write)(&buf.bytes) {
        LOST.fetch_add((buf.bytes.len() / RECORD_SIZE) as u64, Relaxed);
    }
    buf.bytes.clear();
}

/// Process exit: write every thread's buffer. A buffer whose owner is in the middle of
/// a record is waited for briefly, then skipped, so exit never hangs here.
pub fn flush_all() {
    let Some(sink) = SINK.get() else {
        return;
    };
    let gen = GEN.load(Relaxed);
    let all: Vec<Arc<Shared>> = lock(&REGISTRY).clone();
    for shared in all.iter().filter(|s| s.gen.load(Relaxed) == gen) {
        for _ in 0..1000 {
            match shared.buf.try_lock() {
                Ok(mut buf) => {
                    flush(sink, &mut buf);
                    break;
                }
                Err(TryLockError::Poisoned(e)) => {
                    flush(sink, &mut e.into_inner());
                    break;
                }
                Err(TryLockError::WouldBlock) => std::thread::yield_now(),
            }
        }
    }
}

/// Before `fork()`: hold the registry, so the child does not inherit it locked by a
/// thread that does not exist there. Called after the library's own prepare handler
/// took the fd-table gate (no thread waits for the registry while holding the gate).
pub fn fork_prepare() {
    if !on() {
        return;
    }
    let guard = lock(&REGISTRY);
    let _ = FORK_GUARD.try_with(|g| *g.borrow_mut() = Some(guard));
}

/// After `fork()`, in the parent.
pub fn fork_parent() {
    let _ = FORK_GUARD.try_with(|g| g.borrow_mut().take());
}

/// After `fork()`, in the child, whose pid is `pid`: forget the parent's buffers.
pub fn fork_child(pid: u32) {
    PID.store(pid, Relaxed);
    GEN.fetch_add(1, Relaxed);
    LOST.store(0, Relaxed);
    let _ = FORK_GUARD.try_with(|g| {
        if let Some(mut registry) = g.borrow_mut().take() {
            registry.clear();
        }
    });
}

/// An opaque id of an instance for the records (its address).
pub fn instance_id(ep: &EventPoll) -> u64 {
    ep as *const EventPoll as usize as u64
}

/// `ep_poll_callback` with a record: the outcome is classified from the item as the
/// callback found it (racy against a concurrent transfer, as any trace is).
#[cold]
#[inline(never)]
pub(crate) fn traced_callback(
    epi: &Arc<Epitem>,
    key: u32,
    callback: impl FnOnce() -> bool,
) -> bool {
    use super::sync::Ordering;
    let dead = epi.dead.load(Ordering::Relaxed);
    let events = epi.events.load(Ordering::Relaxed);
    let linked = epi.linked.load(Ordering::Relaxed);
    let ewake = callback();
    let outcome = if dead {
        CB_DEAD
    } else if events & !EP_PRIVATE_BITS == 0 {
        CB_DISARMED
    } else if key != KEY_ALL && key & events == 0 {
        CB_FILTERED
    } else if linked {
        CB_LINKED
    } else {
        CB_QUEUED
    };
    record(Record {
        kind: KIND_CALLBACK,
        sub: outcome,
        flags: if ewake && events & EPOLLEXCLUSIVE != 0 {
            CB_EWAKE
        } else {
            0
        },
        a: epi.fd as u32,
        b: key,
        c: events,
        d: epi.data.load(Ordering::Relaxed),
        g: instance_id(&epi.ep),
        ..Record::default()
    });
    ewake
}

/// Record a transfer of `ep`: (spliced, processed, delivered, requeued, maxevents,
/// live entries left on the ready list).
#[cold]
#[inline(never)]
pub(crate) fn transfer(ep: &EventPoll, t: super::eventpoll::TransferSummary) {
    let super::eventpoll::TransferSummary {
        spliced,
        processed,
        delivered,
        requeued,
        maxevents,
        left,
    } = t;
    record(Record {
        kind: KIND_TRANSFER,
        sub: match ep.variant() {
            super::Variant::SinglePass => VARIANT_SINGLEPASS,
            super::Variant::Seed => VARIANT_SEED,
            super::Variant::MultiPass => VARIANT_MULTIPASS,
        },
        a: spliced as u32,
        b: processed as u32,
        c: delivered as u32,
        d: requeued,
        e: maxevents as u64,
        f: left as u64,
        g: instance_id(ep),
        ..Record::default()
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    static OUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    fn sink() -> Sink {
        Sink {
            now: || 42,
            tid: || 7,
            // Only this test's records are kept: other tests running meanwhile trace too.
            write: |b| {
                let mut out = lock(&OUT);
                for r in b.chunks(RECORD_SIZE) {
                    if Record::from_bytes(r).is_some_and(|r| r.d >> 16 == 0x5eed_0000_0000) {
                        out.extend_from_slice(r);
                    }
                }
                true
            },
        }
    }

    fn records() -> Vec<Record> {
        lock(&OUT)
            .chunks(RECORD_SIZE)
            .filter_map(Record::from_bytes)
            .collect()
    }

    /// One test drives the global recorder (other engine tests running at the same time
    /// may add records of their own; only the marked ones are looked at).
    #[test]
    fn records_reach_the_sink_at_thread_exit_and_flush() {
        enable(sink(), 1234);
        const MARK: u64 = 0x5eed_0000_0000_0001;
        std::thread::spawn(|| {
            for i in 0..3 {
                record(Record {
                    kind: KIND_CTL,
                    sub: 1,
                    a: 5,
                    b: i,
                    d: MARK,
                    ..Record::default()
                });
            }
        })
        .join()
        .unwrap();
        let got: Vec<Record> = records().into_iter().filter(|r| r.d == MARK).collect();
        assert_eq!(got.len(), 3, "written when the thread exited");
        assert!(got
            .iter()
            .all(|r| r.time == 42 && r.pid == 1234 && r.tid == 7 && r.kind == KIND_CTL));
        assert_eq!(got.iter().map(|r| r.b).collect::<Vec<_>>(), [0, 1, 2]);

        // A full buffer is written at once; the rest by the exit flush.
        const MARK2: u64 = 0x5eed_0000_0000_0002;
        let n = BUFFER_RECORDS + 5;
        for _ in 0..n {
            record(Record {
                kind: KIND_WAIT,
                d: MARK2,
                ..Record::default()
            });
        }
        let count = |m: u64| records().iter().filter(|r| r.d == m).count();
        assert_eq!(count(MARK2), BUFFER_RECORDS);
        flush_all();
        assert_eq!(count(MARK2), n);

        // In a fork child the buffer's old contents are dropped, not written twice.
        const MARK3: u64 = 0x5eed_0000_0000_0003;
        record(Record {
            kind: KIND_WAIT,
            d: MARK3,
            ..Record::default()
        });
        fork_prepare();
        fork_child(4321);
        const MARK4: u64 = 0x5eed_0000_0000_0004;
        record(Record {
            kind: KIND_WAIT,
            d: MARK4,
            ..Record::default()
        });
        flush_all();
        assert_eq!(
            count(MARK3),
            0,
            "the parent's record is not the child's to write"
        );
        let child: Vec<Record> = records().into_iter().filter(|r| r.d == MARK4).collect();
        assert_eq!(child.len(), 1);
        assert_eq!(child[0].pid, 4321);
    }
}
