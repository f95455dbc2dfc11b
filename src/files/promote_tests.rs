//! Promotion against the rest of the file layer, with real kernel fds: when it may
//! happen (children, forwarded waits, kernel-only for good), what it re-synchronises
//! (the kernel item count, served files registered in the kernel epoll fd), and the
//! handover of such a file against concurrent I/O accounting (its poll callbacks), with
//! a read/write lock standing for the gate as in the library: the writes account under
//! the read side, the promotion runs under the write side.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::{promote_instance, Outcome};
use crate::engine::events::{EPOLLET, EPOLLIN};
use crate::engine::Variant;
use crate::files::instance::Instance;
use crate::files::openfile::OpenFile;
use crate::files::table::{Entry, Table};
use crate::files::{self, Dir, Done};

/// A new instance on a real kernel epoll fd, in `table`.
fn instance(table: &mut Table) -> Arc<Instance> {
    // SAFETY: plain epoll fd creation.
    let kfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(kfd >= 0);
    let (inst, efd) = Instance::create(kfd, Variant::SinglePass).expect("instance");
    table.install(kfd, Entry::Epoll(Arc::clone(&inst)));
    table.install(efd, Entry::Internal);
    inst
}

/// A new served pipe in `table`: (read end, write end, read fd, write fd).
fn pipe(table: &mut Table) -> (Arc<OpenFile>, Arc<OpenFile>, i32, i32) {
    let mut p = [0i32; 2];
    // SAFETY: pipe2 writes two fds.
    assert_eq!(
        unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
        0
    );
    let (r, w) = OpenFile::new_pipe(p[0], p[1]);
    table.install(p[0], Entry::File(Arc::clone(&r)));
    table.install(p[1], Entry::File(Arc::clone(&w)));
    (r, w, p[0], p[1])
}

/// The events of a non-blocking wait on kernel epoll fd `kfd`, as (events, data),
/// without the library's wake-up marker.
fn kernel_events(kfd: i32) -> Vec<(u32, u64)> {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 8];
    // SAFETY: eight entries of our own.
    let n = unsafe { libc::epoll_wait(kfd, ev.as_mut_ptr(), 8, 0) };
    assert!(n >= 0);
    ev[..n as usize]
        .iter()
        .map(|e| (e.events, e.u64))
        .filter(|&(_, d)| d != crate::files::instance::WAKE_MARKER)
        .collect()
}

fn write_byte(fd: i32) {
    // SAFETY: one byte from a live buffer.
    assert_eq!(unsafe { libc::write(fd, b"x".as_ptr() as *const _, 1) }, 1);
}

fn written(n: isize) -> Done {
    Done {
        dir: Dir::Write,
        result: n,
        error: 0,
        value: None,
        peek: false,
        reached: true,
        oob: false,
        named: false,
        messages: false,
        empty_vfs_read: false,
        short_send: false,
        ticket: None,
    }
}

#[test]
fn promotion_waits_for_every_child_and_every_forwarded_wait() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    inst.share_with_child();
    inst.share_with_child();
    assert!(inst.is_kernel_only());
    assert!(!inst.child_let_go(), "one child still reaches it");
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(inst.is_kernel_only(), "not while a child may reach it");
    assert!(inst.child_let_go(), "the last child let go");
    inst.forward_begins();
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Wait);
    assert!(
        inst.is_kernel_only(),
        "not while a wait sleeps in the kernel"
    );
    inst.forward_ends();
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(!inst.is_kernel_only(), "served again");
    assert!(
        !inst.has_kernel_items(),
        "nothing but the wake-up eventfd in the kernel"
    );
}

#[test]
fn an_instance_kernel_only_for_good_is_never_promoted() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    inst.share_with_child();
    inst.make_kernel_only(crate::engine::trace::Why::RawSyscall);
    assert!(inst.child_let_go());
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(inst.is_kernel_only());
}

#[test]
fn promotion_demotes_a_served_file_registered_in_the_kernel_and_keeps_its_edge() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    let other = instance(&mut table);
    inst.share_with_child();
    let (r, w, rfd, wfd) = pipe(&mut table);
    // While kernel-only, the program's ADD of the served pipe went to the kernel;
    // another instance serves it in the engine.
    assert!(inst.kernel_add(rfd, EPOLLIN | EPOLLET, 7));
    other
        .ep_ctl(libc::EPOLL_CTL_ADD, &r, rfd, (EPOLLIN, 8), usize::MAX)
        .unwrap();
    write_byte(wfd);
    files::account(&w, None, written(1), false);
    assert!(inst.child_let_go());
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(!inst.is_kernel_only());
    assert!(
        table.get(rfd).is_none() && table.get(wfd).is_none(),
        "both ends demoted"
    );
    assert!(inst.has_kernel_items(), "the kernel item is counted");
    assert_eq!(
        kernel_events(inst.any_fd()),
        vec![(EPOLLIN, 7)],
        "the ET edge is kept"
    );
    assert!(kernel_events(inst.any_fd()).is_empty(), "once");
    assert_eq!(
        kernel_events(other.any_fd()),
        vec![(EPOLLIN, 8)],
        "the other instance's engine item moved to its kernel fd, still ready"
    );
    for fd in [rfd, wfd] {
        // SAFETY: closes the test's own pipe.
        unsafe { libc::close(fd) };
    }
}

#[test]
fn promotion_hands_a_file_over_without_losing_a_concurrent_write() {
    for _ in 0..50 {
        let mut table = Table::default();
        let inst = instance(&mut table);
        let other = instance(&mut table);
        inst.share_with_child();
        let (r, w, rfd, wfd) = pipe(&mut table);
        assert!(inst.kernel_add(rfd, EPOLLIN, 1));
        other
            .ep_ctl(
                libc::EPOLL_CTL_ADD,
                &r,
                rfd,
                (EPOLLIN | EPOLLET, 2),
                usize::MAX,
            )
            .unwrap();
        assert!(inst.child_let_go());
        let gate = Arc::new(RwLock::new(table));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (gate, stop, w) = (Arc::clone(&gate), Arc::clone(&stop), Arc::clone(&w));
            std::thread::spawn(move || {
                let mut n = 0;
                while n < 200 && (n == 0 || !stop.load(Ordering::SeqCst)) {
                    let _read = gate.read().unwrap();
                    write_byte(wfd);
                    files::account(&w, None, written(1), false);
                    n += 1;
                }
            })
        };
        std::thread::yield_now();
        {
            let mut table = gate.write().unwrap();
            assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
        }
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        // Whether the writes came before, during or after the handover, the edge-
        // triggered item reports the unread bytes once, from the kernel now.
        let got: Vec<(u32, u64)> = kernel_events(other.any_fd());
        assert_eq!(got, vec![(EPOLLIN, 2)], "the edge is not lost");
        assert!(kernel_events(other.any_fd()).is_empty(), "nor doubled");
        for fd in [rfd, wfd] {
            // SAFETY: closes the test's own pipe.
            unsafe { libc::close(fd) };
        }
        drop(r);
    }
}
