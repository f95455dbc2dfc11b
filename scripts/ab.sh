#!/usr/bin/env bash
# ab.sh - run the demo workloads on the kernel's epoll and on uepoll
# (LD_PRELOAD), interleaved A B A B, and print one comparison table.
#
# Usage: scripts/ab.sh [--quick]
#   env UEPOLL_LIB=/path/libuepoll.so   library to preload
#                                       (default target/release/libuepoll.so)
#   env BUILD_DIR=dir                   where stress, bench-wait, bench-ctl are
#                                       (default build)
#   env AB_RUNS=R                       runs per side (default 3, 1 with --quick)
#   env AB_TIMEOUT=seconds              kill a run that takes longer (default 300;
#                                       needs coreutils timeout; 0 disables)
#
# Exit status: 0 ok, 1 a program failed (its command and output are printed),
# 2 setup problem (library or binaries missing, bad usage).
# Uses only bash, awk and sort.

set -u

die_setup() { echo "ab.sh: $*" >&2; exit 2; }

quick=0
for a in "$@"; do
	case "$a" in
	--quick) quick=1 ;;
	-h|--help) awk 'NR >= 2 && NR <= 16' "$0"; exit 0 ;;
	*) die_setup "unknown argument '$a' (usage: scripts/ab.sh [--quick])" ;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || die_setup "cannot find repo root"
cd "$root" || die_setup "cannot cd to $root"

lib=${UEPOLL_LIB:-target/release/libuepoll.so}
case "$lib" in /*) ;; *) lib="$root/$lib" ;; esac
if [ ! -f "$lib" ]; then
	echo "ab.sh: uepoll library not found: $lib" >&2
	echo "ab.sh: build it (cargo build --release) or set UEPOLL_LIB" >&2
	exit 2
fi
bindir=${BUILD_DIR:-build}
for b in stress bench-wait bench-ctl; do
	[ -x "$bindir/$b" ] || die_setup "missing binary $bindir/$b (build the C tests first, e.g. make)"
done

if [ $quick -eq 1 ]; then
	R=1
	bw_args="-q -r 5 -m 50"
	ctl_args="-q -r 3 -m 50"
	churn_d=1
else
	R=3
	bw_args="-q"
	ctl_args="-q"
	churn_d=2
fi

if [ -n "${AB_RUNS:-}" ]; then
	[[ "$AB_RUNS" =~ ^[1-9][0-9]*$ ]] || die_setup "AB_RUNS must be a positive whole number"
	R=$AB_RUNS
fi
tmo=${AB_TIMEOUT:-300}
[[ "$tmo" =~ ^[0-9]+$ ]] || die_setup "AB_TIMEOUT must be a whole number of seconds"
if [ "$tmo" != 0 ] && ! command -v timeout >/dev/null 2>&1; then
	echo "ab.sh: note: 'timeout' not found, runs are not time-limited" >&2
	tmo=0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-ab.XXXXXX") || die_setup "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# Machine line.
cpu=$(awk -F: '/^(model name|Hardware|cpu model|Model)[[:space:]]*:/ {
		sub(/^[ \t]+/, "", $2); print $2; exit }' /proc/cpuinfo 2>/dev/null)
[ -n "$cpu" ] || cpu=unknown
echo "machine: cpu=\"$cpu\" cores=$(nproc) kernel=$(uname -r) date=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "library: $lib   runs per side: $R$([ $quick -eq 1 ] && echo ' (quick)')"

# run_metric SIDE KEY CMD...   -> prints the metric value; exits 1 on any failure
run_metric() {
	local side=$1 key=$2
	shift 2
	local -a cmd pre=()
	if [ "$side" = uepoll ]; then
		cmd=(env "LD_PRELOAD=$lib" "$@")
	else
		cmd=("$@")
	fi
	# A hung run (e.g. a lost wake-up) must fail loudly, not hang the demo.
	if [ "$tmo" != 0 ]; then
		pre=(timeout -k 5 "$tmo")
	fi
	local out="$tmp/out" err="$tmp/err" rc val
	${pre[@]+"${pre[@]}"} "${cmd[@]}" >"$out" 2>"$err" </dev/null
	rc=$?
	if [ $rc -ne 0 ]; then
		local why="exit status $rc"
		[ ${#pre[@]} -gt 0 ] && [ $rc -eq 124 ] && why="timed out after ${tmo}s"
		{
			echo "ab.sh: FAILED ($side, $why): ${cmd[*]}"
			echo "----- stdout -----"; cat "$out"
			echo "----- stderr -----"; cat "$err"
			echo "------------------"
		} >&2
		exit 1
	fi
	val=$(awk -v k="$key" '$1 == k":" { print $2; found=1; exit } END { if (!found) exit 1 }' "$out")
	if [ $? -ne 0 ] || ! [[ "$val" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		{
			echo "ab.sh: FAILED ($side): no numeric '$key:' line in output of: ${cmd[*]}"
			echo "----- stdout -----"; cat "$out"
			echo "----- stderr -----"; cat "$err"
			echo "------------------"
		} >&2
		exit 1
	fi
	echo "$val"
}

median() { # numbers on stdin, one a line
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR/2] + v[NR/2 + 1]) / 2 }'
}

# workload definitions: label | unit | better (low|high) | key | command
workloads=(
	"epwbench n=10|ns/call|low|NS_PER_CALL|$bindir/bench-wait -n 10 $bw_args"
	"epwbench n=200|ns/call|low|NS_PER_CALL|$bindir/bench-wait -n 200 $bw_args"
	"epwbench n=1000|ns/call|low|NS_PER_CALL|$bindir/bench-wait -n 1000 $bw_args"
	"ctl ADD+MOD+DEL|ns/triple|low|NS_PER_TRIPLE|$bindir/bench-ctl $ctl_args"
	"churn LT 2 thr|events/s|high|events_per_sec|$bindir/stress -n 100 -t 2 -a 100 -d $churn_d"
	"churn ET 2 thr|events/s|high|events_per_sec|$bindir/stress -n 100 -t 2 -a 100 -d $churn_d -e"
)

declare -a rows verdicts
for w in "${workloads[@]}"; do
	IFS='|' read -r label unit better key cmdline <<<"$w"
	read -r -a cmd <<<"$cmdline"
	kvals="" uvals=""
	for ((i = 1; i <= R; i++)); do
		echo "  [$label] run $i/$R kernel ..." >&2
		v=$(run_metric kernel "$key" "${cmd[@]}") || exit 1
		kvals+="$v"$'\n'
		echo "  [$label] run $i/$R uepoll ..." >&2
		v=$(run_metric uepoll "$key" "${cmd[@]}") || exit 1
		uvals+="$v"$'\n'
	done
	km=$(printf '%s' "$kvals" | median)
	um=$(printf '%s' "$uvals" | median)
	line=$(awk -v l="$label" -v u="$unit" -v k="$km" -v e="$um" -v b="$better" 'BEGIN {
		if (k + 0 > 0) r = sprintf("%.3f", e / k); else r = "n/a"
		printf "%-17s %-15s %13.0f %13.0f     %s\n", l, u, k, e, r
		if (r == "n/a") v = "cannot compare (kernel figure is 0)"
		else if (e == k) v = "same as the kernel"
		else if ((b == "low" && e < k) || (b == "high" && e > k)) {
			f = (b == "low") ? k / e : e / k
			v = sprintf("uepoll is BETTER (%.2fx %s)", f, b == "low" ? "faster" : "more events/s")
		} else {
			f = (b == "low") ? e / k : k / e
			v = sprintf("uepoll is WORSE (%.2fx %s)", f, b == "low" ? "slower" : "fewer events/s")
		}
		printf "%-17s %s\n", l ":", v
	}') || exit 1
	{ IFS= read -r row; IFS= read -r verdict; } <<<"$line"
	rows+=("$row")
	verdicts+=("$verdict")
done

echo
printf "%-33s %13s %13s     %s\n" "workload" "kernel" "uepoll" "ratio (uepoll/kernel)"
for r in "${rows[@]}"; do printf '%s\n' "$r"; done
echo
for v in "${verdicts[@]}"; do printf '%s\n' "$v"; done
exit 0
