#!/usr/bin/env python3
"""Benchmark a fresh sandbox namespace and the machine it runs on.

Starts its own namespace in a temporary directory (free ports, fsync on),
measures, prints a report and stops it. Not a test: numbers go in notes and
docs/benchmarks.md.

    python bench/bench.py [--quick] [--big-mib 1024] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oio.sandbox.layout import SandboxSettings, find_free_base_port  # noqa: E402
from oio.sandbox.sandbox import Sandbox  # noqa: E402

MiB = 1024 * 1024


# -- machine limits ----------------------------------------------------------

SECTIONS = "big,small,ec,events,huge,listing,replication,healing"


def md5_speed(seconds: float = 1.0) -> float:
    """MiB/s of md5 on one core."""
    buf = os.urandom(MiB)
    h = hashlib.md5()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        h.update(buf)
        n += 1
    return n / (time.perf_counter() - start)


def loopback_speed(total: int = 2048 * MiB) -> float:
    """MB/s of one TCP stream on loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def sink():
        conn, _ = server.accept()
        buf = bytearray(MiB)
        while conn.recv_into(buf):
            pass
        conn.close()

    thread = threading.Thread(target=sink)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    buf = b"\0" * MiB
    start = time.perf_counter()
    sent = 0
    while sent < total:
        client.sendall(buf)
        sent += len(buf)
    client.close()
    thread.join()
    server.close()
    return total / (time.perf_counter() - start) / 1e6


# -- memory ------------------------------------------------------------------

def peak_rss_kib(pid: int) -> int:
    """Peak resident set (VmHWM) of a process, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as src:
            for line in src:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as out:
            out.write("5")
    except OSError:
        pass


def service_pids(sandbox: Sandbox) -> dict[str, list[int]]:
    import psutil

    names = {spec.name: spec.type for spec in sandbox.settings.services}
    conf_dir = sandbox.settings.conf_dir
    pids: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if conf_dir not in cmd and sandbox.settings.root not in cmd:
            continue
        for name, kind in names.items():
            if f"{name}." in cmd or f"/{name} " in cmd or cmd.endswith(f"/{name}"):
                pids.setdefault(kind, []).append(proc.info["pid"])
        if "conscience-agent" in cmd:
            pids.setdefault("conscience-agent", []).append(proc.info["pid"])
    return pids


def peak_by_type(pids: dict[str, list[int]]) -> dict[str, float]:
    return {kind: max(peak_rss_kib(p) for p in plist) / 1024
            for kind, plist in pids.items()}


# -- workloads -----------------------------------------------------------------

class Source:
    """A readable file-like object of `size` bytes that never holds them all."""

    def __init__(self, size: int):
        self.size = size
        self.pos = 0
        self.block = os.urandom(MiB)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos, MiB)
        self.pos += n
        return self.block[:n]


def big_object(api, policy: str, size: int, name: str,
               **kwargs) -> tuple[float, float]:
    """(PUT MB/s, GET MB/s) of one object of `size` bytes."""
    start = time.perf_counter()
    api.object_create_ext("bench", f"big-{policy}", file_or_path=Source(size),
                          obj_name=name, policy=policy, **kwargs)
    put = size / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    _, stream = api.object_fetch("bench", f"big-{policy}", name)
    got = 0
    for chunk in stream:
        got += len(chunk)
    get = got / (time.perf_counter() - start) / 1e6
    assert got == size, (got, size)
    return put, get


def listing(api, count: int) -> dict:
    """Seconds to list a container of `count` objects page by page (1,000 a
    page), and with a delimiter. The objects are registered in meta2 with
    fake chunk URLs (no data): listing only reads meta2."""
    from oio.common.utils import generate_chunk_id, generate_content_id

    container = "listing"
    api.container_create("bench", container)
    empty_md5 = "d41d8cd98f00b204e9800998ecf8427e"

    def create(i):
        content = generate_content_id()
        chunk = {"url": f"http://127.0.0.1:1/{generate_chunk_id()}",
                 "pos": "0", "size": 0, "hash": empty_md5}
        api.container.content_create(
            "bench", container, f"dir{i % 100:02d}/obj{i:07d}", size=0,
            checksum=empty_md5, data={"chunks": [chunk]}, content_id=content,
            stgpol="SINGLE", version=int(time.time() * 1e6),
            chunk_method="plain/nb_copy=1")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(count)))
    started = time.perf_counter()
    marker, pages, seen = None, 0, 0
    while True:
        page = api.object_list("bench", container, limit=1000, marker=marker)
        pages += 1
        seen += len(page["objects"])
        if not page["truncated"]:
            break
        marker = page["next_marker"]
    paged = time.perf_counter() - started
    started = time.perf_counter()
    prefixes = api.object_list("bench", container, delimiter="/")["prefixes"]
    delimited = time.perf_counter() - started
    assert seen == count, (seen, count)
    return {"objects": count, "pages": pages, "paged_s": paged,
            "delimiter_s": delimited, "prefixes": len(prefixes)}


def small_objects(api, policy: str, count: int, concurrency: int) -> dict:
    """ops/s and latencies of 4 KiB PUT, GET, HEAD, DELETE."""
    container = f"small-{policy}-{concurrency}"
    payload = os.urandom(4096)
    api.container_create("bench", container)
    names = [f"obj-{i:06d}" for i in range(count)]
    results = {}

    def timed(func):
        def run(name):
            start = time.perf_counter()
            func(name)
            return time.perf_counter() - start
        return run

    def put(name):
        api.object_create("bench", container, data=payload, obj_name=name,
                          policy=policy)

    def get(name):
        _, stream = api.object_fetch("bench", container, name)
        assert len(b"".join(stream)) == 4096

    def head(name):
        assert api.object_head("bench", container, name)

    def delete(name):
        api.object_delete("bench", container, name)

    for label, func in (("PUT", put), ("GET", get), ("HEAD", head),
                        ("DELETE", delete)):
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = sorted(pool.map(timed(func), names))
        elapsed = time.perf_counter() - start
        results[label] = {
            "ops": count / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        }
    return results


HUGE_POLICIES = ("THREECOPIES", "EC42", "ECISAL")


def huge_object(api, pids, me, big: int) -> dict:
    """Peak memory while moving one big object through the whole stack,
    per policy (the peaks are reset before each)."""
    report: dict = {"huge": {}, "peak_rss_mib": {}}
    for policy in HUGE_POLICIES:
        for pid in [me] + [p for plist in pids.values() for p in plist]:
            reset_peak_rss(pid)
        api.container_create("bench", f"big-{policy}")
        put, get = big_object(api, policy, big, "huge")
        api.object_delete("bench", f"big-{policy}", "huge")
        print(f"{big // MiB} MiB {policy} PUT {put:.1f} MB/s GET {get:.1f} MB/s")
        peaks = peak_by_type(pids)
        peaks["client"] = peak_rss_kib(me) / 1024
        print(f"peak RSS (MiB) during the big {policy} object: " + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(peaks.items())))
        report["huge"][policy] = {"size_mib": big // MiB, "put_mb_s": put,
                                  "get_mb_s": get}
        report["peak_rss_mib"][policy] = peaks
    return report


def events(api, settings, count: int) -> dict:
    """A burst of `count` small uploads: how long the account statistics
    lag behind the last one, and how fast the agent drains the events."""
    from oio.event.beanstalk import Beanstalk

    tube = Beanstalk.from_url(f"beanstalk://{settings.one('beanstalkd').addr}")

    def processed() -> int:
        stats = tube.stats_tube("oio")
        return stats["total-jobs"] - stats["current-jobs-ready"] - \
            stats["current-jobs-reserved"] - stats["current-jobs-delayed"]

    account = f"events-{os.getpid()}"
    payload = b"e" * 1024
    before = processed()
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.object_create(
            account, f"c{i % 10}", data=payload, obj_name=f"o{i}",
            policy="SINGLE"), range(count)))
    uploaded = time.perf_counter()

    def counted() -> bool:
        try:
            return api.account_show(account)["objects"] == count
        except Exception:  # noqa: BLE001 - the account may not exist yet
            return False

    while not counted():
        time.sleep(0.05)
    lag = time.perf_counter() - uploaded
    while tube.stats_tube("oio")["current-jobs-ready"]:
        time.sleep(0.05)
    drained = time.perf_counter()
    handled = processed() - before
    backlog = _drain_backlog(api, tube, processed, account, count)
    result = {"uploads": count, "upload_ops": count / (uploaded - start),
              "account_lag_s": lag, "events": handled,
              "events_per_s": handled / (drained - start),
              "backlog_events_per_s": backlog}
    print(f"events: {count} uploads at {result['upload_ops']:.0f}/s; the "
          f"account counted them {lag:.2f} s after the last one; the agent "
          f"handled {handled} events at {result['events_per_s']:.0f}/s "
          f"(kept up with the uploads); a backlog of {count} chunk events "
          f"drained at {backlog:.0f}/s")
    return result


def _drain_backlog(api, tube, processed, account: str, count: int) -> float:
    """The agent's own pace: `count` copies of a real storage.chunk.new
    event (each an idempotent rdir push) queued at once, then drained."""
    from oio.common.utils import cid_from_name

    meta, chunks = api.object_locate(account, "c0", "o0")
    volume, chunk_id = chunks[0]["url"].split("/")[2:4]
    event = json.dumps({
        "event": "storage.chunk.new", "when": int(time.time() * 1e6),
        "request_id": "bench-backlog",
        "data": {"volume_id": volume, "volume_service_id": "",
                 "container_id": cid_from_name(account, "c0"),
                 "content_id": meta["id"],
                 "chunk_id": chunk_id}}).encode()
    tube.use("oio")
    before = processed()
    start = time.perf_counter()
    for _ in range(count):
        tube.put(event)
    while processed() - before < count:
        time.sleep(0.05)
    return count / (time.perf_counter() - start)


def erasure_coding(api, pids, me, size: int, count: int) -> dict:
    """EC 6+3 big objects (ISA-L and liberasurecode), whole and degraded
    (3 data fragments of every metachunk deleted), and 4 KiB objects."""
    # The reader reports each missing fragment: expected here.
    logging.getLogger("oio.api.ec").setLevel(logging.ERROR)
    report: dict = {}
    for policy in ("ECISAL", "EC"):
        for pid in [me] + [p for plist in pids.values() for p in plist]:
            reset_peak_rss(pid)
        container = f"big-{policy}"
        api.container_create("bench", container)
        big_object(api, policy, size, f"warm-{policy}")
        # One object per figure is noisy on a shared machine: the median of
        # three PUTs and three GETs.
        runs = [big_object(api, policy, size, f"obj-{policy}-{i}")
                for i in range(3)]
        put = statistics.median(r[0] for r in runs)
        get = statistics.median(r[1] for r in runs)
        _, chunks = api.object_locate("bench", container, f"obj-{policy}-0")
        for chunk in chunks:
            if chunk["pos"].split(".")[1] in ("0", "1", "2"):
                api.blob_client.chunk_delete(chunk["url"])
        speeds = []
        for _ in range(3):
            start = time.monotonic()
            _, stream = api.object_fetch("bench", container, f"obj-{policy}-0")
            got = sum(len(block) for block in stream)
            speeds.append(got / (time.monotonic() - start) / 1e6)
        degraded = statistics.median(speeds)
        peaks = peak_by_type(pids)
        peaks["client"] = peak_rss_kib(me) / 1024
        report[policy] = {"size_mib": size // MiB, "put_mb_s": put,
                          "get_mb_s": get, "degraded_get_mb_s": degraded,
                          "peak_rss_mib": peaks}
        print(f"{size // MiB} MiB {policy:<12} PUT {put:7.1f} MB/s  GET "
              f"{get:7.1f} MB/s  GET with 3 fragments lost {degraded:7.1f} MB/s")
        print("  peak RSS (MiB): " + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(peaks.items())))
    # The faster chunk checksum clients may ask for (docs/ec.md).
    report["xxh3_128_put_mb_s"] = {}
    for policy in ("ECISAL", "THREECOPIES", "SINGLE"):
        api.container_create("bench", f"big-{policy}")
        put = max(big_object(api, policy, size, f"xxh3-{policy}-{i}",
                             chunk_checksum_algo="xxh3_128")[0]
                  for i in range(2))
        report["xxh3_128_put_mb_s"][policy] = put
        print(f"{size // MiB} MiB {policy:<12} PUT {put:7.1f} MB/s with "
              f"chunk_checksum_algo=xxh3_128")
    res = small_objects(api, "ECISAL", count, 16)
    report["small_ECISAL_c16"] = res
    for label, r in res.items():
        print(f"4 KiB ECISAL c=16 {label:<6} {r['ops']:7.1f} ops/s  "
              f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fewer operations, smaller big object")
    parser.add_argument("--big-mib", type=int, default=1024,
                        help="size of the memory test object (MiB)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", action="store_true",
                        help="leave the sandbox running")
    parser.add_argument("--only", default=SECTIONS,
                        help=f"comma-separated sections (default {SECTIONS})")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    report: dict = {}

    print("machine: md5 ... ", end="", flush=True)
    report["md5_mib_s_per_core"] = md5_speed()
    print(f"{report['md5_mib_s_per_core']:.0f} MiB/s per core; loopback ... ",
          end="", flush=True)
    report["loopback_mb_s"] = loopback_speed()
    print(f"{report['loopback_mb_s']:.0f} MB/s; cores {os.cpu_count()}")

    root = tempfile.mkdtemp(prefix="oio-bench-")
    settings = SandboxSettings(namespace="BENCH", root=root,
                               base_port=find_free_base_port(40),
                               chunk_size=10 * MiB, user_conf=False, fsync=True,
                               beanstalkd=bool(shutil.which("beanstalkd")))
    sandbox = Sandbox(settings)
    sandbox.bootstrap()
    os.environ["OIO_SDS_CONF"] = settings.sds_conf
    try:
        sandbox.start()
        sandbox.wait_ready(timeout=120, log=lambda *_: None)
        from oio import ObjectStorageApi

        api = ObjectStorageApi("BENCH", endpoint=f"http://{settings.proxy}")
        pids = service_pids(sandbox)
        me = os.getpid()

        size = (16 if args.quick else 64) * MiB
        report["big"] = {}
        for policy in ("SINGLE", "THREECOPIES") if "big" in sections else ():
            api.container_create("bench", f"big-{policy}")
            put, get = big_object(api, policy, size, f"warm-{policy}")
            put, get = big_object(api, policy, size, f"obj-{policy}")
            report["big"][policy] = {"size_mib": size // MiB, "put_mb_s": put,
                                     "get_mb_s": get}
            print(f"{size // MiB} MiB {policy:<12} PUT {put:7.1f} MB/s  "
                  f"GET {get:7.1f} MB/s")

        report["small"] = {}
        count = 200 if args.quick else 1000
        for concurrency in (1, 16) if "small" in sections else ():
            res = small_objects(api, "THREECOPIES", count, concurrency)
            report["small"][f"THREECOPIES_c{concurrency}"] = res
            for label, r in res.items():
                print(f"4 KiB THREECOPIES c={concurrency:<2} {label:<6} "
                      f"{r['ops']:7.1f} ops/s  p50 {r['p50_ms']:6.2f} ms  "
                      f"p99 {r['p99_ms']:6.2f} ms")

        if "ec" in sections:
            report["ec"] = erasure_coding(api, pids, me, size,
                                          200 if args.quick else 1000)
        if "events" in sections and settings.beanstalkd:
            report["events"] = events(api, settings,
                                      1000 if args.quick else 10000)
        if "huge" in sections:
            report.update(huge_object(api, pids, me, (
                256 if args.quick else args.big_mib) * MiB))
        if "listing" in sections:
            # After the memory test: listings leave Python objects behind.
            count = 10000 if args.quick else 100000
            res = listing(api, count)
            report["listing"] = res
            print(f"listing {count} objects: {res['pages']} pages of 1,000 "
                  f"in {res['paged_s']:.2f} s; with a delimiter "
                  f"({res['prefixes']} prefixes) in {res['delimiter_s']:.2f} s")
    finally:
        if not args.keep:
            sandbox.down()
            shutil.rmtree(root, ignore_errors=True)
    if "replication" in sections:
        # Namespaces of their own: 1 then 3 copies of every meta base.
        from replication import run as replication

        report["replication"] = replication(200 if args.quick else 1000)
    if "healing" in sections:
        from healing import run as healing

        report["healing"] = healing(args.quick)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
