#!/usr/bin/env python3
"""Benchmark one rawx process: big chunk PUT/GET MB/s, small chunk ops/s.

Starts `oio-rawx` (fsync on) on a free port in a temporary volume, drives it
with a lean asyncio client (raw HTTP/1.1 on keep-alive connections, so the
client costs little of the 2 cores), prints the numbers and the rawx peak
RSS. Not a test.

    python bench/rawx_bench.py [--big-mib 64] [--big-count 8]
                               [--small-count 4000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
META = (
    "X-oio-chunk-meta-content-storage-policy: SINGLE\r\n"
    "X-oio-chunk-meta-content-chunk-method: plain/nb_copy=1\r\n"
    "X-oio-chunk-meta-chunk-pos: 0\r\n"
    "X-oio-chunk-meta-full-path: bench/bench/obj/1/0123456789ABCDEF\r\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chunk_id(prefix: str, n: int) -> str:
    return hashlib.sha256(f"{prefix}{n}".encode()).hexdigest().upper()


class Conn:
    """A minimal keep-alive HTTP/1.1 client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       limit=4 * MiB)
        return cls(reader, writer, f"127.0.0.1:{port}")

    async def response(self, sink: bytearray | None = None) -> tuple[int, int]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        left = length
        while left:
            data = await self.reader.read(min(left, 4 * MiB))
            if not data:
                raise ConnectionError("short reply")
            left -= len(data)
        return status, length

    async def put(self, cid: str, body: memoryview) -> int:
        head = (f"PUT /{cid} HTTP/1.1\r\nHost: {self.host}\r\n{META}"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head)
        step = 4 * MiB
        for off in range(0, len(body), step):
            self.writer.write(body[off:off + step])
            await self.writer.drain()
        status, _ = await self.response()
        return status

    async def get(self, cid: str) -> tuple[int, int]:
        self.writer.write(f"GET /{cid} HTTP/1.1\r\nHost: {self.host}\r\n\r\n"
                          .encode())
        return await self.response()

    def close(self) -> None:
        self.writer.close()


async def big(port: int, mib: int, count: int) -> tuple[float, float]:
    body = memoryview(os.urandom(mib * MiB))
    conn = await Conn.open(port)
    ids = [chunk_id("big", i) for i in range(count)]
    start = time.perf_counter()
    for cid in ids:
        assert await conn.put(cid, body) == 201
    put = count * mib * MiB / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    for _ in range(2):
        for cid in ids:
            status, length = await conn.get(cid)
            assert status == 200 and length == mib * MiB
    get = 2 * count * mib * MiB / (time.perf_counter() - start) / 1e6
    conn.close()
    return put, get


async def small(port: int, total: int, concurrency: int) -> tuple[float, float]:
    body = memoryview(os.urandom(4096))
    conns = [await Conn.open(port) for _ in range(concurrency)]

    async def worker(conn: Conn, index: int, op) -> None:
        for n in range(index, total, concurrency):
            await op(conn, chunk_id("small", n))

    async def do_put(conn, cid):
        assert await conn.put(cid, body) == 201

    async def do_get(conn, cid):
        status, _ = await conn.get(cid)
        assert status == 200

    rates = []
    for op in (do_put, do_get):
        start = time.perf_counter()
        await asyncio.gather(*(worker(c, i, op) for i, c in enumerate(conns)))
        rates.append(total / (time.perf_counter() - start))
    for conn in conns:
        conn.close()
    return rates[0], rates[1]


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_rawx(root: str, fsync: bool, buffer_kib: int = 1024
               ) -> tuple[subprocess.Popen, int]:
    vol = os.path.join(root, "vol")
    os.mkdir(vol)
    port = free_port()
    conf = os.path.join(root, "rawx.conf")
    flag = "enabled" if fsync else "disabled"
    with open(conf, "w") as handle:
        handle.write(f"Listen 127.0.0.1:{port}\ngrid_docroot {vol}\n"
                     f"grid_namespace BENCH\ngrid_fsync {flag}\n"
                     f"grid_fsync_dir {flag}\ngrid_buffer_size {buffer_kib}\n")
    proc = subprocess.Popen([sys.executable, "-m", "oio.blob.rawx_server", conf],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("oio-rawx did not start") from None
            time.sleep(0.05)
    raise SystemExit("oio-rawx did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=64)
    parser.add_argument("--big-count", type=int, default=8)
    parser.add_argument("--small-count", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--buffer-kib", type=int, default=1024,
                        help="rawx grid_buffer_size (the sandbox uses 1024)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="rawx-bench-", dir="/var/tmp")
    proc, port = start_rawx(root, not args.no_fsync, args.buffer_kib)
    try:
        put, get = asyncio.run(big(port, args.big_mib, args.big_count))
        print(f"{args.big_mib} MiB chunk PUT: {put:8.0f} MB/s")
        print(f"{args.big_mib} MiB chunk GET: {get:8.0f} MB/s")
        sput, sget = asyncio.run(small(port, args.small_count, args.concurrency))
        print(f"4 KiB PUT x{args.concurrency}: {sput:8.0f} ops/s")
        print(f"4 KiB GET x{args.concurrency}: {sget:8.0f} ops/s")
        print(f"rawx peak RSS: {peak_rss_mib(proc.pid):.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
