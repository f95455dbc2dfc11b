#!/usr/bin/env bash
# The differential test (c-tests/difftest.c): every step of random operation
# sequences is applied to kernel epoll (raw syscalls) and to uepoll (libc calls under
# LD_PRELOAD), and every result is compared.
#
# Usage: scripts/difftest.sh LIB DIFFTEST_BINARY
#   1. kernel vs kernel (no preload): must pass, or the test itself is wrong;
#   2. the pinned regressions, c-tests/difftest-regressions/*.ops, replayed strictly on
#      the kernel alone (must pass) and under uepoll (must pass). None is marked
#      "# KNOWN FAILING" any more: such a file would be a reported, unfixed uepoll bug,
#      run and shown; it fails the script like any other (delete the line once it
#      passes);
#   3. a bounded random run under uepoll: DIFFTEST_CASES (3000) cases of DIFFTEST_OPS
#      (200) ops from seed DIFFTEST_SEED (1), then DIFFTEST_CASES/20 cases of 3000 ops.
#      It must pass, the library's counters must show engine events (the engine
#      served the fds) and no demotion. About 10 s. The run is strict: any difference
#      fails it (difftest.c tolerates no known bug any more).
set -euo pipefail
lib=$(realpath "$1"); prog=$2
dir=$(cd "$(dirname "$0")/../c-tests/difftest-regressions" && pwd)
seed=${DIFFTEST_SEED:-1}; cases=${DIFFTEST_CASES:-3000}; ops=${DIFFTEST_OPS:-200}
export DIFFTEST_OUT=${DIFFTEST_OUT:-$(mktemp -d)}
status=0

echo "== difftest: kernel vs kernel (no preload), $cases cases x $ops ops, seed $seed"
timeout 300 "$prog" -s "$seed" -n "$ops" -c "$cases" || status=1

echo "== difftest: pinned regressions ($dir)"
known=0
for f in "$dir"/*.ops; do
    name=$(basename "$f" .ops)
    if ! timeout 60 "$prog" -q -f "$f"; then
        echo "  $name: FAILS on the kernel alone (the pinned sequence is wrong)"
        timeout 60 "$prog" -f "$f" || true
        status=1; continue
    fi
    if timeout 60 env LD_PRELOAD="$lib" "$prog" -q -f "$f"; then r=pass; else r=fail; fi
    if grep -q '^# KNOWN FAILING' "$f"; then
        if [ $r = fail ]; then
            echo "  $name: KNOWN FAILING (FAILED: no known failure is tolerated)"
            known=$((known + 1)); status=1
        else
            echo "  $name: passes now: delete its '# KNOWN FAILING' line"
        fi
    elif [ $r = pass ]; then
        echo "  $name: ok"
    else
        echo "  $name: FAILED under uepoll"
        timeout 60 env LD_PRELOAD="$lib" "$prog" -v -f "$f" | tail -20 || true
        status=1
    fi
done
[ $known -eq 0 ] || echo "  ($known known-failing sequences failed)"

err=$(mktemp)
echo "== difftest: uepoll vs kernel, $cases cases x $ops ops, seed $seed"
if ! timeout 600 env UEPOLL_STATS=1 LD_PRELOAD="$lib" "$prog" -s "$seed" -n "$ops" -c "$cases" 2> "$err"; then
    status=1
fi
long=$((cases / 20 + 1))
echo "== difftest: uepoll vs kernel, long sequences: $long cases x 3000 ops, seed $((seed + 1000000))"
if ! timeout 600 env UEPOLL_STATS=1 LD_PRELOAD="$lib" "$prog" -s $((seed + 1000000)) -n 3000 -c "$long" 2>> "$err"; then
    status=1
fi
# One counters block per process (the supervisor and its worker; shrinker runs too).
if ! awk '$1 == "engine_events" && $2 > 0 { ok = 1 } END { exit !ok }' "$err"; then
    echo "difftest: the engine reported no events: the fds were not served by uepoll"; status=1
fi
if awk '$1 == "demotions" && $2 != 0 { bad = 1 } END { exit !bad }' "$err"; then
    echo "difftest: files were demoted to the kernel during the run:"; cat "$err"; status=1
fi
grep -v -E '^(uepoll stats|  [a-z_]+ +[0-9]+$|  served share )' "$err" || true
rm -f "$err"
exit $status
