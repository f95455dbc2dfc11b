#!/usr/bin/env bash
# The served share of the real programs under one or more builds of the library:
# engine_events / (engine_events + kernel_events), summed over the server's
# processes, for each program of scripts/real-check.sh (one quick run per side) and
# for a Node.js program (scripts/real/node_http_exec.js: an http server with fs
# reads and child_process.exec, run with `uepoll run --stats`). Prints a Markdown
# table, one column per build, for docs/real-programs.md.
#
# Usage: scripts/served-share.sh NAME=LIB [NAME=LIB...] [-- PROGRAM...]
#   NAME=LIB  a column: its heading and the libuepoll.so to measure (the uepoll
#             command next to this script's target/release/ runs it, UEPOLL_LIB=LIB)
#   PROGRAM   redis nginx nginx-aio asyncio asyncio-exec memcached node (default: all)
# For example, before and after a change:
#   scripts/served-share.sh base=/work/wt/base/target/release/libuepoll.so \
#       main=/work/main/target/release/libuepoll.so after=target/release/libuepoll.so
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

names=() libs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    case $1 in
        *=*) names+=("${1%%=*}"); libs+=("$(realpath "${1#*=}")"); shift ;;
        *) echo "served-share: expected NAME=LIB, got $1" >&2; exit 2 ;;
    esac
done
[ "${1:-}" = -- ] && shift
[ ${#names[@]} -gt 0 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
progs=("$@"); [ ${#progs[@]} -gt 0 ] || progs=(redis nginx nginx-aio asyncio asyncio-exec memcached node)
U=${UEPOLL:-$root/target/release/uepoll}
[ -x "$U" ] || { echo "served-share: no uepoll command at $U (run make lib)" >&2; exit 1; }
real=() node=0
for p in "${progs[@]}"; do
    if [ "$p" = node ]; then node=1; else real+=("$p"); fi
done
if [ $node = 1 ] && ! command -v node >/dev/null; then
    echo "served-share: node is missing (apt-get install nodejs)" >&2; exit 1
fi

work=$(mktemp -d /tmp/uepoll-share.XXXXXX)
trap 'rm -rf "$work"' EXIT
# share FILE: "engine kernel" sums -> "S% (E of N)"
share() { awk '{e += $1; k += $2} END {if (e + k) printf "%.1f%% (%d of %d)", 100 * e / (e + k), e, e + k; else print "- (no events)"}' "$1"; }

for i in "${!names[@]}"; do
    lib=${libs[$i]} n=${names[$i]}
    [ -f "$lib" ] || { echo "served-share: no library at $lib" >&2; exit 1; }
    echo "== ${n}: $lib" >&2
    if [ ${#real[@]} -gt 0 ]; then
        # real-check's table: program unit kernel uepoll ratio cpu ratio identical
        # engine_events kernel_events demotions served
        UEPOLL=$U "$here/real-check.sh" --quick "$lib" "${real[@]}" >"$work/$n.real" 2>&1 ||
            echo "served-share: real-check reported a failure under $n (see below)" >&2
        for p in "${real[@]}"; do
            awk -v p="$p" '$1 == p && NF == 12 {print $9, $10}' "$work/$n.real" >"$work/$n.$p"
            [ -s "$work/$n.$p" ] || { echo "served-share: no result for $p under $n:" >&2; tail -5 "$work/$n.real" >&2; }
        done
    fi
    if [ $node = 1 ]; then
        UEPOLL_LIB=$lib "$U" run --stats -- node "$here/real/node_http_exec.js" 400 40 \
            >"$work/$n.node.out" 2>"$work/$n.node.err" ||
            { echo "served-share: node failed under $n:" >&2; tail -3 "$work/$n.node.err" >&2; }
        awk '$1 == "engine_events" {e += $2} $1 == "kernel_events" {k += $2} END {print e + 0, k + 0}' \
            "$work/$n.node.err" >"$work/$n.node"
    fi
done

printf '| program |'; printf ' %s |' "${names[@]}"; echo
printf '|---|'; for n in "${names[@]}"; do printf -- '---:|'; done; echo
for p in "${progs[@]}"; do
    printf '| %s |' "$p"
    for n in "${names[@]}"; do
        if [ -s "$work/$n.$p" ]; then printf ' %s |' "$(share "$work/$n.$p")"; else printf ' - |'; fi
    done
    echo
done
echo
echo "(served share: engine_events / (engine_events + kernel_events) of the server's processes;"
echo " one quick run under each library; node: scripts/real/node_http_exec.js 400 rounds)"
