#!/usr/bin/env bash
# Real programs from Debian packages (redis-server, nginx, memcached) and a Python
# asyncio echo server, each run on the kernel and under uepoll through
# `uepoll ab --client`: the server is PROG (preloaded on the uepoll side, with
# UEPOLL_STATS=1), and scripts/real/client.sh is the client, on the kernel, started
# once the server's port accepts connections. The client checks the server's replies
# byte for byte, then runs the load generator and prints the throughput; when it
# ends, uepoll ab stops the server with its clean-shutdown signal (redis, memcached,
# asyncio: TERM; nginx: QUIT), so that each process prints its counter block at
# exit(). Runs alternate kernel, uepoll, kernel, ...; the table gives medians and
# uepoll/kernel. Env UEPOLL: the uepoll command (default: next to LIB).
#
# Usage: scripts/real-check.sh [--quick] [--runs N] [--min-ratio R] LIB [PROGRAM...]
#   PROGRAM: redis nginx nginx-aio asyncio asyncio-exec memcached (default: all)
#     nginx-aio     nginx with "aio threads; sendfile off": file reads finish in a
#                   thread pool that wakes the worker through an eventfd (served)
#     asyncio-exec  the echo server sends each chunk through run_in_executor(), so
#                   each reply wakes the loop through its self-pipe socketpair
#   --quick       one run per side, shorter loads
#   --runs N      runs per side (default 3; --quick sets 1)
#   --min-ratio R fail if a median ratio uepoll/kernel is below R (default: report
#                 only; the machine's noise decides too much of a short run)
# Fails on: a reply that differs from the expected bytes, a server that crashes, does
# not stop cleanly or prints no counter block under uepoll, load-generator errors.
# Ports: redis 16379, nginx 18080, asyncio 17007, memcached 21211 (127.0.0.1 only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

quick=0 runs="" min_ratio=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; shift ;;
        --runs) runs=$2; shift 2 ;;
        --min-ratio) min_ratio=$2; shift 2 ;;
        -*) echo "real-check: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
lib=$(realpath "$1"); shift
[ -f "$lib" ] || { echo "real-check: no library at $lib (run make lib)" >&2; exit 1; }
progs=("$@"); [ ${#progs[@]} -gt 0 ] || progs=(redis nginx nginx-aio asyncio asyncio-exec memcached)
[ -n "$runs" ] || { [ $quick = 1 ] && runs=1 || runs=3; }

if [ $quick = 1 ]; then
    redis_n=20000 load_secs=2
else
    redis_n=100000 load_secs=5
fi

# The machine's python3 may be a pyenv shim (a shell script that forks several
# processes); run the interpreter itself so that only the server loads the library.
py=$(python3 -c 'import sys; print(sys.executable)')

missing=()
need() { command -v "$1" >/dev/null || missing+=("$1 (Debian package $2)"); }
need curl curl
need python3 python3
for p in "${progs[@]}"; do
    case $p in
        redis) need redis-server redis-server; need redis-cli redis-tools; need redis-benchmark redis-tools ;;
        nginx|nginx-aio) need nginx nginx-light; need wrk wrk ;;
        memcached) need memcached memcached; need memcaslap libmemcached-tools ;;
        asyncio|asyncio-exec) ;;
        *) echo "real-check: unknown program $p" >&2; exit 2 ;;
    esac
done
if [ ${#missing[@]} -gt 0 ]; then
    printf 'real-check: missing: %s\n' "${missing[@]}" >&2
    echo "real-check: apt-get install redis-server redis-tools nginx-light memcached libmemcached-tools wrk curl" >&2
    exit 1
fi

U=${UEPOLL:-$(dirname "$lib")/uepoll}
[ -x "$U" ] || { echo "real-check: no uepoll command next to $lib (run make)" >&2; exit 1; }
[ "$(realpath "$(dirname "$U")/libuepoll.so")" = "$lib" ] || export UEPOLL_LIB=$lib

work=$(mktemp -d /tmp/uepoll-real.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "real-check: FAIL: $*"; status=1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Deterministic binary data: gen FILE SIZE SEED
gen() { "$py" -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[2])).randbytes(int(sys.argv[1])))' "$2" "$3" >"$1"; }

nginx_sizes="0 1 100 4096 65536 1048577 1500000 8388608"
# nginx_conf DIR PORT EXTRA: the files and the configuration; the error log (and so
# the counter blocks) stays on stderr, which uepoll ab keeps in the run's log.
nginx_conf() {
    local dir=$1 port=$2 extra=$3 s
    mkdir -p "$dir/www" "$dir/tmp"
    for s in $nginx_sizes; do
        # the client (scripts/real/client.sh) compares the replies with these
        [ -f "$w/blob.$s" ] || gen "$w/blob.$s" "$s" "$s"
        cp "$w/blob.$s" "$dir/www/f$s"
    done
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
user root;
daemon off;
pid $dir/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    access_log off;
    $extra
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server { listen 127.0.0.1:$port; root $dir/www; }
}
EOF
}

# summary JSON PROGRAM UNIT: per-run lines ("line ..."), then the medians: T (throughput
# kernel uepoll), P (server CPU us/op kernel uepoll), C (engine_events kernel_events
# demotions runs-with-counters). CPU per op: user+sys of the server's whole run,
# checks included, over the load's operations.
summary_py='
import json, statistics, sys
j = json.load(open(sys.argv[1])); p, unit = sys.argv[2], sys.argv[3]
med = lambda v: statistics.median(v) if v else 0
tput, cpu = {}, {}
for r in j["run_list"]:
    if r["warmup"]:
        continue
    m = r["metrics"]
    t, ops = m.get("tput") or 0, m.get("ops")
    cpu_op = (r["user"] + r["sys"]) * 1e6 / ops if ops else 0
    tput.setdefault(r["engine"], []).append(t); cpu.setdefault(r["engine"], []).append(cpu_op)
    side = "kernel" if r["engine"] == "kernel" else "uepoll"
    print("line %s run %s %s: %d %s, server CPU %.2f us/op" % (p, r["run"], side, round(t), unit, cpu_op))
c = j["counters"][0] if j["counters"] else {"median": {}, "runs_with_counters": 0}
cm = c["median"]
print("T", med(tput.get("kernel", [])), med(tput.get("singlepass", [])))
print("P", "%.2f" % med(cpu.get("kernel", [])), "%.2f" % med(cpu.get("singlepass", [])))
print("C", int(cm.get("engine_events", 0)), int(cm.get("kernel_events", 0)), int(cm.get("demotions", 0)), c["runs_with_counters"])
'

declare -A T P C S U
start=$(date +%s)
echo "== real programs: ${progs[*]}; $runs run(s) per side, interleaved; library $lib"
for p in "${progs[@]}"; do
    w="$work/$p"
    mkdir -p "$w"
    case $p in
        redis) port=16379 sig=TERM unit=req/s
            server=(redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile '' --dir "$w") ;;
        nginx|nginx-aio) port=18080 sig=QUIT unit=req/s
            extra="sendfile on;"; [ $p = nginx-aio ] && extra="sendfile off; aio threads;"
            nginx_conf "$w/conf" $port "$extra"
            server=(nginx -p "$w/conf" -c "$w/conf/nginx.conf" -e stderr) ;;
        asyncio|asyncio-exec) port=17007 sig=TERM unit=msg/s
            server=("$py" "$here/real/asyncio_echo.py" server --port $port)
            [ $p = asyncio-exec ] && server+=(--executor) ;;
        memcached) port=21211 sig=TERM unit=ops/s
            server=(memcached -p $port -l 127.0.0.1 -U 0 -u root -t 2 -m 256 -I 4m) ;;
    esac
    if port_open $port; then
        fail "$p: port $port is already in use"; continue
    fi
    U[$p]=$unit
    "$U" ab -q -n "$runs" --engines kernel,singlepass --signal $sig --grace 15 --ready-port $port \
        --client "bash '$here/real/client.sh' $p $port '$w' $load_secs $redis_n" \
        --metric 'client:tput=^TPUT: ([0-9.]+):last:higher' --metric 'client:ops=^OPS: ([0-9]+):last:higher' \
        --log "$w/logs" --json "$w/ab.json" -- "${server[@]}" >"$w/ab.out" 2>"$w/ab.err" \
        || fail "$p: a run failed: $(grep -v '^    |' "$w/ab.err" | tail -3 | tr '\n' ' ')"
    if grep -q '^FAIL: ' "$w"/logs/*.client.log 2>/dev/null; then
        grep -h '^FAIL: ' "$w"/logs/*.client.log | sed "s/^FAIL: /real-check: FAIL: $p /"
        status=1
    fi
    "$py" -c "$summary_py" "$w/ab.json" "$p" "$unit" >"$w/summary" || fail "$p: no usable results in $w/ab.json"
    sed -n 's/^line //p' "$w/summary"
    T[$p]=$(sed -n 's/^T //p' "$w/summary"); P[$p]=$(sed -n 's/^P //p' "$w/summary"); C[$p]=$(sed -n 's/^C //p' "$w/summary")
    read -r _ _ _ b <<<"${C[$p]:-0 0 0 0}"
    [ "${b:-0}" -ge "$runs" ] || fail "$p: counter blocks in ${b:-0} of $runs uepoll run(s) (did the server reach exit()?)"
    # the replies of every run must be the same
    identical=yes
    checks=("$w"/check.*)
    if [ ! -f "${checks[0]}" ] || [ ${#checks[@]} -ne $((2 * runs)) ]; then
        identical=no; fail "$p: expected $((2 * runs)) reply transcripts, found ${#checks[@]}"
    fi
    for c in "${checks[@]}"; do
        [ -f "$c" ] && cmp -s "$c" "${checks[0]}" || { identical=no; fail "$p: replies in ${c##*/} differ from ${checks[0]##*/}"; }
    done
    grep -q '^FAIL: ' "$w"/logs/*.client.log 2>/dev/null && identical=no
    S[$p]=$identical
done

echo
printf '%-13s %-6s %8s %8s %6s  %-13s %6s %9s %13s %13s %9s %7s\n' program unit kernel uepoll ratio "cpu us/op k/u" ratio identical engine_events kernel_events demotions served
for p in "${progs[@]}"; do
    [ -n "${T[$p]:-}" ] || continue
    read -r k u <<<"${T[$p]}"; read -r ck cu <<<"${P[$p]}"
    ratio=$(awk -v k="$k" -v u="$u" 'BEGIN {if (k>0) printf "%.3f", u/k; else print "n/a"}')
    cratio=$(awk -v k="$ck" -v u="$cu" 'BEGIN {if (u>0) printf "%.3f", k/u; else print "n/a"}')
    read -r e kk dm b <<<"${C[$p]:-0 0 0 0}"
    served=$(awk -v e="$e" -v k="$kk" 'BEGIN {if (e + k > 0) printf "%.1f%%", 100 * e / (e + k); else print "-"}')
    printf '%-13s %-6s %8.0f %8.0f %6s  %-13s %6s %9s %13s %13s %9s %7s\n' "$p" "${U[$p]}" "$k" "$u" "$ratio" "$ck/$cu" "$cratio" "${S[$p]}" "$e" "$kk" "$dm" "$served"
    if [ "$ratio" != n/a ] && awk -v r="$ratio" -v m="$min_ratio" 'BEGIN {exit !(r < m)}'; then
        fail "$p: median ratio $ratio is below --min-ratio $min_ratio"
    fi
done
echo "(medians of $runs run(s) per side; throughput ratio uepoll/kernel; cpu: the server's CPU"
echo " time (user+sys over its whole run, checks included) per operation of the load, ratio"
echo " kernel/uepoll, so >1 favours uepoll too; counters: median of the uepoll runs, summed"
echo " over the server's processes; a forked child starts with its parent's counts; served:"
echo " engine_events / (engine_events + kernel_events), the share of events the engine delivered)"
echo "== real-check: $(( $(date +%s) - start )) s, $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
