//! Which descriptors a child started by `posix_spawn` holds once its file actions ran
//! and it exec'd: the ones without close-on-exec, as the actions leave them.
//!
//! glibc keeps the actions in `posix_spawn_file_actions_t` as an array of
//! `struct __spawn_action` (spawn_int.h), 32 bytes each on x86_64:
//!
//! | offset | field |
//! |---|---|
//! | 0 | `tag`: 0 close, 1 dup2, 2 open, 3 chdir (2.29), 4 fchdir (2.29), 5 closefrom (2.34), 6 tcsetpgrp (2.35) |
//! | 8 | `fd` (close, dup2, open, fchdir, tcsetpgrp), `from` (closefrom), or `path` (chdir) |
//! | 12 | `newfd` (dup2) |
//!
//! The child runs them in order, then execs. `dup2(fd, newfd)` leaves `newfd` without
//! close-on-exec, also when `fd == newfd` (glibc clears the flag then). An `open`
//! puts a new file on its number, which the library never served. `fchdir` and
//! `tcsetpgrp` act on the file in the child: its source counts as held. The layout is
//! trusted only on the glibc versions it was read from; otherwise, or when an action
//! cannot be read or is unknown, the child is taken to hold everything.

use libc::c_int;

use super::table::{Entry, Table};
use crate::sys::{syscall, user};

/// glibc's `posix_spawn_file_actions_t` (spawn.h): the libc crate keeps its fields
/// private.
#[repr(C)]
#[derive(Clone, Copy)]
struct FileActions {
    allocated: c_int,
    used: c_int,
    actions: *const SpawnAction,
    pad: [c_int; 16],
}

/// glibc's `struct __spawn_action`: the tag, then the union (8-byte aligned, 24 bytes:
/// the open action's fd, path, oflag and mode).
#[repr(C)]
#[derive(Clone, Copy)]
struct SpawnAction {
    tag: c_int,
    _hole: c_int,
    fd: c_int,
    newfd: c_int,
    _rest: [u64; 2],
}

const DO_CLOSE: c_int = 0;
const DO_DUP2: c_int = 1;
const DO_OPEN: c_int = 2;
const DO_CHDIR: c_int = 3;
const DO_FCHDIR: c_int = 4;
const DO_CLOSEFROM: c_int = 5;
const DO_TCSETPGRP: c_int = 6;

/// More actions than any program makes: a larger count means the memory is not what
/// the layout says.
const MAX_ACTIONS: c_int = 1 << 16;

/// What the child may hold.
pub enum Held {
    /// The actions could not be read with confidence.
    Everything,
    /// The parent's fd numbers whose open files (or instances) the child holds.
    Numbers(Vec<c_int>),
}

/// One number of the child's table: the parent's number it came from, and whether it
/// is closed by the exec.
#[derive(Clone, Copy)]
struct Slot {
    number: c_int,
    source: c_int,
    cloexec: bool,
}

/// The served numbers of `table` the child holds after the actions `fa` (null: none)
/// and its exec.
pub fn held_by_child(table: &Table, fa: *const libc::posix_spawn_file_actions_t) -> Held {
    let served: Vec<(c_int, bool)> = table
        .entries()
        .filter(|(_, e)| matches!(e, Entry::File(_) | Entry::Epoll(_)))
        .map(|(fd, _)| (fd, is_cloexec(fd)))
        .collect();
    let actions = if fa.is_null() {
        Vec::new()
    } else {
        match read_actions(fa as *const FileActions) {
            Some(actions) => actions,
            None => return Held::Everything,
        }
    };
    held_after(&served, &actions)
}

/// The child's table replayed: `served` is (number, close-on-exec) of every served
/// number when the child starts; the result is the served numbers whose files the
/// child holds after `actions` and the exec.
fn held_after(served: &[(c_int, bool)], actions: &[SpawnAction]) -> Held {
    let mut slots: Vec<Slot> = served
        .iter()
        .map(|&(fd, cloexec)| Slot {
            number: fd,
            source: fd,
            cloexec,
        })
        .collect();
    let mut extra: Vec<c_int> = Vec::new();
    for a in actions {
        match a.tag {
            DO_CLOSE => slots.retain(|s| s.number != a.fd),
            DO_DUP2 if a.fd == a.newfd => {
                for s in slots.iter_mut().filter(|s| s.number == a.fd) {
                    s.cloexec = false;
                }
            }
            DO_DUP2 => {
                let source = slots.iter().find(|s| s.number == a.fd).map(|s| s.source);
                slots.retain(|s| s.number != a.newfd);
                if let Some(source) = source {
                    slots.push(Slot {
                        number: a.newfd,
                        source,
                        cloexec: false,
                    });
                }
            }
            DO_OPEN => slots.retain(|s| s.number != a.fd),
            DO_CHDIR => {}
            DO_FCHDIR | DO_TCSETPGRP => {
                extra.extend(slots.iter().filter(|s| s.number == a.fd).map(|s| s.source))
            }
            DO_CLOSEFROM => slots.retain(|s| s.number < a.fd),
            _ => return Held::Everything,
        }
    }
    extra.extend(slots.iter().filter(|s| !s.cloexec).map(|s| s.source));
    extra.sort_unstable();
    extra.dedup();
    Held::Numbers(extra)
}

/// True when `fd` has close-on-exec; an fd whose flags cannot be read counts as
/// inherited.
pub fn is_cloexec(fd: c_int) -> bool {
    // SAFETY: F_GETFD takes no pointer.
    let flags = unsafe { syscall!(fcntl(fd, libc::F_GETFD, 0)) };
    flags.is_ok_and(|f| f as c_int & libc::FD_CLOEXEC != 0)
}

/// The program's actions, read through the fault-tolerant access, or None when the
/// layout cannot be trusted.
fn read_actions(fa: *const FileActions) -> Option<Vec<SpawnAction>> {
    if !layout_known() {
        return None;
    }
    let head = user::read_plain(fa)?;
    if head.used < 0 || head.used > head.allocated || head.used > MAX_ACTIONS {
        return None;
    }
    if head.used > 0 && head.actions.is_null() {
        return None;
    }
    (0..head.used as usize)
        .map(|i| user::read_plain(head.actions.wrapping_add(i)))
        .collect()
}

/// True on the glibc versions whose `struct __spawn_action` is the one above: 2.26
/// (its file actions already had this shape) through 2.41.
fn layout_known() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0); // 0 unknown yet, 1 yes, 2 no
    match KNOWN.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // SAFETY: glibc's version string, static and NUL-terminated.
            let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
            let ok = version_known(v.to_bytes());
            KNOWN.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

fn version_known(v: &[u8]) -> bool {
    let text = std::str::from_utf8(v).unwrap_or("");
    let mut parts = text.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    matches!((major, minor), (Some(2), Some(26..=41)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_are_glibcs() {
        assert_eq!(std::mem::size_of::<SpawnAction>(), 32);
        assert_eq!(
            std::mem::size_of::<FileActions>(),
            std::mem::size_of::<libc::posix_spawn_file_actions_t>()
        );
    }

    #[test]
    fn versions() {
        assert!(version_known(b"2.36"));
        assert!(version_known(b"2.26"));
        assert!(version_known(b"2.41.9000"));
        assert!(!version_known(b"2.25"));
        assert!(!version_known(b"2.42"));
        assert!(!version_known(b"3.0"));
        assert!(!version_known(b""));
    }

    fn act(tag: c_int, fd: c_int, newfd: c_int) -> SpawnAction {
        SpawnAction {
            tag,
            _hole: 0,
            fd,
            newfd,
            _rest: [0; 2],
        }
    }

    fn numbers(h: Held) -> Vec<c_int> {
        match h {
            Held::Numbers(n) => n,
            Held::Everything => panic!("everything"),
        }
    }

    /// The child's table as glibc's child leaves it: (served number, close-on-exec).
    #[test]
    fn replay() {
        let served = [(3, true), (4, false), (5, true), (6, true), (9, false)];
        assert_eq!(numbers(held_after(&served, &[])), [4, 9]);
        // close and open drop a number; closefrom drops those above.
        let a = [act(DO_CLOSE, 4, 0), act(DO_OPEN, 9, 0)];
        assert_eq!(numbers(held_after(&served, &a)), Vec::<c_int>::new());
        assert_eq!(
            numbers(held_after(&served, &[act(DO_CLOSEFROM, 5, 0)])),
            [4]
        );
        // dup2 onto another number: the source's file is held there (3 is
        // close-on-exec itself); onto itself: the flag is cleared.
        assert_eq!(
            numbers(held_after(&served, &[act(DO_DUP2, 3, 1)])),
            [3, 4, 9]
        );
        assert_eq!(
            numbers(held_after(&served, &[act(DO_DUP2, 5, 5)])),
            [4, 5, 9]
        );
        // dup2 of an unserved number over a served one replaces it.
        assert_eq!(numbers(held_after(&served, &[act(DO_DUP2, 20, 4)])), [9]);
        // a dup2 target closed afterwards is not held; order matters.
        let a = [act(DO_DUP2, 6, 1), act(DO_CLOSE, 1, 0)];
        assert_eq!(numbers(held_after(&served, &a)), [4, 9]);
        let a = [act(DO_CLOSE, 6, 0), act(DO_DUP2, 6, 1)];
        assert_eq!(numbers(held_after(&served, &a)), [4, 9]);
        // a chain: 5 -> 7 -> 8, then 7 closed: 8 still holds 5's file.
        let a = [act(DO_DUP2, 5, 7), act(DO_DUP2, 7, 8), act(DO_CLOSE, 7, 0)];
        assert_eq!(numbers(held_after(&served, &a)), [4, 5, 9]);
        // fchdir and tcsetpgrp use their fd in the child; chdir nothing.
        let a = [
            act(DO_FCHDIR, 3, 0),
            act(DO_TCSETPGRP, 6, 0),
            act(DO_CHDIR, 5, 0),
        ];
        assert_eq!(numbers(held_after(&served, &a)), [3, 4, 6, 9]);
        // an unknown action: everything.
        assert!(matches!(
            held_after(&served, &[act(7, 3, 0)]),
            Held::Everything
        ));
    }

    /// The actions glibc itself builds read back as the model expects.
    #[test]
    fn reads_glibcs_own_actions() {
        if !layout_known() {
            return;
        }
        let mut fa = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        // SAFETY: glibc's own initialisation and additions on our own object.
        let got = unsafe {
            assert_eq!(libc::posix_spawn_file_actions_init(fa.as_mut_ptr()), 0);
            assert_eq!(
                libc::posix_spawn_file_actions_addclose(fa.as_mut_ptr(), 7),
                0
            );
            assert_eq!(
                libc::posix_spawn_file_actions_adddup2(fa.as_mut_ptr(), 8, 1),
                0
            );
            let path = c"/dev/null".as_ptr();
            assert_eq!(
                libc::posix_spawn_file_actions_addopen(fa.as_mut_ptr(), 9, path, 0, 0),
                0
            );
            let got = read_actions(fa.as_ptr() as *const FileActions);
            libc::posix_spawn_file_actions_destroy(fa.as_mut_ptr());
            got
        };
        let got: Vec<(c_int, c_int, c_int)> = got
            .expect("readable")
            .iter()
            .map(|a| (a.tag, a.fd, a.newfd))
            .collect();
        assert_eq!(got[0], (DO_CLOSE, 7, got[0].2));
        assert_eq!((got[1].0, got[1].1, got[1].2), (DO_DUP2, 8, 1));
        assert_eq!((got[2].0, got[2].1), (DO_OPEN, 9));
        assert_eq!(got.len(), 3);
    }
}
