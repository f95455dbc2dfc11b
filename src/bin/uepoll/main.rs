//! `uepoll`: run a program under the library (`run`), compare it with the kernel's
//! epoll (`ab`), and record or print a trace of its epoll activity (`trace`). See
//! `uepoll --help` and README.md, "The uepoll command".
//!
//! The command does not link the library: it finds `libuepoll.so` next to its own
//! executable (or at `$UEPOLL_LIB`) and hands it to the program through `LD_PRELOAD`.

mod ab;
mod args;
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

use args::{Command, Preload, Topic};

/// A usage error.
pub const EXIT_USAGE: i32 = 2;
/// uepoll itself failed before the program ran (library missing, trace file).
pub const EXIT_OWN: i32 = 125;
/// The program was found but cannot be run under uepoll.
pub const EXIT_NOEXEC: i32 = 126;
/// The program was not found.
pub const EXIT_NOTFOUND: i32 = 127;

const MAIN_HELP: &str = "\
uepoll - run programs on uepoll, the user-space epoll engine (LD_PRELOAD)

Usage:
  uepoll run [--stats] [--engine=VARIANT] [--] PROG [ARGS...]
  uepoll ab [-n RUNS] [-q] [-v] [--engine=VARIANT] [--] PROG [ARGS...]
  uepoll trace -o FILE [--stats] [--engine=VARIANT] [--] PROG [ARGS...]
  uepoll trace --dump FILE [--file-order]
  uepoll help [COMMAND]   (or -h, --help; COMMAND -h)
  uepoll --version

Commands:
  run     run PROG with libuepoll.so preloaded; PROG replaces uepoll, so its exit
          status and signals are its own
  ab      run PROG on the kernel's epoll and under uepoll, interleaved, and compare
          wall and CPU times and show the engine's counters
  trace   run PROG recording every epoll_ctl, wait, poll callback and transfer into
          FILE, or print such a file (--dump)

The library is libuepoll.so next to this executable, or $UEPOLL_LIB. Options come
before PROG; everything from PROG (or after --) is PROG's.

Exit status: PROG's own (run, trace; 128+N when killed by signal N); 0 success;
1 a run failed (ab) or FILE is not a readable trace (--dump); 2 usage error;
125 uepoll failed (library not found, FILE not writable); 126 PROG cannot be run
under uepoll (not executable, statically linked, not x86_64); 127 PROG not found.
";

const RUN_HELP: &str = "\
Usage: uepoll run [--stats] [--engine=VARIANT] [--] PROG [ARGS...]

Run PROG (searched in PATH like a shell does) with libuepoll.so first in LD_PRELOAD
(existing entries are kept after it). uepoll execs PROG: the exit status, signals,
stdin/stdout/stderr and pid are PROG's own.

  --stats            UEPOLL_STATS=1: each process prints the engine's counters to
                     stderr when it exits through exit()
  --engine=VARIANT   UEPOLL_ENGINE: singlepass (default), multipass or seed
  -h, --help         this text

PROG must be dynamically linked (LD_PRELOAD cannot reach a static binary); a
script is fine when its interpreter is. Exit status: PROG's, or 2 (usage),
125 (library not found), 126 (PROG cannot be run under uepoll), 127 (not found).
";

const AB_HELP: &str = "\
Usage: uepoll ab [-n RUNS] [-q] [-v] [--engine=VARIANT] [--] PROG [ARGS...]

Run PROG on the kernel's epoll (A, no preload) and under uepoll (B, with
UEPOLL_STATS=1), interleaved A B A B ..., RUNS times each, then print the median
wall time, user and system CPU time (from wait4) of each side and the ratio
uepoll/kernel, and the engine's counters from the uepoll runs (summed over the
processes of a run, max_concurrent_transfers as a maximum; median over runs).

PROG's stdin is /dev/null. Its stdout and stderr pass through, except the
counter blocks the library prints at exit, which go into the table.

  -n, --runs=RUNS    runs per side (default 3)
  -q, --quiet        send PROG's stdout and stderr to /dev/null
  -v, --verbose      also print every run
  --engine=VARIANT   UEPOLL_ENGINE for the uepoll runs
  -h, --help         this text

Exit status: 0 when every run exited with status 0; 1 when some run failed (each
failure is named on stderr); 2, 125, 126, 127 as for `uepoll run`.
";

const TRACE_HELP: &str = "\
Usage: uepoll trace -o FILE [--stats] [--engine=VARIANT] [--] PROG [ARGS...]
       uepoll trace --dump FILE [--file-order]

Record: create FILE (truncating it) and run PROG as `uepoll run` does, with
UEPOLL_TRACE=FILE. Every process that loads the library appends to FILE:
fork children with their own pid, exec'd programs through the environment.
Records: start (process), ctl, wait and wait-ret, callback (a watched file woke
an engine item), transfer (the engine's send_events: items spliced, events
delivered, items requeued), lost, exit. Times are CLOCK_MONOTONIC ns; each
record has pid and tid. Buffers are written when full, at thread exit and at
exit(); a process killed by a signal or leaving through _exit loses the rest.

Print: --dump FILE prints one line per record, ordered by time (--file-order:
as stored): seconds since the trace started, pid, tid, kind, fields.

  -o, --output=FILE  the trace file
  --stats            also UEPOLL_STATS=1
  --engine=VARIANT   UEPOLL_ENGINE: singlepass, multipass or seed
  --dump FILE        print FILE
  --file-order       with --dump: do not sort by time
  -h, --help         this text
";

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(real_main(&args));
}

/// Print an error with the command's prefix.
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("uepoll: {msg}");
}

fn print_help(topic: Topic) -> i32 {
    let text = match topic {
        Topic::Main => MAIN_HELP,
        Topic::Run => RUN_HELP,
        Topic::Ab => AB_HELP,
        Topic::Trace => TRACE_HELP,
    };
    // A closed stdout (`uepoll -h | true`) is not an error worth a message.
    let _ = std::io::stdout().write_all(text.as_bytes());
    0
}

fn real_main(args: &[OsString]) -> i32 {
    let command = match args::parse(args) {
        Ok(c) => c,
        Err(u) => {
            error(&u.msg);
            let sub = match u.topic {
                Topic::Main => "",
                Topic::Run => " run",
                Topic::Ab => " ab",
                Topic::Trace => " trace",
            };
            eprintln!("Try 'uepoll{sub} --help'.");
            return EXIT_USAGE;
        }
    };
    match command {
        Command::Help(topic) => print_help(topic),
        Command::Version => {
            println!("uepoll {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Run { preload, prog } => run(&preload, &prog, None),
        Command::Trace {
            output,
            preload,
            prog,
        } => run(&preload, &prog, Some(&output)),
        Command::Ab {
            runs,
            quiet,
            verbose,
            engine,
            prog,
        } => match prepare(&prog) {
            Ok((lib, path)) => ab::run(&ab::Options {
                runs,
                quiet,
                verbose,
                engine,
                lib: &lib,
                path: &path,
                prog: &prog,
            }),
            Err(code) => code,
        },
        Command::Dump { file, file_order } => dump::dump(&file, file_order),
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
