#!/usr/bin/env bash
# Run the conformance suite on kernel epoll and under uepoll; both must pass with the
# same checks passing. Usage: scripts/conformance.sh LIB CONFORMANCE_BINARY
set -euo pipefail
lib=$(realpath "$1"); prog=$2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0
echo "== conformance on kernel epoll"
timeout 300 "$prog" > "$out/kernel.txt" 2>&1 || status=1
tail -1 "$out/kernel.txt"
echo "== conformance under uepoll ($lib)"
timeout 300 env LD_PRELOAD="$lib" "$prog" > "$out/uepoll.txt" 2>&1 || status=1
tail -1 "$out/uepoll.txt"
if ! diff <(grep -E '^(ok|not ok)' "$out/kernel.txt" | sed 's/ (got.*//') \
          <(grep -E '^(ok|not ok)' "$out/uepoll.txt" | sed 's/ (got.*//') > "$out/diff.txt"; then
    echo "kernel and uepoll results differ:"; cat "$out/diff.txt"; status=1
fi
if [ $status -ne 0 ]; then
    echo "--- failures (kernel)"; grep -E '^not ok' "$out/kernel.txt" || true
    echo "--- failures (uepoll)"; grep -E '^not ok' "$out/uepoll.txt" || true
    exit 1
fi
