#!/usr/bin/env bash
# Semantics checks uepoll did not write: CPython's own test suites for epoll,
# selectors and asyncio, run on the kernel and under uepoll (both runs must pass), and
# the kernel's own epoll selftests (scripts/kselftest-check.sh: several runs per side;
# every test must pass under uepoll in every run unless it fails on the kernel in the
# same run).
# Usage: scripts/external-check.sh LIB
set -euo pipefail
lib=$(realpath "$1")
py=${PYTHON:-python3}
if ! "$py" -c 'import test.support' 2>/dev/null; then
    echo "external-check: $py has no 'test' package (CPython's test suite); cannot run"
    exit 1
fi
suites=(test_epoll test_selectors
        test_asyncio.test_events test_asyncio.test_streams test_asyncio.test_subprocess
        test_asyncio.test_sock_lowlevel test_asyncio.test_unix_events
        test_asyncio.test_selector_events test_asyncio.test_server)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0
for side in kernel uepoll; do
    pre=(); [ "$side" = uepoll ] && pre=(env LD_PRELOAD="$lib")
    echo "== CPython ${suites[*]} on $side"
    if ! (cd "$out" && timeout 900 "${pre[@]}" "$py" -m test "${suites[@]}" > "$out/$side.txt" 2>&1); then
        status=1
        grep -E "FAIL|ERROR|Traceback" "$out/$side.txt" | head -40
    fi
    grep -E "^Total tests:|^Result:" "$out/$side.txt" | tr '\n' ' '; echo
done
scripts_dir=$(dirname "$0")
"$scripts_dir/kselftest-check.sh" "$lib" "${KSELFTEST_RUNS:-3}" || status=1
exit $status
