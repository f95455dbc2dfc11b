#!/usr/bin/env bash
# "With only in-process pipes registered, steady-state epoll_wait calls make no epoll
# syscalls": count the epoll syscalls of the epwbench workload under uepoll with
# strace. Only the instance's own set-up may touch the kernel's epoll (one
# epoll_create1 and one epoll_ctl for its wake-up eventfd), however many waits run.
# Usage: scripts/nosyscall-check.sh LIB BENCH_WAIT_BINARY
set -euo pipefail
lib=$(realpath "$1"); prog=$2
command -v strace >/dev/null || { echo "strace is not installed"; exit 1; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
LD_PRELOAD="$lib" strace -f -c -o "$out" "$prog" -n 200 -r 3 -m 50 -q > /dev/null
calls() { awk -v s="$1" '$NF == s { print ($4 ~ /^[0-9]+$/) ? $4 : $5 }' "$out" | head -1; }
waits=$(( $(calls epoll_wait || true) + 0 ))
pwaits=$(( $(calls epoll_pwait || true) + $(calls epoll_pwait2 || true) + 0 ))
ctls=$(( $(calls epoll_ctl || true) + 0 ))
echo "epoll syscalls during the epwbench workload under uepoll: epoll_wait=$waits epoll_pwait*=$pwaits epoll_ctl=$ctls"
if [ "$waits" -ne 0 ] || [ "$pwaits" -ne 0 ] || [ "$ctls" -gt 1 ]; then
    echo "FAILED: steady-state waits reached the kernel"; cat "$out"; exit 1
fi
echo "ok: no epoll syscalls in steady state"
