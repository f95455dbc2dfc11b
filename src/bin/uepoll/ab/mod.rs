//! `uepoll ab`: the same program on the kernel's epoll and on the engines, interleaved
//! round-robin, with wall time, CPU times, the program's own figures (--metric) and
//! the engine's counters; the statistics, the table and the exports.

pub mod chart;
pub mod counters;
pub mod launch;
pub mod metric;
pub mod placement;
pub mod report;
pub mod stats;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::{AbArgs, Preload, Side};
use crate::{error, preload_env, prog, EXIT_NOEXEC, EXIT_OWN, EXIT_USAGE};
use launch::{signal_name, Client, Outcome, Plan, Ready};
use metric::Source;
use report::Metric;

/// One finished run.
struct Record {
    /// "1", "2", ... or "w1", "w2", ... for warm-up rounds.
    label: String,
    warmup: bool,
    /// Index into the engines.
    side: usize,
    outcome: Outcome,
    /// The built-in figures (wall, user, sys, cpu), then each --metric's.
    values: Vec<Option<f64>>,
    blocks: Vec<Vec<(String, u64)>>,
    log: PathBuf,
    /// The placement probes before and after this run (ns per round trip; None when
    /// not probed).
    placement: (Option<f64>, Option<f64>),
    /// Its round still saw the host move its CPUs at the last attempt: counted, and
    /// named in the report.
    moved: bool,
}

/// The built-in metrics: name and description.
const BUILTINS: [(&str, &str); 4] = [
    ("wall", "wall time of PROG"),
    ("user", "user CPU time of PROG and its waited-for children"),
    ("sys", "system CPU time of PROG and its waited-for children"),
    ("cpu", "user + system CPU time"),
];

/// Where the logs go, and whether they stay.
struct Logs {
    dir: PathBuf,
    keep: bool,
}

impl Logs {
    fn new(dir: Option<&Path>) -> std::io::Result<Logs> {
        match dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Ok(Logs {
                    dir: d.to_path_buf(),
                    keep: true,
                })
            }
            None => {
                let base = std::env::temp_dir();
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let dir = base.join(format!("uepoll-ab.{}.{nanos}", std::process::id()));
                std::fs::create_dir(&dir)?;
                Ok(Logs { dir, keep: false })
            }
        }
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The progress line (stderr, only on a terminal and without -q) and the notes that
/// go above it.
struct Progress {
    bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:24}] {msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        };
        Progress { bar, quiet }
    }

    /// A note (not with -q).
    fn note(&self, msg: &str) {
        if !self.quiet {
            self.warn(msg);
        }
    }

    /// A warning or failure: always shown.
    fn warn(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("uepoll: {msg}");
        } else {
            self.bar.println(format!("uepoll: {msg}"));
        }
    }
}

/// The last `n` lines of a log, for a failed run.
fn tail(path: &Path, n: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text[text.len().saturating_sub(4096)..]).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    | {l}\n"))
        .collect()
}

fn quoted(prog: &[OsString]) -> String {
    prog.iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
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

pub fn run(a: &AbArgs, sides: &[Side], lib: &Path, path: &Path) -> i32 {
    if a.client.is_none() && a.metric.iter().any(|m| m.source == Source::Client) {
        error("a client: metric needs --client");
        eprintln!("Try 'uepoll ab --help'.");
        return EXIT_USAGE;
    }
    if let Some(m) = a
        .metric
        .iter()
        .enumerate()
        .find(|(i, m)| a.metric[..*i].iter().any(|o| o.name == m.name))
    {
        error(format!("metric '{}' is named twice", m.1.name));
        eprintln!("Try 'uepoll ab --help'.");
        return EXIT_USAGE;
    }
    let logs = match Logs::new(a.log.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            error(format!("cannot create the log directory: {e}"));
            return EXIT_OWN;
        }
    };
    let names: Vec<&str> = sides.iter().map(|s| s.name()).collect();
    let rounds = a.warmup + a.runs;
    let progress = Progress::new(u64::from(rounds) * sides.len() as u64, a.quiet);
    let ready = match (a.ready_port, a.ready_delay) {
        (Some(p), _) => Ready::Port(p),
        (None, Some(d)) => Ready::Delay(d),
        (None, None) => Ready::Delay(1.0),
    };
    launch::install_stop_handlers();
    let existing = std::env::var_os("LD_PRELOAD");
    let mut records: Vec<Record> = Vec::new();
    let probing = !a.no_placement && placement::cpus().is_some();
    let probe = || if probing { placement::probe() } else { None };
    let mut host = placement::Summary::default();
    for round in 0..rounds {
        let warmup = round < a.warmup;
        let label = if warmup {
            format!("w{}", round + 1)
        } else {
            (round - a.warmup + 1).to_string()
        };
        let mut attempt = 1;
        loop {
            let mut this_round: Vec<Record> = Vec::new();
            let mut probes = vec![probe()];
            for (si, side) in sides.iter().enumerate() {
                let log = logs.dir.join(format!("{label}-{}.log", side.name()));
                let (env, env_remove) = match side.engine() {
                    None => match prog::preload_without(lib, existing.as_deref()) {
                        Some(v) => (vec![("LD_PRELOAD", v)], vec![]),
                        None => (vec![], vec!["LD_PRELOAD"]),
                    },
                    Some(e) => (
                        preload_env(
                            lib,
                            &Preload {
                                stats: true,
                                engine: Some(e),
                            },
                        ),
                        vec![],
                    ),
                };
                let client = a.client.as_deref().map(|cmd| Client {
                    cmd,
                    ready,
                    log: logs.dir.join(format!("{label}-{}.client.log", side.name())),
                    env: vec![
                        ("UEPOLL_AB_ENGINE", OsString::from(side.name())),
                        ("UEPOLL_AB_RUN", OsString::from(&label)),
                        ("UEPOLL_AB_LOG", log.clone().into_os_string()),
                    ],
                });
                let plan = Plan {
                    path,
                    prog: &a.prog,
                    env,
                    env_remove,
                    log: log.clone(),
                    duration: a.duration,
                    signal: a.signal,
                    grace: a.grace,
                    client,
                };
                progress.bar.set_message(format!(
                    "run {} of {}: {}{} ({label} of {})",
                    records.len() + this_round.len() + 1,
                    progress.bar.length().unwrap_or(0),
                    side.name(),
                    if warmup { ", warm-up" } else { "" },
                    if warmup { a.warmup } else { a.runs }
                ));
                let what = format!(
                    "{} run {label} ({})",
                    if warmup { "warm-up" } else { "counted" },
                    side.name()
                );
                let mut note = |msg: String| progress.warn(&format!("{what}: {msg}"));
                let outcome = match launch::run(&plan, &mut note) {
                    Ok(o) => o,
                    Err(e) => {
                        progress.bar.finish_and_clear();
                        error(format!("cannot run {}: {e}", path.display()));
                        return EXIT_NOEXEC;
                    }
                };
                let before = *probes.last().unwrap_or(&None);
                probes.push(probe());
                let after = *probes.last().unwrap_or(&None);
                let mut values = vec![
                    Some(outcome.wall),
                    Some(outcome.user),
                    Some(outcome.sys),
                    Some(outcome.user + outcome.sys),
                ];
                let mut blocks = Vec::new();
                let mut scanned = vec![None; a.metric.len()];
                let mut sources = vec![(Source::Prog, log.clone())];
                if let Some(c) = &plan.client {
                    sources.push((Source::Client, c.log.clone()));
                }
                for (source, file) in &sources {
                    match metric::scan(file, &a.metric, *source) {
                        Ok(s) => {
                            for (i, v) in s.values.iter().enumerate() {
                                if v.is_some() {
                                    scanned[i] = *v;
                                }
                            }
                            for (i, bad) in s.bad.iter().enumerate() {
                                if *bad > 0 && a.metric[i].source == *source {
                                    progress.note(&format!(
                                        "{what}: metric '{}': {bad} match(es) were not a number",
                                        a.metric[i].name
                                    ));
                                }
                            }
                            if *source == Source::Prog {
                                blocks = s.blocks;
                            }
                        }
                        Err(e) if *source == Source::Client && !file.exists() => {
                            let _ = e; // the client never started: named among the problems
                        }
                        Err(e) => {
                            progress.warn(&format!("{what}: cannot read {}: {e}", file.display()))
                        }
                    }
                }
                values.extend(scanned);
                let ok = outcome.ok(a.signal);
                if !ok {
                    let mut why = vec![format!("PROG: {}", outcome.end)];
                    if let Some(s) = outcome.sent {
                        why[0].push_str(&format!(" after uepoll sent {}", signal_name(s)));
                    }
                    if let Some(ce) = outcome.client_end {
                        why.push(format!("client: {ce}"));
                    }
                    why.extend(outcome.problems.iter().cloned());
                    progress.warn(&format!(
                        "{what} failed: {}; the end of {}:\n{}",
                        why.join("; "),
                        log.display(),
                        tail(&log, 8).trim_end()
                    ));
                    if let Some(c) = &plan.client {
                        if c.log.exists() {
                            progress.warn(&format!(
                                "the end of {}:\n{}",
                                c.log.display(),
                                tail(&c.log, 8).trim_end()
                            ));
                        }
                    }
                }
                if a.verbose {
                    let shown: Vec<String> = a
                        .metric
                        .iter()
                        .zip(&values[4..])
                        .map(|(m, v)| format!("{} {}", m.name, report::fmt_num(*v, "")))
                        .collect();
                    let line = format!(
                        "{what}: wall {}  user {}  sys {}  {}  {}{}",
                        report::fmt_secs(outcome.wall),
                        report::fmt_secs(outcome.user),
                        report::fmt_secs(outcome.sys),
                        shown.join("  "),
                        outcome.end,
                        if ok { "" } else { "  FAILED" }
                    );
                    if progress.bar.is_hidden() {
                        eprintln!("uepoll: {line}");
                    } else {
                        progress.bar.println(format!("uepoll: {line}"));
                    }
                }
                if !logs.keep {
                    // A chatty program's log can be large: do not keep it until the end.
                    let _ = std::fs::remove_file(&log);
                    if let Some(c) = &plan.client {
                        let _ = std::fs::remove_file(&c.log);
                    }
                }
                this_round.push(Record {
                    label: label.clone(),
                    warmup,
                    side: si,
                    outcome,
                    values,
                    blocks,
                    log,
                    placement: (before, after),
                    moved: false,
                });
                progress.bar.inc(1);
            }
            host.add(&probes);
            // A counted round whose runs saw the host move its CPUs compares the host, not
            // the engines.
            let failed = this_round.iter().any(|r| !r.outcome.ok(a.signal));
            match placement::decide(!warmup, &probes, failed, attempt, a.placement_tries) {
                placement::Round::Keep => {}
                placement::Round::Again => {
                    progress.note(&format!(
                    "round {label}: the host moved its CPUs during it (probes {} ns), running it again",
                    probes
                        .iter()
                        .map(|p| p.map_or("-".into(), |v| format!("{v:.0}")))
                        .collect::<Vec<String>>()
                        .join(", ")
                ));
                    host.reruns += 1;
                    attempt += 1;
                    progress.bar.inc_length(sides.len() as u64);
                    continue;
                }
                placement::Round::KeepMoved => {
                    host.mixed += 1;
                    for r in &mut this_round {
                        r.moved = true;
                    }
                }
            }
            records.extend(this_round);
            break;
        }
    }
    progress.bar.finish_and_clear();

    // Statistics over the counted runs.
    let counted: Vec<&Record> = records.iter().filter(|r| !r.warmup).collect();
    let per_engine = |k: usize| -> Vec<(Vec<f64>, usize)> {
        (0..sides.len())
            .map(|si| {
                let mine: Vec<&&Record> = counted.iter().filter(|r| r.side == si).collect();
                let v: Vec<f64> = mine.iter().filter_map(|r| r.values[k]).collect();
                let missing = mine.len() - v.len();
                (v, missing)
            })
            .collect()
    };
    let mut metrics = Vec::new();
    for (k, m) in a.metric.iter().enumerate() {
        metrics.push(Metric::new(
            m.name.clone(),
            "",
            m.higher,
            m.describe(),
            &names,
            per_engine(4 + k),
        ));
    }
    for (k, (name, description)) in BUILTINS.iter().enumerate() {
        metrics.push(Metric::new(
            name.to_string(),
            "s",
            false,
            description.to_string(),
            &names,
            per_engine(k),
        ));
    }
    let counters = engine_counters(sides, &counted);

    let command = quoted(&a.prog);
    let mut out = format!("\nuepoll ab: {command}\n");
    out.push_str(&format!(
        "  engines: {} (baseline {}); {} counted run{} each, interleaved{}\n",
        names.join(", "),
        names[0],
        a.runs,
        if a.runs == 1 { "" } else { "s" },
        match a.warmup {
            0 => String::new(),
            1 => ", after 1 warm-up round".into(),
            w => format!(", after {w} warm-up rounds"),
        }
    ));
    out.push_str(&format!("  stop: {}\n", stop_text(a, ready)));
    if let Some(line) = host.text(a.placement_tries) {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!(
        "  logs: {}\n",
        if logs.keep {
            logs.dir.display().to_string()
        } else {
            "not kept (--log DIR keeps them)".into()
        }
    ));
    out.push_str(&report::table(&metrics));
    out.push_str(&counters_text(&counters));
    out.push_str(&report::summary(&metrics));
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stdout().flush();

    let mut status = 0;
    let title = format!("uepoll ab: {command}");
    let shares: Vec<report::Share> = counters
        .iter()
        .map(|c| report::Share {
            engine: c.engine.clone(),
            share: c.served_share,
        })
        .collect();
    let exports: [(&Option<PathBuf>, &dyn Fn() -> String); 4] = [
        (&a.json, &|| {
            json(a, &names, &metrics, &counters, &records, &host)
        }),
        (&a.markdown, &|| {
            report::markdown(&command, &metrics, &shares)
        }),
        (&a.csv, &|| report::csv(&metrics, &shares)),
        (&a.chart, &|| chart::svg(&title, &metrics)),
    ];
    for (file, make) in exports {
        if let Some(file) = file {
            if let Err(e) = std::fs::write(file, make()) {
                error(format!("cannot write {}: {e}", file.display()));
                status = EXIT_OWN;
            }
        }
    }

    for r in records
        .iter()
        .filter(|r| r.side > 0 || sides[0] != Side::Kernel)
    {
        if sides[r.side] != Side::Kernel && r.blocks.is_empty() && r.outcome.ok(a.signal) {
            error(format!(
                "warning: no engine counters from run {} ({}): the library prints them when a process leaves through exit()",
                r.label,
                sides[r.side].name()
            ));
        }
    }
    let failed: Vec<&Record> = records.iter().filter(|r| !r.outcome.ok(a.signal)).collect();
    for r in &failed {
        error(format!(
            "{} run {} ({}) failed: {}{}",
            if r.warmup { "warm-up" } else { "counted" },
            r.label,
            sides[r.side].name(),
            r.outcome.end,
            if logs.keep {
                format!(" (log {})", r.log.display())
            } else {
                String::new()
            }
        ));
    }
    if !failed.is_empty() && status == 0 {
        status = 1;
    }
    status
}

fn stop_text(a: &AbArgs, ready: Ready) -> String {
    let sig = signal_name(a.signal);
    match (&a.client, a.duration) {
        (Some(c), _) => format!(
            "client `{c}` (on the kernel) starts when {}; {sig} to PROG when it ends",
            match ready {
                Ready::Port(p) => format!("127.0.0.1:{p} accepts"),
                Ready::Delay(d) => format!("PROG has run {d} s"),
            }
        ),
        (None, Some(d)) => format!("{sig} to PROG after {d} s"),
        (None, None) => "PROG ends by itself".into(),
    }
}

/// One engine's counters: the median over its counted runs of each counter (summed
/// over a run's processes).
#[derive(Serialize)]
struct Counters {
    engine: String,
    runs_with_counters: usize,
    processes: Vec<usize>,
    #[serde(serialize_with = "as_object")]
    median: Vec<(String, f64)>,
    /// engine_events / (engine_events + kernel_events)
    served_share: Option<f64>,
    /// The share is below `report::LOW_SHARE`: the A/B measured mostly the kernel.
    served_share_low: bool,
}

fn engine_counters(sides: &[Side], counted: &[&Record]) -> Vec<Counters> {
    let mut out = Vec::new();
    for (si, side) in sides.iter().enumerate() {
        if *side == Side::Kernel {
            continue;
        }
        let runs: Vec<&&Record> = counted.iter().filter(|r| r.side == si).collect();
        let totals: Vec<Vec<(String, u64)>> = runs
            .iter()
            .filter(|r| !r.blocks.is_empty())
            .map(|r| counters::run_totals(&r.blocks))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for t in &totals {
            for (n, _) in t {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        let median: Vec<(String, f64)> = names
            .into_iter()
            .map(|n| {
                let v: Vec<f64> = totals
                    .iter()
                    .map(|t| t.iter().find(|(m, _)| *m == n).map_or(0, |(_, v)| *v) as f64)
                    .collect();
                let m = stats::median(&v);
                (n, m)
            })
            .collect();
        let get = |n: &str| median.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
        let served_share = match (get("engine_events"), get("kernel_events")) {
            (Some(e), Some(k)) if e + k > 0.0 => Some(e / (e + k)),
            _ => None,
        };
        out.push(Counters {
            engine: side.name().to_string(),
            runs_with_counters: totals.len(),
            processes: runs.iter().map(|r| r.blocks.len()).collect(),
            median,
            served_share,
            served_share_low: served_share.is_some_and(|s| s < report::LOW_SHARE),
        });
    }
    out
}

fn counters_text(counters: &[Counters]) -> String {
    if counters.is_empty() {
        return String::new();
    }
    if counters.iter().all(|c| c.runs_with_counters == 0) {
        return "\nengine counters: none printed (the library prints them when a process \
                leaves through exit(); was it loaded?)\n"
            .into();
    }
    let procs: Vec<usize> = counters.iter().flat_map(|c| c.processes.clone()).collect();
    let (lo, hi) = (
        procs.iter().min().copied().unwrap_or(0),
        procs.iter().max().copied().unwrap_or(0),
    );
    let mut out = format!(
        "\nengine counters (per run summed over {} process{}, max_ ones the largest; median of runs)\n",
        if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") },
        if hi == 1 { "" } else { "es" }
    );
    out.push_str(&format!("  {:<26}", ""));
    for c in counters {
        out.push_str(&format!(" {:>14}", c.engine));
    }
    out.push('\n');
    let mut names: Vec<&str> = Vec::new();
    for c in counters {
        for (n, _) in &c.median {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    for n in names {
        out.push_str(&format!("  {n:<26}"));
        for c in counters {
            let v = c.median.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
            out.push_str(&format!(
                " {:>14}",
                v.map_or("-".into(), |v| format!("{v:.0}"))
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!("  {:<26}", "served share"));
    for c in counters {
        out.push_str(&format!(
            " {:>14}",
            c.served_share
                .map_or("-".into(), |s| format!("{:.2}%", s * 100.0))
        ));
    }
    out.push_str("\n  (served share: engine_events / (engine_events + kernel_events), the events the engine delivered)\n");
    for c in counters {
        if let Some(w) = report::low_share_warning(&c.engine, c.served_share) {
            out.push_str(&format!("  {w}\n"));
        }
    }
    out
}

/// Name-value pairs as a JSON object, in their order.
fn as_object<S, K, V>(pairs: &[(K, V)], s: S) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    K: Serialize,
    V: Serialize,
{
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

#[derive(Serialize)]
struct JsonRow<'a> {
    metric: &'a str,
    better: &'a str,
    unit: &'a str,
    #[serde(flatten)]
    row: &'a report::Row,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    run: &'a str,
    warmup: bool,
    engine: &'a str,
    wall: f64,
    user: f64,
    sys: f64,
    end: String,
    signal_sent: Option<String>,
    client_end: Option<String>,
    ok: bool,
    problems: &'a [String],
    #[serde(serialize_with = "as_object")]
    metrics: Vec<(&'a str, Option<f64>)>,
    /// The placement probes before and after the run, ns per round trip.
    placement_ns: [Option<f64>; 2],
    /// Its round still saw the host move its CPUs at the last attempt.
    placement_moved: bool,
}

/// What the placement probes of the whole comparison saw.
#[derive(Serialize)]
struct JsonPlacement {
    probed: bool,
    tries: u32,
    probes: usize,
    near: usize,
    near_median_ns: Option<f64>,
    far: usize,
    far_median_ns: Option<f64>,
    rounds_run_again: u32,
    rounds_still_moved: u32,
}

#[derive(Serialize)]
struct Json<'a> {
    command: Vec<String>,
    engines: &'a [&'a str],
    baseline: &'a str,
    runs: u32,
    warmup: u32,
    stop: String,
    client: Option<&'a str>,
    resamples: usize,
    results: Vec<JsonRow<'a>>,
    counters: &'a [Counters],
    placement: JsonPlacement,
    run_list: Vec<JsonRun<'a>>,
}

fn json(
    a: &AbArgs,
    names: &[&str],
    metrics: &[Metric],
    counters: &[Counters],
    records: &[Record],
    host: &placement::Summary,
) -> String {
    let metric_names: Vec<&str> = a.metric.iter().map(|m| m.name.as_str()).collect();
    let ((near, near_ns), (far, far_ns)) = host.split();
    let some = |n: usize, v: f64| (n > 0).then_some(v);
    let j = Json {
        command: a
            .prog
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
        engines: names,
        baseline: names[0],
        runs: a.runs,
        warmup: a.warmup,
        stop: stop_text(
            a,
            match (a.ready_port, a.ready_delay) {
                (Some(p), _) => Ready::Port(p),
                (None, d) => Ready::Delay(d.unwrap_or(1.0)),
            },
        ),
        client: a.client.as_deref(),
        resamples: stats::RESAMPLES,
        results: metrics
            .iter()
            .flat_map(|m| {
                m.rows.iter().map(|row| JsonRow {
                    metric: &m.name,
                    better: m.better,
                    unit: m.unit,
                    row,
                })
            })
            .collect(),
        counters,
        placement: JsonPlacement {
            probed: !a.no_placement && !host.probes.is_empty(),
            tries: a.placement_tries,
            probes: host.probes.len(),
            near,
            near_median_ns: some(near, near_ns),
            far,
            far_median_ns: some(far, far_ns),
            rounds_run_again: host.reruns,
            rounds_still_moved: host.mixed,
        },
        run_list: records
            .iter()
            .map(|r| JsonRun {
                run: &r.label,
                warmup: r.warmup,
                engine: names[r.side],
                wall: r.outcome.wall,
                user: r.outcome.user,
                sys: r.outcome.sys,
                end: r.outcome.end.to_string(),
                signal_sent: r.outcome.sent.map(signal_name),
                client_end: r.outcome.client_end.map(|e| e.to_string()),
                ok: r.outcome.ok(a.signal),
                problems: &r.outcome.problems,
                metrics: metric_names
                    .iter()
                    .copied()
                    .zip(r.values[4..].iter().copied())
                    .collect(),
                placement_ns: [r.placement.0, r.placement.1],
                placement_moved: r.moved,
            })
            .collect(),
    };
    let mut s =
        serde_json::to_string_pretty(&j).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("build/stress"), "build/stress");
        assert_eq!(shell_quote("exit 3"), "'exit 3'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
