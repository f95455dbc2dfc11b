//! File promotion against real kernel files: the parsers, and the race between an
//! unserved write and the promotion's read-back of the model, played step by step.

use std::sync::Arc;

use super::*;
use crate::engine::events::{EPOLLIN, EPOLLRDNORM};
use crate::engine::EpFile;
use crate::files::gate;
use crate::files::instance::Instance;
use crate::files::table::{self, Entry, Table};
use crate::files::test_support::{announcing, instance, kernel_events};

/// What the engine side of `inst` reports now.
fn engine_events(inst: &Instance) -> Vec<(u32, u64)> {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let n = inst.transfer(ev.as_mut_ptr(), 8).expect("our own buffer");
    ev[..n].iter().map(|e| (e.events, e.u64)).collect()
}

fn kernel_add(kfd: i32, fd: i32, events: u32, data: u64) {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: a valid event of our own.
    assert_eq!(
        unsafe { libc::epoll_ctl(kfd, libc::EPOLL_CTL_ADD, fd, &mut ev) },
        0
    );
}

fn eventfd_write(fd: i32, v: u64) {
    // SAFETY: eight bytes from a live value.
    assert_eq!(
        unsafe { libc::write(fd, &v as *const u64 as *const _, 8) },
        8
    );
}

fn close(fd: i32) {
    // SAFETY: closes a test's own fd.
    unsafe { libc::close(fd) };
}

/// A new (non-blocking, close-on-exec) eventfd and what identifies it for promotion.
fn eventfd_and_ident() -> (i32, Ident) {
    // SAFETY: plain eventfd creation.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(efd > 2);
    let (id, _) = eventfd_info(efd).unwrap();
    let ident = Ident::EventFd {
        id,
        semaphore: false,
    };
    (efd, ident)
}

#[test]
fn parsers_read_the_kernel_formats() {
    assert_eq!(parse_pipe_link(b"pipe:[12345]"), Some(12345));
    assert_eq!(parse_pipe_link(b"pipe:[]"), None);
    assert_eq!(parse_pipe_link(b"socket:[12]"), None);
    assert_eq!(
        parse_eventfd(b"pos:\t0\nflags:\t02\neventfd-count:               1f\neventfd-id: 13\n"),
        Some((13, 0x1f))
    );
    assert_eq!(parse_eventfd(b"eventfd-count: 3\n"), None, "no id: unknown");
    let items = parse_items(
        b"pos:\t0\ntfd:        5 events:       19 data:                5  pos:0 ino:3d sdev:d\n\
tfd:       12 events: 80000019 data:     9e3779b97f4a7c15  pos:0 ino:414 sdev:e\n",
    );
    assert_eq!(
        items,
        vec![
            Item {
                tfd: 5,
                events: 0x19,
                data: 5,
                ino: 0x3d
            },
            Item {
                tfd: 12,
                events: 0x8000_0019,
                data: 0x9e37_79b9_7f4a_7c15,
                ino: 0x414
            }
        ]
    );
}

#[test]
fn a_child_lets_go_unless_its_image_keeps_the_file() {
    // One of the two tests that touch the process-wide list.
    let _alone = announcing();
    forget_all();
    let pipe = Ident::Pipe { ino: 77 };
    let efd = Ident::EventFd {
        id: 5,
        semaphore: false,
    };
    remember(3, vec![pipe, efd]);
    remember(4, vec![]); // a second child gets what is remembered too
    let reach = |i: Ident| remembered().iter().find(|r| r.ident == i).map(|r| r.reach);
    assert_eq!(reach(pipe), Some(0b11000));
    child_settled(3, Some(Kept::default()));
    assert_eq!(reach(pipe), Some(0b10000), "child 3 let go");
    child_settled(
        4,
        Some(Kept {
            pipes: &[77],
            eventfd: false,
            everything: false,
        }),
    );
    assert_eq!(reach(pipe), None, "child 4's image keeps the pipe");
    assert_eq!(reach(efd), Some(0), "but no eventfd: nobody reaches it");
    remember(5, vec![pipe]);
    child_settled(5, None);
    assert_eq!(reach(pipe), None, "a child in doubt keeps everything");
    remember(6, vec![pipe]);
    forget_all();
    assert!(
        remembered().is_empty(),
        "an untracked child may get anything"
    );
}

#[test]
fn a_pipe_with_pending_bytes_is_promoted_with_its_lt_registration() {
    let _alone = announcing();
    let mut t = Table::default();
    let inst = instance(&mut t);
    let mut p = [0i32; 2];
    // SAFETY: pipe2 writes two fds.
    assert_eq!(
        unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
        0
    );
    let [rfd, wfd] = p;
    // SAFETY: dup of our own read end: a second number of it.
    let rdup = unsafe { libc::fcntl(rfd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: three bytes from a live buffer.
    assert_eq!(
        unsafe { libc::write(wfd, b"abc".as_ptr() as *const _, 3) },
        3
    );
    kernel_add(inst.any_fd(), rfd, EPOLLIN, 41);
    inst.promoted(1);
    let ino = pipe_ino(rfd).unwrap();
    let held = held_numbers().unwrap();
    assert_eq!(
        promote_file(
            &mut t,
            Ident::Pipe { ino },
            &held,
            &mut KernelLists::default()
        ),
        Outcome::Promoted
    );
    let Some(Entry::File(r)) = t.get(rfd).cloned() else {
        panic!("read end served");
    };
    assert!(matches!(t.get(rdup), Some(Entry::File(f)) if Arc::ptr_eq(f, &r)));
    assert!(matches!(t.get(wfd), Some(Entry::File(_))));
    assert_eq!(r.pipe_bytes(), 3, "FIONREAD");
    assert_eq!(r.fd_refs.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(
        kernel_events(inst.any_fd()).is_empty(),
        "gone from the kernel"
    );
    assert!(!inst.has_kernel_items());
    assert_eq!(engine_events(&inst), vec![(EPOLLIN, 41)], "re-polled");
    assert_eq!(engine_events(&inst), vec![(EPOLLIN, 41)], "level-triggered");
    for fd in [rfd, rdup, wfd] {
        t.remove(fd);
        close(fd);
    }
}

#[test]
fn an_edge_triggered_registration_keeps_the_pipe_with_the_kernel() {
    let mut t = Table::default();
    let inst = instance(&mut t);
    let mut p = [0i32; 2];
    // SAFETY: pipe2 writes two fds.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    kernel_add(
        inst.any_fd(),
        p[0],
        EPOLLIN | crate::engine::events::EPOLLET,
        1,
    );
    let ino = pipe_ino(p[0]).unwrap();
    let held = held_numbers().unwrap();
    assert_eq!(
        promote_file(
            &mut t,
            Ident::Pipe { ino },
            &held,
            &mut KernelLists::default()
        ),
        Outcome::Later
    );
    assert!(t.get(p[0]).is_none() && t.get(p[1]).is_none());
    // Only one end held by the program: not promoted either.
    close(p[1]);
    let held = held_numbers().unwrap();
    assert_eq!(
        promote_file(
            &mut t,
            Ident::Pipe { ino },
            &held,
            &mut KernelLists::default()
        ),
        Outcome::Later
    );
    close(p[0]);
}

/// The race: a write that found the eventfd not served, reaching the kernel after the
/// promotion read the counter back, is missing from the model; the look after the call
/// (`after_unserved`) sees the generation moved and demotes the file, so the event is
/// reported (by the kernel) and not lost. Played step by step on the process table.
#[test]
fn an_unserved_write_across_the_promotion_is_not_lost() {
    let _alone = announcing();
    let (efd, ident) = eventfd_and_ident();
    let inst = {
        let mut gate = table::enter_mut().expect("outside the library");
        let inst = instance(&mut gate);
        kernel_add(inst.any_fd(), efd, EPOLLIN, 9);
        inst.promoted(1);
        inst
    };
    // The writer's hook: the generation, then "not served".
    let before = generation();
    assert!(!table::is_served(efd));
    // The promotion, under the write lock.
    {
        let mut gate = table::enter_mut().expect("outside the library");
        let held = held_numbers().unwrap();
        assert_eq!(
            promote_file(&mut gate, ident, &held, &mut KernelLists::default()),
            Outcome::Promoted
        );
    }
    assert!(engine_events(&inst).is_empty(), "counter 0: not readable");
    // The writer's real call reaches the kernel now.
    eventfd_write(efd, 1);
    let file = {
        let gate = table::enter().expect("outside the library");
        match gate.get(efd) {
            Some(Entry::File(f)) => Arc::clone(f),
            _ => panic!("served"),
        }
    };
    assert_eq!(
        file.poll() & (EPOLLIN | EPOLLRDNORM),
        0,
        "the model missed the write: the race is real"
    );
    // The look after the call.
    after_unserved(efd, before);
    assert!(!table::is_served(efd), "demoted again");
    assert_eq!(
        kernel_events(inst.any_fd()),
        vec![(EPOLLIN, 9)],
        "the kernel reports it"
    );
    // A hook that loaded the generation after the promotion changes nothing.
    after_unserved(efd, generation());
    let mut gate = table::enter_mut().expect("outside the library");
    let kfd = inst.any_fd();
    let stale = gate.remove(kfd);
    crate::files::forget(&mut gate, stale);
    drop(gate);
    close(kfd);
    close(efd);
}

/// A disarmed ONESHOT item that demotion parked lives in the instance's parking fd,
/// not its kernel epoll fd: its file stays with the kernel (a ctl on a served number
/// would look in the engine and answer ENOENT). An orphan of another eventfd keyed by
/// the same number is told apart by `kcmp` and does not count.
#[test]
fn a_parked_oneshot_item_keeps_its_eventfd_with_the_kernel() {
    let _alone = announcing();
    let mut t = Table::default();
    let inst = instance(&mut t);
    let (efd, ident) = eventfd_and_ident();
    let (other, _) = eventfd_and_ident();
    // Another eventfd's registration: not the file's (kcmp), it does not hold it back.
    kernel_add(inst.any_fd(), other, EPOLLIN, 3);
    inst.demoted_item(&mut t, efd, crate::engine::events::EPOLLONESHOT, 5);
    let held = held_numbers().unwrap();
    assert_eq!(
        promote_file(&mut t, ident, &held, &mut KernelLists::default()),
        Outcome::Later,
        "parked: stays"
    );
    assert!(t.get(efd).is_none());
    let _ = inst.parking().take(efd);
    let held = held_numbers().unwrap();
    assert_eq!(
        promote_file(&mut t, ident, &held, &mut KernelLists::default()),
        Outcome::Promoted,
        "once nothing is parked"
    );
    assert_eq!(
        kernel_events(inst.any_fd()),
        vec![],
        "the other eventfd's item is still the kernel's, and not ready"
    );
    t.remove(efd);
    close(efd);
    close(other);
}

/// Pinned (`torture churn`: an orphaned registration reported after its file's last
/// close, in two instances). A `close` that found the number unserved, then a promotion
/// that found it open and installed it, then the real close: the table kept an entry
/// for a closed number, the file never reached its last close in the table, and the
/// engine went on reporting its items. The close now announces itself first
/// (`gate::UnservedClose`), and a promotion that sees an announcement, before it looks
/// at the numbers or after it installed them, installs nothing.
#[test]
fn a_close_racing_the_promotion_leaves_no_entry_for_the_closed_number() {
    let _alone = announcing();
    let mut t = Table::default();
    let inst = instance(&mut t);
    let (efd, ident) = eventfd_and_ident();
    kernel_add(inst.any_fd(), efd, EPOLLIN, 5);
    inst.promoted(1);
    let held = held_numbers().unwrap();
    // The close's hook: announced, then "not served".
    let closing = gate::UnservedClose::begin();
    assert!(!table::is_served_now(efd));
    // The promotion meanwhile, under the write lock.
    let mut lists = KernelLists::default();
    assert_eq!(
        promote_file(&mut t, ident, &held, &mut lists),
        Outcome::Busy
    );
    assert!(t.get(efd).is_none(), "nothing installed");
    // The real close, then the hook returns.
    close(efd);
    drop(closing);
    // The next pass finds the number gone (or naming something else).
    let held = held_numbers().unwrap();
    let mut lists = KernelLists::default();
    assert_eq!(
        promote_file(&mut t, ident, &held, &mut lists),
        Outcome::Gone
    );
    assert!(t.get(efd).is_none());
    // A close that begins after the snapshot is seen by the look after the installs,
    // with the closes' own fence, and with `membarrier` (the library's default, when
    // the kernel has it; the closes then have a compiler fence only).
    for _ in 0..2 {
        let snapshot = gate::CloseSnapshot::take().expect("no close in progress");
        assert!(snapshot.unchanged());
        drop(gate::UnservedClose::begin());
        assert!(!snapshot.unchanged(), "a close began since");
        assert!(gate::CloseSnapshot::take().is_some(), "and ended");
        gate::init_close_barrier();
    }
    let kfd = inst.any_fd();
    let stale = t.remove(kfd);
    crate::files::forget(&mut t, stale);
    close(kfd);
}

/// A file found unmovable in `GIVE_UP` passes is given up (it stays with the kernel, and
/// later passes do not look at it again); a pass that finds the file busy for a moment
/// (an unserved close in progress) does not count.
#[test]
fn a_file_unmovable_in_four_passes_is_given_up_and_a_busy_one_is_not() {
    // One of the two tests that touch the process-wide list.
    let _alone = announcing();
    forget_all();
    let mut t = Table::default();
    let inst = instance(&mut t);
    let pipe = |flags: u32, data: u64| {
        let mut p = [0i32; 2];
        // SAFETY: pipe2 writes two fds.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        kernel_add(inst.any_fd(), p[0], EPOLLIN | flags, data);
        (
            p,
            Ident::Pipe {
                ino: pipe_ino(p[0]).unwrap(),
            },
        )
    };
    let (et, et_ident) = pipe(crate::engine::events::EPOLLET, 1);
    let (lt, lt_ident) = pipe(0, 2);
    inst.promoted(2);
    remember(9, vec![et_ident, lt_ident]);
    child_settled(9, Some(Kept::default()));
    let tries = |i: Ident| remembered().iter().find(|r| r.ident == i).map(|r| r.tries);
    let closing = gate::UnservedClose::begin();
    for pass in 1..GIVE_UP {
        try_promote(&mut t);
        assert_eq!(tries(et_ident), Some(pass), "ET: unmovable");
        assert_eq!(tries(lt_ident), Some(0), "LT: busy, not counted");
    }
    try_promote(&mut t);
    assert_eq!(tries(et_ident), None, "given up");
    assert!(t.get(et[0]).is_none(), "and left with the kernel");
    drop(closing);
    try_promote(&mut t);
    assert_eq!(tries(lt_ident), None, "promoted");
    assert!(matches!(t.get(lt[0]), Some(Entry::File(_))));
    for fd in [lt[0], lt[1]] {
        let stale = t.remove(fd);
        crate::files::forget(&mut t, stale);
    }
    forget_all();
    for fd in [et[0], et[1], lt[0], lt[1], inst.any_fd()] {
        close(fd);
    }
}
