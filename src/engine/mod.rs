//! The engine: Libenzi's single-pass epoll, in safe Rust with no OS calls.
//!
//! Names follow `fs/eventpoll.c` so the two can be read side by side:
//! `EventPoll` (struct eventpoll), `Epitem`, the ready list, `ep_poll_callback`,
//! `send_events` (ep_send_events). The locking rules are at the top of `eventpoll.rs`.
//!
//! The compiler keeps the engine free of `unsafe`: everything that touches the OS or
//! program memory lives in `sys/`, `files/` and `preload/`.

#![forbid(unsafe_code)]

pub mod counting;
pub mod epitem;
pub mod eventpoll;
pub mod events;
pub mod file;
pub mod stats;
pub(crate) mod sync;
pub mod trace;
pub mod trace_format;
pub mod waitqueue;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(test)]
pub(crate) mod mock;
#[cfg(all(test, not(loom)))]
mod raise_ahead_tests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use eventpoll::{
    check_exclusive, reserved_watches, CtlError, EventPoll, EventSink, Fault, Variant, Waker,
};
pub use file::{EpFile, ReadLevel};
pub use waitqueue::WaitQueue;
