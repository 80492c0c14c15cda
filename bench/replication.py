"""The cost of replicated meta bases: the same operations on a namespace
whose meta bases have 1 copy and on one whose bases have 3 (a master each,
changes shipped to 2 slaves), and the write gap when a master dies.

Called by bench.py (`--only replication`); each namespace is fresh, on
free ports, fsync on.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from oio.sandbox.layout import SandboxSettings, find_free_base_port
from oio.sandbox.sandbox import Sandbox


def _namespace(replicas: int) -> Sandbox:
    root = tempfile.mkdtemp(prefix=f"oio-bench-r{replicas}-")
    settings = SandboxSettings(
        namespace="BENCH", root=root, base_port=find_free_base_port(40),
        chunk_size=10 * 1024 * 1024, user_conf=False, fsync=True,
        replicas=replicas, autorestart=False,
        beanstalkd=bool(shutil.which("beanstalkd")))
    sandbox = Sandbox(settings)
    sandbox.bootstrap()
    sandbox.start()
    sandbox.wait_ready(timeout=180, log=lambda *_: None)
    return sandbox


def _rate(func, count: int, concurrency: int) -> dict:
    def timed(i):
        start = time.perf_counter()
        func(i)
        return time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(timed, range(count)))
    elapsed = time.perf_counter() - start
    return {"ops": count / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def _failover_gap(sandbox: Sandbox, api) -> float:
    """Seconds without an acknowledged object create after the master
    meta2 of the container is killed (SIGKILL, it stays dead)."""
    import json
    import urllib.request

    api.container_create("bench", "failover")
    acks: list[float] = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                api.object_create("bench", "failover", data=b"f" * 1024,
                                  obj_name=f"o{i}", policy="SINGLE")
                acks.append(time.monotonic())
            except Exception:  # noqa: BLE001 - the gap is what we measure
                pass
            i += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while len(acks) < 20:
        time.sleep(0.05)
    url = (f"http://{sandbox.settings.proxy}/v3.0/BENCH/admin/status"
           "?type=meta2&acct=bench&ref=failover")
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        states = json.loads(resp.read())
    master = next(p for p, s in states.items()
                  if s["status"]["status"] == 200)
    name = next(s.name for s in sandbox.settings.services if s.addr == master)
    killed = time.monotonic()
    sandbox.kill_service(name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and \
            sum(1 for t in acks if t > killed) < 20:
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    # The longest time without an acknowledgement from the kill on.
    times = [killed] + sorted(t for t in acks if t > killed)
    if len(times) < 2:
        return float("inf")
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def _measure(replicas: int, count: int, concurrency: int) -> dict:
    from oio import ObjectStorageApi

    payload = os.urandom(4096)
    sandbox = _namespace(replicas)
    try:
        api = ObjectStorageApi("BENCH",
                               endpoint=f"http://{sandbox.settings.proxy}")
        res = {"container_create": _rate(
            lambda i: api.container_create("bench", f"c-{i:06d}"),
            count, concurrency)}
        api.container_create("bench", "small")
        res["put_4k"] = _rate(
            lambda i: api.object_create(
                "bench", "small", data=payload, obj_name=f"o-{i:06d}",
                policy="THREECOPIES"), count, concurrency)
        if replicas > 1:
            res["failover_gap_s"] = _failover_gap(sandbox, api)
        return res
    finally:
        sandbox.down()
        shutil.rmtree(sandbox.settings.root, ignore_errors=True)


def run(count: int = 1000, concurrency: int = 16) -> dict:
    """Container creates/s and 4 KiB THREECOPIES PUT/s at `concurrency`,
    with 1 and with 3 replicas; the failover gap with 3."""
    report = {f"replicas_{n}": _measure(n, count, concurrency)
              for n in (1, 3)}
    one, three = report["replicas_1"], report["replicas_3"]
    for key, label in (("container_create", "container creates"),
                       ("put_4k", "4 KiB THREECOPIES PUT")):
        ratio = three[key]["ops"] / one[key]["ops"]
        report[f"{key}_ratio"] = ratio
        print(f"{label:<22} c{concurrency}: 1 replica {one[key]['ops']:7.1f}"
              f" ops/s, 3 replicas {three[key]['ops']:7.1f} ops/s "
              f"({ratio:.0%}); p50 {one[key]['p50_ms']:.1f} / "
              f"{three[key]['p50_ms']:.1f} ms")
    print(f"master meta2 killed: object creates resumed "
          f"{three['failover_gap_s']:.2f} s after")
    return report
