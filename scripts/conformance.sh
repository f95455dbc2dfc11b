#!/usr/bin/env bash
# Run the conformance suite on kernel epoll and under uepoll; both must pass with the
# same checks passing. Usage: scripts/conformance.sh LIB CONFORMANCE_BINARY
#
# The suite runs twice on each side. First whole, in one process: state left by one
# group meets the next, as in a long-lived program. Under uepoll that run stops being
# served part-way, on purpose: the "aio" group's io_setup and the "gaps" group's
# unshare(CLONE_FILES) make the library hand everything to the kernel for the rest of
# the process, so the groups after them check the kernel path there. Then each group
# alone, in a process of its own, so that every group is also checked served by the
# engine (before this second pass, the groups after "aio" never were).
set -euo pipefail
lib=$(realpath "$1"); prog=$2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0
checks() { grep -E '^(ok|not ok)' "$1" | sed 's/ (got.*//'; }
compare() { # NAME KERNEL_OUT UEPOLL_OUT
    if ! diff <(checks "$2") <(checks "$3") > "$out/diff.txt"; then
        echo "$1: kernel and uepoll results differ:"; cat "$out/diff.txt"; status=1
    fi
}
echo "== conformance on kernel epoll"
timeout 300 "$prog" > "$out/kernel.txt" 2>&1 || status=1
tail -1 "$out/kernel.txt"
echo "== conformance under uepoll ($lib)"
timeout 300 env LD_PRELOAD="$lib" "$prog" > "$out/uepoll.txt" 2>&1 || status=1
tail -1 "$out/uepoll.txt"
compare "the whole suite" "$out/kernel.txt" "$out/uepoll.txt"
: > "$out/kernel-groups.txt"; : > "$out/uepoll-groups.txt"
groups=$("$prog" --groups)
for g in $groups; do
    timeout 120 "$prog" --group "$g" > "$out/k.txt" 2>&1 || status=1
    timeout 120 env LD_PRELOAD="$lib" "$prog" --group "$g" > "$out/u.txt" 2>&1 || status=1
    compare "group $g alone" "$out/k.txt" "$out/u.txt"
    cat "$out/k.txt" >> "$out/kernel-groups.txt"; cat "$out/u.txt" >> "$out/uepoll-groups.txt"
done
sum() { awk '/^[0-9]+ passed, [0-9]+ failed$/ {p += $1; f += $3} END {print p " passed, " f " failed"}' "$1"; }
echo "== each of the $(echo $groups | wc -w) groups alone, kernel: $(sum "$out/kernel-groups.txt"); uepoll: $(sum "$out/uepoll-groups.txt")"
if [ $status -ne 0 ]; then
    echo "--- failures (kernel)"; grep -hE '^not ok' "$out/kernel.txt" "$out/kernel-groups.txt" || true
    echo "--- failures (uepoll)"; grep -hE '^not ok' "$out/uepoll.txt" "$out/uepoll-groups.txt" || true
    exit 1
fi
