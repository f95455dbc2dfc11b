//! `--metric [client:]NAME=REGEX[:AGG][:higher|lower]`: a figure a program prints,
//! taken from the run's log file after the run.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use regex::bytes::Regex;

use super::counters::StatsFilter;

/// How a run's samples become the run's figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Mean,
    Last,
    Min,
    Max,
    Count,
}

impl Agg {
    pub fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Mean => "mean",
            Agg::Last => "last",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Count => "count",
        }
    }

    fn parse(s: &str) -> Option<Agg> {
        Some(match s {
            "sum" => Agg::Sum,
            "mean" => Agg::Mean,
            "last" => Agg::Last,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            _ => return None,
        })
    }
}

/// Whose output a metric reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Prog,
    Client,
}

#[derive(Clone, Debug)]
pub struct MetricSpec {
    pub name: String,
    pub source: Source,
    pub regex: Regex,
    pub agg: Agg,
    /// True when a larger figure is better.
    pub higher: bool,
}

/// Names the built-in metrics use.
pub const BUILTIN: [&str; 4] = ["wall", "user", "sys", "cpu"];

impl MetricSpec {
    /// Parse a spec. The regex may hold colons (`AVG: ([0-9.]+)`), so the optional
    /// `:higher|lower` and `:AGG` are taken off the end, in that order.
    pub fn parse(spec: &str) -> Result<MetricSpec, String> {
        let (source, spec) = match spec.strip_prefix("client:") {
            Some(rest) => (Source::Client, rest),
            None => (Source::Prog, spec.strip_prefix("prog:").unwrap_or(spec)),
        };
        let Some((name, mut rest)) = spec.split_once('=') else {
            return Err(
                "expected NAME=REGEX[:AGG][:higher|lower], e.g. 'events=nevents=([0-9]+):sum'"
                    .into(),
            );
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        {
            return Err(format!(
                "metric name '{name}' should be letters, digits, '_', '.', '-' or '/'"
            ));
        }
        if BUILTIN.contains(&name) {
            return Err(format!(
                "'{name}' is a built-in metric; choose another name"
            ));
        }
        let mut direction = None;
        if let Some((head, tail)) = rest.rsplit_once(':') {
            match tail {
                "higher" => direction = Some(true),
                "lower" => direction = Some(false),
                _ => {}
            }
            if direction.is_some() {
                rest = head;
            }
        }
        let mut agg = Agg::Last;
        if let Some((head, tail)) = rest.rsplit_once(':') {
            if let Some(a) = Agg::parse(tail) {
                agg = a;
                rest = head;
            }
        }
        if rest.is_empty() {
            return Err(format!("metric '{name}' has an empty regex"));
        }
        let regex = Regex::new(rest).map_err(|e| format!("metric '{name}': bad regex: {e}"))?;
        if regex.captures_len() < 2 && agg != Agg::Count {
            return Err(format!(
                "metric '{name}': the regex needs a capture group around the number, e.g. 'AVG: ([0-9.]+)'"
            ));
        }
        let higher = direction.unwrap_or(matches!(agg, Agg::Sum | Agg::Count));
        Ok(MetricSpec {
            name: name.to_string(),
            source,
            regex,
            agg,
            higher,
        })
    }

    /// How the metric is described in the table.
    pub fn describe(&self) -> String {
        format!(
            "{} of /{}/ in {}'s output",
            self.agg.name(),
            self.regex.as_str(),
            match self.source {
                Source::Prog => "PROG",
                Source::Client => "CMD",
            }
        )
    }
}

/// One metric's samples in one run.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    n: u64,
    sum: f64,
    last: f64,
    min: f64,
    max: f64,
    /// Captures that were not a number.
    bad: u64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        }
        self.n += 1;
        self.sum += v;
        self.last = v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn value(&self, agg: Agg) -> Option<f64> {
        if agg == Agg::Count {
            return Some(self.n as f64);
        }
        if self.n == 0 {
            return None;
        }
        Some(match agg {
            Agg::Sum => self.sum,
            Agg::Mean => self.sum / self.n as f64,
            Agg::Last => self.last,
            Agg::Min => self.min,
            Agg::Max => self.max,
            Agg::Count => unreachable!(),
        })
    }
}

/// What one log file gave: a figure per metric (None: no sample), the counter blocks
/// (PROG's log only) and how many captures were not numbers.
#[derive(Default)]
pub struct Scanned {
    pub values: Vec<Option<f64>>,
    pub blocks: Vec<Vec<(String, u64)>>,
    pub bad: Vec<u64>,
}

/// Read a log, line by line (a line ends at \n or \r, so progress lines that a program
/// redraws with \r count one by one), and apply the metrics of `source`. Other
/// metrics get None. The library's counter blocks are taken out first.
pub fn scan(path: &Path, metrics: &[MetricSpec], source: Source) -> std::io::Result<Scanned> {
    let mut accs = vec![Acc::default(); metrics.len()];
    let mut filter = StatsFilter::default();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut line = Vec::new();
    let mine: Vec<usize> = (0..metrics.len())
        .filter(|&i| metrics[i].source == source)
        .collect();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if source == Source::Prog && filter.feed(&line) {
            continue;
        }
        for part in line.split(|&b| b == b'\r' || b == b'\n') {
            if part.is_empty() {
                continue;
            }
            for &i in &mine {
                let m = &metrics[i];
                let Some(c) = m.regex.captures(part) else {
                    continue;
                };
                match c.get(1) {
                    None => accs[i].add(1.0), // count without a group
                    Some(g) => match std::str::from_utf8(g.as_bytes())
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .filter(|v| v.is_finite())
                    {
                        Some(v) => accs[i].add(v),
                        None => accs[i].bad += 1,
                    },
                }
            }
        }
    }
    Ok(Scanned {
        values: metrics
            .iter()
            .zip(&accs)
            .map(|(m, a)| {
                if m.source == source {
                    a.value(m.agg)
                } else {
                    None
                }
            })
            .collect(),
        blocks: filter.blocks,
        bad: accs.iter().map(|a| a.bad).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let m = MetricSpec::parse("events=nevents=([0-9]+):sum").unwrap();
        assert_eq!(
            (m.name.as_str(), m.agg, m.higher),
            ("events", Agg::Sum, true)
        );
        assert_eq!(m.regex.as_str(), "nevents=([0-9]+)");
        let m = MetricSpec::parse("avg_us=AVG: ([0-9.]+):last:lower").unwrap();
        assert_eq!((m.agg, m.higher), (Agg::Last, false));
        assert_eq!(m.regex.as_str(), "AVG: ([0-9.]+)");
        let m = MetricSpec::parse("avg=AVG: ([0-9.]+)").unwrap();
        assert_eq!(
            (m.agg, m.higher, m.source),
            (Agg::Last, false, Source::Prog)
        );
        let m = MetricSpec::parse("client:rps=([0-9.]+) requests per second:mean:higher").unwrap();
        assert_eq!(
            (m.agg, m.higher, m.source),
            (Agg::Mean, true, Source::Client)
        );
        let m = MetricSpec::parse("lines=^x:count").unwrap();
        assert_eq!((m.agg, m.higher), (Agg::Count, true));
        for bad in [
            "nonsense",
            "=x(1)",
            "a b=(1)",
            "wall=(1)",
            "x=",
            "x=:sum",
            "x=([0-9]+",
            "x=[0-9]+",
        ] {
            assert!(MetricSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scanning_a_log() {
        let dir = std::env::temp_dir().join(format!("uepoll-metric-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        std::fs::write(
            &log,
            "[0] nevents=3\n[1] nevents=4\nAVG: 1.5\nprogress 1\rprogress 2\rAVG: 1.2.3\n\
             uepoll stats (pid 1, engine SinglePass):\n  engine_events 9\n  kernel_events 2\n\
             AVG: 2.5\n",
        )
        .unwrap();
        let metrics = [
            MetricSpec::parse("events=nevents=([0-9]+):sum").unwrap(),
            MetricSpec::parse("avg=AVG: ([0-9.]+)").unwrap(),
            MetricSpec::parse("progress=progress ([0-9]+):count").unwrap(),
            MetricSpec::parse("max=nevents=([0-9]+):max").unwrap(),
            MetricSpec::parse("client:c=(.*)").unwrap(),
            MetricSpec::parse("none=nothing ([0-9]+)").unwrap(),
        ];
        let s = scan(&log, &metrics, Source::Prog).unwrap();
        assert_eq!(
            s.values,
            [Some(7.0), Some(2.5), Some(2.0), Some(4.0), None, None]
        );
        assert_eq!(s.bad[1], 1);
        assert_eq!(
            s.blocks,
            [vec![
                ("engine_events".to_string(), 9),
                ("kernel_events".to_string(), 2)
            ]]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
