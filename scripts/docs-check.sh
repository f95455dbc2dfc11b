#!/usr/bin/env bash
# docs-check.sh - run every command the documentation shows, so that the docs cannot
# rot. A command is a line of a fenced block tagged `sh` in README.md or docs/*.md
# (blocks tagged `text` are synopses and are not run). Comments after `#` and
# continuation comment lines are dropped; each command runs from the repository root
# with a time limit and must exit 0.
#
# The long targets are checked with `make -n` (they exist and their prerequisites
# resolve): make test, bench, fuzz, soak, test-real, loom. A line may end with
# `# docs-check: dry` to get the same treatment.
#
# Usage: scripts/docs-check.sh [FILE...]   (default: README.md docs/*.md)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(README.md docs/*.md)

dry_targets=" test bench fuzz soak test-real loom "
ran=0 dry=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

commands() {
    awk '
        /^```sh[[:space:]]*$/ { inblock = 1; next }
        /^```/ { inblock = 0; next }
        inblock {
            line = $0
            dry = (line ~ /# docs-check: dry[[:space:]]*$/)
            sub(/[[:space:]]+#.*$/, "", line)
            if (line ~ /^[[:space:]]*#/ || line ~ /^[[:space:]]*$/) next
            printf "%s\t%d\t%s:%d\n", line, dry, FILENAME, FNR
        }' "$@"
}

while IFS=$'\t' read -r cmd mark where; do
    first=${cmd%% *}
    rest=${cmd#make}
    if [ "$mark" = 1 ] || { [ "$first" = make ] && [[ "$dry_targets" == *" ${rest# } "* ]]; }; then
        if [ "$first" = make ]; then
            check=(make -n ${cmd#make})
        else
            check=(bash -n -c "$cmd")
        fi
        if "${check[@]}" >"$log" 2>&1; then
            echo "ok (dry) $where: $cmd"; dry=$((dry + 1))
        else
            echo "FAIL (dry) $where: $cmd"; sed 's/^/    /' "$log" | tail -20; failed=$((failed + 1))
        fi
        continue
    fi
    if timeout 600 bash -c "$cmd" >"$log" 2>&1; then
        echo "ok $where: $cmd"; ran=$((ran + 1))
    else
        echo "FAIL $where: $cmd (exit $?)"; sed 's/^/    /' "$log" | tail -20; failed=$((failed + 1))
    fi
done < <(commands "${files[@]}")

echo "docs-check: $((ran + dry)) passed, $failed failed ($ran run, $dry checked with make -n/bash -n)"
[ "$failed" -eq 0 ]
