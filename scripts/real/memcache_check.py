#!/usr/bin/env python3
"""Byte-for-byte check of a memcached server (text protocol), standard library only.

  memcache_check.py --port P [--transcript FILE] [--conns N]

Runs a fixed sequence of storage and retrieval commands with seeded random binary
values (0 bytes to 1.5 MiB; the server must allow items that large, memcached -I 4m)
on each of N connections at once (distinct key prefixes). Every reply is compared
byte for byte with the reply the protocol specifies. The replies of connection 0 are
written to FILE, so that the kernel and uepoll runs can be compared with cmp.
Exit status 1 on any difference.
"""
import argparse
import random
import socket
import sys
import threading

SIZES = [0, 1, 2, 13, 100, 1000, 4095, 4096, 4097, 65536, 100003, 524288, 1048576, 1500000]


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def run(port, conn_id, transcript, errors):
    rng = random.Random(4242 + conn_id)
    c = Conn(port)
    p = f"c{conn_id}_"
    log = []

    def expect(request, reply):
        c.send(request)
        got = c.read_exact(len(reply))
        log.append(got)
        if got != reply:
            errors.append(f"conn {conn_id}: {request[:60]!r}: expected {reply[:80]!r}, got {got[:80]!r}")

    values = {}
    for i, size in enumerate(SIZES):
        key = f"{p}k{i}".encode()
        val = rng.randbytes(size)
        values[key] = val
        flags = i * 7
        expect(b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, size, val), b"STORED\r\n")
    for i, size in enumerate(SIZES):
        key = f"{p}k{i}".encode()
        val = values[key]
        expect(b"get %s\r\n" % key, b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, i * 7, size, val))
    # multi-get of the small ones, one request
    keys = [f"{p}k{i}".encode() for i in range(8)]
    reply = b"".join(b"VALUE %s %d %d\r\n%s\r\n" % (k, i * 7, len(values[k]), values[k])
                     for i, k in enumerate(keys)) + b"END\r\n"
    expect(b"get " + b" ".join(keys) + b"\r\n", reply)
    # counters
    ck = f"{p}counter".encode()
    expect(b"set %s 0 0 2\r\n10\r\n" % ck, b"STORED\r\n")
    expect(b"incr %s 5\r\n" % ck, b"15\r\n")
    expect(b"incr %s 18446744073709551600\r\n" % ck, b"18446744073709551615\r\n")
    expect(b"incr %s 1\r\n" % ck, b"0\r\n")  # wraps at 2^64
    expect(b"decr %s 3\r\n" % ck, b"0\r\n")  # decr stops at 0
    expect(b"incr %snope 1\r\n" % ck, b"NOT_FOUND\r\n")
    # add/replace/append/prepend/delete/touch
    ak = f"{p}a".encode()
    expect(b"add %s 1 0 3\r\nabc\r\n" % ak, b"STORED\r\n")
    expect(b"add %s 1 0 3\r\nxyz\r\n" % ak, b"NOT_STORED\r\n")
    expect(b"replace %s 2 0 4\r\ndefg\r\n" % ak, b"STORED\r\n")
    expect(b"append %s 0 0 3\r\n\r\n\x00\r\n" % ak, b"STORED\r\n")
    expect(b"prepend %s 0 0 2\r\n<<\r\n" % ak, b"STORED\r\n")
    expect(b"get %s\r\n" % ak, b"VALUE %s 2 9\r\n<<defg\r\n\x00\r\nEND\r\n" % ak)
    expect(b"replace %sx 0 0 1\r\nq\r\n" % ak, b"NOT_STORED\r\n")
    expect(b"touch %s 1000\r\n" % ak, b"TOUCHED\r\n")
    expect(b"delete %s\r\n" % ak, b"DELETED\r\n")
    expect(b"delete %s\r\n" % ak, b"NOT_FOUND\r\n")
    expect(b"get %s\r\n" % ak, b"END\r\n")
    # overwrite the big value and read it back twice
    big = f"{p}k{len(SIZES) - 1}".encode()
    val = rng.randbytes(1500000)
    expect(b"set %s 9 0 %d\r\n%s\r\n" % (big, len(val), val), b"STORED\r\n")
    for _ in range(2):
        expect(b"get %s\r\n" % big, b"VALUE %s 9 %d\r\n%s\r\nEND\r\n" % (big, len(val), val))
    c.s.close()
    if transcript:
        with open(transcript, "wb") as f:
            f.write(b"".join(log))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--transcript")
    ap.add_argument("--conns", type=int, default=4)
    args = ap.parse_args()
    errors = []

    def worker(i):
        try:
            run(args.port, i, args.transcript if i == 0 else None, errors)
        except Exception as e:  # noqa: BLE001 - report anything as a failure
            errors.append(f"conn {i}: {e!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors[:20]:
        print("memcache_check:", e, file=sys.stderr)
    print(f"memcache_check: {args.conns} connections, {'FAIL' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
