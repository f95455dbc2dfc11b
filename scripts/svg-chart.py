#!/usr/bin/env python3
"""svg-chart.py - draw a small line chart as a self-contained SVG file.

Used by scripts/bench.sh; Python standard library only.

Input: a tab-separated file. The first line is the header: the x label's
column, then one column per series (the series names). Every other line is
one x value and the y value of each series at that x ("" or "nan": no point).

Usage:
  scripts/svg-chart.py DATA.tsv OUT.svg --title T --xlabel X --ylabel Y
                       [--logx] [--logy] [--ymin0] [--subtitle S]

Series whose name contains "ET" are drawn dashed; series named like
"kernel..." are grey/black, the others take colours in order.
"""

import argparse
import html
import math
import sys

W, H = 720, 440
ML, MR, MT, MB = 82, 190, 58, 58  # margins; the legend sits on the right


def nice_step(span, target=6):
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt_num(v):
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.4g}M"
    if a >= 1e3:
        return f"{v / 1e3:.4g}k"
    return f"{v:.4g}"


def read_data(path):
    with open(path, encoding="utf-8") as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    if len(rows) < 2:
        raise SystemExit(f"svg-chart: {path}: no data rows")
    header = rows[0]
    names = header[1:]
    xs, series = [], {n: [] for n in names}
    for r in rows[1:]:
        try:
            x = float(r[0])
        except ValueError:
            continue
        xs.append(x)
        for i, n in enumerate(names):
            cell = r[i + 1] if i + 1 < len(r) else ""
            try:
                y = float(cell)
                if math.isnan(y) or math.isinf(y):
                    y = None
            except ValueError:
                y = None
            series[n].append(y)
    return header[0], names, xs, series


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    ap.add_argument("--subtitle", default="")
    ap.add_argument("--xlabel", default="")
    ap.add_argument("--ylabel", default="")
    ap.add_argument("--logx", action="store_true")
    ap.add_argument("--logy", action="store_true")
    ap.add_argument("--ymin0", action="store_true", help="linear y axis starts at 0")
    a = ap.parse_args()

    _, names, xs, series = read_data(a.data)
    if not xs:
        raise SystemExit("svg-chart: no x values")
    if a.logx and min(xs) <= 0:
        raise SystemExit("svg-chart: --logx needs positive x values")
    ys = [y for n in names for y in series[n] if y is not None]
    if a.logy:
        ys = [y for y in ys if y > 0]
    if not ys:
        ys = [1.0]

    # x scale
    def tx(v):
        return math.log10(v) if a.logx else v

    x0, x1 = tx(min(xs)), tx(max(xs))
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    pad = (x1 - x0) * 0.04
    x0, x1 = x0 - pad, x1 + pad

    # y scale and ticks
    if a.logy:
        y0 = math.floor(math.log10(min(ys)))
        y1 = math.ceil(math.log10(max(ys)))
        if y0 == y1:
            y1 += 1
        yticks = [10 ** e for e in range(y0, y1 + 1)]

        def ty(v):
            return math.log10(v)
    else:
        lo = 0.0 if a.ymin0 else min(ys)
        hi = max(ys)
        if hi == lo:
            hi = lo + 1
        step = nice_step(hi - lo)
        lo = math.floor(lo / step) * step
        hi = math.ceil(hi * 1.05 / step) * step
        yticks = []
        v = lo
        while v <= hi + step / 2:
            yticks.append(v)
            v += step
        y0, y1 = lo, hi

        def ty(v):
            return v

    pw, ph = W - ML - MR, H - MT - MB

    def px(v):
        return ML + (tx(v) - x0) / (x1 - x0) * pw

    def py(v):
        return MT + ph - (ty(v) - y0) / (y1 - y0) * ph

    out = []
    e = html.escape
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
               f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">')
    out.append(f'<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>')
    out.append(f'<text x="{ML}" y="22" font-size="15" font-weight="bold">{e(a.title)}</text>')
    if a.subtitle:
        out.append(f'<text x="{ML}" y="40" font-size="11" fill="#555">{e(a.subtitle)}</text>')

    # grid and y ticks
    for v in yticks:
        y = py(v)
        out.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{ML + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{e(fmt_num(v))}</text>')
    # x ticks at the data's x values
    for v in xs:
        x = px(v)
        out.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{MT + ph}" stroke="#f0f0f0"/>')
        out.append(f'<text x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle">{e(fmt_num(v))}</text>')
    out.append(f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{ML + pw / 2:.1f}" y="{H - 14}" text-anchor="middle">{e(a.xlabel)}</text>')
    out.append(f'<text transform="translate(18,{MT + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{e(a.ylabel)}</text>')

    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]
    greys = ["#222222", "#777777"]
    ci = gi = 0
    ly = MT + 8
    for n in names:
        if n.lower().startswith("kernel"):
            col = greys[gi % len(greys)]
            gi += 1
        else:
            col = palette[ci % len(palette)]
            ci += 1
        dash = ' stroke-dasharray="6,4"' if "ET" in n.split() or n.endswith(" ET") else ""
        pts = [(px(x), py(y)) for x, y in zip(xs, series[n])
               if y is not None and (not a.logy or y > 0)]
        if len(pts) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{col}"/>')
        lx = ML + pw + 14
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 26}" y2="{ly}" stroke="{col}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 32}" y="{ly + 4}">{e(n)}</text>')
        ly += 20
    out.append("</svg>")
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
