"""Rebuild and decommission throughput: a rawx volume wiped and rebuilt
(THREECOPIES, then ECISAL 6+3), and a volume emptied by the blob mover,
on a namespace of its own (9 rawx, 10 MiB chunks, fsync on, no healing
daemons running beside).

Called by bench.py (`--only healing`). Restored data is the bytes written
to new chunks (a copy, or a fragment); chunks/s counts chunks written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from oio.sandbox.layout import SandboxSettings, find_free_base_port
from oio.sandbox.sandbox import Sandbox

MiB = 1024 * 1024
CHUNK = 10 * MiB


def _namespace() -> Sandbox:
    root = tempfile.mkdtemp(prefix="oio-bench-heal-", dir="/var/tmp")
    settings = SandboxSettings(
        namespace="BENCH", root=root, base_port=find_free_base_port(40),
        chunk_size=CHUNK, user_conf=False, fsync=True, healing=False,
        xcute=False, beanstalkd=bool(shutil.which("beanstalkd")))
    sandbox = Sandbox(settings)
    sandbox.bootstrap()
    sandbox.start()
    sandbox.wait_ready(timeout=180, log=lambda *_: None)
    return sandbox


def _fill(api, container: str, policy: str, count: int, size: int) -> None:
    block = os.urandom(size)
    api.container_create("bench", container)

    def put(i):
        api.object_create("bench", container, data=block, obj_name=f"o{i}",
                          policy=policy)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(count)))


def _wipe(sandbox: Sandbox, spec) -> None:
    sandbox.stop_service(spec.name)
    volume = os.path.join(sandbox.settings.data_dir, spec.name)
    for entry in os.listdir(volume):
        path = os.path.join(volume, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
    sandbox.start_service(spec.name)
    sandbox.wait_all_up()


def _wait_indexed(rdir, volume: str, expected: int) -> None:
    deadline = time.monotonic() + 120
    while rdir.status(volume).get("chunk", {}).get("total", 0) < expected \
            and time.monotonic() < deadline:
        time.sleep(0.5)


def _run_tool(sandbox: Sandbox, args: list[str]) -> tuple[str, float, float]:
    """(stderr, seconds, peak RSS in MB) of one of our commands."""
    import psutil

    env = dict(os.environ, OIO_SDS_CONF=sandbox.settings.sds_conf)
    start = time.perf_counter()
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable),
                                          args[0])] + args[1:],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    peak = [0]

    def poll():
        try:
            watched = psutil.Process(proc.pid)
            while proc.poll() is None:
                peak[0] = max(peak[0], watched.memory_info().rss)
                time.sleep(0.05)
        except psutil.NoSuchProcess:
            pass
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    poller.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {err[-2000:]}")
    return err, elapsed, peak[0] / 1e6


def _figures(line: str, chunks_key: str, bytes_key: str, seconds: float,
             rss: float) -> dict:
    chunks = int(re.findall(rf"\b{chunks_key}=(\d+)", line)[-1])
    written = int(re.findall(rf"\b{bytes_key}=(\d+)", line)[-1])
    errors = int(re.findall(r"\b(?:total_)?errors=(\d+)", line)[-1])
    return {"chunks": chunks, "errors": errors, "seconds": seconds,
            "mb_s": written / seconds / 1e6, "chunks_s": chunks / seconds,
            "restored_mb": written / 1e6, "peak_rss_mb": rss}


def _rebuild(sandbox: Sandbox, spec, concurrency: int) -> dict:
    """`openio-admin rawx rebuild` of a wiped volume, timed."""
    from oio.rdir.client import RdirClient

    rdir = RdirClient({"namespace": "BENCH"},
                      endpoint=f"http://{sandbox.settings.proxy}")
    volume = spec.addr
    held = sum(len(files) for _, _, files in os.walk(
        os.path.join(sandbox.settings.data_dir, spec.name)))
    _wait_indexed(rdir, volume, held)
    _wipe(sandbox, spec)
    rdir.admin_incident_set(volume, time.time())
    err, seconds, rss = _run_tool(sandbox, [
        "openio-admin", "--oio-ns", "BENCH", "rawx", "rebuild", volume,
        "--concurrency", str(concurrency), "--items-per-second", "0"])
    done = [line for line in err.splitlines()
            if re.search(r"\bDONE\b", line)]
    if not done:
        raise RuntimeError(f"no DONE line from the rebuild: {err[-2000:]}")
    return _figures(done[-1], "total_chunks", "total_bytes", seconds, rss)


def _decommission(sandbox: Sandbox, spec, concurrency: int) -> dict:
    """`oio-blob-mover` emptying a locked volume, timed."""
    from oio.conscience.client import ConscienceClient

    conscience = ConscienceClient({"namespace": "BENCH"},
                                  endpoint=f"http://{sandbox.settings.proxy}")
    service = [{"type": "rawx", "addr": spec.addr, "score": 0}]
    conscience.lock_score(service)
    time.sleep(2)           # the proxies' view of the scores: 1 s
    conf = os.path.join(sandbox.settings.conf_dir, "bench-mover.conf")
    with open(conf, "w") as out:
        out.write(f"[blob-mover]\nvolume = "
                  f"{os.path.join(sandbox.settings.data_dir, spec.name)}\n"
                  f"chunks_per_second = 0\nconcurrency = {concurrency}\n")
    err, seconds, rss = _run_tool(sandbox, ["oio-blob-mover", conf])
    conscience.unlock_score(service)
    sandbox.wait_all_up()
    done = [line for line in err.splitlines()
            if re.search(r"\bDONE\b", line)][-1]
    return _figures(done, "moved", "bytes", seconds, rss)


def run(quick: bool = False, concurrency: int = 8) -> dict:
    """Rebuild (THREECOPIES, ECISAL) and decommission throughput."""
    sandbox = _namespace()
    report: dict = {"concurrency": concurrency, "chunk_mib": CHUNK // MiB}
    try:
        from oio import ObjectStorageApi

        api = ObjectStorageApi("BENCH",
                               endpoint=f"http://{sandbox.settings.proxy}")
        rawx = sandbox.settings.of_type("rawx")
        count = 12 if quick else 60
        _fill(api, "heal-3", "THREECOPIES", count, 3 * CHUNK)
        report["rebuild_THREECOPIES"] = _rebuild(sandbox, rawx[0],
                                                 concurrency)
        # Before any EC 6+3 object: those need all 9 rawx.
        report["decommission"] = _decommission(sandbox, rawx[2], concurrency)
        _fill(api, "heal-ec", "ECISAL", count // 2, 6 * CHUNK)
        report["rebuild_ECISAL"] = _rebuild(sandbox, rawx[1], concurrency)
    finally:
        sandbox.down()
        shutil.rmtree(sandbox.settings.root, ignore_errors=True)
    for key in ("rebuild_THREECOPIES", "rebuild_ECISAL", "decommission"):
        r = report.get(key)
        if r:
            print(f"{key:<20} {r['chunks']:5d} chunks in {r['seconds']:6.2f} s"
                  f": {r['mb_s']:7.1f} MB/s, {r['chunks_s']:6.1f} chunks/s, "
                  f"{r['errors']} errors, peak RSS {r['peak_rss_mb']:.0f} MB")
    return report
