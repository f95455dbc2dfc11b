#!/usr/bin/env bash
# cli-check.sh - the `uepoll` command end to end: run, ab, trace (record and
# --dump), and its error cases and exit codes.
#
# Usage: scripts/cli-check.sh [UEPOLL] [BUILD_DIR]
#   UEPOLL      the command (default target/release/uepoll; the library must be
#               next to it, as `make` builds it)
#   BUILD_DIR   where the C programs are (default build)
#
# Exit status: 0 every check passed, 1 some check failed (each is named), 2 setup.
# Needs bash, coreutils (timeout, mktemp), grep, awk, python3 (the JSON checks);
# gcc for the static-binary check (skipped with a message when glibc's static
# libraries are missing); redis-server and redis-benchmark for the `ab --client`
# check (skipped with a message when missing: scripts/install-deps.sh installs them).

set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 2
cd "$root" || exit 2
U=${1:-target/release/uepoll}
B=${2:-build}
case "$U" in /*) ;; *) U="$root/$U" ;; esac
[ -x "$U" ] || { echo "cli-check: $U not found (run make)" >&2; exit 2; }
for p in bench-wait stress fork-stress; do
	[ -x "$B/$p" ] || { echo "cli-check: missing $B/$p (run make)" >&2; exit 2; }
done
lib=$(dirname "$U")/libuepoll.so
[ -f "$lib" ] || { echo "cli-check: missing $lib (run make)" >&2; exit 2; }
lib=$(realpath "$lib")

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
failures=0
ok() { echo "cli-check: ok   $*"; }
bad() { echo "cli-check: FAIL $*" >&2; failures=$((failures + 1)); }

# run_cmd NAME CMD...: run with a time limit; sets rc, out (stdout), err (stderr).
run_cmd() {
	local name=$1
	shift
	timeout 120 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	if [ $rc -eq 124 ]; then
		bad "$name: timed out"
	fi
}

# expect NAME WANT_RC [STDOUT_PATTERN [STDERR_PATTERN]] (extended regexps)
expect() {
	local name=$1 want=$2 opat=${3:-} epat=${4:-}
	if [ "$rc" != "$want" ]; then
		bad "$name: exit status $rc, expected $want"
		sed 's/^/    stderr: /' "$tmp/err" | head -5 >&2
		return
	fi
	if [ -n "$opat" ] && ! grep -Eq -- "$opat" "$tmp/out"; then
		bad "$name: stdout does not match /$opat/"
		sed 's/^/    stdout: /' "$tmp/out" | head -5 >&2
		return
	fi
	if [ -n "$epat" ] && ! grep -Eq -- "$epat" "$tmp/err"; then
		bad "$name: stderr does not match /$epat/"
		sed 's/^/    stderr: /' "$tmp/err" | head -5 >&2
		return
	fi
	ok "$name"
}

echo "== uepoll run"
run_cmd "run bench-wait" "$U" run -- "$B/bench-wait" -q -r 1 -m 10
expect "run bench-wait" 0 '^NS_PER_CALL: [0-9]+'
run_cmd "run keeps LD_PRELOAD" env LD_PRELOAD=libc.so.6 "$U" run -- sh -c 'echo "$LD_PRELOAD"'
expect "run keeps LD_PRELOAD" 0 "^$lib:libc.so.6\$"
run_cmd "run without --" "$U" run --engine=seed sh -c 'echo "$UEPOLL_ENGINE $UEPOLL_STATS"'
expect "run without --, --engine sets UEPOLL_ENGINE" 0 '^seed $'
run_cmd "run exit status" "$U" run -- sh -c 'exit 7'
expect "run passes the exit status" 7
# (braces: keep bash's own "Terminated" notice out of the log)
{ run_cmd "run signal" "$U" run -- sh -c 'kill -TERM $$'; } 2>/dev/null
expect "run: killed by SIGTERM is 143" 143
run_cmd "run --stats" "$U" run --stats -- "$B/bench-wait" -q -r 1 -m 10
expect "run --stats prints the counters" 0 '' '^  engine_events +[1-9][0-9]*$'
grep -Eq '^  served share +[0-9.]+% of [0-9]+ events' "$tmp/err" ||
	bad "run --stats: no served share line"
grep -q '^uepoll stats (pid [0-9]*, engine SinglePass):' "$tmp/err" ||
	bad "run --stats: no 'uepoll stats' header with engine SinglePass"
run_cmd "run --stats --engine=multipass" "$U" run --stats --engine=multipass -- "$B/bench-wait" -q -r 1 -m 10
expect "run --engine=multipass reaches the library" 0 '' 'engine MultiPass'

echo "== uepoll ab"
# json_check NAME FILE PYTHON: the file is valid JSON (python3 -m json.tool), then
# PYTHON (with j = the document) runs its asserts.
json_check() {
	local name=$1 file=$2 code=$3
	if ! python3 -m json.tool "$file" >/dev/null 2>"$tmp/json.err"; then
		bad "$name: not valid JSON: $(head -2 "$tmp/json.err")"
		return
	fi
	if python3 -c "import json, sys
j = json.load(open(sys.argv[1]))
$code" "$file" 2>"$tmp/json.err"; then
		ok "$name"
	else
		bad "$name: $(tail -1 "$tmp/json.err")"
	fi
}
# engine_rows METRIC: the table's rows of one metric block (engine median ...)
engine_rows() {
	awk -v m="$1" '$1 == m && /is better\)$/ { on = 1; next } on && /^  engine / { next }
		on && /^  [a-z]/ { print; next } on { exit }' "$tmp/out"
}
four=kernel,singlepass,multipass,seed
# (a) totalmess-style: stress -d 0 runs until SIGINT, printing "[thread] nevents=N"
# on stderr after every wait (-V); all four engines, events summed per run.
run_cmd "ab totalmess-style" "$U" ab -n 2 --engines $four --duration 2 --signal INT \
	--metric 'events=nevents=([0-9]+):sum' --json "$tmp/a.json" --markdown "$tmp/a.md" \
	--csv "$tmp/a.csv" --chart "$tmp/a.svg" --log "$tmp/alog" -- "$B/stress" -d 0 -V -n 64 -t 2 -a 64
expect "ab --duration 2 --signal INT --metric events (4 engines)" 0 '^events  \(sum of /nevents='
rows=$(engine_rows events)
for e in kernel singlepass multipass seed; do
	grep -Eq "^  $e +[1-9][0-9]* " <<<"$rows" || bad "ab (a): no event figure for $e in the table: $(tr '\n' '|' <<<"$rows")"
done
grep -Eq '^  served share +[0-9.]+% +[0-9.]+% +[0-9.]+%$' "$tmp/out" || bad "ab (a): no served share line for the three engines"
grep -Eq '^  engine_events +[1-9][0-9]* +[1-9][0-9]* +[1-9][0-9]*$' "$tmp/out" || bad "ab (a): no engine_events row for the three engines"
json_check "ab (a) --json" "$tmp/a.json" '
rows = [r for r in j["results"] if r["metric"] == "events"]
assert [r["engine"] for r in rows] == ["kernel", "singlepass", "multipass", "seed"], rows
for r in rows:
    assert len(r["values"]) == 2 and all(v > 0 for v in r["values"]), r
    assert r["median"] > 0 and r["ratio_to_baseline"] > 0, r
    assert r["verdict"] in ("baseline", "better", "worse", "no clear difference"), r
    assert r["engine"] == "kernel" or (len(r["ci95"]) == 2 and r["ci95"][0] <= r["ratio_to_baseline"] <= r["ci95"][1]), r
assert j["runs"] == 2 and j["command"][0].endswith("stress"), j["command"]
assert {r["metric"] for r in j["results"]} == {"events", "wall", "user", "sys", "cpu"}
assert all(r["signal_sent"].startswith("SIGINT") and r["ok"] for r in j["run_list"]), j["run_list"]
assert all(c["served_share"] > 0.5 and not c["served_share_low"] for c in j["counters"]), j["counters"]
p = j["placement"]
assert p["tries"] == 3 and p["rounds_run_again"] >= 0 and 0 <= p["rounds_still_moved"] <= 2, p
# two rounds of four runs: at least 2 x 5 probes when the host has two CPUs to probe
assert (not p["probed"]) or (p["probes"] >= 10 and p["near"] + p["far"] == p["probes"] and p["near_median_ns"] > 0), p
assert all(len(r["placement_ns"]) == 2 and isinstance(r["placement_moved"], bool) for r in j["run_list"]), j["run_list"]'
if [ "$(nproc)" -ge 2 ]; then
	grep -Eq '^  host CPUs: [1-9][0-9]* probes of a cache line.s round trip between the first two, ([0-9]+ near \([0-9]+ ns\), [0-9]+ far \([0-9]+ ns\)|all in one placement \([0-9]+ ns\))' "$tmp/out" ||
		bad "ab (a): no host CPUs line in the header: $(grep -m1 'host CPUs' "$tmp/out")"
fi
[ "$(grep -c '^| events' "$tmp/a.md")" = 4 ] || bad "ab (a) --markdown: expected 4 events rows"
[ "$(grep -c '^events,' "$tmp/a.csv")" = 4 ] || bad "ab (a) --csv: expected 4 events rows"
[ "$(grep -c '^served_share,higher,[a-z]*,[01]\.[0-9]*,' "$tmp/a.csv")" = 3 ] ||
	bad "ab (a) --csv: expected 3 served_share rows"
[ "$(grep -Ec '^\| (singlepass|multipass|seed) \| [0-9.]+% \|$' "$tmp/a.md")" = 3 ] ||
	bad "ab (a) --markdown: expected a served share row for each of the 3 engines"
grep -q 'warning: under' "$tmp/out" && bad "ab (a): a low served share warning for stress"
grep -q '^<svg' "$tmp/a.svg" && [ "$(grep -c '<rect x=' "$tmp/a.svg")" = 20 ] ||
	bad "ab (a) --chart: expected an SVG with 5 panels of 4 bars"
[ "$(ls "$tmp/alog" | wc -l)" = 8 ] && grep -q '^events_per_sec' "$tmp/alog/1-seed.log" ||
	bad "ab (a) --log: expected 8 logs holding the program's output"
grep -q 'uepoll stats (pid' "$tmp/out" "$tmp/err" && bad "ab (a): a counter block leaked into the output"

# (b) epwbench-style: the program times its own loop and prints "AVG: <us per wait>".
run_cmd "ab epwbench-style" "$U" ab -n 2 -q --engines $four --metric 'avg_us=AVG: ([0-9.]+):last:lower' \
	--json "$tmp/b.json" -- "$B/bench-wait" -n 200 -r 4 -m 50 -q
expect "ab --metric avg_us (4 engines)" 0 '^avg_us  \(last of /AVG: '
rows=$(engine_rows avg_us)
for e in kernel singlepass multipass seed; do
	grep -Eq "^  $e +[0-9.]+ " <<<"$rows" || bad "ab (b): no AVG figure for $e"
done
json_check "ab (b) --json" "$tmp/b.json" '
rows = [r for r in j["results"] if r["metric"] == "avg_us"]
assert len(rows) == 4 and all(r["median"] > 0 and r["better"] == "lower" for r in rows), rows
print("    avg_us ratios:", ", ".join("%s %.3f" % (r["engine"], r["ratio_to_baseline"]) for r in rows))'

# (c) a server and its load generator: redis-server under each engine, redis-benchmark
# on the kernel; redis stops on SIGTERM through exit(), so its counters print.
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
	rport=16391
	run_cmd "ab --client redis" "$U" ab -n 1 --engines kernel,singlepass --signal TERM --ready-port $rport \
		--client "redis-benchmark -p $rport -n 5000 -c 10 -q -t set,get" \
		--metric 'client:set_rps=SET: ([0-9.]+) requests per second:last:higher' \
		--metric 'client:get_rps=GET: ([0-9.]+) requests per second:last:higher' \
		--json "$tmp/c.json" -- redis-server --port $rport --bind 127.0.0.1 --save '' --appendonly no
	expect "ab --client redis-benchmark -- redis-server" 0 '^set_rps  \(last of /SET: .* in CMD'"'"'s output'
	json_check "ab (c) --json" "$tmp/c.json" '
for m in ("set_rps", "get_rps"):
    rows = [r for r in j["results"] if r["metric"] == m]
    assert len(rows) == 2 and all(r["median"] > 0 for r in rows), rows
assert all(r["client_end"] == "exit status 0" and r["ok"] for r in j["run_list"]), j["run_list"]
# the TCP sockets of redis stay on the kernel (docs/real-programs.md): its counters show
# the events as kernel_events
c = j["counters"][0]
assert c["engine"] == "singlepass" and c["median"]["kernel_events"] > 0, c'
else
	echo "cli-check: skip the --client check: redis-server or redis-benchmark is missing (scripts/install-deps.sh installs them)"
fi

run_cmd "ab -q" "$U" ab -n 1 -q -- "$B/bench-wait" -q -r 1 -m 10
expect "ab -q" 0 'engine_events'
grep -q . "$tmp/err" && bad "ab -q: stderr is not empty: $(head -2 "$tmp/err")"
grep -q NS_PER_CALL "$tmp/out" && bad "ab -q: the program's output reached the terminal"
run_cmd "ab --no-placement" "$U" ab -n 1 -q --no-placement --json "$tmp/np.json" -- "$B/bench-wait" -q -r 1 -m 10
expect "ab --no-placement" 0 'engine_events'
grep -q 'host CPUs' "$tmp/out" && bad "ab --no-placement: the header still has a host CPUs line"
json_check "ab --no-placement --json" "$tmp/np.json" '
assert j["placement"]["probed"] is False and j["placement"]["probes"] == 0, j["placement"]
assert all(r["placement_ns"] == [None, None] for r in j["run_list"]), j["run_list"]'
run_cmd "ab failing run" "$U" ab -n 2 -q -- sh -c 'echo last words; exit 3'
expect "ab names failed runs and exits 1" 1 'wall' 'counted run 2 \(singlepass\) failed: exit status 3'
grep -q '| last words' "$tmp/err" || bad "ab failing run: the end of its log is not shown"
run_cmd "ab escalation" "$U" ab -n 1 -q --engines kernel --duration 0.3 --grace 0.5 -- sh -c 'trap "" INT; exec sleep 30'
expect "ab escalates to SIGTERM when SIGINT is ignored" 1 '' 'sending SIGTERM'

# ^C (or a SIGTERM sent to uepoll alone) while a client runs: the client has a process
# group of its own, which the terminal's ^C does not reach; neither it nor PROG may be
# left running.
# Two sleeps told apart by their (unique) durations.
cs=61.$$ ps=62.$$
"$U" ab -n 1 -q --engines kernel --ready-delay 0.2 --client "sleep $cs" -- sleep $ps \
	>"$tmp/int.out" 2>"$tmp/int.err" &
abpid=$!
for _ in $(seq 50); do pgrep -f "sleep $cs" >/dev/null && break; sleep 0.1; done
pgrep -f "sleep $cs" >/dev/null || bad "ab interrupted: the client never started: $(head -2 "$tmp/int.err")"
kill -INT $abpid
st=0
wait $abpid || st=$?
[ $st = 130 ] || bad "ab interrupted by SIGINT: exit status $st, expected 130 (killed by SIGINT)"
left() { pgrep -f "sleep ($cs|$ps)"; }
for _ in $(seq 30); do left >/dev/null || break; sleep 0.1; done
if left >/dev/null; then
	bad "ab interrupted by SIGINT left running: $(pgrep -af "sleep ($cs|$ps)" | tr '\n' '|')"
	pkill -f "sleep ($cs|$ps)"
else
	ok "ab interrupted by SIGINT stops PROG and the client"
fi
# The same SIGINT sent at once, before the first run (during the placement probe that
# precedes it): this script's background jobs start with SIGINT ignored, so it is lost
# unless uepoll's handler is in place from the start (it was not before 2026-12-05).
cs=63.$$ ps=64.$$
"$U" ab -n 1 -q --engines kernel --ready-delay 0.2 --client "sleep $cs" -- sleep $ps \
	>"$tmp/int.out" 2>"$tmp/int.err" &
abpid=$!
sleep 0.005
kill -INT $abpid
for _ in $(seq 100); do kill -0 $abpid 2>/dev/null || break; sleep 0.1; done
if kill -0 $abpid 2>/dev/null; then
	bad "ab interrupted at its start: still running 10 s after SIGINT"
	kill -TERM $abpid
fi
st=0
wait $abpid || st=$?
[ $st = 130 ] && ok "ab interrupted by SIGINT at its start dies by it" ||
	bad "ab interrupted by SIGINT at its start: exit status $st, expected 130"
pkill -f "sleep ($cs|$ps)" 2>/dev/null

echo "== uepoll trace"
t=$tmp/bw.trace
run_cmd "trace bench-wait" "$U" trace -o "$t" -- "$B/bench-wait" -n 8 -q -r 1 -m 5
expect "trace -o records" 0 'NS_PER_CALL'
run_cmd "trace --dump" "$U" trace --dump "$t"
expect "trace --dump" 0 '^# uepoll trace v1: [0-9]+ records, 1 process'
d=$tmp/out
grep -Eq ' start +exec comm=bench-wait ppid=[0-9]+ engine=singlepass$' "$d" || bad "dump: no start record"
adds=$(grep -Ec ' ctl +epfd=[0-9]+ ADD fd=[0-9]+ events=IN data=0x[0-7] -> 0 engine ep=1$' "$d")
[ "$adds" = 8 ] || bad "dump: expected 8 engine ADDs with result 0, found $adds"
grep -Eq ' callback +epfd=[0-9]+ ep=1 fd=[0-9]+ key=IN\|RDNORM events=IN\|ERR\|HUP data=0x[0-7] queued$' "$d" ||
	bad "dump: no queued callback"
waits=$(grep -Ec ' wait +epfd=[0-9]+ maxevents=8 timeout=0ms epoll_wait ep=1$' "$d")
rets=$(grep -Ec ' wait-ret +epfd=[0-9]+ -> 8 after [0-9.]+[nums]+ epoll_wait ep=1$' "$d")
xfers=$(grep -Ec ' transfer +epfd=[0-9]+ ep=1 spliced=8 processed=8 delivered=8 requeued=8 maxevents=8 left=8 singlepass$' "$d")
if [ "$waits" -gt 10 ] && [ "$rets" = "$waits" ] && [ "$xfers" = "$waits" ]; then
	ok "dump: $waits waits, each returning 8 through one transfer of 8"
else
	bad "dump: waits=$waits wait-rets(-> 8)=$rets transfers(8 of 8)=$xfers"
fi
grep -Eq ' exit +exit\(\)$' "$d" || bad "dump: no exit record"
awk 'NR > 2 { if ($1 + 0 < prev) bad = 1; prev = $1 + 0 } END { exit bad }' "$d" ||
	bad "dump: times are not in order"

run_cmd "trace fork-stress" "$U" trace -o "$tmp/fork.trace" -- "$B/fork-stress" -f 3 -t 1
expect "trace a forking program" 0 'children_failed: 0'
run_cmd "dump fork trace" "$U" trace --dump "$tmp/fork.trace"
expect "dump shows the fork children" 0 '^# uepoll trace v1: [0-9]+ records, 4 processes'
forks=$(grep -Ec ' start +fork comm=fork-stress parent=[0-9]+ ' "$tmp/out")
[ "$forks" = 3 ] || bad "fork trace: expected 3 fork start records, found $forks"
# the first fork hands the served pipes and the instance to the kernel, with why
grep -Eq ' demote +fd=[0-9]+ registrations=1 why=fork$' "$tmp/out" ||
	bad "fork trace: no demote record with why=fork"
# each fork makes the instance kernel-only, and each child's exit promotes it back
# (docs/design.md section 9a): as many promote records (after=child exited) as forks
# that found it served
konly=$(grep -Ec ' kernel-only +epfd=[0-9]+ ep=[0-9]+ why=fork$' "$tmp/out")
promos=$(grep -Ec " promote +epfd=[0-9]+ ep=[0-9]+ registrations=[0-9]+ was=fork after=child (exited|exec'd)$" "$tmp/out")
if [ "$konly" -ge 1 ] && [ "$promos" -ge 1 ] && [ "$promos" -le "$konly" ] && [ "$konly" -le 3 ]; then
	ok "fork trace: $konly kernel-only records (why=fork), $promos promotions"
else
	bad "fork trace: kernel-only records (why=fork) $konly, promote records $promos (want 1..3, 1..kernel-only)"
fi

run_cmd "trace exec'd children" "$U" trace -o "$tmp/exec.trace" -- sh -c "$B/bench-wait -n 2 -q -r 1 -m 1 >/dev/null; $B/bench-wait -n 2 -q -r 1 -m 1 >/dev/null"
run_cmd "dump exec trace" "$U" trace --dump "$tmp/exec.trace"
expect "exec'd programs append to the same trace" 0 '^# uepoll trace v1: [0-9]+ records, 3 processes'

printf 'garbage' >"$tmp/bad.trace"
run_cmd "dump bad file" "$U" trace --dump "$tmp/bad.trace"
expect "dump refuses a non-trace" 1 '' '^uepoll: .*not a uepoll trace'
run_cmd "dump missing file" "$U" trace --dump "$tmp/none.trace"
expect "dump of a missing file" 1 '' '^uepoll: '
run_cmd "trace unwritable" "$U" trace -o "$tmp/no/such/dir/t" -- "$B/bench-wait" -q -r 1 -m 1
expect "trace into a missing directory is 125" 125 '' '^uepoll: cannot create'

echo "== errors and exit codes"
run_cmd "missing prog" "$U" run -- no-such-program-uepoll
expect "missing PROG is 127" 127 '' '^uepoll: no-such-program-uepoll: command not found'
run_cmd "missing path" "$U" run -- "$tmp/nothing"
expect "missing path is 127" 127 '' '^uepoll: .*no such file'
printf '#!/bin/sh\necho hi\n' >"$tmp/noexec.sh"
chmod 644 "$tmp/noexec.sh"
run_cmd "non-executable" "$U" run -- "$tmp/noexec.sh"
expect "non-executable PROG is 126" 126 '' '^uepoll: .*not executable'
run_cmd "directory" "$U" run -- "$tmp"
expect "a directory is 126" 126 '' '^uepoll: .*is a directory'
cp "$tmp/noexec.sh" "$tmp/script.sh"
chmod 755 "$tmp/script.sh"
run_cmd "script" "$U" run -- "$tmp/script.sh"
expect "a script with a dynamic interpreter runs" 0 '^hi$'
printf 'int main(void) { return 0; }\n' >"$tmp/static.c"
if gcc -static -o "$tmp/static" "$tmp/static.c" 2>"$tmp/gcc.err"; then
	run_cmd "static" "$U" run -- "$tmp/static"
	expect "a static binary is refused (126)" 126 '' '^uepoll: .*statically linked'
	printf '#!%s\n' "$tmp/static" >"$tmp/static-interp"
	chmod 755 "$tmp/static-interp"
	run_cmd "static interpreter" "$U" run -- "$tmp/static-interp"
	expect "a script run by a static interpreter is refused" 126 '' 'interpreter'
	run_cmd "ab static" "$U" ab -n 1 -- "$tmp/static"
	expect "ab refuses a static binary too" 126 '' 'statically linked'
else
	echo "cli-check: skip static-binary checks (gcc -static failed: no glibc static libraries?)"
fi
run_cmd "no library" env UEPOLL_LIB="$tmp/none.so" "$U" run -- true
expect "a missing UEPOLL_LIB is 125" 125 '' '^uepoll: UEPOLL_LIB='
run_cmd "UEPOLL_LIB" env UEPOLL_LIB="$lib" "$U" run -- sh -c 'echo "$LD_PRELOAD"'
expect "UEPOLL_LIB names the library" 0 "^$lib\$"

for args in "" "run" "run --" "frob" "run --engine=fast x" "run --engine" "run -z x" \
	"ab -n 0 x" "ab -n x" "ab" "ab --metric nonsense x" "ab --metric x=[0-9] x" \
	"ab --engines kernel,fast x" "ab --engines seed,seed x" "ab --ready-port 1 x" "ab --duration 0 x" \
	"ab --signal BOGUS x" "ab --metric client:a=(1) true" "ab --placement-tries 0 x" \
	"ab --placement-tries 2 --no-placement x" "trace x" "trace -o f" "trace --dump f x" "trace --dump"; do
	# shellcheck disable=SC2086
	run_cmd "usage '$args'" "$U" $args
	expect "usage error 'uepoll $args' is 2" 2 '' "^uepoll: "
done
for args in "-h" "--help" "help" "help trace" "run -h" "ab --help" "trace -h" "run --help"; do
	# shellcheck disable=SC2086
	run_cmd "help '$args'" "$U" $args
	expect "help 'uepoll $args'" 0 'Usage'
done
run_cmd "version" "$U" --version
expect "--version" 0 '^uepoll [0-9]'

if [ $failures -ne 0 ]; then
	echo "cli-check: $failures check(s) failed" >&2
	exit 1
fi
echo "cli-check: all checks passed"
