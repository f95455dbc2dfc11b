//! `--chart FILE.svg`: one panel per metric, one bar per engine showing its median's
//! ratio to the baseline, the 95% interval as whiskers, a line at 1. A few dozen lines
//! of SVG text do this; no plotting crate is needed.

use std::fmt::Write;

use super::report::{fmt_num, Metric};

const PANEL_W: f64 = 330.0;
const PANEL_H: f64 = 250.0;
const TOP: f64 = 44.0; // panel title and subtitle
const BOTTOM: f64 = 48.0; // engine names and medians
const LEFT: f64 = 46.0; // axis labels
const RIGHT: f64 = 12.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step giving about `target` ticks over `span`.
fn nice_step(span: f64, target: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

pub fn svg(title: &str, metrics: &[Metric]) -> String {
    let cols = metrics.len().clamp(1, 3);
    let rows = metrics.len().div_ceil(cols).max(1);
    let (w, h) = (PANEL_W * cols as f64, PANEL_H * rows as f64 + 30.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    for (i, m) in metrics.iter().enumerate() {
        let x0 = PANEL_W * (i % cols) as f64;
        let y0 = 30.0 + PANEL_H * (i / cols) as f64;
        panel(&mut s, m, x0, y0);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, m: &Metric, x0: f64, y0: f64) {
    let baseline = m.rows.first().map_or("baseline", |r| r.engine.as_str());
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        x0 + PANEL_W / 2.0,
        y0 + 16.0,
        esc(&m.name)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">ratio to {} ({} is better)</text>"##,
        x0 + PANEL_W / 2.0,
        y0 + 31.0,
        esc(baseline),
        m.better
    );
    let top = m
        .rows
        .iter()
        .flat_map(|r| [r.ratio_to_baseline, r.ci95.map(|c| c[1])])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.12;
    let step = nice_step(top, 5.0);
    let ymax = (top / step).ceil() * step;
    let (px, py) = (x0 + LEFT, y0 + TOP);
    let (pw, ph) = (PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM);
    let y = |v: f64| py + ph - (v / ymax) * ph;
    let mut t = 0.0;
    while t <= ymax + step / 2.0 {
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#e4e4e4"/><text x="{2}" y="{3:.1}" text-anchor="end" fill="#555">{4}</text>"##,
            y(t),
            px + pw,
            px - 5.0,
            y(t) + 4.0,
            trim(t)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{px}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#333" stroke-dasharray="4 3"/>"##,
        y(1.0),
        px + pw
    );
    let n = m.rows.len().max(1) as f64;
    let slot = pw / n;
    let bw = (slot * 0.6).min(60.0);
    for (i, r) in m.rows.iter().enumerate() {
        let cx = px + slot * (i as f64 + 0.5);
        let color = if r.engine == "kernel" {
            "#888888"
        } else {
            COLORS[i % COLORS.len()]
        };
        if let Some(ratio) = r.ratio_to_baseline {
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}" opacity="0.85"><title>{}: {} (median {})</title></rect>"#,
                cx - bw / 2.0,
                y(ratio),
                (y(0.0) - y(ratio)).max(0.0),
                esc(&r.engine),
                fmt_ratio(ratio),
                fmt_num(r.median, m.unit)
            );
            if let Some([lo, hi]) = r.ci95 {
                let _ = writeln!(
                    s,
                    r#"<g stroke="black"><line x1="{cx:.1}" y1="{0:.1}" x2="{cx:.1}" y2="{1:.1}"/><line x1="{2:.1}" y1="{0:.1}" x2="{3:.1}" y2="{0:.1}"/><line x1="{2:.1}" y1="{1:.1}" x2="{3:.1}" y2="{1:.1}"/></g>"#,
                    y(lo),
                    y(hi),
                    cx - 6.0,
                    cx + 6.0
                );
            }
            let label_y = r.ci95.map_or(y(ratio), |c| y(c[1]).min(y(ratio))) - 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{label_y:.1}" text-anchor="middle">{}</text>"#,
                fmt_ratio(ratio)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            py + ph + 16.0,
            esc(&r.engine),
            py + ph + 31.0,
            esc(&fmt_num(r.median, m.unit))
        );
    }
}

fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}x")
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_per_metric_and_a_bar_per_engine() {
        let metric = |name: &str| {
            Metric::new(
                name.into(),
                "",
                true,
                "d".into(),
                &["kernel", "singlepass", "seed"],
                vec![
                    (vec![10.0, 11.0], 0),
                    (vec![20.0, 21.0], 0),
                    (vec![5.0, 5.5], 0),
                ],
            )
        };
        let s = svg("t <&>", &[metric("a"), metric("b")]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<rect x=").count(), 6);
        assert_eq!(
            s.matches("<g stroke=").count(),
            4,
            "whiskers for the two non-baseline bars"
        );
        assert!(s.contains("t &lt;&amp;&gt;"));
        assert_eq!(nice_step(2.3, 5.0), 0.5);
    }
}
