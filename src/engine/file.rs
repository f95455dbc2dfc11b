//! What the engine needs from a watched file: a way to re-poll it (`f_op->poll`) and the
//! wait queue its wake-ups go through. The engine never talks to the operating system;
//! the file layer (`crate::files`) implements this trait for the fds it serves, and the
//! tests implement it with plain memory.

use super::waitqueue::WaitQueue;

/// A file the engine can watch: the kernel's `struct file` as far as epoll sees it.
pub trait EpFile: Send + Sync {
    /// The file's current readiness: every `EPOLL*` bit that holds now, unmasked.
    fn poll(&self) -> u32;

    /// The queue that the file's wake-ups run: the epitems watching it.
    fn wait_queue(&self) -> &WaitQueue;
}
