#!/usr/bin/env bash
# Stress under uepoll: the totalmess workload (LT and ET, 4 threads) must run cleanly,
# and the conservation mode must end with every token accounted for.
# Usage: scripts/stress-check.sh LIB STRESS_BINARY [SECONDS]
set -euo pipefail
lib=$(realpath "$1"); prog=$2; secs=${3:-2}
run() {
    echo "== stress $* (uepoll)"
    local o
    if ! o=$(timeout $((secs * 10 + 30)) env UEPOLL_STATS=1 LD_PRELOAD="$lib" "$prog" "$@" 2>&1); then
        echo "$o"; echo "stress $* FAILED"; exit 1
    fi
    echo "$o" | grep -E '^(events_per_sec|ctl_errors|tokens_start|tokens_end):' | tr '\n' ' '; echo
    # Regression: the library's own raw syscalls (its kernel sleep, std's futex waits)
    # once went through its `syscall` hook and demoted every served pipe to the kernel.
    if ! echo "$o" | grep -qE '^ +demotions +0$'; then
        echo "$o" | sed -n '/uepoll stats/,$p'
        echo "stress $*: served pipes were demoted to the kernel (own_syscalls_demoted_everything)"; exit 1
    fi
}
run -n 100 -t 4 -a 100 -d "$secs"
run -n 100 -t 4 -a 100 -d "$secs" -e
run -n 64 -t 4 -a 50 -d "$secs" -c
run -n 64 -t 4 -a 50 -d "$secs" -c -e
