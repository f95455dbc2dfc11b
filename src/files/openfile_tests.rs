//! An eventfd's mirrored counter (`EventCount`): what a re-poll shows while the hooks'
//! accounting races, and past the signed range, where the kernel is asked.

use super::OpenFile;
use crate::engine::events::*;
use crate::engine::EpFile;

/// A real non-blocking eventfd holding `initval`, served with the same counter.
fn eventfd(initval: u32) -> (i32, std::sync::Arc<OpenFile>) {
    // SAFETY: plain call.
    let fd = unsafe { libc::eventfd(initval, libc::EFD_NONBLOCK) };
    assert!(fd >= 0);
    (fd, OpenFile::new_eventfd(fd, initval, false))
}

/// Write `value` to the kernel's eventfd and account it, as the write hook does.
fn write(fd: i32, file: &OpenFile, value: u64) {
    // SAFETY: an 8-byte buffer on the stack.
    let n = unsafe { libc::write(fd, (&value as *const u64).cast(), 8) };
    assert_eq!(n, 8, "write {value:#x}");
    file.eventfd_written(value);
}

/// Read the kernel's eventfd and account what it gave, as the read hook does.
fn read(fd: i32, file: &OpenFile) -> u64 {
    let mut value = 0u64;
    // SAFETY: an 8-byte buffer on the stack.
    let n = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
    assert_eq!(n, 8);
    file.eventfd_read(value);
    value
}

fn close(fd: i32) {
    // SAFETY: the test's own fd.
    unsafe { libc::close(fd) };
}

#[test]
fn an_eventfd_read_accounted_before_the_write_it_raced_with_is_writable_not_readable() {
    let file = OpenFile::new_eventfd(-1, 0, false);
    // The read of 1 returned and was accounted before the write of 1 that it consumed.
    file.eventfd_read(1);
    assert_eq!(file.poll(), EPOLLOUT);
    file.eventfd_written(1);
    assert_eq!(file.poll(), EPOLLOUT);
    file.eventfd_written(3);
    assert_eq!(file.poll(), EPOLLIN | EPOLLOUT);
}

#[test]
fn an_eventfd_counter_past_2_63_is_asked_of_the_kernel_and_stays_exact_after() {
    let (fd, file) = eventfd(0);
    write(fd, &file, (1 << 63) + 5);
    assert_eq!(file.poll(), EPOLLIN | EPOLLOUT);
    assert_eq!(read(fd, &file), (1 << 63) + 5);
    // A mirror that had wrapped would say readable here.
    assert_eq!(file.poll(), EPOLLOUT);
    write(fd, &file, 5);
    assert_eq!(file.poll(), EPOLLIN | EPOLLOUT);
    close(fd);
}

#[test]
fn an_eventfd_crossing_2_63_by_several_writes_is_asked_of_the_kernel() {
    let (fd, file) = eventfd(0);
    write(fd, &file, i64::MAX as u64);
    assert_eq!(file.poll(), EPOLLIN | EPOLLOUT);
    write(fd, &file, 1);
    assert_eq!(read(fd, &file), 1 << 63);
    assert_eq!(file.poll(), EPOLLOUT);
    close(fd);
}

#[test]
fn an_eventfd_at_its_maximum_is_readable_and_not_writable() {
    let (fd, file) = eventfd(0);
    write(fd, &file, 0xffff_ffff_ffff_fffe);
    assert_eq!(file.poll(), EPOLLIN);
    close(fd);
}

#[test]
fn an_eventfd_promoted_with_a_huge_counter_is_asked_of_the_kernel() {
    let (fd, file) = eventfd(0);
    // SAFETY: an 8-byte buffer on the stack.
    let value = 0xffff_ffff_ffff_fffe_u64;
    assert_eq!(
        unsafe { libc::write(fd, (&value as *const u64).cast(), 8) },
        8
    );
    file.resync_eventfd(value, 1);
    assert_eq!(file.poll(), EPOLLIN);
    close(fd);
}

#[test]
fn an_eventfd_read_whose_copy_out_faulted_takes_the_counter_it_read() {
    // The read hook reads through its own buffer, so the value is known although the
    // program's buffer faulted: the kernel took the counter, and so does the mirror.
    let file = OpenFile::new_eventfd(-1, 5, false);
    let done = crate::files::Done {
        error: libc::EFAULT,
        ..crate::files::test_support::done(crate::files::Dir::Read, -1, Some(5))
    };
    crate::files::account(&file, None, done, false);
    assert_eq!(file.poll(), EPOLLOUT);
}

#[test]
fn racing_eventfd_writes_and_reads_lose_no_update() {
    // The counter's update must lose none when writers and readers race: the sum of
    // every thread's moves is the word afterwards.
    let file = OpenFile::new_eventfd(-1, 0, false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let file = &file;
            s.spawn(move || {
                for i in 0..20_000u64 {
                    if t % 2 == 0 {
                        file.eventfd_written(1 + i % 3);
                    } else {
                        file.eventfd_read(1 + i % 3);
                    }
                }
            });
        }
    });
    assert_eq!(file.poll(), EPOLLOUT, "back to 0: writable, not readable");
    file.eventfd_written(1);
    assert_eq!(file.poll(), EPOLLIN | EPOLLOUT);
}
