//! `UEPOLL_TRACE=FILE`: the preload side of the recorder (`engine/trace.rs`). The
//! constructor calls `init`; it registers the sink (clock, thread id, file), an
//! `atexit` flush and fork handlers, and writes a `start` record. The ctl and wait hooks
//! (`epoll.rs`) call `ctl`, `wait_enter` and `wait_return` when `trace::on()`.
//!
//! The file is opened for each write (`O_APPEND`) and closed again, so the library
//! holds no fd of the program's: `close_range`, `dup2` over it or exec cannot disturb
//! it, and a fork child appends to the same file with its own pid in its records. An
//! exec'd child that loads the library finds `UEPOLL_TRACE` in its environment and
//! appends as well. The header is written by whoever creates the file (`uepoll trace`
//! creates it before running the program).

use std::ffi::CString;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use libc::{c_int, epoll_event, timespec};

use crate::engine::events::EPOLL_CTL_DEL;
use crate::engine::trace::{self as rec, Record};
use crate::files::gate;
use crate::files::instance::Instance;
use crate::files::table::{self, Entry};
use crate::sys::user;
use crate::sys::{self, real, ErrnoGuard};

static PATH: OnceLock<CString> = OnceLock::new();
static NAME: OnceLock<(u64, u64)> = OnceLock::new();
static VARIANT: AtomicU8 = AtomicU8::new(0);

/// Read `UEPOLL_TRACE` and start recording if it names a file. Called by the
/// constructor before it registers the library's own fork handlers, so that this
/// module's prepare handler runs after theirs (they run in reverse order).
pub(crate) fn init(variant: u8) {
    let Some(value) = std::env::var_os("UEPOLL_TRACE").filter(|v| !v.is_empty()) else {
        return;
    };
    let mut path = std::path::PathBuf::from(value);
    if path.is_relative() {
        // The program may chdir later: keep the absolute name.
        if let Ok(cwd) = std::env::current_dir() {
            path = cwd.join(path);
        }
    }
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let _ = PATH.set(path);
    VARIANT.store(variant, Ordering::Relaxed);
    let comm = std::fs::read("/proc/self/comm").unwrap_or_default();
    let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
    let name = *NAME.get_or_init(|| rec::pack_name(comm));
    if let Err(err) = write_header_if_new() {
        let msg = format!(
            "uepoll: cannot open UEPOLL_TRACE file {:?}: {err}; not tracing\n",
            PATH.get().map(|p| p.to_string_lossy()).unwrap_or_default()
        );
        super::write_stderr(msg.as_bytes());
        return;
    }
    let sink = rec::Sink {
        now,
        tid,
        write: append,
    };
    rec::enable(sink, pid());
    // SAFETY: registers plain extern "C" fns with no arguments.
    unsafe {
        libc::atexit(at_exit);
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { libc::getppid() } as u32;
    rec::record_now(Record {
        kind: rec::KIND_START,
        sub: rec::START_EXEC,
        a: ppid,
        b: u32::from(variant),
        d: name.0,
        e: name.1,
        ..Record::default()
    });
}

fn now() -> u64 {
    sys::monotonic_ns() as u64
}

fn tid() -> u32 {
    // SAFETY: gettid cannot fail (and is not hooked).
    unsafe { libc::gettid() as u32 }
}

fn pid() -> u32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// Create the file with its header, unless it exists and is not empty.
fn write_header_if_new() -> std::io::Result<()> {
    let _errno = ErrnoGuard::save();
    let fd = open_for_append().ok_or_else(std::io::Error::last_os_error)?;
    // SAFETY: st is plain data filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is writable.
    if unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_size == 0 {
        let header = rec::Header::new(now(), pid()).to_bytes();
        write_all(fd, &header);
    }
    // SAFETY: our own fd; the real close, not the hook.
    unsafe { real::close(fd) };
    Ok(())
}

/// Open the trace file for appending (created if missing); None on failure, with
/// errno set (no path configured: EINVAL).
fn open_for_append() -> Option<c_int> {
    let Some(path) = PATH.get() else {
        crate::sys::set_errno(libc::EINVAL);
        return None;
    };
    // SAFETY: path is NUL-terminated; `open` is not hooked by the library.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    (fd >= 0).then_some(fd)
}

/// A wait's timeout in ns from a millisecond timeout (-1: none).
pub(crate) fn ms_ns(ms: c_int) -> i64 {
    if ms < 0 {
        -1
    } else {
        i64::from(ms) * 1_000_000
    }
}

/// The sink's write: append whole records to the file.
fn append(bytes: &[u8]) -> bool {
    let _errno = ErrnoGuard::save();
    let Some(fd) = open_for_append() else {
        return false;
    };
    let ok = write_all(fd, bytes);
    // SAFETY: our own fd.
    unsafe { real::close(fd) };
    ok
}

fn write_all(fd: c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: bytes is a live slice; the real write, not the hook.
        let n = unsafe { real::write(fd, bytes.as_ptr() as *const _, bytes.len()) };
        if n < 0 && sys::errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        bytes = bytes.get(n as usize..).unwrap_or_default();
    }
    true
}

extern "C" fn at_exit() {
    let was = gate::in_library();
    gate::set_in_library(true);
    rec::record(Record {
        kind: rec::KIND_EXIT,
        ..Record::default()
    });
    rec::flush_all();
    gate::set_in_library(was);
}

/// `_exit` and `_Exit` leave without running `atexit` handlers, and fork children
/// usually leave this way: print the counters (`UEPOLL_STATS=1`) and write the
/// trace's buffers first. With both off this is the real call and nothing else.
#[no_mangle]
pub extern "C" fn _exit(status: c_int) -> ! {
    before_exit();
    // SAFETY: the program's own call, passed on.
    unsafe { real::_exit(status) }
}

#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn _Exit(status: c_int) -> ! {
    before_exit();
    // SAFETY: glibc's _Exit is _exit.
    unsafe { real::_exit(status) }
}

/// What `exit()`'s `atexit` handlers would have done.
fn before_exit() {
    crate::files::children::child_exits();
    super::print_stats_at_exit();
    if rec::on() {
        at_exit();
    }
}

extern "C" fn fork_prepare() {
    rec::fork_prepare();
}

extern "C" fn fork_parent() {
    rec::fork_parent();
}

extern "C" fn fork_child() {
    // SAFETY: getppid cannot fail; in the child it is the forking process.
    let ppid = unsafe { libc::getppid() } as u32;
    rec::fork_child(pid());
    let name = NAME.get().copied().unwrap_or_default();
    rec::record_now(Record {
        kind: rec::KIND_START,
        sub: rec::START_FORK,
        a: ppid,
        b: u32::from(VARIANT.load(Ordering::Relaxed)),
        d: name.0,
        e: name.1,
        ..Record::default()
    });
}

/// The instance id and whether the engine serves `fd` in it.
fn instance(epfd: c_int, fd: Option<c_int>) -> (u64, bool) {
    if !table::is_served(epfd) {
        return (0, false);
    }
    let Some(gate) = table::enter() else {
        return (0, false);
    };
    let Some(Entry::Epoll(inst)) = gate.get(epfd) else {
        return (0, false);
    };
    let inst: &Instance = inst;
    let engine =
        !inst.is_kernel_only() && fd.is_some_and(|fd| matches!(gate.get(fd), Some(Entry::File(_))));
    (inst.trace_id(), engine)
}

fn result(r: c_int) -> u64 {
    if r < 0 {
        -(i64::from(sys::errno())) as u64
    } else {
        i64::from(r) as u64
    }
}

/// `epoll_ctl` returned `r`.
#[cold]
#[inline(never)]
pub(crate) fn ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut epoll_event, r: c_int) {
    let result = result(r);
    let _errno = ErrnoGuard::save();
    let (events, data) = if op != EPOLL_CTL_DEL && !event.is_null() {
        user::read_event(event).unwrap_or((0, 0))
    } else {
        (0, 0)
    };
    let (ep, engine) = instance(epfd, Some(fd));
    rec::record(Record {
        kind: rec::KIND_CTL,
        sub: op as u8,
        flags: if engine { rec::CTL_ENGINE } else { 0 },
        a: epfd as u32,
        b: fd as u32,
        c: events,
        d: data,
        e: result,
        g: ep,
        ..Record::default()
    });
}

/// A wait's timeout in ns from `epoll_pwait2`'s timespec (-1: none or unreadable).
pub(crate) fn timespec_ns(ts: *const timespec) -> i64 {
    if ts.is_null() {
        return -1;
    }
    let _errno = ErrnoGuard::save();
    user::read_plain(ts).map_or(-1, |t| {
        t.tv_sec
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec)
    })
}

/// A wait is entered. Returns the time, for `wait_return`.
#[cold]
#[inline(never)]
pub(crate) fn wait_enter(epfd: c_int, maxevents: c_int, call: u8, timeout_ns: i64) -> u64 {
    let _errno = ErrnoGuard::save();
    rec::record(Record {
        kind: rec::KIND_WAIT,
        sub: call,
        a: epfd as u32,
        b: maxevents as u32,
        e: timeout_ns as u64,
        g: instance(epfd, None).0,
        ..Record::default()
    });
    now()
}

/// The wait entered at `since` returned `r`.
#[cold]
#[inline(never)]
pub(crate) fn wait_return(epfd: c_int, maxevents: c_int, call: u8, r: c_int, since: u64) {
    let result = result(r);
    let _errno = ErrnoGuard::save();
    rec::record(Record {
        kind: rec::KIND_WAIT_RET,
        sub: call,
        a: epfd as u32,
        b: maxevents as u32,
        e: result,
        f: now().saturating_sub(since),
        g: instance(epfd, None).0,
        ..Record::default()
    });
}
