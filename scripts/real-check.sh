#!/usr/bin/env bash
# Real programs from Debian packages (redis-server, nginx, memcached) and a Python
# asyncio echo server, each run on the kernel and under uepoll. Only the SERVER gets
# LD_PRELOAD; the load generators and checkers run without the library, so the
# figures measure the server. Every run checks the server's replies byte for byte,
# then measures throughput. Runs alternate between the kernel and uepoll (the side
# that goes first alternates too); the table gives medians and uepoll/kernel.
# Under uepoll the server runs with UEPOLL_STATS=1 and is stopped with a clean
# shutdown command, so that each process prints its counter block at exit().
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
server_limit=300          # no server outlives this many seconds (timeout -s KILL)

# The machine's python3 may be a pyenv shim (a shell script that forks several
# processes); run the interpreter itself so that only the server loads the library.
py=$(python3 -c 'import sys; print(sys.executable)')

missing=()
need() { command -v "$1" >/dev/null || missing+=("$1 (Debian package $2)"); }
need curl curl
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

work=$(mktemp -d /tmp/uepoll-real.XXXXXX)
srv_pid=""
# kill_server: SIGKILL the server started last, its children (nginx's workers) and the
# timeout wrapper (which, run with --foreground, does not pass SIGKILL on).
kill_server() {
    [ -n "$srv_pid" ] || return 0
    local top kids
    top=$(cat /proc/"$srv_pid"/task/*/children 2>/dev/null || true)
    kids=$(for p in $top; do cat /proc/"$p"/task/*/children 2>/dev/null || true; done)
    # shellcheck disable=SC2086 # lists of pids
    kill -KILL $kids $top "$srv_pid" 2>/dev/null || true
}
cleanup() {
    kill_server
    rm -rf "$work"
}
trap cleanup EXIT
status=0
fail() { echo "real-check: FAIL: $*"; status=1; run_ok=0; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server SIDE PORT ERRFILE CMD... : start CMD in the background (under uepoll
# with the counters on, or plainly), wait until PORT accepts connections.
start_server() {
    local side=$1 port=$2 err=$3; shift 3
    if port_open "$port"; then
        fail "port $port is already in use before starting $1"; return 1
    fi
    local pre=(env -u LD_PRELOAD)
    [ "$side" = uepoll ] && pre=(env UEPOLL_STATS=1 LD_PRELOAD="$lib")
    # --foreground: a TERM sent to timeout reaches the server once (without it timeout
    # also signals its own process group, and a second TERM can land after the
    # server has restored the default action, mid-exit)
    timeout --foreground -s KILL "$server_limit" "${pre[@]}" "$@" >"$err.out" 2>"$err" </dev/null &
    srv_pid=$!
    local i
    for i in $(seq 150); do
        port_open "$port" && return 0
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$side: server did not start listening on $port: $(tail -3 "$err")"
    kill_server; wait "$srv_pid" 2>/dev/null || true; srv_pid=""
    return 1
}

# stop_server SIDE: the clean shutdown command has been sent; wait for the exit and
# check its status.
stop_server() {
    local side=$1 i rc=0
    for i in $(seq 150); do
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        fail "$side: server still running 15 s after its shutdown command; killed"
        kill_server
    fi
    wait "$srv_pid" || rc=$?
    srv_pid=""
    [ $rc = 0 ] || fail "$side: server exited with status $rc"
}

# counters FILE...: "engine kernel demotions blocks per-process", the first three
# summed over every process block; per-process lists each block's engine/kernel/demotions.
counters() {
    cat "$@" 2>/dev/null | awk '
        /^uepoll stats/ {b++}
        $1=="engine_events" {e+=$2; pe=$2} $1=="kernel_events" {k+=$2; pk=$2}
        $1=="demotions" {d+=$2; per=per (per=="" ? "" : ",") pe "/" pk "/" $2}
        END {printf "%d %d %d %d %s\n", e, k, d, b, (per=="" ? "-" : per)}'
}

# server_cpu: CPU time (user+system, clock ticks) used so far by the server process and
# its children (nginx's worker), all threads.
clk_tck=$(getconf CLK_TCK)
server_cpu() {
    local top kids p
    top=$(cat /proc/"$srv_pid"/task/*/children 2>/dev/null || true)
    kids=$(for p in $top; do cat /proc/"$p"/task/*/children 2>/dev/null || true; done)
    for p in $top $kids; do
        # the fields after the command name, which is in parentheses
        sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13}' || true
    done | awk '{s += $1} END {print s + 0}'
}
# cpu_per_op TICKS_BEFORE OPS: the server's CPU microseconds per operation since then
cpu_per_op() {
    awk -v a="$1" -v b="$(server_cpu)" -v n="$2" -v hz="$clk_tck" \
        'BEGIN {if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n; else print 0}'
}

# Deterministic binary data: gen FILE SIZE SEED
gen() { "$py" -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[2])).randbytes(int(sys.argv[1])))' "$2" "$3" >"$1"; }

# Each run_PROG SIDE RUN sets: tput (a number), unit, check (a file whose contents
# must match across sides), err_files (the server's stderr and logs).

# ---------------------------------------------------------------- redis
redis_port=16379
redis_cmds='PING
SET k1 hello
GET k1
APPEND k1 " world"
GET k1
STRLEN k1
INCR ctr
INCRBY ctr 41
DECR ctr
INCR k1
LPUSH list a b c
RPUSH list "d e" "f\tg"
LRANGE list 0 -1
LPOP list
LLEN list
HSET h f1 v1 f2 v2
HGET h f2
HGETALL h
SADD s x y z x
SCARD s
MSET a 1 b 2
MGET a b nope
GETRANGE k1 3 7
DEL k1 ctr list h s a b
EXISTS k1
GET k1
PING end'
# redis-cli's output when stdout is not a terminal: raw values, one a line; an error
# reply is followed by an empty line, a nil by an empty line.
redis_expected=$'PONG\nOK\nhello\n11\nhello world\n11\n1\n42\n41
ERR value is not an integer or out of range\n
3\n5\nc\nb\na\nd e\nf\tg\nc\n4
2\nv2\nf1\nv1\nf2\nv2\n3\n3
OK\n1\n2\n\nlo wo\n7\n0\n\nend'
run_redis() {
    local side=$1 r=$2 d="$work/redis.$1.$2"
    mkdir -p "$d"; err_files=("$d/err")
    start_server "$side" $redis_port "$d/err" redis-server --port $redis_port --bind 127.0.0.1 \
        --save '' --appendonly no --daemonize no --logfile '' --dir "$d" || return 0
    # load: redis-benchmark, SET then GET
    local cpu0; cpu0=$(server_cpu)
    if ! timeout 120 redis-benchmark -p $redis_port -n $redis_n -c 50 -q -t set,get --csv >"$d/bench" 2>&1; then
        fail "$side: redis-benchmark failed: $(tail -2 "$d/bench")"
    fi
    tput=$(awk -F'"' -v n=$redis_n '$2=="SET"||$2=="GET" {t+=n/$4; c++} END {if (c==2) printf "%.0f", 2*n/t; else print 0}' "$d/bench")
    unit="req/s"
    cpu_op=$(cpu_per_op "$cpu0" $((2 * redis_n)))
    # check: the command list through one redis-cli connection, then binary values
    printf '%s\n' "$redis_cmds" | timeout 30 redis-cli -p $redis_port >"$d/check" 2>&1 || true
    printf '%s\n' "$redis_expected" | cmp -s - "$d/check" \
        || fail "$side: redis-cli replies differ from the expected ones: $(printf '%s\n' "$redis_expected" | diff - "$d/check" | head -5 | tr '\n' ' ')"
    local size
    for size in 1 4096 65537 1500000; do
        [ -f "$work/blob.$size" ] || gen "$work/blob.$size" $size $size
        timeout 30 redis-cli -p $redis_port -x SET "blob:$size" <"$work/blob.$size" >"$d/set.$size" 2>&1 || true
        [ "$(cat "$d/set.$size")" = OK ] || fail "$side: SET blob:$size: $(head -c 100 "$d/set.$size")"
        timeout 30 redis-cli -p $redis_port GET "blob:$size" >"$d/get.$size" 2>&1 || true
        # redis-cli prints the raw value and a newline
        if ! { cat "$work/blob.$size"; echo; } | cmp -s - "$d/get.$size"; then
            fail "$side: GET blob:$size differs from the value stored ($(stat -c %s "$d/get.$size") bytes back)"
        fi
        cat "$d/get.$size" >>"$d/check"
    done
    # BGSAVE forks a child that writes the dataset (under uepoll: the fork demotes
    # every served file and turns the instance kernel-only); the server must go on
    # answering the same way afterwards.
    local saved=no i
    timeout 30 redis-cli -p $redis_port BGSAVE >>"$d/check" 2>&1 || true
    for i in $(seq 100); do
        timeout 30 redis-cli -p $redis_port INFO persistence 2>/dev/null | tr -d '\r' >"$d/info" || true
        if grep -q '^rdb_bgsave_in_progress:0' "$d/info"; then saved=yes; break; fi
        sleep 0.1
    done
    [ $saved = yes ] && grep -q '^rdb_last_bgsave_status:ok' "$d/info" \
        || fail "$side: BGSAVE did not finish with status ok"
    printf '%s\n' "$redis_cmds" | timeout 30 redis-cli -p $redis_port >"$d/check2" 2>&1 || true
    printf '%s\n' "$redis_expected" | cmp -s - "$d/check2" \
        || fail "$side: after BGSAVE, redis-cli replies differ from the expected ones"
    timeout 30 redis-cli -p $redis_port GET blob:1500000 >"$d/get2" 2>&1 || true
    { cat "$work/blob.1500000"; echo; } | cmp -s - "$d/get2" || fail "$side: after BGSAVE, GET blob:1500000 differs"
    cat "$d/check2" "$d/get2" >>"$d/check"
    check="$d/check"
    timeout 30 redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true
    stop_server "$side"
}

# ---------------------------------------------------------------- nginx
nginx_port=18080
nginx_sizes="0 1 100 4096 65536 1048577 1500000 8388608"
nginx_setup() {
    local dir=$1 extra=$2
    mkdir -p "$dir/www" "$dir/tmp"
    local s
    for s in $nginx_sizes; do
        [ -f "$work/blob.$s" ] || gen "$work/blob.$s" "$s" "$s"
        cp "$work/blob.$s" "$dir/www/f$s"
    done
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
user root;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
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
    server { listen 127.0.0.1:$nginx_port; root $dir/www; }
}
EOF
}
# nginx_fetch SIDE DIR: every file alone, then all on one keep-alive connection
nginx_fetch() {
    local side=$1 d=$2 s code
    for s in $nginx_sizes; do
        code=$(timeout 30 curl -sS -o "$d/got" -w '%{http_code}' "http://127.0.0.1:$nginx_port/f$s" 2>&1) || true
        if [ "$code" != 200 ] || ! cmp -s "$d/got" "$work/blob.$s"; then
            fail "$side: GET /f$s: status $code, body $(stat -c %s "$d/got" 2>/dev/null || echo none) bytes, expected $s identical bytes"
        fi
        { echo "$code $s"; cat "$d/got"; } >>"$d/check"
    done
    timeout 30 curl -sS $(for s in $nginx_sizes; do echo "http://127.0.0.1:$nginx_port/f$s"; done) >"$d/got" 2>&1 || true
    (for s in $nginx_sizes; do cat "$work/blob.$s"; done) | cmp -s - "$d/got" \
        || fail "$side: keep-alive sequence of all files differs"
}
run_nginx_common() {
    local side=$1 r=$2 name=$3 extra=$4 d="$work/$3.$1.$2"
    nginx_setup "$d" "$extra"
    # nginx points its stderr at the error log once started: counters land there
    err_files=("$d/err" "$d/error.log")
    start_server "$side" $nginx_port "$d/err" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" || return 0
    : >"$d/check"
    nginx_fetch "$side" "$d"
    # load: wrk on the 4 KiB file, one thread, 32 connections
    local cpu0; cpu0=$(server_cpu)
    timeout $((load_secs + 30)) wrk -t1 -c32 -d${load_secs}s "http://127.0.0.1:$nginx_port/f4096" >"$d/wrk" 2>&1 \
        || fail "$side: wrk failed: $(tail -2 "$d/wrk")"
    if grep -qE "Non-2xx|Socket errors" "$d/wrk"; then
        fail "$side: wrk: $(grep -E "Non-2xx|Socket errors" "$d/wrk" | tr '\n' ' ')"
    fi
    tput=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$d/wrk"); unit="req/s"
    cpu_op=$(cpu_per_op "$cpu0" "$(awk '/requests in/ {print $1}' "$d/wrk")")
    # reload: the master forks a new worker and the old one leaves; check again
    # against the new worker
    local old new i
    old=$(cat "/proc/$(cat "$d/nginx.pid")/task/"*/children 2>/dev/null | tr -s ' \n' ' ')
    timeout 30 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -s reload >/dev/null 2>&1 || true
    for i in $(seq 100); do
        new=$(cat "/proc/$(cat "$d/nginx.pid")/task/"*/children 2>/dev/null | tr -s ' \n' ' ')
        [ -n "$new" ] && [ "$new" != "$old" ] && ! grep -qw -- "${old:-none}" <<<"$new" && break
        sleep 0.1
    done
    [ -n "$new" ] && [ "$new" != "$old" ] || fail "$side: nginx -s reload: no new worker within 10 s"
    nginx_fetch "$side" "$d"
    check="$d/check"
    timeout 30 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -s quit >/dev/null 2>&1 || true
    stop_server "$side"
}
run_nginx() { run_nginx_common "$1" "$2" nginx "sendfile on;"; }
run_nginx-aio() { run_nginx_common "$1" "$2" nginx-aio "sendfile off; aio threads;"; }

# ---------------------------------------------------------------- asyncio
asyncio_port=17007
run_asyncio_common() {
    local side=$1 r=$2 name=$3 d="$work/$3.$1.$2"; shift 3
    mkdir -p "$d"; err_files=("$d/err")
    start_server "$side" $asyncio_port "$d/err" "$py" "$here/real/asyncio_echo.py" server \
        --port $asyncio_port "$@" || return 0
    local cpu0; cpu0=$(server_cpu)
    timeout $((load_secs + 90)) "$py" "$here/real/asyncio_echo.py" client --port $asyncio_port \
        --conns 8 --size 1024 --duration "$load_secs" >"$d/client" 2>&1 \
        || fail "$side: echo client: $(tail -3 "$d/client" | tr '\n' ' ')"
    tput=$("$py" -c 'import json,sys; print(round(json.loads(open(sys.argv[1]).readlines()[-1]).get("msgs_per_s", 0)))' "$d/client" 2>/dev/null || echo 0)
    unit="msg/s"
    cpu_op=$(cpu_per_op "$cpu0" "$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1]).get("msgs", 0))' "$d/client" 2>/dev/null || echo 0)")
    "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1]).get("digest"))' "$d/client" >"$d/check" 2>&1 || true
    check="$d/check"
    kill -TERM "$srv_pid" 2>/dev/null || true
    stop_server "$side"
}
run_asyncio() { run_asyncio_common "$1" "$2" asyncio; }
run_asyncio-exec() { run_asyncio_common "$1" "$2" asyncio-exec --executor; }

# ---------------------------------------------------------------- memcached
mc_port=21211
run_memcached() {
    local side=$1 r=$2 d="$work/memcached.$1.$2"
    mkdir -p "$d"; err_files=("$d/err")
    start_server "$side" $mc_port "$d/err" memcached -p $mc_port -l 127.0.0.1 -U 0 -u root \
        -t 2 -m 256 -I 4m || return 0
    timeout 120 "$py" "$here/real/memcache_check.py" --port $mc_port --conns 4 \
        --transcript "$d/check" >"$d/checker" 2>&1 || fail "$side: $(tail -3 "$d/checker" | tr '\n' ' ')"
    check="$d/check"
    # load: memaslap (memcaslap in Debian), 90% get / 10% set, 10% of gets verified
    local cpu0; cpu0=$(server_cpu)
    timeout $((load_secs + 30)) memcaslap -s 127.0.0.1:$mc_port -T 2 -c 32 -t ${load_secs}s \
        --verify=0.1 >"$d/load" 2>&1 || fail "$side: memcaslap failed: $(tail -2 "$d/load")"
    local vf
    vf=$(awk -F': ' '/^verify_failed/ {print $2}' "$d/load")
    [ "${vf:-x}" = 0 ] || fail "$side: memcaslap verify_failed=${vf:-missing}"
    tput=$(awk '/^Run time:/ {for (i=1;i<NF;i++) if ($i=="TPS:") printf "%.0f", $(i+1)}' "$d/load")
    unit="ops/s"
    cpu_op=$(cpu_per_op "$cpu0" "$(awk '/^Run time:/ {for (i=1;i<NF;i++) if ($i=="Ops:") print $(i+1)}' "$d/load")")
    kill -TERM "$srv_pid" 2>/dev/null || true
    stop_server "$side"
}

# ---------------------------------------------------------------- driver
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

declare -A T P C S U
start=$(date +%s)
echo "== real programs: ${progs[*]}; $runs run(s) per side, interleaved; library $lib"
for p in "${progs[@]}"; do
    first_check=""
    identical=yes
    for r in $(seq "$runs"); do
        order="kernel uepoll"; [ $((r % 2)) = 0 ] && order="uepoll kernel"
        for side in $order; do
            tput=0 cpu_op=0 unit="" check="" err_files=() run_ok=1
            "run_$p" "$side" "$r"
            [ -n "$tput" ] || tput=0
            [ "$run_ok" = 1 ] || identical=no
            if [ -n "$check" ] && [ -f "$check" ]; then
                if [ -z "$first_check" ]; then
                    first_check="$work/$p.first-check"; cp "$check" "$first_check"
                elif ! cmp -s "$check" "$first_check"; then
                    identical=no; fail "$p $side run $r: replies differ from the first run's"
                fi
            else
                identical=no
            fi
            T[$p.$side]+="$tput "
            P[$p.$side]+="$cpu_op "
            U[$p]=$unit
            line="$p run $r $side: $tput $unit, server CPU $cpu_op us/op"
            if [ "$side" = uepoll ]; then
                read -r e k dm b per < <(counters "${err_files[@]}")
                C[$p]="$e $k $dm $b"
                line+="  (engine_events $e, kernel_events $k, demotions $dm; $b process(es), engine/kernel/demotions each: $per)"
                [ "$b" -gt 0 ] || fail "$p uepoll run $r: no counter block printed (did the server reach exit()?)"
            fi
            echo "$line"
        done
    done
    S[$p]=$identical
done

echo
printf '%-13s %-6s %8s %8s %6s  %-13s %6s %9s %13s %13s %9s\n' program unit kernel uepoll ratio "cpu us/op k/u" ratio identical engine_events kernel_events demotions
for p in "${progs[@]}"; do
    k=$(echo "${T[$p.kernel]}" | median); u=$(echo "${T[$p.uepoll]}" | median)
    ratio=$(awk -v k="$k" -v u="$u" 'BEGIN {if (k>0) printf "%.3f", u/k; else print "n/a"}')
    ck=$(echo "${P[$p.kernel]}" | median); cu=$(echo "${P[$p.uepoll]}" | median)
    cratio=$(awk -v k="$ck" -v u="$cu" 'BEGIN {if (u>0) printf "%.3f", k/u; else print "n/a"}')
    read -r e kk dm b <<<"${C[$p]:-0 0 0 0}"
    printf '%-13s %-6s %8s %8s %6s  %-13s %6s %9s %13s %13s %9s\n' "$p" "${U[$p]}" "$k" "$u" "$ratio" "$ck/$cu" "$cratio" "${S[$p]}" "$e" "$kk" "$dm"
    if [ "$ratio" != n/a ] && awk -v r="$ratio" -v m="$min_ratio" 'BEGIN {exit !(r < m)}'; then
        fail "$p: median ratio $ratio is below --min-ratio $min_ratio"
    fi
done
echo "(medians of $runs run(s) per side; throughput ratio uepoll/kernel; cpu: the server's CPU"
echo " time per operation during the load, ratio kernel/uepoll, so >1 favours uepoll too;"
echo " counters: the last uepoll run, summed over the server's processes; a forked child"
echo " starts with its parent's counts)"
echo "== real-check: $(( $(date +%s) - start )) s, $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
