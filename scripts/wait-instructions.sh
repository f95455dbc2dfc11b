#!/bin/bash
# wait-instructions.sh - the instructions a served epoll_wait executes, per event and
# per call, counted by callgrind: the same on every host, like the locked-instruction
# counts of bench-atomics, and what the per-event path of a transfer is optimised in.
#
# usage: scripts/wait-instructions.sh [LIB] [N]
#   LIB  the library (target/release/libuepoll.so)
#   N    ready level-triggered pipes per wait (200)
#
# Runs `bench-wait -n N` (build/, or BUILD_DIR) under valgrind's callgrind with the
# library preloaded, then reads the library's instructions from the profile:
#   INSTR_PER_EVENT: the instructions of the library executed exactly once per event
#                    delivered (the steady loop of the transfer: load the item and
#                    its mask, re-poll, copy, loop control)
#   INSTR_PER_CALL:  all of the library's instructions per epoll_wait call, the
#                    per-event ones included
#   CALLS, EVENTS:   what the counts are over
# Needs valgrind and python3; exits 2 when one is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/target/release/libuepoll.so}
n=${2:-200}
bindir=${BUILD_DIR:-$root/build}
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac

for tool in valgrind python3; do
	command -v "$tool" >/dev/null 2>&1 || { echo "wait-instructions.sh: $tool not found" >&2; exit 2; }
done
[ -f "$lib" ] || { echo "wait-instructions.sh: no library $lib (run make)" >&2; exit 2; }
[ -x "$bindir/bench-wait" ] || { echo "wait-instructions.sh: no $bindir/bench-wait (run make)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# env runs under valgrind too (--trace-children), so that the preload reaches only
# bench-wait, not valgrind itself; its own profile is the small one.
valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
	--trace-children=yes --callgrind-out-file="$tmp/cg.%p" \
	env LD_PRELOAD="$lib" "$bindir/bench-wait" -n "$n" -r 3 -m 20 >"$tmp/out" 2>"$tmp/err" || {
	echo "wait-instructions.sh: bench-wait under callgrind failed:" >&2
	tail -5 "$tmp/err" >&2
	exit 1
}
profile=$(ls -S "$tmp"/cg.* | head -1)

python3 - "$profile" "$(basename "$lib")" "$n" <<'PY'
import collections, sys

path, libname, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
per_addr = collections.Counter()   # the library's own instructions, by address
calls = inclusive = 0              # the program's calls of epoll_wait, and their cost
obj = None
npos = 1                           # position columns before the cost (instr, line)
call_target = None                 # set by a cfn= line: the next calls= line is a call
take_cost = None                   # the cost line after calls=: inclusive, not own
for line in open(path):
    if line.startswith("positions:"):
        npos = len(line.split()) - 1
    elif line.startswith("ob="):
        obj = line[3:].strip()
    elif line.startswith("cfn="):
        call_target = line[4:].strip()
    elif line.startswith("calls="):
        outside = obj is not None and libname not in obj
        if call_target == "epoll_wait" and outside:
            calls += int(line[6:].split()[0])
            take_cost = "wait"
        else:
            take_cost = "other"
        call_target = None
    elif line.startswith("0x"):
        fields = line.split()
        if take_cost is not None:
            if take_cost == "wait":
                inclusive += int(fields[npos])
            take_cost = None
        elif obj is not None and libname in obj:
            per_addr[int(fields[0], 16)] += int(fields[npos])

if calls == 0:
    sys.exit("wait-instructions.sh: no call of the library's epoll_wait in the profile")
events = calls * n
print(f"CALLS: {calls}")
print(f"EVENTS: {events}")
print(f"INSTR_PER_EVENT: {sum(1 for c in per_addr.values() if c == events)}")
print(f"INSTR_PER_CALL: {inclusive / calls:.0f}")
PY
