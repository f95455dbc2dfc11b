#!/usr/bin/env bash
# The kernel's own epoll selftests (tools/testing/selftests/filesystems/epoll/
# epoll_wakeup_test.c, 64 tests) on the kernel and under uepoll, RUNS times each,
# interleaved. Every test must pass under uepoll in every run, except a test that
# also fails on the kernel in the same run (a timing test starved by a loaded
# machine fails on both sides).
#
# The source is fetched at test time from Debian's linux-source-6.12 package
# (`apt-get download`), cached under build/kselftest/, and never committed.
#
# Usage: scripts/kselftest-check.sh LIB [RUNS]    (RUNS defaults to 3)
set -euo pipefail
lib=$(realpath "$1")
runs=${2:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
cache="$top/build/kselftest"
pkg=linux-source-6.12
rel=tools/testing/selftests
src="$cache/$rel/filesystems/epoll/epoll_wakeup_test.c"
bin="$cache/epoll_wakeup_test"

fetch() {
    mkdir -p "$cache"
    local tmp
    tmp=$(mktemp -d "$cache/fetch.XXXXXX")
    echo "== fetching $pkg (Debian package) for the epoll selftests"
    # A fresh machine may have no package lists yet: as root, fetch them and retry.
    if ! (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>"$tmp/apt.err") &&
        ! { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>>"$tmp/apt.err" &&
            (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>>"$tmp/apt.err"); }; then
        cat "$tmp/apt.err" >&2
        echo "kselftest-check: 'apt-get download $pkg' failed (needs Debian's package lists: run 'apt-get update' as root)" >&2
        rm -rf "$tmp"
        exit 1
    fi
    # The package holds one tarball of the whole tree: take only the three files.
    dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb |
        tar -xO "./usr/src/$pkg.tar.xz" |
        xz -dc |
        tar -x -C "$tmp" --strip-components=1 \
            "$pkg/$rel/filesystems/epoll/epoll_wakeup_test.c" \
            "$pkg/$rel/kselftest.h" "$pkg/$rel/kselftest_harness.h"
    mkdir -p "$cache/$rel/filesystems/epoll"
    for f in filesystems/epoll/epoll_wakeup_test.c kselftest.h kselftest_harness.h; do
        mv "$tmp/$rel/$f" "$cache/$rel/$f"
    done
    ls "$tmp"/"$pkg"_*.deb | sed 's|.*/||' >"$cache/VERSION"
    rm -rf "$tmp"
}

[ -f "$src" ] || fetch
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    ${CC:-gcc} -O2 -pthread -o "$bin" "$src"
fi
echo "== kernel epoll selftests: $(cat "$cache/VERSION" 2>/dev/null), $runs runs per side"

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
    for side in kernel uepoll; do
        pre=(); [ "$side" = uepoll ] && pre=(env LD_PRELOAD="$lib" UEPOLL_STATS=1)
        # The harness exits non-zero when a test fails; the per-test lines decide.
        (cd "$out" && timeout 600 "${pre[@]}" "$bin" >"$out/$side.$i" 2>"$out/$side.$i.err") || true
    done
done

# Per test: passes per side, and failures under uepoll not matched on the kernel in
# the same run.
status=0
awk -v runs="$runs" -v dir="$out" '
    function scan(side, i,    f, line, name) {
        f = dir "/" side "." i
        while ((getline line < f) > 0) {
            if (line ~ /^ok [0-9]+ /)       { name = line; sub(/^ok [0-9]+ /, "", name); pass[side, name]++; ok[side, i, name] = 1; names[name] = 1 }
            else if (line ~ /^not ok [0-9]+ /) { name = line; sub(/^not ok [0-9]+ /, "", name); names[name] = 1 }
        }
        close(f)
    }
    END {
        for (i = 1; i <= runs; i++) { scan("kernel", i); scan("uepoll", i) }
        n = 0; bad = 0; total_k = 0; total_u = 0
        for (name in names) {
            n++
            total_k += pass["kernel", name]; total_u += pass["uepoll", name]
            unmatched = 0
            for (i = 1; i <= runs; i++)
                if (!ok["uepoll", i, name] && ok["kernel", i, name]) unmatched++
            if (pass["kernel", name] < runs || pass["uepoll", name] < runs)
                printf "  %-18s kernel %d/%d  uepoll %d/%d%s\n", name, pass["kernel", name], runs,
                       pass["uepoll", name], runs, unmatched ? "  <- fails under uepoll only" : ""
            if (unmatched) bad++
        }
        if (n == 0) { print "kselftest-check: no test results (did the harness run?)"; exit 1 }
        printf "selftests: %d tests x %d runs: kernel %d/%d passed, uepoll %d/%d passed; %d tests failing under uepoll only\n",
               n, runs, total_k, n * runs, total_u, n * runs, bad
        exit bad ? 1 : 0
    }' </dev/null || status=1

# The harness runs each test in a forked child that leaves through _exit: the
# counters of every child are printed, so the engine's share is visible.
cat "$out"/uepoll.*.err | awk '
    /^uepoll stats/ { procs++ }
    $1 == "engine_events" { e += $2 }
    $1 == "kernel_events" { k += $2 }
    $1 == "demotions"     { d += $2 }
    END { printf "uepoll counters over %d processes: engine_events %d, kernel_events %d, demotions %d\n", procs, e, k, d }'
exit $status
