//! Helpers shared by the file layer's tests that use real kernel fds: an instance on a
//! real kernel epoll fd, what a kernel epoll fd reports, and the record of a finished
//! I/O call.

use std::sync::Arc;

use super::instance::{Instance, WAKE_MARKER};
use super::table::{Entry, Table};
use super::{Dir, Done};
use crate::engine::Variant;

/// A new instance on a real kernel epoll fd, in `table`.
pub(crate) fn instance(table: &mut Table) -> Arc<Instance> {
    // SAFETY: plain epoll fd creation.
    let kfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(kfd >= 0);
    let (inst, efd) = Instance::create(kfd, Variant::SinglePass).expect("instance");
    table.install(kfd, Entry::Epoll(Arc::clone(&inst)));
    table.install(efd, Entry::Internal);
    inst
}

/// The events of a non-blocking wait on kernel epoll fd `kfd`, as (events, data),
/// without the library's wake-up marker.
pub(crate) fn kernel_events(kfd: i32) -> Vec<(u32, u64)> {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 8];
    // SAFETY: eight entries of our own.
    let n = unsafe { libc::epoll_wait(kfd, ev.as_mut_ptr(), 8, 0) };
    assert!(n >= 0);
    ev[..n as usize]
        .iter()
        .map(|e| (e.events, e.u64))
        .filter(|&(_, d)| d != WAKE_MARKER)
        .collect()
}

/// The record of a call in direction `dir` that returned `result` (the eventfd
/// `value` it moved, if any), with none of the socket details.
pub(crate) fn done(dir: Dir, result: isize, value: Option<u64>) -> Done {
    Done {
        dir,
        result,
        error: 0,
        value,
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

/// Held by the tests that announce unserved closes (`gate::UnservedClose`) and by those
/// that expect a file promotion to go through, which an announcement on another test
/// thread would send back to a later pass.
static ANNOUNCING: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn announcing() -> std::sync::MutexGuard<'static, ()> {
    ANNOUNCING.lock().unwrap_or_else(|e| e.into_inner())
}
