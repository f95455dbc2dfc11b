#!/usr/bin/env bash
# install-deps.sh - install the Debian packages the tests need when their programs
# are missing: gcc, make, strace (the C tests, the no-syscall check), python3 (the
# JSON checks, the real-program clients), valgrind (the instruction counts of
# scripts/wait-instructions.sh, run by the docs check), and the real servers with their load
# generators for scripts/real-check.sh and `uepoll ab --client` (redis, nginx,
# memcached, wrk, memaslap, curl). Called by `make deps` (a prerequisite of
# `make test`) and by .ci/run.
#
# As root: apt-get update and install, with a policy-rc.d that keeps the packages'
# maintainer scripts from starting redis, nginx or memcached (the tests start their
# own). Not root: print the exact command to run and fail.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only say what is missing (exit 1 if anything is)
# Exit status: 0 everything present (or installed), 1 missing and not installed.
set -u

check_only=0
case "${1:-}" in
    --check) check_only=1 ;;
    "") ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$1'" >&2; exit 2 ;;
esac

# Daemons install into /usr/sbin, which a minimal PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# program  Debian package
wanted="gcc gcc
make make
strace strace
python3 python3
valgrind valgrind
redis-server redis-server
redis-cli redis-tools
redis-benchmark redis-tools
nginx nginx-light
memcached memcached
memcaslap libmemcached-tools
wrk wrk
curl curl"

need=()
while read -r prog pkg; do
    command -v "$prog" >/dev/null 2>&1 && continue
    case " ${need[*]-} " in *" $pkg "*) ;; *) need+=("$pkg") ;; esac
done <<<"$wanted"

if [ ${#need[@]} -eq 0 ]; then
    echo "install-deps: all test programs are present"
    exit 0
fi
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${need[*]}"
if [ $check_only = 1 ]; then
    echo "install-deps: missing packages: ${need[*]}"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${need[*]}" >&2
    echo "install-deps: not root; install them with:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing packages: ${need[*]}, and no apt-get on this machine" >&2
    exit 1
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' maintainer scripts from starting redis, nginx or memcached
# (policy-rc.d exit 101: "action not allowed"); the tests start their own servers.
rcd=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    rcd=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 755 "$rcd"
    trap 'rm -f "$rcd"' EXIT
fi
apt-get update -qq || { echo "install-deps: apt-get update failed" >&2; exit 1; }
apt-get install -y -qq "${need[@]}" || { echo "install-deps: apt-get install failed" >&2; exit 1; }
still=()
while read -r prog pkg; do
    command -v "$prog" >/dev/null 2>&1 || still+=("$prog")
done <<<"$wanted"
if [ ${#still[@]} -gt 0 ]; then
    echo "install-deps: installed ${need[*]}, but still not in PATH: ${still[*]}" >&2
    exit 1
fi
echo "install-deps: installed ${need[*]}"
