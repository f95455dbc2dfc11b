#!/usr/bin/env bash
# Conservation soak under uepoll: stress -c (a read that loses the race writes nothing,
# so every token must survive) with 16 threads, level-triggered then edge-triggered,
# SOAK_MINUTES each (default 10). Each run must end with tokens_start == tokens_end,
# no epoll_ctl error, and `demotions 0` in the library's counters.
# Usage: scripts/soak.sh LIB STRESS_BINARY
#   SOAK_MINUTES=N  minutes per mode (default 10; fractions allowed, e.g. 0.5)
#   SOAK_THREADS=N  threads (default 16)   SOAK_PIPES=N  pipes (default 256)
#   SOAK_TOKENS=N   tokens (default 128)
set -euo pipefail
lib=$(realpath "$1"); prog=$2
minutes=${SOAK_MINUTES:-10}
threads=${SOAK_THREADS:-16}
pipes=${SOAK_PIPES:-256}
tokens=${SOAK_TOKENS:-128}
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 1) s = 1; print s }')
status=0
for mode in lt et; do
    flag=""
    [ "$mode" = et ] && flag="-e"
    echo "== soak $mode: $threads threads, $pipes pipes, $tokens tokens, $secs s (uepoll)"
    start=$(date +%s)
    o=$(timeout $((secs + 120)) env UEPOLL_STATS=1 LD_PRELOAD="$lib" \
        "$prog" -c -t "$threads" -n "$pipes" -a "$tokens" -d "$secs" $flag 2>&1) || {
        echo "$o" | tail -30; echo "soak $mode FAILED (exit status)"; status=1; continue; }
    end=$(date +%s)
    get() { echo "$o" | sed -n "s/^$1: *//p" | head -1; }
    demotions=$(echo "$o" | awk '$1 == "demotions" { print $2 }' | head -1)
    printf 'soak %s: threads %s, wall %ss, seconds %s, waits %s, events %s (%s/s), reads %s, writes %s, read_eagain %s, ctl_errors %s, tokens_start %s, tokens_end %s, demotions %s\n' \
        "$mode" "$(get threads)" "$((end - start))" "$(get seconds)" "$(get waits)" "$(get events)" \
        "$(get events_per_sec)" "$(get reads)" "$(get writes)" "$(get read_eagain)" \
        "$(get ctl_errors)" "$(get tokens_start)" "$(get tokens_end)" "${demotions:-?}"
    if [ "$(get tokens_start)" != "$(get tokens_end)" ] || [ -z "$(get tokens_end)" ]; then
        echo "soak $mode FAILED: tokens not conserved"; status=1
    fi
    if [ "$(get ctl_errors)" != 0 ]; then
        echo "soak $mode FAILED: epoll_ctl errors"; status=1
    fi
    if [ "${demotions:-x}" != 0 ]; then
        echo "$o" | sed -n '/uepoll stats/,$p'
        echo "soak $mode FAILED: served pipes were demoted to the kernel"; status=1
    fi
done
[ $status -eq 0 ] && echo "soak: passed (LT and ET, $secs s each)"
exit $status
