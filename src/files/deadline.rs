//! When a wait gives up: the program's timeout (milliseconds, or `epoll_pwait2`'s
//! timespec) turned into a CLOCK_MONOTONIC deadline once, so a wait that loops
//! (a spurious wake-up, an engine item taken by another thread) never waits longer
//! than asked.

use libc::{c_int, timespec};

use crate::sys::{self, user, Errno};

/// When a wait gives up, in CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy)]
pub enum Deadline {
    Never,
    Now,
    At(i128),
}

impl Deadline {
    pub fn from_ms(ms: c_int) -> Self {
        match ms {
            ..=-1 => Deadline::Never,
            0 => Deadline::Now,
            ms => Deadline::At(sys::monotonic_ns() + i128::from(ms) * 1_000_000),
        }
    }

    /// From `epoll_pwait2`'s timespec: NULL is infinite; an invalid one is EINVAL; an
    /// unreadable one EFAULT.
    pub fn from_timespec(ts: *const timespec) -> Result<Self, Errno> {
        if ts.is_null() {
            return Ok(Deadline::Never);
        }
        let Some(ts) = user::read_plain(ts) else {
            return Err(Errno(libc::EFAULT));
        };
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno(libc::EINVAL));
        }
        if ts.tv_sec == 0 && ts.tv_nsec == 0 {
            return Ok(Deadline::Now);
        }
        let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
        Ok(Deadline::At(sys::monotonic_ns() + ns))
    }

    /// The time left as a timespec for the kernel sleep; None for infinite.
    pub fn remaining(self) -> Option<timespec> {
        match self {
            Deadline::Never => None,
            Deadline::Now => Some(timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
            Deadline::At(at) => {
                let left = (at - sys::monotonic_ns()).max(0);
                Some(timespec {
                    tv_sec: (left / 1_000_000_000) as libc::time_t,
                    tv_nsec: (left % 1_000_000_000) as libc::c_long,
                })
            }
        }
    }

    pub fn expired(self) -> bool {
        match self {
            Deadline::Never => false,
            Deadline::Now => true,
            Deadline::At(at) => sys::monotonic_ns() >= at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwait2_timespec_gets_the_kernels_answers() {
        assert!(matches!(
            Deadline::from_timespec(std::ptr::null()),
            Ok(Deadline::Never)
        ));
        let zero = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert!(matches!(Deadline::from_timespec(&zero), Ok(Deadline::Now)));
        let bad = timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000_000,
        };
        assert_eq!(
            Deadline::from_timespec(&bad).err(),
            Some(Errno(libc::EINVAL))
        );
        let negative = timespec {
            tv_sec: -1,
            tv_nsec: 0,
        };
        assert_eq!(
            Deadline::from_timespec(&negative).err(),
            Some(Errno(libc::EINVAL))
        );
        // Beyond user space: EFAULT without a touch (`access_ok`).
        let kernel_half = usize::MAX - 4095;
        assert_eq!(
            Deadline::from_timespec(kernel_half as *const timespec).err(),
            Some(Errno(libc::EFAULT))
        );
        let later = timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let d = Deadline::from_timespec(&later).expect("a valid timespec");
        assert!(!d.expired());
        let left = d.remaining().expect("finite");
        assert!(left.tv_sec <= 5 && (left.tv_sec >= 4));
        assert!(Deadline::from_ms(0).expired());
        assert!(Deadline::from_ms(-1).remaining().is_none());
    }
}
