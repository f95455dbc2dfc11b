#!/usr/bin/env bash
# ab.sh - the demo: the bundled stress program and wait benchmark through `uepoll ab`,
# on the kernel's epoll and on the three engines (singlepass, multipass, seed) side
# by side, interleaved, each with its own figure:
#   1. stress -d 0 -V (totalmess-style: threads churn pipes, print "[thread]
#      nevents=N" after every wait, run until SIGINT): stopped with SIGINT after a
#      few seconds, --metric 'events=nevents=([0-9]+):sum';
#   2. stress -e (edge-triggered), ending by itself: its events_per_sec line;
#   3. bench-wait -n 1000 (epwbench-style: times its own epoll_wait loop, prints
#      "AVG: <us per call>"): --metric 'avg_us=AVG: ([0-9.]+):last:lower'.
#
# Usage: scripts/ab.sh [--quick]      (--quick: 2 runs per engine, 2 s loads; under
#                                      a minute; make demo)
#   env UEPOLL=path/to/uepoll    the command (default target/release/uepoll; the
#                                library is next to it)
#   env BUILD_DIR=dir            where stress and bench-wait are (default build)
#   env AB_RUNS=R                runs per engine (default 3, 2 with --quick)
#   env AB_OUT=dir               also write each comparison's JSON, Markdown and SVG
#                                chart there
#
# Exit status: 0 ok, 1 a run failed (uepoll ab names it and shows its output's end),
# 2 setup problem (binaries missing, bad usage).

set -u

die_setup() { echo "ab.sh: $*" >&2; exit 2; }

quick=0
for a in "$@"; do
	case "$a" in
	--quick) quick=1 ;;
	-h|--help) awk 'NR >= 2 && NR <= 24' "$0"; exit 0 ;;
	*) die_setup "unknown argument '$a' (usage: scripts/ab.sh [--quick])" ;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || die_setup "cannot find repo root"
cd "$root" || die_setup "cannot cd to $root"

U=${UEPOLL:-target/release/uepoll}
[ -x "$U" ] || die_setup "missing $U (build it: make)"
bindir=${BUILD_DIR:-build}
for b in stress bench-wait; do
	[ -x "$bindir/$b" ] || die_setup "missing binary $bindir/$b (build the C programs first: make)"
done

if [ $quick -eq 1 ]; then
	R=2 secs=2 bw="-r 5 -m 50"
else
	R=3 secs=3 bw="-r 8 -m 100"
fi
if [ -n "${AB_RUNS:-}" ]; then
	[[ "$AB_RUNS" =~ ^[1-9][0-9]*$ ]] || die_setup "AB_RUNS must be a positive whole number"
	R=$AB_RUNS
fi
engines=kernel,singlepass,multipass,seed

cpu=$(awk -F: '/^(model name|Hardware|cpu model|Model)[[:space:]]*:/ {
		sub(/^[ \t]+/, "", $2); print $2; exit }' /proc/cpuinfo 2>/dev/null)
echo "machine: cpu=\"${cpu:-unknown}\" cores=$(nproc) kernel=$(uname -r) date=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"

status=0
# ab NAME UEPOLL-AB-ARGS... -- PROG ARGS...
ab() {
	local name=$1
	shift
	local out=()
	if [ -n "${AB_OUT:-}" ]; then
		mkdir -p "$AB_OUT" || die_setup "cannot create $AB_OUT"
		out=(--json "$AB_OUT/$name.json" --markdown "$AB_OUT/$name.md" --chart "$AB_OUT/$name.svg")
	fi
	echo
	echo "=================== $name"
	"$U" ab -n "$R" --engines $engines ${out[@]+"${out[@]}"} "$@" || status=1
}

ab churn-lt-sigint --duration "$secs" --signal INT --metric 'events=nevents=([0-9]+):sum' \
	-- "$bindir/stress" -d 0 -V -n 100 -t 2 -a 100
ab churn-et --metric 'events_per_sec=^events_per_sec: ([0-9]+):last:higher' \
	-- "$bindir/stress" -d "$secs" -e -n 100 -t 2 -a 100
ab epwbench-1000 --metric 'avg_us=AVG: ([0-9.]+):last:lower' \
	-- "$bindir/bench-wait" -n 1000 -q $bw
exit $status
