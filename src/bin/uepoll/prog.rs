//! Finding the program and the library, and checking that the one can be loaded into
//! the other, so that a program uepoll cannot reach fails loudly instead of quietly
//! running on the kernel's epoll.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{EXIT_NOEXEC, EXIT_NOTFOUND};

/// Why the program cannot be run under uepoll.
#[derive(Debug, PartialEq, Eq)]
pub enum ProgError {
    /// Not found (127).
    NotFound(String),
    /// Found, but not something uepoll can run (126).
    Cannot(String),
}

impl ProgError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ProgError::NotFound(_) => EXIT_NOTFOUND,
            ProgError::Cannot(_) => EXIT_NOEXEC,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ProgError::NotFound(m) | ProgError::Cannot(m) => m,
        }
    }
}

fn executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is NUL-terminated.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// What is at `path`: Ok for an executable regular file, else why not.
fn check_file(path: &Path) -> Result<(), std::io::Error> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !executable(path) {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(())
}

fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EISDIR) => "is a directory".into(),
        Some(libc::EACCES) => "permission denied (not executable)".into(),
        Some(libc::ENOENT) => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Find `name` as `execvp` does: as given when it contains a slash, else in each
/// directory of `path_var` (an empty entry is the current directory; unset PATH
/// searches `/bin:/usr/bin`, glibc's default). A file found but not executable is
/// reported only when no executable one comes later, as a shell does.
pub fn resolve(name: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, ProgError> {
    let shown = name.to_string_lossy();
    if name.is_empty() {
        return Err(ProgError::NotFound("'': no such file or directory".into()));
    }
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return match check_file(&path) {
            Ok(()) => Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ProgError::NotFound(format!("{shown}: {}", describe(&e))))
            }
            Err(e) => Err(ProgError::Cannot(format!("{shown}: {}", describe(&e)))),
        };
    }
    let search = path_var.unwrap_or(OsStr::new("/bin:/usr/bin"));
    let mut refused = None;
    for dir in search.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(name);
        match check_file(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(e) => {
                refused.get_or_insert(format!("{}: {}", candidate.display(), describe(&e)));
            }
        }
    }
    match refused {
        Some(msg) => Err(ProgError::Cannot(msg)),
        None => Err(ProgError::NotFound(format!("{shown}: command not found"))),
    }
}

/// What kind of executable a file is, from its first bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Format {
    /// An x86_64 ELF with an interpreter (`PT_INTERP`): the loader honours LD_PRELOAD.
    Dynamic,
    /// An x86_64 ELF without `PT_INTERP`: static, or static-pie (`PT_DYNAMIC` only).
    Static { pie: bool },
    /// An ELF for another class or machine (`what` says which).
    Foreign(String),
    /// `#!` and the interpreter named on that line.
    Script(PathBuf),
    /// Anything else (left to the kernel to accept or refuse).
    Unknown,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;

/// Classify from `read(offset, len)`, which returns the file's bytes at `offset` (fewer
/// at the end of the file).
pub fn classify(read: impl Fn(u64, usize) -> Vec<u8>) -> Format {
    let head = read(0, 256);
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&c| c == b'\n').next().unwrap_or(&[]);
        let interp = line
            .split(|&c| c == b' ' || c == b'\t')
            .find(|w| !w.is_empty())
            .unwrap_or(&[]);
        return Format::Script(PathBuf::from(OsStr::from_bytes(interp)));
    }
    if head.len() < 64 || head[0..4] != *b"\x7fELF" {
        return Format::Unknown;
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    if head[4] != 2 || head[5] != 1 {
        let class = if head[4] == 1 { "32-bit" } else { "non-64-bit" };
        let order = if head[5] == 2 { ", big-endian" } else { "" };
        return Format::Foreign(format!("a {class}{order} ELF"));
    }
    let machine = u16_at(&head, 18);
    if machine != EM_X86_64 {
        return Format::Foreign(format!("an ELF for machine {machine}, not x86_64"));
    }
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&head[32..40]);
    let phoff = u64::from_le_bytes(phoff);
    let phentsize = u16_at(&head, 54) as usize;
    let phnum = u16_at(&head, 56) as usize;
    if phentsize < 4 || phnum == 0 {
        return Format::Static { pie: false };
    }
    let table = read(phoff, phentsize * phnum);
    let mut dynamic = false;
    for entry in table.chunks_exact(phentsize) {
        let ty = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if ty == PT_INTERP {
            return Format::Dynamic;
        }
        dynamic |= ty == PT_DYNAMIC;
    }
    Format::Static { pie: dynamic }
}

fn read_file(path: &Path) -> impl Fn(u64, usize) -> Vec<u8> {
    let file = File::open(path).ok();
    move |offset, len| {
        let mut buf = vec![0u8; len];
        let mut got = 0;
        if let Some(f) = &file {
            while got < len {
                match f.read_at(&mut buf[got..], offset + got as u64) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
        }
        buf.truncate(got);
        buf
    }
}

/// Check that LD_PRELOAD will put the library into `path`: a dynamically linked x86_64
/// ELF, or a script whose interpreter (and its interpreter, a few levels deep) is one.
/// The dynamic loader run directly (`ld-linux-x86-64.so.2 PROG`) also honours it.
/// A setuid or setgid program run by another user ignores LD_PRELOAD paths like ours.
pub fn check_preloadable(path: &Path) -> Result<(), ProgError> {
    check_depth(path, path, 0)
}

fn check_depth(top: &Path, path: &Path, depth: u32) -> Result<(), ProgError> {
    let shown = top.display();
    let via = if depth > 0 {
        format!(" (its interpreter {})", path.display())
    } else {
        String::new()
    };
    match classify(read_file(path)) {
        Format::Dynamic | Format::Unknown => {}
        Format::Static { pie } => {
            let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
            if pie && (name.starts_with(b"ld-linux") || name.starts_with(b"ld.so")) {
                return Ok(()); // the loader itself, running a program
            }
            let what = if pie {
                "static-pie"
            } else {
                "statically linked"
            };
            return Err(ProgError::Cannot(format!(
                "{shown}{via} is {what} (no PT_INTERP): LD_PRELOAD cannot load libuepoll.so \
                 into it, so it would run on the kernel's epoll"
            )));
        }
        Format::Foreign(what) => {
            return Err(ProgError::Cannot(format!(
                "{shown}{via} is {what}: libuepoll.so (x86_64) cannot be loaded into it"
            )))
        }
        Format::Script(interp) => {
            if depth >= 4 {
                return Err(ProgError::Cannot(format!(
                    "{shown}: too many levels of #! interpreters"
                )));
            }
            if interp.as_os_str().is_empty() {
                return Err(ProgError::Cannot(format!("{shown}: empty #! line")));
            }
            if let Err(e) = check_file(&interp) {
                return Err(ProgError::Cannot(format!(
                    "{shown}: bad interpreter {}: {}",
                    interp.display(),
                    describe(&e)
                )));
            }
            return check_depth(top, &interp, depth + 1);
        }
    }
    if let Ok(meta) = std::fs::metadata(path) {
        // SAFETY: geteuid cannot fail.
        let euid = unsafe { libc::geteuid() };
        // SAFETY: getegid cannot fail.
        let egid = unsafe { libc::getegid() };
        let setuid = meta.mode() & libc::S_ISUID != 0 && meta.uid() != euid;
        let setgid = meta.mode() & libc::S_ISGID != 0 && meta.gid() != egid;
        if setuid || setgid {
            return Err(ProgError::Cannot(format!(
                "{shown}{via} is set-user/group-ID: the loader ignores LD_PRELOAD for it"
            )));
        }
    }
    Ok(())
}

/// The library: `$UEPOLL_LIB`, else `libuepoll.so` next to this executable (as built:
/// `target/release/uepoll` and `target/release/libuepoll.so`), else `../lib/`.
pub fn library(env_lib: Option<OsString>) -> Result<PathBuf, String> {
    let lib = match env_lib.filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = PathBuf::from(v);
            let p = if p.is_relative() {
                std::env::current_dir()
                    .map_err(|e| format!("cannot resolve UEPOLL_LIB: {e}"))?
                    .join(p)
            } else {
                p
            };
            if !p.is_file() {
                return Err(format!("UEPOLL_LIB={}: no such file", p.display()));
            }
            p
        }
        None => {
            let exe = std::fs::read_link("/proc/self/exe")
                .map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
            let dir = exe.parent().unwrap_or(Path::new("/"));
            let candidates = [dir.join("libuepoll.so"), dir.join("../lib/libuepoll.so")];
            match candidates.iter().find(|c| c.is_file()) {
                Some(c) => c.canonicalize().unwrap_or_else(|_| c.clone()),
                None => {
                    return Err(format!(
                        "cannot find libuepoll.so next to {} (build it with `make`, or set \
                         UEPOLL_LIB)",
                        exe.display()
                    ))
                }
            }
        }
    };
    let bytes = lib.as_os_str().as_bytes();
    if bytes.iter().any(|&b| b == b' ' || b == b':' || b == b'\t') {
        return Err(format!(
            "{}: LD_PRELOAD cannot name a path with spaces or colons",
            lib.display()
        ));
    }
    Ok(lib)
}

/// `LD_PRELOAD` with the library first and the existing entries after it (an entry
/// naming the library itself is not repeated).
pub fn preload_value(lib: &Path, existing: Option<&OsStr>) -> OsString {
    let mut out = lib.as_os_str().as_bytes().to_vec();
    if let Some(existing) = existing {
        for entry in existing
            .as_bytes()
            .split(|&b| b == b':' || b == b' ')
            .filter(|e| !e.is_empty() && *e != lib.as_os_str().as_bytes())
        {
            out.push(b':');
            out.extend_from_slice(entry);
        }
    }
    OsString::from_vec(out)
}

/// `LD_PRELOAD` without the library (for the kernel side of `ab`); None when nothing
/// is left.
pub fn preload_without(lib: &Path, existing: Option<&OsStr>) -> Option<OsString> {
    let existing = existing?;
    let kept: Vec<&[u8]> = existing
        .as_bytes()
        .split(|&b| b == b':' || b == b' ')
        .filter(|e| !e.is_empty() && *e != lib.as_os_str().as_bytes())
        .collect();
    if kept.is_empty() {
        return None;
    }
    Some(OsString::from_vec(kept.join(&b':')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn elf(class: u8, machine: u16, phdrs: &[u32]) -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56 * phdrs.len()];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = class;
        f[5] = 1;
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, ty) in phdrs.iter().enumerate() {
            f[64 + 56 * i..68 + 56 * i].copy_from_slice(&ty.to_le_bytes());
        }
        f
    }

    fn reader(bytes: Vec<u8>) -> impl Fn(u64, usize) -> Vec<u8> {
        move |off, len| {
            let off = (off as usize).min(bytes.len());
            bytes[off..(off + len).min(bytes.len())].to_vec()
        }
    }

    #[test]
    fn classify_elf_and_scripts() {
        assert_eq!(classify(reader(elf(2, 62, &[6, 3, 1, 2]))), Format::Dynamic);
        assert_eq!(
            classify(reader(elf(2, 62, &[1, 1, 4]))),
            Format::Static { pie: false }
        );
        assert_eq!(
            classify(reader(elf(2, 62, &[1, 2]))),
            Format::Static { pie: true }
        );
        assert!(
            matches!(classify(reader(elf(1, 3, &[3]))), Format::Foreign(w) if w.contains("32-bit"))
        );
        assert!(
            matches!(classify(reader(elf(2, 183, &[3]))), Format::Foreign(w) if w.contains("183"))
        );
        assert_eq!(
            classify(reader(b"#!/usr/bin/env python3\nprint(1)\n".to_vec())),
            Format::Script(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(
            classify(reader(b"#! /bin/sh -e\n".to_vec())),
            Format::Script(PathBuf::from("/bin/sh"))
        );
        assert_eq!(classify(reader(b"hello".to_vec())), Format::Unknown);
    }

    #[test]
    fn the_system_shell_is_preloadable() {
        let sh = resolve(OsStr::new("sh"), Some(OsStr::new("/usr/bin:/bin"))).unwrap();
        assert_eq!(check_preloadable(&sh), Ok(()));
    }

    #[test]
    fn resolve_like_a_shell() {
        let dir = std::env::temp_dir().join(format!("uepoll-resolve-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let plain = a.join("tool");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        // Only a non-executable one: 126.
        let e = resolve(OsStr::new("tool"), Some(&path)).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_NOEXEC, "{e:?}");
        // An executable one later in PATH wins.
        let exe = b.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve(OsStr::new("tool"), Some(&path)), Ok(exe.clone()));
        // Missing: 127; a directory or a non-executable path: 126.
        let e = resolve(OsStr::new("no-such-tool"), Some(&path)).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_NOTFOUND);
        assert!(e.message().contains("command not found"));
        let missing = dir.join("nothing-here");
        let e = resolve(missing.as_os_str(), None).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_NOTFOUND);
        assert_eq!(
            resolve(a.as_os_str(), None).unwrap_err().exit_code(),
            EXIT_NOEXEC
        );
        assert_eq!(
            resolve(plain.as_os_str(), None).unwrap_err().exit_code(),
            EXIT_NOEXEC
        );
        assert_eq!(resolve(exe.as_os_str(), None), Ok(exe.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ld_preload_values() {
        let lib = Path::new("/x/libuepoll.so");
        assert_eq!(preload_value(lib, None), OsString::from("/x/libuepoll.so"));
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/a.so /x/libuepoll.so:/b.so"))),
            OsString::from("/x/libuepoll.so:/a.so:/b.so")
        );
        assert_eq!(
            preload_without(lib, Some(OsStr::new("/x/libuepoll.so"))),
            None
        );
        assert_eq!(
            preload_without(lib, Some(OsStr::new("/a.so:/x/libuepoll.so"))),
            Some(OsString::from("/a.so"))
        );
        assert_eq!(preload_without(lib, None), None);
    }
}
