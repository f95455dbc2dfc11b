//! The layout of a `UEPOLL_TRACE` file, defined once for the writer (the library's
//! recorder, `engine/trace.rs`) and the reader (`uepoll trace --dump`, which includes
//! this file with `#[path]`). Plain std, no dependencies.
//!
//! A file is a sequence of fixed-size 64-byte records, all fields little-endian. The
//! first record is a header, recognised by its magic in place of a timestamp. Every
//! process that traces into the file appends whole records (`O_APPEND`), so records of
//! several processes and threads interleave in chunks; each carries its own time, pid
//! and tid. A header found later in the file (a second writer that found the file
//! empty) is skipped by readers.
//!
//! Header:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | `MAGIC` (`UEPTRACE`) |
//! | 8..12 | `VERSION` |
//! | 12..16 | record size (64) |
//! | 16..24 | CLOCK_MONOTONIC ns when the file was created (0: unknown) |
//! | 24..28 | pid of the creator |
//!
//! Record:
//!
//! | bytes | field | |
//! |---|---|---|
//! | 0..8 | `time` | CLOCK_MONOTONIC ns (one clock for every process) |
//! | 8..12 | `pid` | |
//! | 12..16 | `tid` | |
//! | 16 | `kind` | `KIND_*` |
//! | 17 | `sub` | per kind: ctl op, wait call, callback outcome, engine variant |
//! | 18..20 | `flags` | per kind |
//! | 20..24, 24..28, 28..32 | `a`, `b`, `c` | u32 fields |
//! | 32..40, 40..48, 48..56, 56..64 | `d`, `e`, `f`, `g` | u64 fields |
//!
//! | kind | sub | flags | a | b | c | d | e | f | g |
//! |---|---|---|---|---|---|---|---|---|---|
//! | start | `START_*` | | ppid | engine variant | | comm[0..8] | comm[8..16] | | |
//! | ctl | op | `CTL_ENGINE` | epfd | fd | events | data | result (i64: value or -errno) | | instance |
//! | wait | `CALL_*` | | epfd | maxevents | | | timeout ns (i64, -1: none) | | instance |
//! | wait-ret | `CALL_*` | | epfd | maxevents | | | result (i64: count or -errno) | elapsed ns | instance |
//! | callback | `CB_*` | `CB_EWAKE` | fd | key | item events | data | | | instance |
//! | transfer | variant | | spliced | processed | delivered | requeued | maxevents | left ready | instance |
//! | lost | | | | | | records dropped | | | |
//! | exit | | | | | | | | | |
//! | demote | `Why` | | fd (`u32::MAX`: none left) | registrations handed over | | | | | |
//! | kernel-only | `Why` | | epfd | | | | | | instance |
//! | promote | `Why` it had gone to the kernel | `PROMOTE_*` | epfd or fd | registrations taken back | | | | | instance (0: a file) |
//!
//! `demote`: one open file (with its peer, a record each) went to the kernel.
//! `kernel-only`: an instance became the kernel's alone. `promote`: the reverse of
//! either, once no other process can reach the instance or file any more.
//!
//! `instance` is an opaque id of the engine instance (0: not one of the library's), the
//! same in every record about it, so a callback or transfer can be tied to the epfd of
//! the ctl and wait records that carry the same id.

/// The first eight bytes of a trace file.
pub const MAGIC: [u8; 8] = *b"UEPTRACE";
/// Bumped on any change to the layout above.
pub const VERSION: u32 = 1;
/// Every record, the header included, is this long.
pub const RECORD_SIZE: usize = 64;

/// A process started tracing (library constructor, or a fork child).
pub const KIND_START: u8 = 1;
/// `epoll_ctl` returned.
pub const KIND_CTL: u8 = 2;
/// `epoll_wait`/`epoll_pwait`/`epoll_pwait2` entered.
pub const KIND_WAIT: u8 = 3;
/// The wait returned.
pub const KIND_WAIT_RET: u8 = 4;
/// A watched file woke an engine item (`ep_poll_callback`).
pub const KIND_CALLBACK: u8 = 5;
/// A transfer (`send_events`) spliced a non-empty ready list.
pub const KIND_TRANSFER: u8 = 6;
/// Records were dropped (re-entered recorder, or a failed write).
pub const KIND_LOST: u8 = 7;
/// The process exited through `exit()`.
pub const KIND_EXIT: u8 = 8;

/// An open file went to the kernel (demotion).
pub const KIND_DEMOTE: u8 = 9;
/// An instance became the kernel's alone.
pub const KIND_KERNEL_ONLY: u8 = 10;
/// An instance or file came back to the engine.
pub const KIND_PROMOTE: u8 = 11;

/// `promote` flags: the child that could reach it exec'd (close-on-exec), or exited.
pub const PROMOTE_CHILD_EXEC: u16 = 1;
pub const PROMOTE_CHILD_EXIT: u16 = 2;

/// Why a file or an instance went to the kernel: the `sub` of `demote`,
/// `kernel-only` and `promote` records, and the suffix of the `UEPOLL_STATS`
/// counters `kernel_only_now_*` and `demotions_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Why {
    /// `fork`, `vfork`, `_Fork`, a `clone` child: parent and child share it.
    Fork = 0,
    /// `posix_spawn`, `system`, `popen`: the child holds it.
    Spawn = 1,
    /// Passed to another process with `SCM_RIGHTS`.
    FdPassing = 2,
    /// A raw `syscall()` the library cannot route named it.
    RawSyscall = 3,
    /// A number the library does not serve (stdio, past the table) refers to it.
    FdNumber = 4,
    /// stdio (`fdopen`) reads or writes it.
    Stdio = 5,
    /// A call moves data through it out of the library's sight (`splice`, `tee`,
    /// `sendfile`, `vmsplice`, `preadv2`, `pwritev2`).
    KernelIo = 6,
    /// Handed to something the library does not see (`preload/handoff.rs`: `connect`,
    /// `setsockopt`, `pidfd_getfd`, `backtrace_symbols_fd`, glibc AIO).
    Handoff = 7,
    /// The library stopped serving (`unshare(CLONE_FILES)`, io_uring, Linux AIO).
    StopServing = 8,
    /// Its state went out of sight (an eventfd value not seen, deferred I/O lost).
    Unseen = 9,
    /// This process execs: the new image keeps what has no close-on-exec, but not the
    /// engine's state.
    Exec = 10,
}

impl Why {
    /// Every reason, in `sub` order.
    pub const ALL: [Why; 11] = [
        Why::Fork,
        Why::Spawn,
        Why::FdPassing,
        Why::RawSyscall,
        Why::FdNumber,
        Why::Stdio,
        Why::KernelIo,
        Why::Handoff,
        Why::StopServing,
        Why::Unseen,
        Why::Exec,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Why::Fork => "fork",
            Why::Spawn => "spawn",
            Why::FdPassing => "fd_passing",
            Why::RawSyscall => "raw_syscall",
            Why::FdNumber => "fd_number",
            Why::Stdio => "stdio",
            Why::KernelIo => "kernel_io",
            Why::Handoff => "handoff",
            Why::StopServing => "stop_serving",
            Why::Unseen => "unseen",
            Why::Exec => "exec",
        }
    }

    pub fn from_sub(sub: u8) -> Option<Why> {
        Why::ALL.get(sub as usize).copied()
    }
}

/// `start`: the library's constructor ran (a new program image).
pub const START_EXEC: u8 = 0;
/// `start`: a fork child (pid and tid are the child's; `a` is the parent).
pub const START_FORK: u8 = 1;

/// `ctl`: both the instance and the target are served by the engine.
pub const CTL_ENGINE: u16 = 1;

/// `wait`/`wait-ret`: which call.
pub const CALL_WAIT: u8 = 0;
pub const CALL_PWAIT: u8 = 1;
pub const CALL_PWAIT2: u8 = 2;

/// `callback` outcome, as the item was found: queued on the ready list.
pub const CB_QUEUED: u8 = 0;
/// Already on a list: the wake-up is merged (SinglePass remembers it in `missed`).
pub const CB_LINKED: u8 = 1;
/// The item was removed.
pub const CB_DEAD: u8 = 2;
/// A disarmed `EPOLLONESHOT` item.
pub const CB_DISARMED: u8 = 3;
/// The key is not what the item waits for.
pub const CB_FILTERED: u8 = 4;
/// `callback` flag: an `EPOLLEXCLUSIVE` item's wake-up counted as delivered.
pub const CB_EWAKE: u16 = 1;

/// `transfer`: the engine variant (`UEPOLL_ENGINE`).
pub const VARIANT_SINGLEPASS: u8 = 0;
pub const VARIANT_SEED: u8 = 1;
pub const VARIANT_MULTIPASS: u8 = 2;

/// One record. `time`, `pid` and `tid` are filled in by the recorder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub time: u64,
    pub pid: u32,
    pub tid: u32,
    pub kind: u8,
    pub sub: u8,
    pub flags: u16,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u64,
    pub e: u64,
    pub f: u64,
    pub g: u64,
}

impl Record {
    pub fn to_bytes(self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&self.time.to_le_bytes());
        out[8..12].copy_from_slice(&self.pid.to_le_bytes());
        out[12..16].copy_from_slice(&self.tid.to_le_bytes());
        out[16] = self.kind;
        out[17] = self.sub;
        out[18..20].copy_from_slice(&self.flags.to_le_bytes());
        out[20..24].copy_from_slice(&self.a.to_le_bytes());
        out[24..28].copy_from_slice(&self.b.to_le_bytes());
        out[28..32].copy_from_slice(&self.c.to_le_bytes());
        out[32..40].copy_from_slice(&self.d.to_le_bytes());
        out[40..48].copy_from_slice(&self.e.to_le_bytes());
        out[48..56].copy_from_slice(&self.f.to_le_bytes());
        out[56..64].copy_from_slice(&self.g.to_le_bytes());
        out
    }

    /// Decode one record; None when `b` is shorter than a record.
    pub fn from_bytes(b: &[u8]) -> Option<Record> {
        if b.len() < RECORD_SIZE {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        Some(Record {
            time: u64_at(0),
            pid: u32_at(8),
            tid: u32_at(12),
            kind: b[16],
            sub: b[17],
            flags: u16_at(18),
            a: u32_at(20),
            b: u32_at(24),
            c: u32_at(28),
            d: u64_at(32),
            e: u64_at(40),
            f: u64_at(48),
            g: u64_at(56),
        })
    }
}

/// The file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub record_size: u32,
    /// CLOCK_MONOTONIC ns at creation, 0 when unknown.
    pub start: u64,
    pub pid: u32,
}

impl Header {
    pub fn new(start: u64, pid: u32) -> Header {
        Header {
            version: VERSION,
            record_size: RECORD_SIZE as u32,
            start,
            pid,
        }
    }

    pub fn to_bytes(self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&self.record_size.to_le_bytes());
        out[16..24].copy_from_slice(&self.start.to_le_bytes());
        out[24..28].copy_from_slice(&self.pid.to_le_bytes());
        out
    }

    /// The header in `b`, if `b` starts with the magic (whatever the version: the
    /// caller checks it).
    pub fn from_bytes(b: &[u8]) -> Option<Header> {
        if b.len() < RECORD_SIZE || b[0..8] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut start = [0u8; 8];
        start.copy_from_slice(&b[16..24]);
        Some(Header {
            version: u32_at(8),
            record_size: u32_at(12),
            start: u64::from_le_bytes(start),
            pid: u32_at(24),
        })
    }
}

/// A process name (`comm`, at most 16 bytes) packed into two u64 fields.
pub fn pack_name(name: &[u8]) -> (u64, u64) {
    let mut buf = [0u8; 16];
    let n = name.len().min(16);
    buf[..n].copy_from_slice(&name[..n]);
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&buf[..8]);
    hi.copy_from_slice(&buf[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// The name packed by `pack_name`, without trailing NULs.
pub fn unpack_name(lo: u64, hi: u64) -> String {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&lo.to_le_bytes());
    buf[8..].copy_from_slice(&hi.to_le_bytes());
    let end = buf.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
