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
# Needs bash, coreutils (timeout, mktemp), grep, awk; gcc for the static-binary
# check (skipped with a message when glibc's static libraries are missing).

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
grep -q '^uepoll stats (pid [0-9]*, engine SinglePass):' "$tmp/err" ||
	bad "run --stats: no 'uepoll stats' header with engine SinglePass"
run_cmd "run --stats --engine=multipass" "$U" run --stats --engine=multipass -- "$B/bench-wait" -q -r 1 -m 10
expect "run --engine=multipass reaches the library" 0 '' 'engine MultiPass'

echo "== uepoll ab"
run_cmd "ab stress" "$U" ab -n 1 -- "$B/stress" -d 1
expect "ab -n 1 prints the table" 0 'uepoll/kernel' ''
for row in wall user sys engine_events transfers requeues; do
	grep -Eq "^  $row +" "$tmp/out" || bad "ab: no '$row' row in the table"
done
grep -q '^events_per_sec' "$tmp/out" || bad "ab: the program's own stdout was not passed through"
grep -q 'uepoll stats (pid' "$tmp/err" && bad "ab: the counter block leaked to stderr"
run_cmd "ab -q" "$U" ab -n 1 -q -- "$B/bench-wait" -q -r 1 -m 10
expect "ab -q" 0 'engine_events'
grep -q NS_PER_CALL "$tmp/out" && bad "ab -q: the program's stdout was not silenced"
run_cmd "ab failing run" "$U" ab -n 2 -q -- sh -c 'exit 3'
expect "ab names failed runs and exits 1" 1 'wall' 'run 2 of 2 \(uepoll\) failed: exit status 3'

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
	"ab -n 0 x" "ab -n x" "ab" "trace x" "trace -o f" "trace --dump f x" "trace --dump"; do
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
