//! `uepoll ab`: the same program on the kernel's epoll and under uepoll, interleaved,
//! with wall time, CPU times (wait4's rusage) and the engine's counters.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::args::{Engine, Preload};
use crate::{error, preload_env, prog, EXIT_NOEXEC};

pub struct Options<'a> {
    pub runs: u32,
    pub quiet: bool,
    pub verbose: bool,
    pub engine: Option<Engine>,
    pub lib: &'a Path,
    pub path: &'a Path,
    pub prog: &'a [OsString],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Kernel,
    Uepoll,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Kernel => "kernel",
            Side::Uepoll => "uepoll",
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Exit(i32),
    Signal(i32),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            End::Exit(c) => write!(f, "exit status {c}"),
            End::Signal(s) => write!(f, "killed by {}", signal_name(s)),
        }
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("signal {sig}"),
    };
    format!("{name} (signal {sig})")
}

/// A column of the table: one figure of a run.
type Column = fn(&Sample) -> f64;

struct Sample {
    wall: f64,
    user: f64,
    sys: f64,
    end: End,
    /// The counter blocks printed by the run's processes (uepoll side).
    blocks: Vec<Vec<(String, u64)>>,
}

/// Picks the counter blocks the library prints at exit out of a stream of stderr
/// lines: a `uepoll stats (pid N, engine E):` line, then `  name value` lines.
#[derive(Default)]
pub struct StatsFilter {
    pub blocks: Vec<Vec<(String, u64)>>,
    in_block: bool,
}

impl StatsFilter {
    /// Take one line (with or without its newline). True when it belongs to a block.
    pub fn feed(&mut self, line: &[u8]) -> bool {
        if line.starts_with(b"uepoll stats (pid ") {
            self.blocks.push(Vec::new());
            self.in_block = true;
            return true;
        }
        if self.in_block {
            if let Some(counter) = parse_counter(line) {
                if let Some(block) = self.blocks.last_mut() {
                    block.push(counter);
                }
                return true;
            }
            self.in_block = false;
        }
        false
    }
}

fn parse_counter(line: &[u8]) -> Option<(String, u64)> {
    let line = std::str::from_utf8(line.strip_prefix(b"  ")?).ok()?;
    let mut words = line.split_whitespace();
    let name = words.next()?;
    let value = words.next()?.parse::<u64>().ok()?;
    if words.next().is_some()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    Some((name.to_string(), value))
}

/// One run's counters: summed over its processes, except the `max_` ones.
pub fn run_totals(blocks: &[Vec<(String, u64)>]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for (name, value) in blocks.iter().flatten() {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) if name.starts_with("max_") => *v = (*v).max(*value),
            Some((_, v)) => *v = v.saturating_add(*value),
            None => out.push((name.clone(), *value)),
        }
    }
    out
}

/// `arg` as a shell would need it written (for showing the command).
pub fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The median (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Seconds, in a unit that keeps three or more significant digits.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 0.001 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} us", s * 1e6)
    }
}

fn tv_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Reap `pid` with its resource usage.
fn wait4(pid: libc::pid_t) -> std::io::Result<(End, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our own locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    let end = if libc::WIFSIGNALED(status) {
        End::Signal(libc::WTERMSIG(status))
    } else {
        End::Exit(libc::WEXITSTATUS(status))
    };
    Ok((end, usage))
}

fn one(o: &Options, side: Side) -> std::io::Result<Sample> {
    let mut cmd = Command::new(o.path);
    cmd.arg0(&o.prog[0]).args(&o.prog[1..]).stdin(Stdio::null());
    let quiet_or = |inherit: fn() -> Stdio| if o.quiet { Stdio::null() } else { inherit() };
    cmd.stdout(quiet_or(Stdio::inherit));
    match side {
        Side::Kernel => {
            match prog::preload_without(o.lib, std::env::var_os("LD_PRELOAD").as_deref()) {
                Some(v) => cmd.env("LD_PRELOAD", v),
                None => cmd.env_remove("LD_PRELOAD"),
            };
            cmd.stderr(quiet_or(Stdio::inherit));
        }
        Side::Uepoll => {
            let preload = Preload {
                stats: true,
                engine: o.engine,
            };
            cmd.envs(preload_env(o.lib, &preload));
            cmd.stderr(Stdio::piped());
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let reader = child.stderr.take().map(|pipe| {
        let quiet = o.quiet;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(filter_stderr(pipe, quiet));
        });
        rx
    });
    let (end, usage) = wait4(child.id() as libc::pid_t)?;
    let wall = start.elapsed().as_secs_f64();
    // The pipe reaches its end when the last process holding it is gone. A descendant
    // left running can hold it open: wait a little, then go on without its counters.
    let blocks = match reader.map(|r| r.recv_timeout(std::time::Duration::from_secs(5))) {
        None => Vec::new(),
        Some(Ok(blocks)) => blocks,
        Some(Err(_)) => {
            error("warning: the program's stderr is still open (a process left running?); its counters are not counted");
            Vec::new()
        }
    };
    Ok(Sample {
        wall,
        user: tv_secs(usage.ru_utime),
        sys: tv_secs(usage.ru_stime),
        end,
        blocks,
    })
}

/// Pass the program's stderr through (unless quiet), keeping the counter blocks.
fn filter_stderr(pipe: impl Read, quiet: bool) -> Vec<Vec<(String, u64)>> {
    let mut filter = StatsFilter::default();
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let stderr = std::io::stderr();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if !filter.feed(&line) && !quiet {
                    let _ = stderr.lock().write_all(&line);
                }
            }
        }
    }
    filter.blocks
}

pub fn run(o: &Options) -> i32 {
    let mut samples: Vec<(u32, Side, Sample)> = Vec::new();
    for i in 1..=o.runs {
        for side in [Side::Kernel, Side::Uepoll] {
            let s = match one(o, side) {
                Ok(s) => s,
                Err(e) => {
                    error(format!("cannot run {}: {e}", o.path.display()));
                    return EXIT_NOEXEC;
                }
            };
            if o.verbose {
                eprintln!(
                    "uepoll: ab run {i}/{} {:<6}  wall {}  user {}  sys {}  {}",
                    o.runs,
                    side.name(),
                    fmt_secs(s.wall),
                    fmt_secs(s.user),
                    fmt_secs(s.sys),
                    s.end
                );
            }
            samples.push((i, side, s));
        }
    }

    let prog: Vec<String> = o
        .prog
        .iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "\nuepoll ab: {}\n{} run{} per side, interleaved kernel/uepoll{}; medians\n\n",
        prog.join(" "),
        o.runs,
        if o.runs == 1 { "" } else { "s" },
        o.engine
            .map(|e| format!(", engine {}", e.name()))
            .unwrap_or_default(),
    ));
    let of = |side: Side, f: Column| -> f64 {
        let v: Vec<f64> = samples
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(_, _, x)| f(x))
            .collect();
        median(&v)
    };
    out.push_str(&format!(
        "  {:<10} {:>12} {:>12} {:>15}\n",
        "", "kernel", "uepoll", "uepoll/kernel"
    ));
    let rows: [(&str, Column); 4] = [
        ("wall", |s| s.wall),
        ("user", |s| s.user),
        ("sys", |s| s.sys),
        ("user+sys", |s| s.user + s.sys),
    ];
    for (name, f) in rows {
        let (k, u) = (of(Side::Kernel, f), of(Side::Uepoll, f));
        let ratio = if k > 0.0 {
            format!("{:.2}", u / k)
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "  {name:<10} {:>12} {:>12} {ratio:>15}\n",
            fmt_secs(k),
            fmt_secs(u)
        ));
    }

    let uepoll_runs: Vec<&Sample> = samples
        .iter()
        .filter(|(_, s, _)| *s == Side::Uepoll)
        .map(|(_, _, x)| x)
        .collect();
    let totals: Vec<Vec<(String, u64)>> = uepoll_runs
        .iter()
        .filter(|s| !s.blocks.is_empty())
        .map(|s| run_totals(&s.blocks))
        .collect();
    let mut missing = Vec::new();
    for (i, side, s) in &samples {
        if *side == Side::Uepoll && s.blocks.is_empty() {
            missing.push(i.to_string());
        }
    }
    if totals.is_empty() {
        out.push_str(
            "\nengine counters: none printed (the library prints them when a process \
             leaves through exit(); was it loaded?)\n",
        );
    } else {
        let procs: Vec<usize> = uepoll_runs.iter().map(|s| s.blocks.len()).collect();
        let (lo, hi) = (
            procs.iter().min().copied().unwrap_or(0),
            procs.iter().max().copied().unwrap_or(0),
        );
        let procs = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}-{hi}")
        };
        out.push_str(&format!(
            "\nengine counters (uepoll runs: per run summed over {procs} process{}, median of {} run{}):\n",
            if hi == 1 { "" } else { "es" },
            totals.len(),
            if totals.len() == 1 { "" } else { "s" },
        ));
        for (name, _) in &totals[0] {
            let values: Vec<f64> = totals
                .iter()
                .map(|t| t.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v) as f64)
                .collect();
            out.push_str(&format!("  {name:<26} {:>14.0}\n", median(&values)));
        }
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stdout().flush();

    if !missing.is_empty() && !totals.is_empty() {
        error(format!(
            "warning: no counters from uepoll run{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let mut failed = false;
    for (i, side, s) in &samples {
        if s.end != End::Exit(0) {
            error(format!(
                "run {i} of {} ({}) failed: {}",
                o.runs,
                side.name(),
                s.end
            ));
            failed = true;
        }
    }
    i32::from(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_blocks_are_taken_out_of_stderr() {
        let text = "hello\n\
            uepoll stats (pid 12, engine SinglePass):\n  \
            engine_events              10\n  \
            max_concurrent_transfers   2\n\
            after\n  \
            indented program line\n\
            uepoll stats (pid 13, engine SinglePass):\n  \
            engine_events              5\n  \
            max_concurrent_transfers   1\n";
        let mut f = StatsFilter::default();
        let passed: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| !f.feed(l.as_bytes()))
            .collect();
        assert_eq!(passed, ["hello\n", "after\n", "  indented program line\n"]);
        assert_eq!(f.blocks.len(), 2);
        assert_eq!(
            run_totals(&f.blocks),
            [
                ("engine_events".to_string(), 15),
                ("max_concurrent_transfers".to_string(), 2)
            ]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("build/stress"), "build/stress");
        assert_eq!(shell_quote("exit 3"), "'exit 3'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn medians_and_units() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(fmt_secs(1.5), "1.500 s");
        assert_eq!(fmt_secs(0.0125), "12.500 ms");
        assert_eq!(fmt_secs(0.0000125), "12.5 us");
    }
}
