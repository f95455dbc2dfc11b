//! Promotion against the rest of the file layer, with real kernel fds: when it may
//! happen (children, forwarded waits, kernel-only for good), what it re-synchronises
//! (the kernel item count), and when it must wait: a served file registered in the
//! kernel epoll fd, also under a closed number.

use std::sync::Arc;

use super::{promote_instance, Outcome};
use crate::engine::events::{EPOLLET, EPOLLIN};
use crate::files::openfile::OpenFile;
use crate::files::table::{Entry, Table};
use crate::files::test_support::{done, instance, kernel_events};
use crate::files::{self, Dir};

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

fn write_byte(fd: i32) {
    // SAFETY: one byte from a live buffer.
    assert_eq!(unsafe { libc::write(fd, b"x".as_ptr() as *const _, 1) }, 1);
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
fn promotion_waits_while_a_served_file_is_registered_in_the_kernel() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    inst.share_with_child();
    let (r, w, rfd, wfd) = pipe(&mut table);
    // While kernel-only, the program's ADD of the served pipe went to the kernel.
    assert!(inst.kernel_add(rfd, EPOLLIN | EPOLLET, 7));
    write_byte(wfd);
    files::account(&w, None, done(Dir::Write, 1, None), false);
    assert!(inst.child_let_go());
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Wait);
    assert!(inst.is_kernel_only(), "still the kernel's");
    assert!(
        matches!(table.get(rfd), Some(Entry::File(_))),
        "the file is not demoted"
    );
    assert_eq!(kernel_events(inst.any_fd()), vec![(EPOLLIN, 7)], "the edge");
    assert!(kernel_events(inst.any_fd()).is_empty(), "once");
    // SAFETY: DEL of the registration made above, on the instance's own kernel fd.
    let del = unsafe {
        libc::epoll_ctl(
            inst.any_fd(),
            libc::EPOLL_CTL_DEL,
            rfd,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(del, 0);
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(
        !inst.is_kernel_only(),
        "served again once the file left the kernel"
    );
    for fd in [rfd, wfd] {
        // SAFETY: closes the test's own pipe.
        unsafe { libc::close(fd) };
    }
    drop((r, w));
}

#[test]
fn promotion_finds_a_served_file_under_a_closed_number() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    inst.share_with_child();
    let (r, w, rfd, wfd) = pipe(&mut table);
    // A second number for the read end; the registration is keyed by the first, which
    // is then closed: the kernel keeps the item (an orphan) under the closed number.
    // SAFETY: dup of the test's own fd.
    let dup = unsafe { libc::dup(rfd) };
    assert!(dup >= 0);
    table.install(dup, Entry::File(Arc::clone(&r)));
    assert!(inst.kernel_add(rfd, EPOLLIN, 9));
    table.remove(rfd);
    // SAFETY: closes the first number; `dup` keeps the file open.
    unsafe { libc::close(rfd) };
    assert!(inst.child_let_go());
    assert_eq!(
        promote_instance(&mut table, &inst),
        Outcome::Wait,
        "the orphan is the served pipe's"
    );
    assert!(inst.is_kernel_only());
    for fd in [dup, wfd] {
        // SAFETY: closes the test's own fds.
        unsafe { libc::close(fd) };
    }
    drop((r, w));
}

#[test]
fn a_kernel_eventfd_beside_a_served_one_does_not_hold_the_promotion_back() {
    let mut table = Table::default();
    let inst = instance(&mut table);
    inst.share_with_child();
    // Eventfds share one anonymous inode: only kcmp tells them apart.
    // SAFETY: plain eventfd creation.
    let (served, kernel) = unsafe { (libc::eventfd(0, 0), libc::eventfd(1, 0)) };
    assert!(served >= 0 && kernel >= 0);
    table.install(served, Entry::File(OpenFile::new_eventfd(served, 0, false)));
    assert!(inst.kernel_add(kernel, EPOLLIN, 3));
    assert!(inst.child_let_go());
    assert_eq!(promote_instance(&mut table, &inst), Outcome::Settled);
    assert!(!inst.is_kernel_only(), "served again");
    assert!(
        inst.has_kernel_items(),
        "the kernel eventfd stays with the kernel"
    );
    assert_eq!(kernel_events(inst.any_fd()), vec![(EPOLLIN, 3)]);
    for fd in [served, kernel] {
        // SAFETY: closes the test's own fds.
        unsafe { libc::close(fd) };
    }
}
