"""The tools that move and rebuild meta bases, against a namespace of 4
meta1 and 4 meta2 holding 3 replicas of each base (real processes, real
ZooKeeper): `openio-admin container move`, `meta2 rebuild`, `meta1
rebuild`, `openio directory decommission`."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from types import SimpleNamespace

import pytest

from oio.common.utils import cid_from_name
from oio.zk.server import installed

from .cli import run_cli
from .replicated import (
    Stream,
    admin,
    base_files,
    election,
    meta2_base,
    service_name,
    start_replicated,
    stop,
    wait_same_content,
)

pytestmark = [pytest.mark.functional,
              pytest.mark.skipif(not installed(),
                                 reason="ZooKeeper is not installed")]

ACCOUNT = "moves"


@pytest.fixture(scope="module")
def ns():
    sandbox = start_replicated(nb_meta1=4, nb_meta2=4)
    try:
        yield sandbox
    finally:
        stop(sandbox)


@pytest.fixture
def api(ns):
    from oio import ObjectStorageApi

    return ObjectStorageApi(ns.settings.namespace,
                            endpoint=f"http://{ns.settings.proxy}")


def cli(ns, *args: str, binary: str = "openio-admin"):
    target = SimpleNamespace(ns=ns.settings.namespace,
                             conf_path=ns.settings.sds_conf)
    return run_cli(target, *args, binary=binary, account=ACCOUNT,
                   timeout=300)


def put(api, container: str, name: str) -> None:
    api.object_create(ACCOUNT, container, data=b"x" * 256, obj_name=name,
                      policy="SINGLE")


def names(api, container: str) -> set[str]:
    return {o["name"] for o in api.object_list(
        ACCOUNT, container, limit=10000)["objects"]}


def members(ns, kind: str, **where) -> list[str]:
    master, slaves = election(ns, kind, **where)
    return sorted([master, *slaves])


def linked_meta2(api, cid: str) -> list[str]:
    return sorted(s["host"] for s in api.directory.list(cid=cid)["srv"]
                  if s["type"] == "meta2")


def rdir_containers(ns, volume: str) -> set[str]:
    from oio.rdir.client import RdirClient

    rdir = RdirClient({"namespace": ns.settings.namespace},
                      endpoint=f"http://{ns.settings.proxy}")
    try:
        return {r["container_id"] for r in rdir.meta2_index_fetch_all(volume)}
    except Exception:  # noqa: BLE001 - no index yet
        return set()


def wait_until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def delete_file(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def meta0_map(ns) -> dict[str, list[str]]:
    url = (f"http://{ns.settings.proxy}/v3.0/{ns.settings.namespace}"
           "/admin/meta0_list")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def test_container_move_of_the_master_under_writes_loses_nothing(ns, api):
    container = "moved"
    api.container_create(ACCOUNT, container)
    for i in range(5):
        put(api, container, f"first-{i}")
    cid = cid_from_name(ACCOUNT, container)
    old = members(ns, "meta2", cid=cid)
    src, _ = election(ns, "meta2", cid=cid)
    spare = next(s.addr for s in ns.settings.of_type("meta2")
                 if s.addr not in old)
    wait_until(lambda: cid in rdir_containers(ns, src), "the rdir index")
    stream = Stream(lambda i: put(api, container, f"obj-{i:05d}")).start()
    try:
        stream.wait_acks(10)
        began = time.monotonic()
        moved = cli(ns, "container", "move", container, "--src", src,
                    "-f", "json")
        took = time.monotonic() - began
        stream.wait_acks(10, timeout=30)
    finally:
        stream.stop()
    print(f"container move under writes: {took:.2f}s, "
          f"{len(stream.acked)} writes acknowledged, "
          f"{len(stream.failed)} refused")
    assert moved.code == 0, moved.out + moved.err
    row = moved.json()[0]
    assert row["Status"] == "OK", row
    assert (row["Container"], row["Base"], row["Source"],
            row["Destination"]) == (container, f"{cid}.1", src, spare)
    assert all("ServiceBusy" in f[2] for f in stream.failed), stream.failed
    # Nothing acknowledged is lost.
    listed = names(api, container)
    assert {f"obj-{i:05d}" for i, _ in stream.acked} <= listed
    new = sorted(set(old) - {src} | {spare})
    files = base_files(ns, "meta2", meta2_base(ACCOUNT, container))
    assert sorted(files) == new, files      # the old replica kept nothing
    shared = wait_same_content(files)
    assert len(shared["aliases"]) == len(listed)
    assert members(ns, "meta2", cid=cid) == new
    assert linked_meta2(api, cid) == new
    assert cid in rdir_containers(ns, spare)
    assert cid not in rdir_containers(ns, src)
    put(api, container, "after-move")
    assert "after-move" in names(api, container)


def test_container_move_refuses_bad_input_clearly(ns, api):
    container = "not-moved"
    api.container_create(ACCOUNT, container)
    cid = cid_from_name(ACCOUNT, container)
    peers = members(ns, "meta2", cid=cid)
    spare = next(s.addr for s in ns.settings.of_type("meta2")
                 if s.addr not in peers)
    cases = [
        (("--src", "127.0.0.1:1"), "not a known meta2 service"),
        (("--src", spare), f"Source service {spare} does not hold"),
        (("--src", peers[0], "--dst", peers[1]), "is already a replica"),
        (("--src", peers[0], "--dst", "127.0.0.1:1"),
         "is not a known meta2 service"),
    ]
    for args, message in cases:
        res = cli(ns, "container", "move", container, *args, "-f", "json")
        assert res.code == 1, (args, res.out, res.err)
        assert "Traceback" not in res.err
        row = res.json()[0]
        assert row["Status"] == "error" and message in row["Errors"], row
    unknown = cli(ns, "container", "move", "no-such-container", "--src",
                  peers[0], "-f", "json")
    assert unknown.code == 1 and "Traceback" not in unknown.err
    assert "No such container" in unknown.json()[0]["Errors"]
    bad_cid = cli(ns, "container", "move", "--cid", "XYZ", "--src", peers[0],
                  "-f", "json")
    assert bad_cid.code == 1 and "Invalid container ID" in bad_cid.out
    # Nothing moved.
    assert members(ns, "meta2", cid=cid) == peers
    assert sorted(base_files(ns, "meta2", f"{cid}.1")) == peers


def test_meta2_rebuild_recreates_a_lost_replica(ns, api):
    container = "rebuilt"
    api.container_create(ACCOUNT, container)
    for i in range(5):
        put(api, container, f"o{i}")
    cid = cid_from_name(ACCOUNT, container)
    _, slaves = election(ns, "meta2", cid=cid)
    victim = slaves[0]
    wait_until(lambda: cid in rdir_containers(ns, victim), "the rdir index")
    name = service_name(ns, victim)
    ns.stop_service(name)
    delete_file(base_files(ns, "meta2", f"{cid}.1")[victim])
    ns.start_service(name)
    ns.wait_all_up()
    assert victim not in base_files(ns, "meta2", f"{cid}.1")
    began = time.monotonic()
    res = cli(ns, "meta2", "rebuild", victim, "--items-per-second", "0")
    print(f"meta2 rebuild: {time.monotonic() - began:.2f}s")
    assert res.code == 0, res.out + res.err
    assert f"{ns.settings.namespace}|{cid} OK None" in res.out.splitlines()
    assert "START references=" in res.err and "DONE references=" in res.err
    files = base_files(ns, "meta2", f"{cid}.1")
    assert victim in files and len(files) == 3
    shared = wait_same_content(files)
    assert len(shared["aliases"]) == 5
    put(api, container, "after-rebuild")
    assert len(wait_same_content(base_files(
        ns, "meta2", f"{cid}.1"))["aliases"]) == 6


def test_meta2_rebuild_repairs_a_corrupted_replica(ns, api):
    container = "corrupted"
    api.container_create(ACCOUNT, container)
    for i in range(200):
        put(api, container, f"o{i}")
    cid = cid_from_name(ACCOUNT, container)
    _, slaves = election(ns, "meta2", cid=cid)
    victim = slaves[0]
    wait_until(lambda: cid in rdir_containers(ns, victim), "the rdir index")
    name = service_name(ns, victim)
    ns.stop_service(name)
    path = base_files(ns, "meta2", f"{cid}.1")[victim]
    with open(path, "r+b") as damaged:      # pages after the header
        damaged.seek(4096)
        damaged.write(b"\xde\xad" * 4096)
    ns.start_service(name)
    ns.wait_all_up()
    # Detected and reported...
    has = admin(ns, "has", "meta2", cid=cid)
    assert has[victim]["status"]["status"] == 431
    assert "corrupted" in has[victim]["status"]["message"]
    # ...and repaired from the others.
    res = cli(ns, "meta2", "rebuild", victim, "--items-per-second", "0")
    assert res.code == 0, res.out + res.err
    has = admin(ns, "has", "meta2", cid=cid)
    assert all(h["status"]["status"] == 200 for h in has.values()), has
    put(api, container, "after-repair")
    shared = wait_same_content(base_files(ns, "meta2", f"{cid}.1"))
    assert len(shared["aliases"]) == 201


def test_meta2_rebuild_of_an_unknown_service_says_so(ns):
    res = cli(ns, "meta2", "rebuild", "127.0.0.1:1")
    assert res.code == 1 and "not a meta2 service" in res.err
    assert "Traceback" not in res.err


def test_meta1_rebuild_recreates_a_lost_replica(ns, api):
    digits = ns.settings.meta1_digits
    api.container_create(ACCOUNT, "m1-rebuilt")
    prefix = cid_from_name(ACCOUNT, "m1-rebuilt")[:digits]
    _, slaves = election(ns, "meta1", cid=prefix)
    victim = slaves[0]
    name = service_name(ns, victim)
    ns.stop_service(name)
    delete_file(base_files(ns, "meta1", prefix)[victim])
    ns.start_service(name)
    ns.wait_all_up()
    assert victim not in base_files(ns, "meta1", prefix)
    began = time.monotonic()
    res = cli(ns, "meta1", "rebuild", "--items-per-second", "0")
    print(f"meta1 rebuild: {time.monotonic() - began:.2f}s")
    assert res.code == 0, res.out + res.err
    assert res.out == ""        # the CIDs of failed bases only
    assert "DONE prefixes=" in res.err
    files = base_files(ns, "meta1", prefix)
    assert victim in files and len(files) == 3
    shared = wait_same_content(files)
    assert any(r[0] == cid_from_name(ACCOUNT, "m1-rebuilt")
               for r in shared["refs"])


def test_directory_decommission_moves_bases_to_the_spare_meta1(ns, api):
    digits = ns.settings.meta1_digits
    container = "decommissioned"
    api.container_create(ACCOUNT, container)
    put(api, container, "before")
    cid = cid_from_name(ACCOUNT, container)
    prefix = cid[:digits]
    old = members(ns, "meta1", cid=prefix)
    spare = next(s.addr for s in ns.settings.of_type("meta1")
                 if s.addr not in old)
    # A slave: the proxy remembers the master of each prefix and would
    # keep asking a removed master (see the commit message).
    _, slaves = election(ns, "meta1", cid=prefix)
    victim = slaves[0]
    began = time.monotonic()
    res = cli(ns, "directory", "decommission", victim, prefix,
              binary="openio")
    print(f"directory decommission: {time.monotonic() - began:.2f}s")
    assert res.code == 0, res.out + res.err
    assert f"Moved ['{prefix}']" in res.err
    new = sorted(set(old) - {victim} | {spare})
    mapping = meta0_map(ns)
    assert {tuple(sorted(v)) for p, v in mapping.items()
            if p.startswith(prefix)} == {tuple(new)}
    files = base_files(ns, "meta1", prefix)
    assert sorted(files) == new, files
    shared = wait_same_content(files)
    assert any(r[0] == cid for r in shared["refs"])
    assert members(ns, "meta1", cid=prefix) == new
    # Containers of the base are still usable, and new ones can be made.
    put(api, container, "after")
    assert names(api, container) == {"before", "after"}
    i = 0
    while not cid_from_name(ACCOUNT, f"new-{i}").startswith(prefix):
        i += 1
    api.container_create(ACCOUNT, f"new-{i}")
    put(api, f"new-{i}", "o")
    assert any(r[0] == cid_from_name(ACCOUNT, f"new-{i}")
               for r in wait_same_content(
                   base_files(ns, "meta1", prefix))["refs"])


def meta1_counts(ns) -> dict[str, int]:
    counts: dict[str, int] = {}
    for addrs in meta0_map(ns).values():
        for addr in addrs:
            counts[addr] = counts.get(addr, 0) + 1
    return counts


def test_directory_rebalance_under_container_creates_loses_nothing(ns, api):
    digits = ns.settings.meta1_digits
    counts = meta1_counts(ns)
    fair = -(-sum(counts.values()) // len(counts))
    if max(counts.values()) <= fair:
        # Balanced (this test alone): unbalance one base first.
        busy = max(counts, key=counts.get)
        prefix = next(p for p, a in meta0_map(ns).items() if busy in a)
        res = cli(ns, "directory", "decommission", busy, prefix[:digits],
                  binary="openio")
        assert res.code == 0, res.out + res.err
        counts = meta1_counts(ns)
    assert max(counts.values()) > fair, counts

    def create(i: int) -> None:
        api.container_create(ACCOUNT, f"rebalanced-{i:04d}")
        put(api, f"rebalanced-{i:04d}", "o")

    stream = Stream(create).start()
    try:
        stream.wait_acks(5)
        began = time.monotonic()
        res = cli(ns, "directory", "rebalance", binary="openio")
        took = time.monotonic() - began
        stream.wait_acks(5, timeout=30)
    finally:
        stream.stop()
    print(f"directory rebalance under container creates: {took:.2f}s, "
          f"{len(stream.acked)} acknowledged, {len(stream.failed)} refused")
    assert res.code == 0, res.out + res.err
    assert "Moved ['" in res.err, res.err
    assert max(meta1_counts(ns).values()) <= fair
    # Every acknowledged container is still there, with its object.
    for i, _ in stream.acked:
        assert names(api, f"rebalanced-{i:04d}") == {"o"}
    moved = {line.split("'")[1] for line in res.err.splitlines()
             if "Moved ['" in line}
    for base in moved:
        shared = wait_same_content(base_files(ns, "meta1", base))
        for i, _ in stream.acked:
            cid = cid_from_name(ACCOUNT, f"rebalanced-{i:04d}")
            if cid.startswith(base):
                assert any(r[0] == cid for r in shared["refs"])
