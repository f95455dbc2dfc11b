#!/usr/bin/env python3
"""asyncio TCP echo server and client for scripts/real-check.sh.

  asyncio_echo.py server --port P [--executor]
      Echo every byte back. Prints "ready PORT" on stdout once listening. SIGTERM
      stops it cleanly (loop.add_signal_handler, which goes through the loop's
      self-pipe), so the process leaves through exit() and atexit handlers run.
      --executor sends every chunk through loop.run_in_executor() before writing it
      back: the worker thread's result wakes the loop through call_soon_threadsafe,
      i.e. a write to the loop's self-pipe socketpair, which uepoll serves.

  asyncio_echo.py client --port P [--conns N] [--size B] [--duration S]
                         [--max-msgs M] [--check-only]
      First a correctness pass on one connection: messages of sizes 0..1.5 MiB with
      seeded random contents, each compared byte for byte with what was sent. Then the
      throughput phase: N connections, each sending B-byte messages (seeded random
      contents) one at a time and comparing every echoed byte, until S seconds or M
      messages in total. Prints one JSON line: msgs, bytes, secs, msgs_per_s, mb_per_s,
      mismatches, digest (sha256 of every byte echoed in the correctness pass).
      Exit status 1 on any mismatch or short read.
"""
import argparse
import asyncio
import hashlib
import json
import random
import signal
import sys
import time

CHECK_SIZES = [1, 2, 7, 100, 1024, 4095, 4096, 4097, 65535, 65536, 65537,
               262144 + 3, 1048576, 1048576 + 1, 1500000]


async def serve(port, executor):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)

    async def handle(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if executor:
                    data = await loop.run_in_executor(None, bytes, data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", port, flush=True)
    await stop
    server.close()
    await server.wait_closed()


async def echo_one(reader, writer, msg):
    writer.write(msg)
    await writer.drain()
    return await reader.readexactly(len(msg))


async def client(args):
    result = {"mismatches": 0}
    # Correctness pass: one connection, many sizes.
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    rng = random.Random(12345)
    digest = hashlib.sha256()
    for size in CHECK_SIZES:
        msg = rng.randbytes(size)
        got = await echo_one(reader, writer, msg)
        digest.update(got)
        if got != msg:
            result["mismatches"] += 1
            print(f"mismatch: correctness pass, size {size}", file=sys.stderr)
    writer.close()
    await writer.wait_closed()
    result["digest"] = digest.hexdigest()
    if args.check_only:
        return result

    # Throughput pass.
    deadline = time.monotonic() + args.duration
    counts = {"msgs": 0, "bytes": 0}

    async def conn(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        crng = random.Random(1000 + i)
        msgs = [crng.randbytes(args.size) for _ in range(16)]
        n = 0
        while time.monotonic() < deadline and counts["msgs"] < args.max_msgs:
            msg = msgs[n % len(msgs)]
            got = await echo_one(reader, writer, msg)
            if got != msg:
                result["mismatches"] += 1
                print(f"mismatch: connection {i}, message {n}", file=sys.stderr)
            n += 1
            counts["msgs"] += 1
            counts["bytes"] += len(msg)
        writer.close()
        await writer.wait_closed()

    t0 = time.monotonic()
    await asyncio.gather(*(conn(i) for i in range(args.conns)))
    secs = time.monotonic() - t0
    result.update(counts)
    result["secs"] = round(secs, 3)
    result["msgs_per_s"] = round(counts["msgs"] / secs, 1)
    result["mb_per_s"] = round(counts["bytes"] / secs / 1e6, 3)
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--executor", action="store_true")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--max-msgs", type=int, default=2_000_000)
    p.add_argument("--check-only", action="store_true")
    args = p.parse_args()
    if args.mode == "server":
        asyncio.run(serve(args.port, args.executor))
        return 0
    try:
        result = asyncio.run(asyncio.wait_for(client(args), args.duration + 60))
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as e:
        print(json.dumps({"error": repr(e)[:200], "mismatches": -1}))
        return 1
    print(json.dumps(result))
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
