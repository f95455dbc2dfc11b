//! `uepoll`: run a program under the library (`run`), compare it with the kernel's
//! epoll (`ab`), and record or print a trace of its epoll activity (`trace`). See
//! `uepoll --help` and README.md, "The uepoll command".
//!
//! The command does not link the library: it finds `libuepoll.so` next to its own
//! executable (or at `$UEPOLL_LIB`) and hands it to the program through `LD_PRELOAD`.

mod ab;
mod cli;
mod dump;
mod prog;
#[allow(dead_code)]
#[path = "../../engine/trace_format.rs"]
mod trace_format;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use clap::error::ErrorKind;
use clap::Parser;

use cli::{Cli, Command, Preload};

/// A usage error.
pub const EXIT_USAGE: i32 = 2;
/// uepoll itself failed before the program ran (library missing, trace file).
pub const EXIT_OWN: i32 = 125;
/// The program was found but cannot be run under uepoll.
pub const EXIT_NOEXEC: i32 = 126;
/// The program was not found.
pub const EXIT_NOTFOUND: i32 = 127;

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(real_main(&args));
}

/// Print an error with the command's prefix.
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("uepoll: {msg}");
}

/// A usage error in the command's own style: one `uepoll: ` line and a pointer to the
/// help of the command it is about.
fn usage(sub: Option<&str>, msg: impl std::fmt::Display) -> i32 {
    error(msg);
    let sub = sub.map(|s| format!(" {s}")).unwrap_or_default();
    eprintln!("Try 'uepoll{sub} --help'.");
    EXIT_USAGE
}

/// The subcommand the arguments name, for pointing at its help.
fn subcommand(args: &[OsString]) -> Option<&str> {
    match args.first().and_then(|a| a.to_str()) {
        Some(s @ ("run" | "ab" | "trace")) => Some(s),
        _ => None,
    }
}

fn real_main(args: &[OsString]) -> i32 {
    if args.is_empty() {
        return usage(None, "missing command (run, ab or trace)");
    }
    let cli = match Cli::try_parse_from(
        std::iter::once(OsString::from("uepoll")).chain(args.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                // A closed stdout (`uepoll -h | true`) is not an error worth a message.
                let text = e.render().to_string();
                let nl = if text.ends_with('\n') { "" } else { "\n" };
                let _ = write!(std::io::stdout(), "{text}{nl}");
                return 0;
            }
            _ => {
                // clap says "error: WHAT", then details (the missing arguments, the
                // possible values, a tip), then the usage line, which --help repeats.
                let text = e.render().to_string();
                let msg: Vec<&str> = text
                    .lines()
                    .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                let first = msg.first().copied().unwrap_or("usage error");
                let mut shown = first.strip_prefix("error: ").unwrap_or(first).to_string();
                for more in msg.iter().skip(1) {
                    shown.push('\n');
                    shown.push_str(more);
                }
                return usage(subcommand(args), shown);
            }
        },
    };
    match cli.command {
        Command::Run(r) => run(&r.preload, &r.prog, None),
        Command::Trace(t) => {
            if let Some(file) = t.dump {
                if !t.prog.is_empty() {
                    return usage(Some("trace"), "--dump takes a file, not a program");
                }
                return dump::dump(&file, t.file_order);
            }
            if t.file_order {
                return usage(Some("trace"), "--file-order goes with --dump");
            }
            let Some(output) = t.output else {
                return usage(Some("trace"), "missing -o FILE (or --dump FILE)");
            };
            if output.as_os_str().is_empty() {
                return usage(Some("trace"), "-o wants a file name");
            }
            if t.prog.is_empty() {
                return usage(Some("trace"), "missing PROG");
            }
            run(&t.preload, &t.prog, Some(&output))
        }
        Command::Ab(a) => {
            let sides = a.sides();
            if let Some(dup) = sides
                .iter()
                .enumerate()
                .find(|(i, s)| sides[..*i].contains(s))
            {
                return usage(
                    Some("ab"),
                    format!("engine '{}' is named twice", dup.1.name()),
                );
            }
            match prepare(&a.prog) {
                Ok((lib, path)) => ab::run(&a, &sides, &lib, &path),
                Err(code) => code,
            }
        }
    }
}

/// Find the library and the program and check that the one can be loaded into the
/// other. Err is the exit code, after the message.
fn prepare(prog: &[OsString]) -> Result<(PathBuf, PathBuf), i32> {
    let lib = prog::library(std::env::var_os("UEPOLL_LIB")).map_err(|e| {
        error(e);
        EXIT_OWN
    })?;
    let name = prog.first().map(OsString::as_os_str).unwrap_or_default();
    let path = prog::resolve(name, std::env::var_os("PATH").as_deref())
        .and_then(|p| prog::check_preloadable(&p).map(|()| p))
        .map_err(|e| {
            error(e.message());
            e.exit_code()
        })?;
    if std::env::var_os("UEPOLL_DISABLE").is_some_and(|v| v == "1") {
        error("warning: UEPOLL_DISABLE=1 is set: the library will serve nothing");
    }
    Ok((lib, path))
}

/// The environment changes that put the library into a program.
pub fn preload_env(lib: &Path, preload: &Preload) -> Vec<(&'static str, OsString)> {
    let existing = std::env::var_os("LD_PRELOAD");
    let mut env = vec![("LD_PRELOAD", prog::preload_value(lib, existing.as_deref()))];
    if preload.stats {
        env.push(("UEPOLL_STATS", OsString::from("1")));
    }
    if let Some(engine) = preload.engine {
        env.push(("UEPOLL_ENGINE", OsString::from(engine.name())));
    }
    env
}

/// `run` and `trace`: exec the program with the library. Returns only on failure.
fn run(preload: &Preload, prog: &[OsString], trace: Option<&Path>) -> i32 {
    let (lib, path) = match prepare(prog) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let mut env = preload_env(&lib, preload);
    if let Some(file) = trace {
        match create_trace(file) {
            Ok(abs) => env.push(("UEPOLL_TRACE", abs.into_os_string())),
            Err(e) => {
                error(format!("cannot create {}: {e}", file.display()));
                return EXIT_OWN;
            }
        }
    }
    let err = Process::new(&path)
        .arg0(&prog[0])
        .args(&prog[1..])
        .envs(env)
        .exec();
    error(format!("cannot run {}: {err}", path.display()));
    if err.kind() == std::io::ErrorKind::NotFound {
        EXIT_NOTFOUND
    } else {
        EXIT_NOEXEC
    }
}

/// Create (truncate) the trace file with its header. Returns its absolute name, which
/// stays valid if the program changes directory.
fn create_trace(file: &Path) -> std::io::Result<PathBuf> {
    let mut f = std::fs::File::create(file)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let start = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    f.write_all(&trace_format::Header::new(start, std::process::id()).to_bytes())?;
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()?.join(file)
    };
    Ok(abs)
}
