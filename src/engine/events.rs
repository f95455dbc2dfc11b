//! The epoll event bits, as the kernel's UAPI defines them (`include/uapi/linux/eventpoll.h`
//! and `poll.h`). The engine is pure Rust with no libc, so it carries its own copy.

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLNVAL: u32 = 0x020;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLRDBAND: u32 = 0x080;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// Bits that configure an item and are never reported (the kernel's `EP_PRIVATE_BITS`).
pub const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

/// The only bits allowed together with `EPOLLEXCLUSIVE` (the kernel's `EPOLLEXCLUSIVE_OK_BITS`).
pub const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// Keys a read-side wake-up carries (what `sock_def_readable` and `pipe_write` pass).
pub const KEY_READABLE: u32 = EPOLLIN | EPOLLRDNORM;
/// Keys a write-side wake-up carries (what `pipe_read` and `unix_write_space` pass).
pub const KEY_WRITABLE: u32 = EPOLLOUT | EPOLLWRNORM;
/// A wake-up without a key reaches every watcher (`wake_up_interruptible_all`).
pub const KEY_ALL: u32 = 0;

/// The `epoll_ctl` operations.
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// The maximum nesting depth of epoll instances (`EP_MAX_NESTS`).
pub const EP_MAX_NESTS: usize = 4;
