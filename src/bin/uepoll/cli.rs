//! The command line, described to clap. Options come first; the first argument that is
//! not an option, or everything after `--`, is the program and its arguments (as with
//! `env` or `nice`), so the program's own options are never taken for ours
//! (`trailing_var_arg`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ab::metric::MetricSpec;

/// `UEPOLL_ENGINE` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    #[value(name = "singlepass")]
    SinglePass,
    #[value(name = "multipass")]
    MultiPass,
    Seed,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::SinglePass => "singlepass",
            Engine::MultiPass => "multipass",
            Engine::Seed => "seed",
        }
    }
}

/// One side of an A/B comparison: the kernel's epoll (no preload) or an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Side {
    Kernel,
    #[value(name = "singlepass")]
    SinglePass,
    #[value(name = "multipass")]
    MultiPass,
    Seed,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self.engine() {
            None => "kernel",
            Some(e) => e.name(),
        }
    }

    /// The engine the library is told to use, or None for the kernel.
    pub fn engine(self) -> Option<Engine> {
        match self {
            Side::Kernel => None,
            Side::SinglePass => Some(Engine::SinglePass),
            Side::MultiPass => Some(Engine::MultiPass),
            Side::Seed => Some(Engine::Seed),
        }
    }
}

const EXIT_STATUS: &str = "\
Exit status: PROG's own (run, trace; 128+N when killed by signal N); 0 success;
1 a run failed (ab) or FILE is not a readable trace (--dump); 2 usage error;
125 uepoll failed (library not found, FILE not writable); 126 PROG cannot be run
under uepoll (not executable, statically linked, not x86_64); 127 PROG not found.";

/// uepoll - run programs on uepoll, the user-space epoll engine (LD_PRELOAD)
#[derive(Parser, Debug)]
#[command(
    name = "uepoll",
    version,
    subcommand_required = true,
    after_help = "The library is libuepoll.so next to this executable, or $UEPOLL_LIB. \
Options come\nbefore PROG; everything from PROG (or after --) is PROG's.",
    after_long_help = EXIT_STATUS
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run PROG with libuepoll.so preloaded; PROG replaces uepoll, so its exit
    /// status and signals are its own
    #[command(
        long_about = "Run PROG (searched in PATH like a shell does) with libuepoll.so first in \
LD_PRELOAD (existing entries are kept after it). uepoll execs PROG: the exit status, \
signals, stdin/stdout/stderr and pid are PROG's own.",
        after_long_help = "PROG must be dynamically linked (LD_PRELOAD cannot reach a static \
binary); a\nscript is fine when its interpreter is. Exit status: PROG's, or 2 (usage),\n125 \
(library not found), 126 (PROG cannot be run under uepoll), 127 (not found)."
    )]
    Run(RunArgs),
    /// Run PROG on the kernel's epoll and on uepoll's engines, interleaved, and compare
    /// wall and CPU times, the program's own figures (--metric) and the engine's counters
    #[command(long_about = AB_ABOUT, after_long_help = AB_AFTER)]
    Ab(AbArgs),
    /// Run PROG recording every epoll_ctl, wait, poll callback and transfer into FILE,
    /// or print such a file (--dump)
    #[command(long_about = TRACE_ABOUT)]
    Trace(TraceArgs),
}

/// What the library is told through the environment.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct Preload {
    /// UEPOLL_STATS=1: each process prints the engine's counters to stderr when it
    /// exits through exit()
    #[arg(long)]
    pub stats: bool,
    /// UEPOLL_ENGINE: singlepass (the library's default), multipass or seed
    #[arg(long, value_name = "VARIANT")]
    pub engine: Option<Engine>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub preload: Preload,
    /// The program and its arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "PROG")]
    pub prog: Vec<OsString>,
}

const AB_ABOUT: &str = "\
Run PROG on the kernel's epoll (`kernel`: no preload) and under uepoll with each engine
of --engines (UEPOLL_ENGINE, with UEPOLL_STATS=1), interleaved round-robin
(A B C A B C ...) after --warmup rounds that are not counted, RUNS times each. Then
print, for every metric, the median, minimum and maximum of each engine, its ratio
to the baseline (the first engine; put `kernel` first) with a 95% bootstrap
confidence interval (10,000 resamples of the ratio of medians, fixed seed), and a
verdict: better, worse, or no clear difference (the interval holds 1). Then the
engine's counters per engine (summed over the processes of a run; median of runs)
with the served share, engine_events / (engine_events + kernel_events), and a
summary line per engine.

Metrics: wall time, user and system CPU time (wait4's rusage of PROG and the
children it waited for) and their sum, cpu, always; and each --metric:

  --metric 'NAME=REGEX[:AGG][:higher|lower]'

The first capture group of REGEX, on every line of PROG's stdout and stderr (lines
end at \\n or \\r; the library's counter blocks are left out), is a sample. AGG
combines a run's samples: sum, mean, last (default), min, max or count. The better
direction defaults to higher for sum and count, lower otherwise. Write
`client:NAME=...` to read CMD's output instead of PROG's (with --client).
For example: --metric 'events=nevents=([0-9]+):sum' --metric 'avg_us=AVG: ([0-9.]+):last:lower'

PROG's stdin is /dev/null; its stdout and stderr go to one file per run (in --log
DIR, or a temporary directory removed at the end), read after the run, so a program
that prints millions of lines is never slowed by a pipe. A failed run shows the
end of its log.

Stopping: without --duration or --client, PROG ends by itself. With --duration,
SIG (--signal, default INT) goes to PROG SECS seconds after its start. With
--client, CMD runs through `sh -c` on the kernel's epoll (LD_PRELOAD removed) once
PROG is ready (--ready-port: 127.0.0.1:PORT accepts a connection; or --ready-delay,
default 1 s), and SIG goes to PROG when CMD ends. CMD sees UEPOLL_AB_ENGINE,
UEPOLL_AB_RUN (1, 2, ...; w1, w2, ... for warm-up) and UEPOLL_AB_LOG (the run's log
file). A PROG that has not exited --grace seconds after SIG gets SIGTERM, then
SIGKILL after as long again, and the run counts as failed. A run succeeds when PROG
exits with status 0, or when it ends through the SIG uepoll sent (exit status
128+SIG or killed by SIG), and CMD (if any) exits with 0.
Interrupted (^C, SIGTERM, SIGHUP), uepoll sends SIGTERM to PROG and to CMD's
process group, then dies by the signal.

Exports: --json FILE, --markdown FILE, --csv FILE (one row per engine and metric)
and --chart FILE.svg (one panel per metric, a bar per engine: the ratio to the
baseline, with the 95% interval as whiskers). Progress goes to stderr when it is a
terminal (not with -q).";

const AB_AFTER: &str = "\
Exit status: 0 when every run succeeded; 1 when some run failed (each failure is
named on stderr); 2 usage error; 125, 126, 127 as for `uepoll run`.";

/// How often and how PROG runs, and what is compared.
#[derive(Args, Debug)]
pub struct AbArgs {
    /// Counted runs per engine
    #[arg(short = 'n', long = "runs", value_name = "RUNS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Rounds of uncounted runs (one per engine) before the counted ones
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub warmup: u32,
    /// The engines to compare, the first being the baseline: kernel (no preload),
    /// singlepass, multipass, seed
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "kernel,singlepass"
    )]
    pub engines: Vec<Side>,
    /// Short for --engines kernel,VARIANT
    #[arg(long, value_name = "VARIANT", conflicts_with = "engines")]
    pub engine: Option<Engine>,
    /// Send SIG to PROG this many seconds after its start
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "client")]
    pub duration: Option<f64>,
    /// The signal that stops PROG (INT, TERM, QUIT, HUP, USR1, USR2, or a number)
    #[arg(long, value_name = "SIG", default_value = "INT", value_parser = parse_signal)]
    pub signal: i32,
    /// Seconds to wait after SIG before SIGTERM, and after SIGTERM before SIGKILL
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub grace: f64,
    /// A load generator (run with sh -c, never preloaded) started when PROG is
    /// ready; PROG is stopped with SIG when it ends
    #[arg(long, value_name = "CMD")]
    pub client: Option<String>,
    /// PROG is ready when 127.0.0.1:PORT accepts a TCP connection (at most 30 s)
    #[arg(long, value_name = "PORT", requires = "client",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub ready_port: Option<u16>,
    /// PROG is ready this many seconds after its start (default 1 with --client)
    #[arg(long, value_name = "SECS", requires = "client", conflicts_with = "ready_port",
          value_parser = parse_secs0)]
    pub ready_delay: Option<f64>,
    /// A figure taken from the output: [client:]NAME=REGEX[:AGG][:higher|lower]
    #[arg(long, value_name = "SPEC", value_parser = MetricSpec::parse)]
    pub metric: Vec<MetricSpec>,
    /// Attempts of a counted round whose probes (a cache line's round trip between
    /// the first two CPUs, before the round and after each run) saw the host move
    /// its CPUs; a round still moved at the last counts, and the report says so
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub placement_tries: u32,
    /// No placement probes: every round counts as it ran
    #[arg(long, conflicts_with = "placement_tries")]
    pub no_placement: bool,
    /// Write the results as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the results as a Markdown table
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the results as CSV
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw the ratios and their intervals as an SVG chart
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    /// Keep each run's output in DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub log: Option<PathBuf>,
    /// No progress line and no notes on stderr, only the results and failures
    #[arg(short, long)]
    pub quiet: bool,
    /// Also print every run's figures
    #[arg(short, long)]
    pub verbose: bool,
    /// The program and its arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "PROG")]
    pub prog: Vec<OsString>,
}

impl AbArgs {
    /// The engines in order, `--engine X` standing for `kernel,X`.
    pub fn sides(&self) -> Vec<Side> {
        match self.engine {
            Some(e) => vec![
                Side::Kernel,
                match e {
                    Engine::SinglePass => Side::SinglePass,
                    Engine::MultiPass => Side::MultiPass,
                    Engine::Seed => Side::Seed,
                },
            ],
            None => self.engines.clone(),
        }
    }
}

const TRACE_ABOUT: &str = "\
Record: create FILE (truncating it) and run PROG as `uepoll run` does, with
UEPOLL_TRACE=FILE. Every process that loads the library appends to FILE:
fork children with their own pid, exec'd programs through the environment.
Records: start (process), ctl, wait and wait-ret, callback (a watched file woke
an engine item), transfer (the engine's send_events: items spliced, events
delivered, items requeued), demote (a file went to the kernel, with why: fork,
spawn, fd_passing, raw_syscall, ...), kernel-only (an instance became the
kernel's alone, with why), promote (one came back), lost, exit. Times are CLOCK_MONOTONIC ns; each
record has pid and tid. Buffers are written when full, at thread exit and at
exit(); a process killed by a signal or leaving through _exit loses the rest.

Print: --dump FILE prints one line per record, ordered by time (--file-order:
as stored): seconds since the trace started, pid, tid, kind, fields.";

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The trace file to record into
    #[arg(short, long, value_name = "FILE", conflicts_with = "dump")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub preload: Preload,
    /// Print FILE instead of recording
    #[arg(long, value_name = "FILE", conflicts_with_all = ["stats", "engine"])]
    pub dump: Option<PathBuf>,
    /// With --dump: do not sort by time
    #[arg(long)]
    pub file_order: bool,
    /// The program and its arguments (not with --dump)
    #[arg(trailing_var_arg = true, value_name = "PROG")]
    pub prog: Vec<OsString>,
}

/// Seconds, more than zero.
fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "expected seconds (more than 0, at most 86400), not '{s}'"
        )),
    }
}

/// Seconds, zero allowed.
fn parse_secs0(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds (0 to 86400), not '{s}'")),
    }
}

/// The signals a program is usually stopped with, by name (with or without SIG) or
/// number.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let name = s.strip_prefix("SIG").unwrap_or(s);
    let sig = match name.to_ascii_uppercase().as_str() {
        "INT" => libc::SIGINT,
        "TERM" => libc::SIGTERM,
        "QUIT" => libc::SIGQUIT,
        "HUP" => libc::SIGHUP,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "KILL" => libc::SIGKILL,
        "ALRM" => libc::SIGALRM,
        n => match n.parse::<i32>() {
            Ok(v) if (1..=64).contains(&v) => v,
            _ => {
                return Err(format!(
                    "unknown signal '{s}' (INT, TERM, QUIT, HUP, USR1, USR2, KILL, ALRM or 1-64)"
                ))
            }
        },
    };
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("uepoll").chain(args.iter().copied()))
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn ab(args: &[&str]) -> AbArgs {
        match p(args).unwrap().command {
            Command::Ab(a) => a,
            c => panic!("not ab: {c:?}"),
        }
    }

    #[test]
    fn the_program_keeps_its_options() {
        let Command::Run(r) = p(&["run", "--engine", "multipass", "prog", "--help", "-x"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(r.prog, os(&["prog", "--help", "-x"]));
        assert_eq!(r.preload.engine, Some(Engine::MultiPass));
        let Command::Run(r) = p(&["run", "--stats", "--", "-h"]).unwrap().command else {
            panic!()
        };
        assert_eq!(r.prog, os(&["-h"]));
        assert!(r.preload.stats);
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["run"][..],
            &["run", "--"],
            &["run", "--engine=fast", "x"],
            &["run", "--engine"],
            &["run", "--stats=1", "x"],
            &["run", "-q", "x"],
            &["frob"],
            &["ab", "-n", "0", "x"],
            &["ab", "-n", "many", "x"],
            &["ab"],
            &["ab", "--engines", "kernel,fast", "x"],
            &["ab", "--metric", "nonsense", "x"],
            &["ab", "--signal", "BOGUS", "x"],
            &["ab", "--ready-port", "80", "x"],
            &["ab", "--duration", "0", "x"],
            &["ab", "--duration", "1", "--client", "c", "x"],
            &["trace", "--dump", "f", "-o", "g"],
            &["trace", "--dump"],
        ] {
            let e = p(args).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }

    #[test]
    fn ab_options() {
        let a = ab(&["ab", "--", "build/stress", "-d", "1"]);
        assert_eq!(a.runs, 3);
        assert_eq!(a.sides(), [Side::Kernel, Side::SinglePass]);
        assert_eq!(a.prog, os(&["build/stress", "-d", "1"]));
        let a = ab(&["ab", "-qn5", "-v", "--engine=seed", "prog"]);
        assert!(a.quiet && a.verbose);
        assert_eq!(a.runs, 5);
        assert_eq!(a.sides(), [Side::Kernel, Side::Seed]);
        let a = ab(&[
            "ab",
            "--engines",
            "kernel,singlepass,multipass,seed",
            "--duration",
            "2",
            "--signal",
            "SIGTERM",
            "--metric",
            "events=nevents=([0-9]+):sum",
            "prog",
        ]);
        assert_eq!(a.sides().len(), 4);
        assert_eq!(a.duration, Some(2.0));
        assert_eq!(a.signal, libc::SIGTERM);
        assert_eq!(a.metric[0].name, "events");
        assert_eq!(parse_signal("quit"), Ok(libc::SIGQUIT));
        assert_eq!(parse_signal("9"), Ok(9));
    }
}
