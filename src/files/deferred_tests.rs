//! Deferred accounting under nested signal handlers.
//!
//! `torture signals` lost the level-triggered readiness of a self-pipe for good: a
//! handler that interrupts a thread inside the library records its write (`push`), and
//! a second handler (another signal: the program's handler does not block the others)
//! can land inside that `push`. These tests run the torture's handler shape with the
//! second handler made to land at each point of the first one's `push`
//! (`signal_lands`), then check, as the torture does with signals blocked, that a
//! non-blocking wait reports the self-pipe and the eventfd exactly when they hold data.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::push;
use crate::engine::events::*;
use crate::engine::mock::{mock_ep, MockWaker};
use crate::engine::{EventPoll, Variant};
use crate::files::openfile::OpenFile;
use crate::files::table::{self, Entry};
use crate::files::test_support::done;
use crate::files::FileName;
use crate::files::{self, Dir};

thread_local! {
    /// The nested handler, run at the `COUNTDOWN`-th point a signal may land.
    static NESTED: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    static COUNTDOWN: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Called at every point of `push` where a signal may land.
pub(super) fn signal_lands() {
    let n = COUNTDOWN.with(Cell::get);
    if n == usize::MAX {
        return;
    }
    if n > 0 {
        COUNTDOWN.with(|c| c.set(n - 1));
        return;
    }
    COUNTDOWN.with(|c| c.set(usize::MAX));
    if let Some(handler) = NESTED.with(|h| h.borrow_mut().take()) {
        handler();
    }
}

/// Make `handler` land at the `point`-th place a signal may land from now on.
fn arm(point: usize, handler: impl FnOnce() + 'static) {
    NESTED.with(|h| *h.borrow_mut() = Some(Box::new(handler)));
    COUNTDOWN.with(|c| c.set(point));
}

/// Whether the armed handler ran; disarms it.
fn disarm() -> bool {
    COUNTDOWN.with(|c| c.set(usize::MAX));
    NESTED.with(|h| h.borrow_mut().take()).is_none()
}

const D_SELF: u64 = 0x5e1f;
const D_EVFD: u64 = 0xefd;

/// One thread's self-pipe and eventfd, served and registered level-triggered in one
/// instance, as in `torture signals`.
struct Storm {
    r: i32,
    w: i32,
    evfd: i32,
    ep: Arc<EventPoll>,
    _waker: Arc<MockWaker>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sig {
    /// Writes a byte to the self-pipe.
    Alrm,
    /// Adds 1 to the eventfd.
    Usr1,
    /// Both.
    Usr2,
}

impl Storm {
    fn new() -> Storm {
        let mut p = [0; 2];
        // SAFETY: a live two-int buffer.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK) }, 0);
        // SAFETY: plain call.
        let evfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) };
        assert!(evfd >= 0);
        let (re, we) = OpenFile::new_pipe(p[0], p[1]);
        let ev = OpenFile::new_eventfd(evfd, 0, false);
        {
            let mut gate = table::enter_mut().expect("outside the library");
            files::install(&mut gate, p[0], Entry::File(Arc::clone(&re)));
            files::install(&mut gate, p[1], Entry::File(we));
            files::install(&mut gate, evfd, Entry::File(Arc::clone(&ev)));
        }
        let (ep, waker) = mock_ep(Variant::SinglePass);
        let ctl = |file: &Arc<OpenFile>, fd, data| {
            let _gate = table::enter().expect("outside the library");
            ep.ctl(EPOLL_CTL_ADD, file, fd, (EPOLLIN, data), usize::MAX)
                .expect("add");
        };
        ctl(&re, p[0], D_SELF);
        ctl(&ev, evfd, D_EVFD);
        Storm {
            r: p[0],
            w: p[1],
            evfd,
            ep,
            _waker: waker,
        }
    }

    /// `storm_handler`: the real write, then what the hook does on a thread inside the
    /// library (`Prep::Deferred`): record it.
    fn handler(&self, sig: Sig) {
        if sig != Sig::Usr1 {
            // SAFETY: one byte from a static buffer to our pipe.
            assert_eq!(unsafe { libc::write(self.w, b"s".as_ptr().cast(), 1) }, 1);
            push(FileName::number(self.w), done(Dir::Write, 1, None));
        }
        if sig != Sig::Alrm {
            let one = 1u64;
            // SAFETY: eight bytes from a live u64 to our eventfd.
            assert_eq!(
                unsafe { libc::write(self.evfd, (&one as *const u64).cast(), 8) },
                8
            );
            push(FileName::number(self.evfd), done(Dir::Write, 8, Some(1)));
        }
    }

    /// A write by a handler that ran while its thread was outside the library: the
    /// hook accounts it at once.
    fn served_write(&self) {
        let prep = files::prepare(self.w, Dir::Write);
        // SAFETY: one byte from a static buffer to our pipe.
        let n = unsafe { libc::write(self.w, b"s".as_ptr().cast(), 1) };
        files::complete(prep, done(Dir::Write, n, None));
        let prep = files::prepare(self.evfd, Dir::Write);
        let one = 1u64;
        // SAFETY: eight bytes from a live u64 to our eventfd.
        let n = unsafe { libc::write(self.evfd, (&one as *const u64).cast(), 8) };
        files::complete(prep, done(Dir::Write, n, Some(1)));
    }

    /// `drain_self` and `drain_evfd`, through the hooks' accounting.
    fn drain(&self) {
        let mut buf = [0u8; 4096];
        loop {
            let prep = files::prepare(self.r, Dir::Read);
            // SAFETY: reads into a live buffer of its size.
            let n = unsafe { libc::read(self.r, buf.as_mut_ptr().cast(), buf.len()) };
            files::complete(prep, done(Dir::Read, n, None));
            if n <= 0 {
                break;
            }
        }
        loop {
            let mut v = 0u64;
            let prep = files::prepare(self.evfd, Dir::Read);
            // SAFETY: reads eight bytes into a live u64.
            let n = unsafe { libc::read(self.evfd, (&mut v as *mut u64).cast(), 8) };
            files::complete(prep, done(Dir::Read, n, (n == 8).then_some(v)));
            if n <= 0 {
                break;
            }
        }
    }

    /// A non-blocking wait through the gate.
    fn wait(&self) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let _gate = table::enter().expect("outside the library");
        self.ep.send_events(&mut out, 16).expect("no fault");
        out
    }

    /// `storm_consistency`: with no handler running, the wait reports the self-pipe
    /// exactly when it holds data, and the eventfd exactly when it is readable.
    fn consistency(&self, when: &str) -> Result<(), String> {
        let mut avail: libc::c_int = 0;
        // SAFETY: FIONREAD into a live int.
        assert_eq!(
            unsafe { libc::ioctl(self.r, libc::FIONREAD, &mut avail) },
            0
        );
        let mut p = libc::pollfd {
            fd: self.evfd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        assert_eq!(
            unsafe { libc::poll(&mut p, 1, 0) },
            i32::from(p.revents != 0)
        );
        let evready = p.revents & libc::POLLIN != 0;
        let got = self.wait();
        let seen = |d| got.iter().any(|&(_, data)| data == d);
        let mut err = String::new();
        if (avail > 0) != seen(D_SELF) {
            err += &format!(
                "({when}) self-pipe holds {avail} bytes but the wait {}; ",
                if seen(D_SELF) {
                    "reported it"
                } else {
                    "did not report it"
                }
            );
        }
        if evready != seen(D_EVFD) {
            err += &format!(
                "({when}) eventfd {} but the wait {}",
                if evready { "readable" } else { "not readable" },
                if seen(D_EVFD) {
                    "reported it"
                } else {
                    "did not report it"
                }
            );
        }
        if err.is_empty() {
            Ok(())
        } else {
            Err(err)
        }
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        {
            let _gate = table::enter().expect("outside the library");
            self.ep.free();
        }
        let mut gate = table::enter_mut().expect("outside the library");
        for fd in [self.r, self.w, self.evfd] {
            let entry = gate.remove(fd);
            files::forget(&mut gate, entry);
            // SAFETY: closes a descriptor this test made.
            unsafe { libc::close(fd) };
        }
    }
}

/// Signal `outer` lands while the thread is inside the library (in a transfer), and
/// `nested` lands at the `point`-th place in `outer`'s own records. None when `outer`
/// has no such place (every point was tried).
fn storm_once(outer: Sig, nested: Sig, point: usize) -> Option<Result<(), String>> {
    let storm = Rc::new(Storm::new());
    {
        // The thread inside the library: a transfer that finds nothing yet.
        let inside = table::enter().expect("outside the library");
        let mut out = Vec::new();
        assert_eq!(storm.ep.send_events(&mut out, 16), Ok(0));
        let s = Rc::clone(&storm);
        arm(point, move || s.handler(nested));
        storm.handler(outer);
        if !disarm() {
            return None;
        }
        // Leaving the library replays the records.
        drop(inside);
    }
    let check = || -> Result<(), String> {
        storm.consistency("after the replay")?;
        storm.drain();
        storm.consistency("drained")?;
        storm.served_write();
        storm.consistency("written again")?;
        storm.drain();
        storm.consistency("drained again")
    };
    Some(check())
}

/// The torture's finding: "thread 0 (LT, running): self-pipe holds 1 bytes but the wait
/// did not report it", for good. A second handler landing inside the first one's
/// deferred record overwrote it (or cut the record count short), so the library counted
/// one byte (or one eventfd increment) less than the kernel held, from then on.
#[test]
fn lt_readiness_is_not_lost_when_a_signal_lands_inside_a_deferred_record() {
    let mut failures = Vec::new();
    for (outer, nested) in [
        (Sig::Alrm, Sig::Usr2),
        (Sig::Usr2, Sig::Alrm),
        (Sig::Usr1, Sig::Alrm),
        (Sig::Alrm, Sig::Usr1),
    ] {
        let mut point = 0;
        while let Some(result) = storm_once(outer, nested, point) {
            if let Err(e) = result {
                failures.push(format!("{nested:?} inside {outer:?} at point {point}: {e}"));
            }
            point += 1;
        }
        assert!(point > 0, "{outer:?} records nothing");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
