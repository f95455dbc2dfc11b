//! Parking: how demotion hands the kernel an EPOLLONESHOT item that already fired.
//!
//! In the kernel, a ONESHOT item that delivered its event keeps only its private bits
//! (`ep_send_events`) and reports nothing, not even EPOLLERR or EPOLLHUP, until
//! `EPOLL_CTL_MOD` re-arms it. Meanwhile it is still registered: ADD of its key gives
//! EEXIST, MOD re-arms it, DEL removes it, and the file's last close drops it.
//! `EPOLL_CTL_ADD` cannot rebuild that state in the instance's kernel epoll fd,
//! because the kernel always adds EPOLLERR|EPOLLHUP to a new item. A demoted disarmed
//! item would then report a hang-up once more, after its one shot, and a second thread
//! could be handed an fd that the first still owns.
//!
//! So demotion registers such an item in a second kernel epoll fd of the instance, the
//! parking fd, which no one ever waits on. There the kernel keeps the key by its own
//! rules (the open file and the fd number) and drops it at the file's last close, as
//! it would drop the disarmed item. `epoll_ctl` on the instance looks in the parking fd
//! for the numbers parked there (`ctl.rs:parked_ctl`): ADD of a parked key
//! gives EEXIST, MOD moves the item into the instance with its new interest (the
//! re-arm), and DEL removes it.
//!
//! The parking fd is the library's own (`Entry::Internal` in the table), close-on-exec,
//! and shared with a forked child like the instance itself. Everything here runs inside
//! the gate: demotion holds it exclusively, `parked_ctl` for reading, so a fork never
//! copies a half-done operation and a signal handler never waits for the lock.

use super::table::{Entry, Table, MAX_FDS};
use crate::engine::events::{EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD};
use crate::sys::{real, syscall, ErrnoGuard};

/// The parked items of one instance.
pub struct Parking {
    /// The parking epoll fd, or -1 until the first item is parked.
    fd: i32,
    /// The fd numbers that may key a parked item, sorted. A superset: an item leaves
    /// silently when its file is closed, and its number is forgotten only when the
    /// kernel's own list (`/proc/self/fdinfo`) no longer names it (`refresh`).
    numbers: Vec<i32>,
    /// Lookups that found nothing since the last refresh.
    misses: usize,
}

impl Default for Parking {
    fn default() -> Self {
        Parking {
            fd: -1,
            numbers: Vec::new(),
            misses: 0,
        }
    }
}

impl Parking {
    /// The parking fd, if one was made.
    pub fn fd(&self) -> Option<i32> {
        (self.fd >= 0).then_some(self.fd)
    }

    /// The program is about to reuse the parking fd's number: it now lives at `to`.
    pub fn moved(&mut self, from: i32, to: i32) {
        if self.fd == from {
            self.fd = to;
        }
    }

    /// Register the disarmed item `(fd, events, data)` in the parking fd, making the
    /// fd on first use (as an internal entry of `table`, which the caller holds
    /// exclusively). False when that cannot be done (no fd left): the caller then
    /// falls back to the instance itself.
    pub fn park(&mut self, table: &mut Table, fd: i32, events: u32, data: u64) -> bool {
        if self.fd < 0 {
            // SAFETY: plain epoll fd creation.
            let Ok(pfd) = (unsafe { syscall!(epoll_create1(libc::EPOLL_CLOEXEC)) }) else {
                return false;
            };
            if pfd as usize >= MAX_FDS {
                // SAFETY: closes the fd just made; the table cannot mark it internal.
                let _ = unsafe { syscall!(close(pfd)) };
                return false;
            }
            let stale = table.install(pfd, Entry::Internal);
            super::forget(table, stale);
            self.fd = pfd;
        }
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: registers an open fd of the program in our own epoll fd.
        if unsafe { syscall!(epoll_ctl(self.fd, EPOLL_CTL_ADD, fd, &mut ev)) }.is_err() {
            return false;
        }
        if let Err(at) = self.numbers.binary_search(&fd) {
            self.numbers.insert(at, fd);
        }
        true
    }

    /// True when `fd` may key a parked item (no system call).
    pub fn may_hold(&self, fd: i32) -> bool {
        self.numbers.binary_search(&fd).is_ok()
    }

    /// True when the item keyed by `fd` and the file `fd` names now is parked. The
    /// kernel's own lookup answers: a MOD of the parked copy, which nobody waits on, so
    /// the interest it sets is never seen.
    pub fn holds(&mut self, fd: i32) -> bool {
        self.lookup(EPOLL_CTL_MOD, fd)
    }

    /// Take the item keyed by `fd` out of the parking fd (re-armed or deleted by the
    /// program). True when it was there.
    pub fn take(&mut self, fd: i32) -> bool {
        self.lookup(EPOLL_CTL_DEL, fd)
    }

    /// `op` (MOD with an empty interest, or DEL) on the parked item keyed by `fd`:
    /// true when the kernel found it.
    fn lookup(&mut self, op: i32, fd: i32) -> bool {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: acts on our own parking fd only; the kernel checks `fd`, and DEL
        // ignores the event.
        let found = unsafe { syscall!(epoll_ctl(self.fd, op, fd, &mut ev)) }.is_ok();
        if !found {
            self.missed();
        }
        found
    }

    /// A lookup found nothing. Once those outnumber the numbers kept, the list is
    /// rebuilt from the kernel's, so closed files stop costing a lookup each.
    fn missed(&mut self) {
        self.misses += 1;
        if self.misses > self.numbers.len() + 16 {
            self.refresh();
        }
    }

    /// Forget the numbers that no parked item has any more: those missing from the
    /// `tfd:` lines of the parking fd's fdinfo (the kernel's own list). Every parked
    /// item's number was recorded when it was parked, so the list only shrinks: the
    /// numbers found are marked in place (sign bit) and the rest dropped. Nothing is
    /// allocated, since `epoll_ctl` may be called from a signal handler.
    fn refresh(&mut self) {
        // `open` is libc's own (not in `sys::real`): its errno is put back by hand.
        let _errno = ErrnoGuard::save();
        self.misses = 0;
        let mut path = *b"/proc/self/fdinfo/\0\0\0\0\0\0\0\0\0\0\0\0";
        let digits = decimal(self.fd, &mut path[18..]);
        path[18 + digits] = 0;
        // SAFETY: a NUL-terminated path in a live buffer; `open` is not hooked.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        let mut line = [0u8; 32];
        let mut len = 0usize;
        let mut complete = false;
        loop {
            // SAFETY: reads into a live stack buffer from the fd opened above.
            let n = unsafe { real::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                break;
            }
            if n == 0 {
                complete = true;
                break;
            }
            for &b in &buf[..n as usize] {
                if b != b'\n' {
                    if len < line.len() {
                        line[len] = b;
                    }
                    len += 1;
                    continue;
                }
                if let Some(n) = tfd_of(&line[..len.min(line.len())]) {
                    // Marked numbers compare by their value, so the list stays sorted.
                    if let Ok(at) = self.numbers.binary_search_by_key(&n, |&x| x & i32::MAX) {
                        self.numbers[at] |= i32::MIN;
                    }
                }
                len = 0;
            }
        }
        // SAFETY: closes the fd opened above.
        unsafe { real::close(fd) };
        if complete {
            self.numbers.retain(|&n| n < 0);
        }
        for n in &mut self.numbers {
            *n &= i32::MAX;
        }
    }

    /// Close the parking fd (the instance is gone); the caller removes its table entry.
    pub fn close(&mut self) {
        if self.fd >= 0 {
            // SAFETY: closes our own parking fd, which nothing uses any more.
            let _ = unsafe { syscall!(close(self.fd)) };
            self.fd = -1;
            self.numbers.clear();
        }
    }
}

/// True when an item's interest mask says it is a ONESHOT item that fired: nothing but
/// private bits left (an armed item always has at least EPOLLERR|EPOLLHUP).
pub fn is_disarmed(events: u32) -> bool {
    use crate::engine::events::{EPOLLONESHOT, EP_PRIVATE_BITS};
    events & EPOLLONESHOT != 0 && events & !EP_PRIVATE_BITS == 0
}

/// Write `n` (non-negative) in decimal at the start of `out`; returns the digit count.
fn decimal(n: i32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut v = n.max(0) as u32;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    len
}

/// The number on a `tfd: N ...` line of an epoll fd's fdinfo.
fn tfd_of(line: &[u8]) -> Option<i32> {
    let rest = line.strip_prefix(b"tfd:")?;
    let digits = rest.iter().skip_while(|b| **b == b' ' || **b == b'\t');
    let mut n: i32 = 0;
    let mut any = false;
    for &b in digits {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfd_lines_give_their_number() {
        assert_eq!(
            tfd_of(b"tfd:        7 events:       19 data:                1  pos:0 ino:1 sdev:e"),
            Some(7)
        );
        assert_eq!(tfd_of(b"tfd: 1048575 events: 0"), Some(1048575));
        assert_eq!(tfd_of(b"pos:\t0"), None);
        assert_eq!(tfd_of(b"tfd: x"), None);
    }

    #[test]
    fn decimal_writes_digits() {
        let mut out = [0u8; 10];
        assert_eq!(decimal(0, &mut out), 1);
        assert_eq!(&out[..1], b"0");
        assert_eq!(decimal(1048575, &mut out), 7);
        assert_eq!(&out[..7], b"1048575");
    }

    #[test]
    fn parked_items_answer_lookups_and_refresh_keeps_numbers_listed_out_of_order() {
        let mut table = Table::default();
        let mut parking = Parking::default();
        // Forty pipes whose read ends are parked under numbers in the reverse order of
        // their creation: the kernel lists items by file address, not in number order.
        let mut ends = Vec::new();
        for i in 0..40 {
            let mut p = [0; 2];
            // SAFETY: a live two-int buffer.
            assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
            let number = 900 - 7 * i;
            // SAFETY: plain fd calls on the pipe just made.
            unsafe {
                assert_eq!(libc::dup2(p[0], number), number);
                libc::close(p[0]);
                libc::close(p[1]);
            }
            assert!(parking.park(&mut table, number, EPOLLONESHOT_BIT, 7));
            ends.push(number);
        }
        let pfd = parking.fd().expect("made on first park");
        assert!(matches!(table.get(pfd), Some(Entry::Internal)));
        assert!(parking.may_hold(ends[1]) && parking.holds(ends[1]));
        assert!(!parking.may_hold(ends[1] + 1));
        assert!(parking.take(ends[1]));
        assert!(!parking.holds(ends[1]), "taken out");
        // The last close of a parked file drops its item, as the kernel's would go.
        for (i, &end) in ends.iter().enumerate().skip(2) {
            if i % 5 == 2 {
                // SAFETY: closes a pipe end made above.
                unsafe { libc::close(end) };
            }
        }
        parking.refresh();
        assert!(parking.may_hold(ends[0]) && !parking.may_hold(ends[1]));
        for (i, &end) in ends.iter().enumerate().skip(2) {
            assert_eq!(parking.may_hold(end), i % 5 != 2, "number {end}");
        }
        parking.close();
        for &end in &ends {
            // SAFETY: closes what is left of the pipe ends (EBADF is harmless).
            unsafe { libc::close(end) };
        }
    }

    const EPOLLONESHOT_BIT: u32 = crate::engine::events::EPOLLONESHOT;

    #[test]
    fn only_a_fired_oneshot_mask_is_disarmed() {
        use crate::engine::events::*;
        assert!(is_disarmed(EPOLLONESHOT));
        assert!(is_disarmed(EPOLLONESHOT | EPOLLET));
        assert!(!is_disarmed(EPOLLONESHOT | EPOLLIN | EPOLLERR | EPOLLHUP));
        assert!(!is_disarmed(EPOLLET));
        assert!(!is_disarmed(EPOLLIN | EPOLLERR | EPOLLHUP));
    }
}
