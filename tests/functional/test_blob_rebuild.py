"""A rawx volume wiped and rebuilt (healing.md §2.5), on a namespace of its
own (9 rawx, 1 MiB chunks) running the healing daemons: objects of every
kind (THREECOPIES, EC 6+3, ECISAL; 0 bytes to 3 chunks), one volume
emptied and its rawx restarted, then `openio-admin rawx rebuild` (or
`distributed-rebuild`, through the oio-blob-rebuilder daemons): every
chunk is back on another rawx or the same one, every object reads back
with its MD5, and the rdir of the volume lists nothing older than the
incident. A byte flipped in a chunk is found by the auditor and the chunk
replaced, with nobody asking."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from .cli import run_cli
from .replicated import start_replicated, stop

ACCOUNT = "rebuilt"
MiB = 1024 * 1024
SIZES = (0, 1, 4000, 100_000, MiB + 1, 3 * MiB - 7)
POLICIES = ("THREECOPIES", "EC", "ECISAL")
PROBE_OBJECTS = int(os.environ.get("OIO_PROBE_OBJECTS", "2000"))


@pytest.fixture(scope="module")
def ns():
    sandbox = start_replicated(replicas=1, nb_rawx=9, healing=True,
                               xcute=True)
    try:
        yield sandbox
    finally:
        stop(sandbox)


@pytest.fixture(scope="module")
def api(ns):
    from oio import ObjectStorageApi

    return ObjectStorageApi(ns.settings.namespace,
                            endpoint=f"http://{ns.settings.proxy}")


def cli(ns, *args: str, binary: str = "openio-admin"):
    target = SimpleNamespace(ns=ns.settings.namespace,
                             conf_path=ns.settings.sds_conf)
    return run_cli(target, *args, binary=binary, account=ACCOUNT,
                   timeout=600)


def populate(api, count: int, prefix: str = "ct",
             policies: tuple[str, ...] = POLICIES
             ) -> dict[tuple[str, str], str]:
    """`count` objects over a few containers: {(container, name): md5}."""
    def put(i):
        rng = random.Random(i)
        container = f"{prefix}-{i % 4}"
        data = rng.randbytes(SIZES[i % len(SIZES)])
        api.object_create(ACCOUNT, container, data=data, obj_name=f"o{i}",
                          policy=policies[i % len(policies)])
        return (container, f"o{i}"), hashlib.md5(data).hexdigest()
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, range(count)))


def chunk_layout(api, objects) -> dict[tuple[str, str], list[dict]]:
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(objects, pool.map(
            lambda key: api.object_locate(ACCOUNT, *key)[1], objects),
            strict=True))


def wipe(ns, spec) -> int:
    """Stop the rawx, remove every chunk file of its volume, restart it
    empty. Returns the number of files removed."""
    ns.stop_service(spec.name)
    volume = os.path.join(ns.settings.data_dir, spec.name)
    removed = 0
    for entry in os.listdir(volume):
        path = os.path.join(volume, entry)
        if os.path.isdir(path):
            removed += len(os.listdir(path))
            shutil.rmtree(path)
    ns.start_service(spec.name)
    # EC 6+3 over 9 rawx needs the emptied one back in the pool.
    ns.wait_all_up()
    return removed


def rdir_of(ns):
    from oio.rdir.client import RdirClient

    return RdirClient({"namespace": ns.settings.namespace},
                      endpoint=f"http://{ns.settings.proxy}")


def wait_indexed(rdir, volume: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = rdir.status(volume).get("chunk", {}).get("total", 0)
        if got >= count:
            return
        assert time.monotonic() < deadline, f"rdir indexed {got}/{count}"
        time.sleep(0.2)


def proxy_score(ns, api, addr: str) -> int:
    from oio.conscience.client import ConscienceClient

    conscience = ConscienceClient({"namespace": ns.settings.namespace},
                                  endpoint=f"http://{ns.settings.proxy}")
    for srv in conscience.all_services("rawx"):
        if srv["addr"] == addr:
            return int(srv.get("score") or 0)
    return -1


def proxy_places_on(api, addr: str) -> bool:
    """Whether the proxy's load balancer still puts chunks on `addr` (it
    refreshes its view of the scores every second): 30 polls of 3 rawx
    out of 9 miss a rawx still in the pool once in 10^5."""
    for _ in range(30):
        spare = api.container.content_spare(
            ACCOUNT, "any", "any", stgpol="THREECOPIES", position=0,
            data={"notin": [], "broken": []})
        if any(c["id"].split("/")[2] == addr for c in spare["chunks"]):
            return True
    return False


def chunk_files(ns, spec) -> list[str]:
    volume = os.path.join(ns.settings.data_dir, spec.name)
    return [name for entry in os.listdir(volume)
            if os.path.isdir(os.path.join(volume, entry))
            for name in os.listdir(os.path.join(volume, entry))]


def test_blob_mover_empties_a_volume_under_traffic(ns, api, tmp_path):
    import subprocess
    import sys
    import threading

    # EC 6+3 needs all 9 rawx: with one locked, only what fits on 8.
    fitting = ("THREECOPIES", "EC42", "TWOCOPIES")
    objects = populate(api, 40, prefix="moved", policies=fitting)
    victim = ns.settings.of_type("rawx")[2]
    held = len(chunk_files(ns, victim))
    assert held > 5
    # Locked: the conscience gives it no new chunk, its chunks stay readable.
    assert cli(ns, "cluster", "lock", "rawx", victim.addr,
               binary="openio").code == 0
    deadline = time.monotonic() + 30
    while proxy_score(ns, api, victim.addr) != 0 or \
            proxy_places_on(api, victim.addr):
        assert time.monotonic() < deadline, "the proxy still scores the rawx"
        time.sleep(0.2)
    stop = threading.Event()
    failures: list[str] = []
    written: dict[tuple[str, str], str] = {}
    keys = list(objects)

    def traffic():
        rng = random.Random(3)
        i = 0
        while not stop.is_set():
            key = rng.choice(keys)
            try:
                _, stream = api.object_fetch(ACCOUNT, *key)
                if hashlib.md5(b"".join(stream)).hexdigest() != objects[key]:
                    failures.append(f"{key}: wrong data")
                data = rng.randbytes(rng.choice((10, 300_000)))
                name = ("moved-new", f"n{i}")
                api.object_create(ACCOUNT, name[0], data=data,
                                  obj_name=name[1],
                                  policy=rng.choice(fitting))
                written[name] = hashlib.md5(data).hexdigest()
            except Exception as err:  # noqa: BLE001 - what the test counts
                failures.append(f"{key}: {err!r}")
            i += 1

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    conf = tmp_path / "mover.conf"
    conf.write_text(f"[blob-mover]\nvolume = "
                    f"{os.path.join(ns.settings.data_dir, victim.name)}\n"
                    "chunks_per_second = 0\nconcurrency = 4\n")
    env = dict(os.environ, OIO_SDS_CONF=ns.settings.sds_conf)
    try:
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "oio-blob-mover"),
             str(conf)], capture_output=True, text=True, timeout=300, env=env)
    finally:
        stop.set()
        thread.join(60)
        cli(ns, "cluster", "unlock", "rawx", victim.addr, binary="openio")
        ns.wait_all_up()
    print(proc.stderr.splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Chunks written before the proxies saw the lock are moved too.
    assert int(re.findall(r" moved=(\d+)", proc.stderr)[-1]) >= held
    left = chunk_files(ns, victim)
    volume = os.path.join(ns.settings.data_dir, victim.name)
    assert left == [], [(name, os.stat(os.path.join(volume, name[:3], name)),
                         os.listxattr(os.path.join(volume, name[:3], name)))
                        for name in left]
    assert not failures, failures[:5]
    assert written
    for key, md5 in {**objects, **written}.items():
        _, stream = api.object_fetch(ACCOUNT, *key)
        assert hashlib.md5(b"".join(stream)).hexdigest() == md5, key
        hosts = [c["url"].split("/")[2] for c in
                 api.object_locate(ACCOUNT, *key)[1]]
        assert victim.addr not in hosts


def wait_job(ns, job_id: str, timeout: float = 300) -> dict:
    """The fields of an xcute job once it ended (FINISHED or FAILED), and
    the set of progress counts seen on the way."""
    began = time.monotonic()
    seen = set()
    while True:
        fields = cli(ns, "xcute", "job", "show", job_id, "-f", "json").json()
        seen.add(str(fields.get("tasks.processed")))
        if fields["job.status"] in ("FINISHED", "FAILED"):
            fields["seen"] = seen
            return fields
        assert time.monotonic() - began < timeout, fields
        time.sleep(0.5)


def test_xcute_rawx_decommission_empties_a_locked_volume(ns, api):
    fitting = ("THREECOPIES", "EC42", "TWOCOPIES")
    objects = populate(api, 30, prefix="xdecom", policies=fitting)
    victim = ns.settings.of_type("rawx")[3]
    held = len(chunk_files(ns, victim))
    wait_indexed(rdir_of(ns), victim.addr, held)
    assert cli(ns, "cluster", "lock", "rawx", victim.addr,
               binary="openio").code == 0
    try:
        deadline = time.monotonic() + 30
        while proxy_places_on(api, victim.addr):
            assert time.monotonic() < deadline
        res = cli(ns, "xcute", "rawx", "decommission", victim.addr,
                  "--chunks-per-second", "1000", "-f", "json")
        assert res.code == 0, res.err
        fields = wait_job(ns, res.json()["job.id"])
    finally:
        cli(ns, "cluster", "unlock", "rawx", victim.addr, binary="openio")
        ns.wait_all_up()
    assert fields["job.status"] == "FINISHED", fields
    assert int(fields["errors.total"]) == 0, fields
    assert int(fields["results.moved_chunks"]) == held, fields
    assert chunk_files(ns, victim) == []
    for key, md5 in objects.items():
        _, stream = api.object_fetch(ACCOUNT, *key)
        assert hashlib.md5(b"".join(stream)).hexdigest() == md5, key


def test_a_target_lost_midway_fails_its_chunks_and_a_second_run_ends(ns, api):
    import subprocess
    import sys

    objects = populate(api, 60, prefix="fault")
    victim = ns.settings.of_type("rawx")[0]
    layout = chunk_layout(api, objects)
    held = sum(1 for chunks in layout.values() for c in chunks
               if c["url"].split("/")[2] == victim.addr)
    wait_indexed(rdir_of(ns), victim.addr, held)
    wipe(ns, victim)
    assert cli(ns, "volume", "admin", "incident", victim.addr,
               binary="openio").code == 0
    # The emptied rawx, the only place left for EC 6+3 fragments, dies
    # once the rebuild is under way.
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "openio-admin"),
         "--oio-ns", ns.settings.namespace, "rawx", "rebuild", victim.addr,
         "--items-per-second", "20", "-f", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, OIO_SDS_CONF=ns.settings.sds_conf))
    successes = 0
    try:
        for line in proc.stderr:
            if "Successful rebuilding" in line:
                successes += 1
                if successes == 5:
                    ns.stop_service(victim.name)
                    break
        out, rest = proc.communicate(timeout=300)
        rows = json.loads(out)
        statuses = {r["Status"] for r in rows}
        # (Orphans: records of chunks other tests deleted meanwhile.)
        assert proc.returncode == 1 and {"OK", "error"} <= statuses \
            <= {"OK", "error", "orphan"}, (statuses, rest[-3000:])
        # Nothing wrong was written: as many chunks as before, each
        # readable or still to rebuild.
        for key, chunks in chunk_layout(api, objects).items():
            assert len(chunks) == len(layout[key]), key
    finally:
        proc.kill()
        ns.start_service(victim.name)
        ns.wait_all_up()
    again = cli(ns, "rawx", "rebuild", victim.addr, "--items-per-second", "0",
                "-f", "json")
    assert again.code == 0, again.err[-2000:]
    assert {r["Status"] for r in again.json()} == {"OK"}
    # What failed is done now (with records the event agent indexed after
    # the first run had listed their place, if any).
    failed = {r["Chunk"] for r in rows if r["Status"] == "error"}
    assert failed <= {r["Chunk"] for r in again.json()}
    assert rdir_of(ns).status(victim.addr).get("chunk", {}).get(
        "to_rebuild", 0) == 0
    for key, md5 in objects.items():
        _, stream = api.object_fetch(ACCOUNT, *key)
        assert hashlib.md5(b"".join(stream)).hexdigest() == md5, key


def test_chunk_rebuild_from_a_file(ns, api, tmp_path):
    from oio.common.utils import cid_from_name

    objects = populate(api, 6, prefix="listed")
    key = next(k for k in objects if api.object_locate(
        ACCOUNT, *k)[0]["policy"] == "THREECOPIES"
        and api.object_locate(ACCOUNT, *k)[0]["length"] != "0")
    meta, chunks = api.object_locate(ACCOUNT, *key)
    lost = chunks[0]
    api.blob_client.chunk_delete(lost["url"])
    cid = cid_from_name(ACCOUNT, key[0])
    listing = tmp_path / "chunks"
    listing.write_text(f"# a comment\n\n{cid}|{meta['id']}|{lost['url']}\n"
                       f"{cid}|{meta['id']}|http://{lost['url'].split('/')[2]}"
                       f"/{'0' * 64}\n")
    res = cli(ns, "chunk", "rebuild", "--input-file", str(listing),
              "--items-per-second", "0", "-f", "json")
    assert res.code == 0, res.out + res.err
    statuses = [r["Status"] for r in res.json()]
    assert statuses == ["OK", "orphan"]
    _, stream = api.object_fetch(ACCOUNT, *key)
    assert hashlib.md5(b"".join(stream)).hexdigest() == objects[key]
    missing = cli(ns, "chunk", "rebuild")
    assert missing.code == 1 and "Missing input file" in missing.err
    unknown = cli(ns, "rawx", "rebuild", "127.0.0.1:1")
    assert unknown.code == 1 and "127.0.0.1:1" in unknown.err
    assert "Traceback" not in unknown.err
    bad = tmp_path / "bad"
    bad.write_text("not an item\n")
    res = cli(ns, "chunk", "rebuild", "--input-file", str(bad))
    assert res.code == 1 and "expected cid|content_id|chunk" in res.err


def test_a_flipped_byte_is_repaired_with_nobody_asking(ns, api):
    from tests.utils import chunk_file

    data = os.urandom(200_000)
    api.object_create(ACCOUNT, "audited", data=data, obj_name="victim",
                      policy="THREECOPIES")
    _, chunks = api.object_locate(ACCOUNT, "audited", "victim")
    bad = chunks[0]
    path = chunk_file(SimpleNamespace(services=ns.settings.of_type,
                                      settings=ns.settings), bad["url"])
    with open(path, "r+b") as handle:
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 0x01]))
    deadline = time.monotonic() + 90
    while True:
        urls = {c["url"] for c in api.object_locate(
            ACCOUNT, "audited", "victim")[1]}
        if bad["url"] not in urls and len(urls) == 3:
            break
        assert time.monotonic() < deadline, "the damaged chunk is still there"
        time.sleep(0.5)
    assert not os.path.exists(path)
    _, stream = api.object_fetch(ACCOUNT, "audited", "victim")
    assert b"".join(stream) == data


def wait_events_done(ns, timeout: float = 120) -> None:
    """Until the event agents have handled every event queued so far."""
    from oio.event.beanstalk import Beanstalk

    client = Beanstalk.from_url(ns.settings.of_type("beanstalkd")[0].addr)
    deadline = time.monotonic() + timeout
    try:
        while True:
            stats = client.stats_tube("oio")
            if not any(int(stats.get(k, 0)) for k in (
                    "current-jobs-ready", "current-jobs-reserved",
                    "current-jobs-delayed")):
                return
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)
    finally:
        client.close()


@pytest.fixture(scope="module")
def probe(api) -> dict[tuple[str, str], str]:
    """The objects every rebuild below brings back (issue 14's 2,000)."""
    began = time.monotonic()
    objects = populate(api, PROBE_OBJECTS, prefix="probe")
    print(f"{PROBE_OBJECTS} objects written in "
          f"{time.monotonic() - began:.1f}s")
    return objects


class LostVolume:
    """A volume wiped under `objects`, with its incident date set."""

    def __init__(self, ns, api, objects, index: int):
        self.ns, self.api, self.objects = ns, api, objects
        self.spec = ns.settings.of_type("rawx")[index]
        self.volume = self.spec.addr
        self.before = chunk_layout(api, objects)
        self.hit = {key for key, chunks in self.before.items()
                    if any(self.on_volume(c) for c in chunks)}
        # Every chunk file of the volume indexed (other tests' too), and no
        # event left that could index a chunk again after its rebuild.
        wait_indexed(rdir_of(ns), self.volume, len(chunk_files(ns, self.spec)))
        wait_events_done(ns)
        held = sum(1 for chunks in self.before.values()
                   for c in chunks if self.on_volume(c))
        # With the chunks of the other tests' objects.
        self.lost = wipe(ns, self.spec)
        assert self.lost >= held
        assert cli(ns, "volume", "admin", "incident", self.volume,
                   binary="openio").code == 0
        # rdir dates are in seconds: a chunk rebuilt onto this volume in
        # the incident's second would look lost too (see the issue note).
        incident = int(time.time())
        while int(time.time()) <= incident:
            time.sleep(0.05)

    def on_volume(self, chunk: dict) -> bool:
        return chunk["url"].split("/")[2] == self.volume

    def check_rebuilt(self) -> None:
        """Every chunk back (its file on disk), at most one per rawx in a
        metachunk, every object that lost one reads back, and rdir lists
        nothing older than the incident."""
        from tests.utils import chunk_file

        where = SimpleNamespace(services=self.ns.settings.of_type,
                                settings=self.ns.settings)
        after = chunk_layout(self.api, self.objects)
        for key, chunks in after.items():
            assert len(chunks) == len(self.before[key]), key
            by_meta: dict[str, list[str]] = {}
            for chunk in chunks:
                by_meta.setdefault(chunk["pos"].split(".")[0], []).append(
                    chunk["url"].split("/")[2])
                assert os.path.exists(chunk_file(where, chunk["url"])), key
            for hosts in by_meta.values():
                assert len(hosts) == len(set(hosts)), (key, hosts)

        def read(key):
            _, stream = self.api.object_fetch(ACCOUNT, *key)
            return hashlib.md5(b"".join(stream)).hexdigest() == \
                self.objects[key]
        with ThreadPoolExecutor(8) as pool:
            bad = [k for k, ok in zip(sorted(self.hit), pool.map(
                read, sorted(self.hit)), strict=True) if not ok]
        assert not bad, bad[:5]
        rdir = rdir_of(self.ns)
        left = list(rdir.chunk_fetch(self.volume, rebuild=True))
        assert not left, (rdir.admin_incident_get(self.volume), left[:5])


def test_rawx_rebuild_brings_every_chunk_back(ns, api, probe):
    lost = LostVolume(ns, api, probe, 4)
    assert lost.lost > 300
    # No incident date: nothing to do, said clearly.
    quiet = cli(ns, "rawx", "rebuild", ns.settings.of_type("rawx")[5].addr)
    assert quiet.code == 0 and "No item to process" in quiet.err
    began = time.monotonic()
    res = cli(ns, "rawx", "rebuild", lost.volume, "--concurrency", "4",
              "--items-per-second", "0", "-f", "json")
    took = time.monotonic() - began
    assert res.code == 0, res.out[-2000:] + res.err[-2000:]
    rows = res.json()
    print(f"rawx rebuild: {lost.lost} chunks in {took:.1f}s")
    assert len(rows) == lost.lost
    assert {r["Status"] for r in rows} == {"OK"}, [r for r in rows
                                                   if r["Status"] != "OK"][:3]
    assert "DONE" in res.err and f"total_chunks={lost.lost}" in res.err
    lost.check_rebuilt()
    # The rdir lock was released: a second run finds nothing to do.
    again = cli(ns, "rawx", "rebuild", lost.volume, "-f", "json")
    assert again.code == 0 and again.json() == []


def test_xcute_rawx_rebuild_shows_its_progress(ns, api, probe):
    lost = LostVolume(ns, api, probe, 5)
    res = cli(ns, "xcute", "rawx", "rebuild", lost.volume,
              "--chunks-per-second", "2000", "-f", "json")
    assert res.code == 0, res.err
    job_id = res.json()["job.id"]
    began = time.monotonic()
    fields = wait_job(ns, job_id)
    seen = fields["seen"]
    print(f"xcute rawx rebuild: {lost.lost} chunks in "
          f"{time.monotonic() - began:.1f}s")
    assert fields["job.status"] == "FINISHED", fields
    assert int(fields["results.rebuilt_chunks"]) == lost.lost, fields
    assert int(fields["errors.total"]) == 0, fields
    assert str(fields["tasks.total"]).split()[0] == str(lost.lost)
    assert len(seen) > 1            # progress was visible on the way
    lost.check_rebuilt()


def test_rawx_distributed_rebuild_through_the_daemons(ns, api, probe):
    lost = LostVolume(ns, api, probe, 7)
    res = cli(ns, "rawx", "distributed-rebuild", lost.volume,
              "--items-per-second", "0", "-f", "json")
    assert res.code == 0, res.out[-2000:] + res.err[-2000:]
    rows = res.json()
    assert len(rows) == lost.lost
    assert {r["Status"] for r in rows} == {"OK"}, rows[:3]
    lost.check_rebuilt()
