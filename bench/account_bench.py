#!/usr/bin/env python3
"""Account container updates per second, SQLite backend against Redis.

Starts its own redis-server (no persistence: `--save ''`, like the tests;
pass --appendonly to measure with an fsync'd AOF, `appendfsync everysec`)
on a free port in a temporary directory, then measures:

- the backend class alone (`update_container` in a loop; Redis also from
  several threads, as the service calls it);
- a real `oio-account` process per backend, driven by a lean asyncio client
  (raw HTTP/1.1 on keep-alive connections) at several concurrencies.

Each update moves a container of one account (1,000 per writer) to a newer
mtime with new counters, as `storage.container.state` events do. Not a
test.

    python bench/account_bench.py [--count 5000] [--concurrency 1,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oio.account.backend import AccountBackend  # noqa: E402
from oio.account.backend_redis import RedisAccountBackend  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Clock:
    """Strictly increasing mtimes shared by every writer."""

    def __init__(self) -> None:
        self.value = 1_600_000_000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.value += 0.001
            return self.value


def update(n: int, clock: Clock, lane: int) -> dict:
    """The n-th update of one writer (`lane`): writers touch their own
    containers, so that no update loses a race (409) to another."""
    return {"name": f"container-{lane}-{n % 1000}", "mtime": clock(),
            "objects": n % 97, "bytes": n * 4096}


def backend_loop(backend, count: int, threads: int) -> float:
    clock = Clock()
    per_thread = count // threads

    def work(lane: int) -> None:
        for n in range(per_thread):
            data = update(n, clock, lane)
            backend.update_container("bench", data["name"], data)

    workers = [threading.Thread(target=work, args=(i,))
               for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


async def http_client(port: int, count: int, concurrency: int,
                      clock: Clock) -> float:
    counter = iter(range(count))
    statuses: dict[int, int] = {}

    async def one_connection(lane: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in counter:
            body = json.dumps(update(n, clock, lane)).encode()
            writer.write(b"PUT /v1.0/account/container/update?id=bench HTTP/1.1\r\n"
                         b"Host: bench\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        print(f"    (replies: {statuses})")
    return count / elapsed


def run_service(workdir: str, settings: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = os.path.join(workdir, f"account-{port}.conf")
    with open(conf, "w") as out:
        out.write("[account-server]\n")
        for key, value in dict(settings, bind_port=port,
                               log_level="WARNING").items():
            out.write(f"{key} = {value}\n")
    proc = subprocess.Popen([sys.executable, "-m", "oio.account.server", conf])
    wait_for(port)
    return proc, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--appendonly", action="store_true")
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print("redis-server is not installed", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="oio-account-bench-", dir="/var/tmp")
    redis_port = free_port()
    persistence = (["--appendonly", "yes", "--appendfsync", "everysec"]
                   if args.appendonly else ["--appendonly", "no"])
    redis_proc = subprocess.Popen(
        [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1",
         "--dir", workdir, "--save", "", *persistence],
        stdout=subprocess.DEVNULL)
    procs: list[subprocess.Popen] = [redis_proc]
    try:
        wait_for(redis_port)
        redis_addr = f"127.0.0.1:{redis_port}"
        print(f"{args.count} container updates each; redis-server "
              f"{'AOF everysec' if args.appendonly else 'no persistence'}")

        def fresh_redis() -> RedisAccountBackend:
            backend = RedisAccountBackend.from_conf({"redis_host": redis_addr})
            backend.redis.flushdb()
            return backend

        sqlite = AccountBackend(os.path.join(workdir, "direct"))
        print(f"  backend sqlite, 1 thread:  "
              f"{backend_loop(sqlite, args.count, 1):8.0f} updates/s")
        sqlite.close()
        for threads in (1, 4):
            backend = fresh_redis()
            rate = backend_loop(backend, args.count, threads)
            print(f"  backend redis, {threads} thread{'s' if threads > 1 else ' '}: "
                  f"{rate:8.0f} updates/s")
            backend.close()

        for name, settings in (
                ("sqlite", {"backend": "sqlite",
                            "datadir": os.path.join(workdir, "service")}),
                ("redis", {"backend": "redis", "redis_host": redis_addr})):
            if name == "redis":
                fresh_redis().close()
            proc, port = run_service(workdir, settings)
            procs.append(proc)
            clock = Clock()   # one for the runs on this service: no 409
            for concurrency in map(int, args.concurrency.split(",")):
                rate = asyncio.run(http_client(port, args.count, concurrency,
                                               clock))
                print(f"  oio-account {name:6}, concurrency {concurrency:2}: "
                      f"{rate:8.0f} updates/s")
            proc.terminate()
            proc.wait(10)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
