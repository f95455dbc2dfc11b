//! The results of an A/B: per metric and engine, the figures of the counted runs and
//! their statistics; and how they are written: the terminal table, JSON, Markdown and
//! CSV.

use serde::Serialize;

use super::stats::{self, Verdict};

/// One metric of the comparison.
#[derive(Serialize)]
pub struct Metric {
    pub name: String,
    /// "s" for the times, empty for a program's own figures.
    pub unit: &'static str,
    /// "higher" or "lower": which is better.
    pub better: &'static str,
    pub description: String,
    pub rows: Vec<Row>,
}

/// One engine's figures for one metric.
#[derive(Serialize, Clone)]
pub struct Row {
    pub engine: String,
    pub values: Vec<f64>,
    /// Counted runs that gave no figure for this metric (no line matched).
    pub missing: usize,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub ratio_to_baseline: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub verdict: &'static str,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Metric {
    /// The statistics of each engine's values; `values[i]` are engine i's (the first
    /// is the baseline).
    pub fn new(
        name: String,
        unit: &'static str,
        higher: bool,
        description: String,
        engines: &[&str],
        values: Vec<(Vec<f64>, usize)>,
    ) -> Metric {
        let base = values[0].0.clone();
        let base_median = finite(stats::median(&base)).filter(|m| *m != 0.0);
        let rows = engines
            .iter()
            .zip(values)
            .enumerate()
            .map(|(i, (engine, (v, missing)))| {
                let median = finite(stats::median(&v));
                let (ratio, ci, verdict) = if i == 0 {
                    (median.map(|_| 1.0), None, Verdict::Baseline)
                } else {
                    let ratio = median.zip(base_median).map(|(m, b)| m / b);
                    let ci = if ratio.is_some() {
                        stats::ratio_ci(&base, &v)
                    } else {
                        None
                    };
                    (ratio, ci, stats::verdict(ci, higher))
                };
                Row {
                    engine: engine.to_string(),
                    median,
                    min: finite(stats::min(&v)),
                    max: finite(stats::max(&v)),
                    values: v,
                    missing,
                    ratio_to_baseline: ratio,
                    ci95: ci.map(|(lo, hi)| [lo, hi]),
                    verdict: verdict.text(),
                }
            })
            .collect();
        Metric {
            name,
            unit,
            better: if higher { "higher" } else { "lower" },
            description,
            rows,
        }
    }
}

/// A figure with about four significant digits; whole numbers as they are.
pub fn fmt_num(v: Option<f64>, unit: &str) -> String {
    let Some(v) = v else {
        return "-".into();
    };
    if unit == "s" {
        return fmt_secs(v);
    }
    let a = v.abs();
    // Whole numbers (counts) as they are; others rounded to about four digits.
    if (v.fract() == 0.0 && a < 1e15) || a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
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

/// Decimals for a ratio: 2, or up to 4 when fewer would print a ratio that is not 1 as
/// "1.00" (a verdict of "worse" beside a CI printed as [1.00, 1.01] reads as a
/// contradiction; it is a real difference of under 0.5%).
fn ratio_decimals(v: f64) -> usize {
    (2..4)
        .find(|&d| v == 1.0 || format!("{v:.d$}") != format!("{:.d$}", 1.0))
        .unwrap_or(4)
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.0$}", ratio_decimals(r)))
}

pub fn fmt_ci(ci: Option<[f64; 2]>) -> String {
    ci.map_or("-".into(), |[lo, hi]| {
        let d = ratio_decimals(lo).max(ratio_decimals(hi));
        format!("[{lo:.d$}, {hi:.d$}]")
    })
}

/// The terminal table: a block per metric.
pub fn table(metrics: &[Metric]) -> String {
    let mut out = String::new();
    let width = metrics
        .iter()
        .flat_map(|m| m.rows.iter().map(|r| r.engine.len()))
        .max()
        .unwrap_or(6)
        .max(6);
    for m in metrics {
        out.push_str(&format!(
            "\n{}  ({}; {} is better)\n",
            m.name, m.description, m.better
        ));
        out.push_str(&format!(
            "  {:<width$} {:>12} {:>12} {:>12} {:>7}  {:<15} {}\n",
            "engine", "median", "min", "max", "ratio", "95% CI", "verdict"
        ));
        for r in &m.rows {
            let mut verdict = r.verdict.to_string();
            if r.missing > 0 {
                verdict.push_str(&format!(" ({} run(s) without a figure)", r.missing));
            }
            out.push_str(&format!(
                "  {:<width$} {:>12} {:>12} {:>12} {:>7}  {:<15} {}\n",
                r.engine,
                fmt_num(r.median, m.unit),
                fmt_num(r.min, m.unit),
                fmt_num(r.max, m.unit),
                fmt_ratio(r.ratio_to_baseline),
                fmt_ci(r.ci95),
                verdict
            ));
        }
    }
    out
}

/// hyperfine's closing lines: for each engine against the baseline, its ratio and
/// verdict on every metric of the program's own (`--metric`), then CPU and wall time.
pub fn summary(metrics: &[Metric]) -> String {
    let Some(first) = metrics.first() else {
        return String::new();
    };
    let baseline = &first.rows[0].engine;
    let shown: Vec<&Metric> = metrics
        .iter()
        .filter(|m| m.unit != "s" || m.name == "cpu" || m.name == "wall")
        .collect();
    let mut out = format!("\nsummary (median ratio to {baseline}, 95% CI, verdict)\n");
    for i in 1..first.rows.len() {
        let parts: Vec<String> = shown
            .iter()
            .map(|m| {
                let r = &m.rows[i];
                format!(
                    "{} {} {} {}",
                    m.name,
                    fmt_ratio(r.ratio_to_baseline),
                    fmt_ci(r.ci95),
                    r.verdict
                )
            })
            .collect();
        out.push_str(&format!(
            "  {:<12} {}\n",
            first.rows[i].engine,
            parts.join("; ")
        ));
    }
    out
}

/// `metric,engine,...` rows, for CSV and Markdown alike.
fn flat(metrics: &[Metric]) -> Vec<[String; 10]> {
    let mut rows = Vec::new();
    for m in metrics {
        for r in &m.rows {
            let n = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
            rows.push([
                m.name.clone(),
                m.better.to_string(),
                r.engine.clone(),
                n(r.median),
                n(r.min),
                n(r.max),
                n(r.ratio_to_baseline),
                n(r.ci95.map(|c| c[0])),
                n(r.ci95.map(|c| c[1])),
                r.verdict.to_string(),
            ]);
        }
    }
    rows
}

const HEADER: [&str; 10] = [
    "metric", "better", "engine", "median", "min", "max", "ratio", "ci95_lo", "ci95_hi", "verdict",
];

/// Below this served share an A/B measured mostly the kernel: `uepoll ab` warns.
pub const LOW_SHARE: f64 = 0.5;

/// One engine's served share (engine_events / (engine_events + kernel_events), median
/// of runs), for the exports.
pub struct Share {
    pub engine: String,
    pub share: Option<f64>,
}

/// The warning for a share below `LOW_SHARE`, or None.
pub fn low_share_warning(engine: &str, share: Option<f64>) -> Option<String> {
    let s = share?;
    (s < LOW_SHARE).then(|| {
        format!(
            "warning: under {engine} the engine delivered only {:.1}% of the events; the \
             kernel delivered the rest, so this A/B measured mostly the kernel (the \
             kernel_only_now_* and demotions_* counters say why)",
            s * 100.0
        )
    })
}

/// A share as the exports write it: a fraction, or empty.
fn share_cell(share: Option<f64>) -> String {
    share.map_or(String::new(), |s| format!("{s:.4}"))
}

/// CSV: the metrics' rows, then a `served_share` row per engine that ran uepoll
/// (median column: the share as a fraction; verdict: `low` below `LOW_SHARE`).
pub fn csv(metrics: &[Metric], shares: &[Share]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = HEADER.join(",");
    out.push_str(",values\n");
    for (row, values) in flat(metrics).iter().zip(
        metrics
            .iter()
            .flat_map(|m| m.rows.iter().map(|r| &r.values)),
    ) {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        let values: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
        out.push_str(&format!("{},{}\n", cells.join(","), values.join(";")));
    }
    for sh in shares {
        let low = sh.share.is_some_and(|s| s < LOW_SHARE);
        out.push_str(&format!(
            "served_share,higher,{},{},,,,,,{},\n",
            quote(&sh.engine),
            share_cell(sh.share),
            if low { "low" } else { "" }
        ));
    }
    out
}

pub fn markdown(command: &str, metrics: &[Metric], shares: &[Share]) -> String {
    let mut out = format!("`uepoll ab -- {}`\n\n", command.replace('`', "'"));
    out.push_str("| metric | engine | median | min | max | ratio | 95% CI | verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|---|\n");
    for m in metrics {
        for r in &m.rows {
            out.push_str(&format!(
                "| {} ({} is better) | {} | {} | {} | {} | {} | {} | {} |\n",
                m.name,
                m.better,
                r.engine,
                fmt_num(r.median, m.unit),
                fmt_num(r.min, m.unit),
                fmt_num(r.max, m.unit),
                fmt_ratio(r.ratio_to_baseline),
                fmt_ci(r.ci95),
                r.verdict
            ));
        }
    }
    if !shares.is_empty() {
        out.push_str("\n| engine | served share |\n|---|---:|\n");
        for sh in shares {
            out.push_str(&format!(
                "| {} | {} |\n",
                sh.engine,
                sh.share
                    .map_or("-".into(), |s| format!("{:.2}%", s * 100.0))
            ));
        }
        for sh in shares {
            if let Some(w) = low_share_warning(&sh.engine, sh.share) {
                out.push_str(&format!("\n**{w}**\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn ratios_near_one_get_the_decimals_that_show_the_difference() {
        assert_eq!(fmt_ratio(Some(1.0)), "1.00");
        assert_eq!(fmt_ratio(Some(0.5)), "0.50");
        assert_eq!(fmt_ratio(Some(1.004)), "1.004");
        assert_eq!(fmt_ratio(Some(0.9996)), "0.9996");
        assert_eq!(fmt_ci(Some([1.002, 1.011])), "[1.002, 1.011]");
        assert_eq!(fmt_ci(Some([0.95, 1.05])), "[0.95, 1.05]");
    }
    use super::*;

    fn sample() -> Vec<Metric> {
        vec![Metric::new(
            "events".into(),
            "",
            true,
            "sum of /x/".into(),
            &["kernel", "singlepass"],
            vec![
                (vec![100.0, 102.0, 98.0], 0),
                (vec![200.0, 204.0, 196.0], 0),
            ],
        )]
    }

    #[test]
    fn statistics_and_exports() {
        let m = sample();
        assert_eq!(m[0].rows[0].ratio_to_baseline, Some(1.0));
        assert_eq!(m[0].rows[0].verdict, "baseline");
        assert_eq!(m[0].rows[1].ratio_to_baseline, Some(2.0));
        assert_eq!(m[0].rows[1].verdict, "better");
        let t = table(&m);
        assert!(t.contains("singlepass"), "{t}");
        assert!(t.contains("2.00"), "{t}");
        let c = csv(&m, &[]);
        assert_eq!(c.lines().count(), 3);
        assert!(
            c.lines()
                .nth(2)
                .unwrap()
                .starts_with("events,higher,singlepass,200,196,204,2,"),
            "{c}"
        );
        assert!(c.ends_with("better,200;204;196\n"), "{c}");
        let sm = summary(&m);
        assert!(sm.contains("singlepass   events 2.00 ["), "{sm}");
        let md = markdown("prog", &m, &[]);
        assert!(
            md.contains("| events (higher is better) | singlepass | 200 | 196 | 204 | 2.00 |"),
            "{md}"
        );
    }

    #[test]
    fn served_share_exports() {
        let m = sample();
        let shares = [
            Share {
                engine: "singlepass".into(),
                share: Some(0.9),
            },
            Share {
                engine: "seed".into(),
                share: Some(0.25),
            },
            Share {
                engine: "multipass".into(),
                share: None,
            },
        ];
        let c = csv(&m, &shares);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 6, "{c}");
        assert_eq!(lines[3], "served_share,higher,singlepass,0.9000,,,,,,,");
        assert_eq!(lines[4], "served_share,higher,seed,0.2500,,,,,,low,");
        assert_eq!(lines[5], "served_share,higher,multipass,,,,,,,,");
        for l in &lines {
            assert_eq!(l.split(',').count(), HEADER.len() + 1, "{l}");
        }
        let md = markdown("prog", &m, &shares);
        assert!(md.contains("| singlepass | 90.00% |"), "{md}");
        assert!(md.contains("| multipass | - |"), "{md}");
        assert!(
            md.contains("under seed the engine delivered only 25.0%"),
            "{md}"
        );
        assert!(!md.contains("under singlepass"), "{md}");
        assert_eq!(low_share_warning("x", Some(0.5)), None);
        assert_eq!(low_share_warning("x", None), None);
        assert!(low_share_warning("x", Some(0.49)).is_some());
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(Some(12345678.0), ""), "12345678");
        assert_eq!(fmt_num(Some(1.23456), ""), "1.235");
        assert_eq!(fmt_num(Some(0.5), "s"), "500.000 ms");
        assert_eq!(fmt_num(None, ""), "-");
        assert_eq!(fmt_secs(1.5), "1.500 s");
        assert_eq!(fmt_secs(0.0000125), "12.5 us");
    }
}
