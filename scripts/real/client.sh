#!/usr/bin/env bash
# client.sh - the client side of one scripts/real-check.sh run, started by
# `uepoll ab --client` once the server accepts connections: it checks the server's
# replies byte for byte, runs the load generator, and prints
#   TPUT: <operations per second>    OPS: <operations in the load>
# The replies go to WORK/check.$UEPOLL_AB_ENGINE.$UEPOLL_AB_RUN, which real-check.sh
# compares across runs. Every problem is a "FAIL: ..." line and exit status 1.
#
# Usage: client.sh PROGRAM PORT WORK LOAD_SECS REDIS_N   (PROGRAM: redis, nginx,
#        nginx-aio, asyncio, asyncio-exec, memcached)
set -u
here=$(cd "$(dirname "$0")" && pwd)
p=$1 port=$2 work=$3 load_secs=$4 redis_n=$5
side=${UEPOLL_AB_ENGINE:-x} r=${UEPOLL_AB_RUN:-x}
d="$work/run.$side.$r"
mkdir -p "$d"
check="$work/check.$side.$r"
: >"$check"
status=0
fail() { echo "FAIL: $side: $*"; status=1; }
py=$(python3 -c 'import sys; print(sys.executable)')
# Deterministic binary data: gen FILE SIZE SEED
gen() { "$py" -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[2])).randbytes(int(sys.argv[1])))' "$2" "$3" >"$1"; }
nginx_port=$port
nginx_sizes="0 1 100 4096 65536 1048577 1500000 8388608"

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

client_redis() {
    redis_port=$port
    # load: redis-benchmark, SET then GET
    if ! timeout 120 redis-benchmark -p $redis_port -n $redis_n -c 50 -q -t set,get --csv >"$d/bench" 2>&1; then
        fail "redis-benchmark failed: $(tail -2 "$d/bench")"
    fi
    awk -F'"' -v n=$redis_n '$2=="SET"||$2=="GET" {t+=n/$4; c++} END {if (c==2) printf "TPUT: %.0f\n", 2*n/t}' "$d/bench"
    echo "OPS: $((2 * redis_n))"
    # check: the command list through one redis-cli connection, then binary values
    printf '%s\n' "$redis_cmds" | timeout 30 redis-cli -p $redis_port >"$d/check" 2>&1 || true
    printf '%s\n' "$redis_expected" | cmp -s - "$d/check" \
        || fail "redis-cli replies differ from the expected ones: $(printf '%s\n' "$redis_expected" | diff - "$d/check" | head -5 | tr '\n' ' ')"
    local size
    for size in 1 4096 65537 1500000; do
        [ -f "$work/blob.$size" ] || gen "$work/blob.$size" $size $size
        timeout 30 redis-cli -p $redis_port -x SET "blob:$size" <"$work/blob.$size" >"$d/set.$size" 2>&1 || true
        [ "$(cat "$d/set.$size")" = OK ] || fail "SET blob:$size: $(head -c 100 "$d/set.$size")"
        timeout 30 redis-cli -p $redis_port GET "blob:$size" >"$d/get.$size" 2>&1 || true
        # redis-cli prints the raw value and a newline
        if ! { cat "$work/blob.$size"; echo; } | cmp -s - "$d/get.$size"; then
            fail "GET blob:$size differs from the value stored ($(stat -c %s "$d/get.$size") bytes back)"
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
        || fail "BGSAVE did not finish with status ok"
    printf '%s\n' "$redis_cmds" | timeout 30 redis-cli -p $redis_port >"$d/check2" 2>&1 || true
    printf '%s\n' "$redis_expected" | cmp -s - "$d/check2" \
        || fail "after BGSAVE, redis-cli replies differ from the expected ones"
    timeout 30 redis-cli -p $redis_port GET blob:1500000 >"$d/get2" 2>&1 || true
    { cat "$work/blob.1500000"; echo; } | cmp -s - "$d/get2" || fail "after BGSAVE, GET blob:1500000 differs"
    cat "$d/check" "$d/check2" "$d/get2" >"$check"
}

# nginx_fetch SIDE DIR: every file alone, then all on one keep-alive connection
nginx_fetch() {
    local side=$1 d=$2 s code
    for s in $nginx_sizes; do
        code=$(timeout 30 curl -sS -o "$d/got" -w '%{http_code}' "http://127.0.0.1:$nginx_port/f$s" 2>&1) || true
        if [ "$code" != 200 ] || ! cmp -s "$d/got" "$work/blob.$s"; then
            fail "GET /f$s: status $code, body $(stat -c %s "$d/got" 2>/dev/null || echo none) bytes, expected $s identical bytes"
        fi
        { echo "$code $s"; cat "$d/got"; } >>"$d/check"
    done
    timeout 30 curl -sS $(for s in $nginx_sizes; do echo "http://127.0.0.1:$nginx_port/f$s"; done) >"$d/got" 2>&1 || true
    (for s in $nginx_sizes; do cat "$work/blob.$s"; done) | cmp -s - "$d/got" \
        || fail "keep-alive sequence of all files differs"
}
client_nginx() {
    local conf=$work/conf
    : >"$d/check"
    nginx_fetch "$side" "$d"
    # load: wrk on the 4 KiB file, one thread, 32 connections
    timeout $((load_secs + 30)) wrk -t1 -c32 -d${load_secs}s "http://127.0.0.1:$nginx_port/f4096" >"$d/wrk" 2>&1 \
        || fail "wrk failed: $(tail -2 "$d/wrk")"
    if grep -qE "Non-2xx|Socket errors" "$d/wrk"; then
        fail "wrk: $(grep -E "Non-2xx|Socket errors" "$d/wrk" | tr '\n' ' ')"
    fi
    awk '/^Requests\/sec:/ {printf "TPUT: %.0f\n", $2}' "$d/wrk"
    awk '/requests in/ {print "OPS: " $1}' "$d/wrk"
    # reload: the master forks a new worker and the old one leaves; check again
    # against the new worker
    local old new i
    old=$(cat "/proc/$(cat "$conf/nginx.pid")/task/"*/children 2>/dev/null | tr -s ' \n' ' ')
    timeout 30 nginx -p "$conf" -c "$conf/nginx.conf" -e stderr -s reload >/dev/null 2>&1 || true
    for i in $(seq 100); do
        new=$(cat "/proc/$(cat "$conf/nginx.pid")/task/"*/children 2>/dev/null | tr -s ' \n' ' ')
        [ -n "$new" ] && [ "$new" != "$old" ] && ! grep -qw -- "${old:-none}" <<<"$new" && break
        sleep 0.1
    done
    [ -n "$new" ] && [ "$new" != "$old" ] || fail "nginx -s reload: no new worker within 10 s"
    nginx_fetch "$side" "$d"
    cp "$d/check" "$check"
}

client_asyncio() {
    timeout $((load_secs + 90)) "$py" "$here/asyncio_echo.py" client --port "$port" \
        --conns 8 --size 1024 --duration "$load_secs" >"$d/client" 2>&1 \
        || fail "echo client: $(tail -3 "$d/client" | tr '\n' ' ')"
    "$py" -c 'import json,sys; j = json.loads(open(sys.argv[1]).readlines()[-1]); print("TPUT: %d\nOPS: %d" % (round(j.get("msgs_per_s", 0)), j.get("msgs", 0)))' "$d/client" 2>/dev/null || true
    "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1]).get("digest"))' "$d/client" >"$check" 2>&1 || true
}

client_memcached() {
    timeout 120 "$py" "$here/memcache_check.py" --port "$port" --conns 4 \
        --transcript "$check" >"$d/checker" 2>&1 || fail "$(tail -3 "$d/checker" | tr '\n' ' ')"
    # load: memaslap (memcaslap in Debian), 90% get / 10% set, 10% of gets verified
    timeout $((load_secs + 30)) memcaslap -s 127.0.0.1:$port -T 2 -c 32 -t ${load_secs}s \
        --verify=0.1 >"$d/load" 2>&1 || fail "memcaslap failed: $(tail -2 "$d/load")"
    local vf
    vf=$(awk -F': ' '/^verify_failed/ {print $2}' "$d/load")
    [ "${vf:-x}" = 0 ] || fail "memcaslap verify_failed=${vf:-missing}"
    awk '/^Run time:/ {for (i=1;i<NF;i++) if ($i=="TPS:") printf "TPUT: %.0f\n", $(i+1)}' "$d/load"
    awk '/^Run time:/ {for (i=1;i<NF;i++) if ($i=="Ops:") print "OPS: " $(i+1)}' "$d/load"
}

case $p in
    redis) client_redis ;;
    nginx|nginx-aio) client_nginx ;;
    asyncio|asyncio-exec) client_asyncio ;;
    memcached) client_memcached ;;
    *) fail "unknown program $p" ;;
esac
exit $status
