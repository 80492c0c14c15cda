"""The integrity daemons as real processes (the venv's entry points)
against the session namespace: oio-blob-auditor, oio-blob-indexer,
oio-meta2-indexer."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from oio.blob import chunk_meta as cm
from oio.blob.auditor import auditor_config
from oio.blob.indexer import indexer_config
from oio.blob.rebuild_report import REBUILD_TUBE
from oio.common.utils import cid_from_name
from oio.directory.indexer import meta2_indexer_config
from oio.event.beanstalk import Beanstalk
from oio.rdir.client import RdirClient
from tests.utils import wait_until

pytestmark = pytest.mark.functional
ACCOUNT = "integrity"


def run_tool(namespace, binary: str, *args: str, timeout: float = 60
             ) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / binary
    env = dict(os.environ, OIO_SDS_CONF=namespace.conf_path)
    return subprocess.run([str(exe), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def rebuild_tasks(namespace) -> list[dict]:
    """Every task waiting on the rebuild tube (taken off it)."""
    client = Beanstalk.from_url(namespace.services("beanstalkd")[0].addr)
    try:
        client.watch(REBUILD_TUBE)
        client.ignore("default")
        tasks = []
        while (job := client.poll(timeout=0)) is not None:
            client.delete(job[0])
            tasks.append(json.loads(job[1]))
        return tasks
    finally:
        client.close()


def rawx_of(namespace, url: str):
    addr = urlsplit(url).netloc
    spec = next(s for s in namespace.services("rawx") if s.addr == addr)
    return addr, namespace.settings.data_path(spec)


def chunk_path(volume: str, chunk_id: str) -> str:
    return os.path.join(volume, chunk_id[:3], chunk_id)


def write_chunk_file(volume: str, data: bytes, content_id: str,
                     xattrs: bool = True) -> str:
    """A chunk file as the rawx would leave it, of a content meta2 does
    not know."""
    chunk_id = os.urandom(32).hex().upper()
    os.makedirs(os.path.dirname(chunk_path(volume, chunk_id)), exist_ok=True)
    with open(chunk_path(volume, chunk_id), "wb") as out:
        out.write(data)
    if xattrs:
        attrs = {cm.XATTR_FULLPATH + chunk_id:
                 f"{ACCOUNT}/ghost/obj/1/{content_id}",
                 cm.X_CHUNK_HASH: hashlib.md5(data).hexdigest().upper(),
                 cm.X_CHUNK_SIZE: str(len(data)), cm.X_CHUNK_POS: "0",
                 cm.X_CHUNK_METHOD: "plain/nb_copy=3",
                 cm.X_POLICY: "THREECOPIES", cm.X_OIO_VERSION: "4.2"}
        for key, value in attrs.items():
            os.setxattr(chunk_path(volume, chunk_id), key, value.encode())
    return chunk_id


def disk_chunks(volume: str) -> set[str]:
    """The chunk IDs of the volume that carry a fullpath xattr."""
    found = set()
    for sub in os.scandir(volume):
        if not sub.is_dir():
            continue
        for entry in os.scandir(sub.path):
            if len(entry.name) == 64 and any(
                    k.startswith(cm.XATTR_FULLPATH)
                    for k in os.listxattr(entry.path)):
                found.add(entry.name)
    return found


@pytest.fixture(scope="module")
def damaged(namespace, tmp_path_factory):
    """An object with one copy flipped, a file without xattrs, an old and a
    young orphan on the same volume; then one auditor pass."""
    if not namespace.services("beanstalkd"):
        pytest.skip("no beanstalkd in this sandbox")
    api = namespace.api()
    data = os.urandom(300 * 1024)
    api.object_create(ACCOUNT, "audited", obj_name="obj", data=data)
    meta, chunks = api.object_locate(ACCOUNT, "audited", "obj")
    url = chunks[0]["url"]
    addr, volume = rawx_of(namespace, url)
    chunk_id = url.rsplit("/", 1)[1]
    with open(chunk_path(volume, chunk_id), "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    bare = write_chunk_file(volume, b"no xattrs", "", xattrs=False)
    rdir = RdirClient({"namespace": namespace.ns})
    grace = 4.0
    ghost = "DEAD" * 8
    old = write_chunk_file(volume, b"old orphan", ghost)
    rdir.chunk_push(addr, cid_from_name(ACCOUNT, "ghost"), ghost, old,
                    mtime=int(time.time()))
    born = time.time()
    wait_until(lambda: time.time() - born > grace, timeout=10)
    young = write_chunk_file(volume, b"young orphan", ghost)
    rebuild_tasks(namespace)            # nothing but ours from now on
    conf = tmp_path_factory.mktemp("auditor") / "auditor.conf"
    auditor_config(volume, namespace.ns, str(conf), report_interval=1,
                   chunks_per_second=500, bytes_per_second=200_000_000,
                   orphan_grace_delay=grace)
    started = time.monotonic()
    proc = run_tool(namespace, "oio-blob-auditor", str(conf))
    elapsed = time.monotonic() - started
    return {"proc": proc, "elapsed": elapsed, "addr": addr, "volume": volume,
            "chunk_id": chunk_id, "cid": meta.get("container_id"),
            "content": meta["id"], "bare": bare, "old": old, "young": young,
            "rdir": rdir, "ghost": ghost, "conf": conf}


def test_auditor_pass_ends_with_a_report(damaged):
    proc = damaged["proc"]
    assert proc.returncode == 0, proc.stderr
    done = [line for line in proc.stderr.splitlines() if " DONE " in line]
    assert len(done) == 1, proc.stderr
    # The volume may hold what other tests of the session damaged too.
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)\b", done[0])}
    assert counts["corrupted"] >= 1 and counts["faulty"] >= 1, done[0]
    assert counts["orphans"] >= 2 and counts["orphans_removed"] >= 1, done[0]
    print(done[0], f"process {damaged['elapsed']:.2f}s")


def test_flipped_byte_gives_one_rebuild_task(damaged, namespace):
    ours = f"http://{damaged['addr']}/{damaged['chunk_id']}"
    tasks = [t for t in rebuild_tasks(namespace)
             if ours in (t.get("data") or {}).get("missing_chunks", ())]
    assert len(tasks) == 1, tasks
    task = tasks[0]
    assert task["event"] == "storage.content.broken"
    assert task["url"] == {"ns": namespace.ns,
                           "id": cid_from_name(ACCOUNT, "audited"),
                           "content": damaged["content"]}
    assert task["data"] == {"missing_chunks": [
        f"http://{damaged['addr']}/{damaged['chunk_id']}"]}
    assert set(task) == {"when", "event", "url", "data"}


def test_file_without_xattrs_is_faulty(damaged):
    path = chunk_path(damaged["volume"], damaged["bare"])
    assert f"faulty chunk {path}" in damaged["proc"].stderr
    assert os.path.exists(path)


def test_old_orphan_removed_young_kept(damaged):
    volume = damaged["volume"]
    assert not os.path.exists(chunk_path(volume, damaged["old"]))
    assert os.path.exists(chunk_path(volume, damaged["young"]))
    records = {chunk for _, _, chunk, _ in
               damaged["rdir"].chunk_fetch(damaged["addr"])}
    assert damaged["old"] not in records


def test_blob_indexer_rebuilds_a_wiped_rdir(damaged, namespace, tmp_path):
    rdir, addr = damaged["rdir"], damaged["addr"]
    rdir.admin_clear(addr, clear_all=True)
    assert not list(rdir.chunk_fetch(addr))
    conf = tmp_path / "indexer.conf"
    indexer_config(damaged["volume"], namespace.ns, str(conf),
                   chunks_per_second=500, report_interval=1)
    proc = run_tool(namespace, "oio-blob-indexer", "--once", str(conf))
    # The file without xattrs cannot be indexed: an error, exit 1.
    assert proc.returncode == 1, proc.stderr
    assert f"{damaged['bare']}: missing xattrs" in proc.stderr
    assert " errors=1 " in proc.stderr
    records = {chunk for _, _, chunk, _ in rdir.chunk_fetch(addr)}
    assert records == disk_chunks(damaged["volume"])
    assert damaged["chunk_id"] in records and damaged["young"] in records


def test_meta2_indexer_repushes_records(namespace, tmp_path):
    api = namespace.api()
    api.container_create(ACCOUNT, "indexed")
    cid = cid_from_name(ACCOUNT, "indexed")
    peers = [s["host"] for s in api.directory.list(ACCOUNT, "indexed")["srv"]
             if s["type"] == "meta2"]
    rdir = RdirClient({"namespace": namespace.ns})
    url = f"{namespace.ns}/{ACCOUNT}/indexed"
    for peer in peers:
        rdir.meta2_index_delete(peer, url, cid)
    volumes = [namespace.settings.data_path(s)
               for s in namespace.services("meta2")]
    conf = tmp_path / "meta2-indexer.conf"
    meta2_indexer_config(volumes, namespace.ns, str(conf), report_interval=1)
    before = int(time.time())
    proc = run_tool(namespace, "oio-meta2-indexer", "--once", str(conf))
    assert proc.returncode == 0, proc.stderr
    for peer in peers:
        records = {r["container_url"]: r for r in
                   rdir.meta2_index_fetch_all(peer)}
        assert url in records, proc.stderr
        assert records[url]["container_id"] == cid
        assert records[url]["mtime"] >= before


def test_bad_config_is_a_message_not_a_traceback(namespace, tmp_path):
    conf = tmp_path / "bad.conf"
    auditor_config(str(tmp_path / "nowhere"), namespace.ns, str(conf))
    proc = run_tool(namespace, "oio-blob-auditor", str(conf))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "nowhere" in proc.stderr
    proc = run_tool(namespace, "oio-blob-indexer", "--once",
                    str(tmp_path / "missing.conf"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
