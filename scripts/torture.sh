#!/usr/bin/env bash
# Torture on kernel epoll, then under uepoll: build/torture's churn, signals, spawn and
# handler-malloc modes (c-tests/torture.c, a file per mode, torture-common.c for what
# they share). Every run must pass on both sides. About 60 s in all.
# Usage: scripts/torture.sh LIB TORTURE_BINARY
#   TORTURE_CHURN_SECS (default 8), TORTURE_SIGNALS_SECS (5), TORTURE_SPAWN_SECS (5):
#   seconds per run; TORTURE_SEED: seed for the churn runs.
set -uo pipefail
lib=$(realpath "$1"); prog=$2
churn=${TORTURE_CHURN_SECS:-8}
signals=${TORTURE_SIGNALS_SECS:-5}
spawn=${TORTURE_SPAWN_SECS:-5}
seed=${TORTURE_SEED:+-s $TORTURE_SEED}
passed=0; failed=0

keys_churn="threads seconds seed waits events_checked registrations ctl_add ctl_mod ctl_del closes dups dup2s forks spawns children_failed final_registrations_checked known_diff_rekey violations"
keys_signals="threads seconds signals_handled pthread_kills handler_bytes_written bytes_read handler_eventfd_adds eventfd_read eintr consistency_checks violations"
keys_handler_malloc="rounds handler_writes_growing_ready_list_during_malloc violations"
keys_spawn="threads seconds rounds children_failed check_pipes_compared check_pipes_with_child_data token_moves private_cycles tokens_start tokens_end violations"

run() {
    local side=$1 mode=$2; shift 2
    local keys; eval "keys=\$keys_${mode//-/_}"
    local o rc err
    err=$(mktemp)
    # The report is on stdout; stderr has the violations' details and, under uepoll,
    # one counter block per process (fork children print theirs at _exit too).
    if [ "$side" = kernel ]; then
        o=$(timeout 180 "$prog" "$mode" "$@" 2>"$err"); rc=$?
    else
        o=$(timeout 180 env UEPOLL_STATS=1 LD_PRELOAD="$lib" "$prog" "$mode" "$@" 2>"$err"); rc=$?
    fi
    local line="" k v
    for k in $keys; do
        v=$(echo "$o" | sed -n "s/^$k: *//p" | head -1)
        [ -n "$v" ] && line="$line $k=$v"
    done
    if [ "$side" = uepoll ]; then
        # Each process counts its own work (a fork child starts from zero): sum them.
        for k in demotions deferred; do
            v=$(awk -v k="$k" '$1 == k { s += $2; n++ } END { if (n) print s }' "$err")
            [ -n "$v" ] && line="$line $k=$v"
        done
    fi
    o="$o
$(grep -v -E '^(uepoll stats|  [a-z_]+ +[0-9]+$|  served share )' "$err")"
    rm -f "$err"
    if [ $rc -eq 0 ] && echo "$o" | grep -q '^result: PASS'; then
        echo "ok   $mode on $side:$line"
        passed=$((passed + 1))
    else
        echo "FAIL $mode on $side (exit $rc):$line"
        echo "$o" | grep -E '^(VIOLATION|HANG|  (thread |history|kernel items|final: |first report)|    (seq|tfd))|malloc|free\(|corrupt' |
            head -25 | sed 's/^/     /'
        [ $rc -ge 128 ] && echo "     (killed by signal $((rc - 128)))"
        [ $rc -eq 124 ] && echo "     (timed out)"
        failed=$((failed + 1))
    fi
}

for side in kernel uepoll; do
    echo "== torture on $side"
    # shellcheck disable=SC2086
    run "$side" churn -d "$churn" $seed
    run "$side" signals -d "$signals"
    run "$side" spawn -d "$spawn"
    run "$side" handler-malloc
done
echo "torture: $passed passed, $failed failed"
[ $failed -eq 0 ]
