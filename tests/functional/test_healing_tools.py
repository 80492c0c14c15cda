"""oio-blob-registrator, oio-blob-converter, oio-crawler-integrity,
`openio-admin account-service rebuild` and the meta1 rebuilders as real
processes (the venv's entry points) against the session namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oio.blob import chunk_meta as cm
from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from oio.common.volume import read_volume
from oio.event.beanstalk import Beanstalk
from tests.functional.cli import run_cli
from tests.functional.test_integrity_daemons import (
    chunk_path,
    rawx_of,
    run_tool,
)

pytestmark = pytest.mark.functional
ACCOUNT = "healing-tools"


def put(api, container: str, name: str, policy: str = "SINGLE",
        size: int = 2048) -> tuple[dict, list[dict]]:
    api.object_create(ACCOUNT, container, obj_name=name,
                      data=os.urandom(size), policy=policy)
    return api.object_locate(ACCOUNT, container, name)


def volume_of(namespace, url: str):
    _, path = rawx_of(namespace, url)
    return read_volume(path, "rawx")


def beans_of(meta: dict, chunk: dict, name: str) -> list[dict]:
    return [{"type": "alias", "name": name, "version": int(meta["version"]),
             "header": meta["id"]},
            {"type": "header", "id": meta["id"],
             "chunk-method": meta["chunk_method"],
             "mime-type": meta["mime_type"]},
            {"type": "chunk", "id": chunk["url"], "hash": chunk["hash"],
             "size": int(chunk["size"]), "pos": chunk["pos"],
             "content": meta["id"]}]


def test_registrator_rebuilds_lost_records_and_checks_them(namespace):
    api = namespace.api()
    meta, chunks = put(api, "registered", "obj")
    cid = cid_from_name(ACCOUNT, "registered")
    volume = volume_of(namespace, chunks[0]["url"])
    # The proxy refuses a bean of the wrong shape, before meta2 writes.
    with pytest.raises(exc.BadRequest):
        api.container.container_raw_insert(
            dict(beans_of(meta, chunks[0], "obj")[2], size="1"), cid=cid)
    # meta2 loses every record of the object (through the raw routes).
    api.container.container_raw_delete(
        cid=cid, data=beans_of(meta, chunks[0], "obj"))
    with pytest.raises(exc.NoSuchObject):
        api.object_locate(ACCOUNT, "registered", "obj")
    args = ("--chunks-per-second", "0", "--report-interval", "3600")
    check = run_tool(namespace, "oio-blob-registrator", namespace.ns, "check",
                     volume.path, cid, *args)
    assert check.returncode == 1, check.stderr
    assert "MISSING chunk" in check.stderr
    insert = run_tool(namespace, "oio-blob-registrator", namespace.ns,
                      "insert", volume.path, cid.lower(), *args)
    assert insert.returncode == 0, insert.stderr
    assert "bean_chunk_successes=1" in insert.stderr
    found, again = api.object_locate(ACCOUNT, "registered", "obj")
    assert found["id"] == meta["id"] and found["version"] == meta["version"]
    assert [c["url"] for c in again] == [chunks[0]["url"]]
    check = run_tool(namespace, "oio-blob-registrator", namespace.ns, "check",
                     volume.path, cid, *args)
    assert check.returncode == 0, check.stderr
    again = run_tool(namespace, "oio-blob-registrator", namespace.ns,
                     "insert", volume.path, cid, *args)
    assert again.returncode == 0 and "bean_chunk_already_exists=1" in \
        again.stderr
    bad = run_tool(namespace, "oio-blob-registrator", namespace.ns, "insert",
                   "/nonexistent")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_converter_turns_legacy_xattrs_into_a_fullpath(namespace, tmp_path):
    api = namespace.api()
    meta, chunks = put(api, "converted", "old obj")
    url = chunks[0]["url"]
    chunk_id = url.rsplit("/", 1)[1]
    volume = volume_of(namespace, url)
    path = chunk_path(volume.path, chunk_id)
    original = os.getxattr(path, cm.XATTR_FULLPATH + chunk_id)
    # As a 4.0 rawx wrote it: separate keys, no fullpath, no version.
    os.removexattr(path, cm.XATTR_FULLPATH + chunk_id)
    os.removexattr(path, cm.X_OIO_VERSION)
    for key, value in ((cm.X_LEGACY_CHUNK_ID, chunk_id),
                       (cm.X_LEGACY_CONTAINER,
                        cid_from_name(ACCOUNT, "converted")),
                       (cm.X_LEGACY_PATH, "old obj"),
                       (cm.X_LEGACY_VERSION, str(meta["version"])),
                       (cm.X_LEGACY_CONTENT_ID, meta["id"])):
        os.setxattr(path, key, value.encode())
    listing = tmp_path / "chunks"
    listing.write_text(f"{chunk_id[:3]}/{chunk_id}\n")
    common = ("--input-file", str(listing), "--backup-dir", str(tmp_path),
              "--chunks-per-second", "0")
    dry = run_tool(namespace, "oio-blob-converter", namespace.ns, volume.path,
                   "--dry-run", *common)
    assert dry.returncode == 0 and "[dryrun]" in dry.stderr
    assert cm.XATTR_FULLPATH + chunk_id not in os.listxattr(path)
    done = run_tool(namespace, "oio-blob-converter", namespace.ns,
                    volume.path, *common)
    assert done.returncode == 0, done.stderr
    assert os.getxattr(path, cm.XATTR_FULLPATH + chunk_id) == original
    assert os.getxattr(path, cm.X_OIO_VERSION) == b"4.2"
    assert cm.X_LEGACY_CONTAINER not in os.listxattr(path)
    backup = next(tmp_path.glob(f"backup_*/{chunk_id[:3]}/{chunk_id}"))
    assert cm.X_LEGACY_PATH in backup.read_text()
    # The rawx serves it as any 4.2 chunk.
    _, stream = api.object_fetch(ACCOUNT, "converted", "old obj")
    assert len(b"".join(stream)) == 2048
    bad = run_tool(namespace, "oio-blob-converter", namespace.ns,
                   str(tmp_path))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_crawler_integrity_outputs_and_exit_codes(namespace, tmp_path):
    api = namespace.api()
    meta, chunks = put(api, "crawled", "three", policy="THREECOPIES")
    ok = run_tool(namespace, "oio-crawler-integrity", namespace.ns, ACCOUNT,
                  "crawled")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Chunks checked    : 3" in ok.stdout
    # One copy lost.
    lost = chunks[0]["url"]
    _, path = rawx_of(namespace, lost)
    os.unlink(chunk_path(path, lost.rsplit("/", 1)[1]))
    rebuild = tmp_path / "rebuild"
    tube = f"crawler-test-{time.time():.0f}"
    queue = namespace.services("beanstalkd")
    extra = ("--beanstalkd", queue[0].addr, "--beanstalkd-tube", tube) \
        if queue else ()
    broken = run_tool(namespace, "oio-crawler-integrity", namespace.ns,
                      ACCOUNT, "crawled", "three", "--output-for-chunk-rebuild",
                      str(rebuild), "-o", str(tmp_path / "errors"), *extra)
    assert broken.returncode == 1
    assert "Missing chunks    : 1" in broken.stdout
    cid = cid_from_name(ACCOUNT, "crawled")
    assert rebuild.read_text().splitlines() == [f"{cid}|{meta['id']}|{lost}"]
    # The error file reads back as input.
    again = subprocess.run(
        [str(Path(sys.executable).parent / "oio-crawler-integrity"),
         namespace.ns, "--from-stdin"],
        input=(tmp_path / "errors").read_text(), capture_output=True,
        text=True, timeout=60,
        env=dict(os.environ, OIO_SDS_CONF=namespace.conf_path))
    assert again.returncode == 1 and "Missing chunks    : 1" in again.stdout
    if queue:
        client = Beanstalk.from_url(queue[0].addr)
        try:
            client.watch(tube)
            client.ignore("default")
            job = client.poll(timeout=5)
            assert job is not None
            client.delete(job[0])
        finally:
            client.close()
        task = json.loads(job[1])
        assert task["event"] == "storage.content.broken"
        assert task["url"] == {"ns": namespace.ns, "id": cid,
                               "content": meta["id"]}
        assert task["data"]["missing_chunks"] == [lost]
    bad = run_tool(namespace, "oio-crawler-integrity", namespace.ns,
                   "--attempts", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_account_service_rebuild_lists_every_container(namespace):
    api = namespace.api()
    for name in ("acct-a", "acct-b"):
        put(api, name, "o", size=10)
    api.account.account_flush(ACCOUNT)   # counters and containers forgotten
    result = run_cli(namespace, "account-service", "rebuild",
                     "--items-per-second", "0", binary="openio-admin")
    rows = [line.split(" ") for line in result.out.splitlines()]
    entries = {row[0]: row[1] for row in rows}
    # Every account of the shared namespace is rebuilt: other tests leave
    # some in states that fail (exit 1 then); this account's must not.
    ours = {e: s for e, s in entries.items()
            if e.startswith(f"{namespace.ns}|{ACCOUNT}")}
    assert ours and set(ours.values()) == {"OK"}, result.out
    assert result.code in (0, 1), result.err
    for name in ("acct-a", "acct-b"):
        entry = f"{namespace.ns}|{ACCOUNT}|{name}"
        assert entries.get(entry) == "OK", result.out

    def listed():
        return {c[0] for c in api.container_list(ACCOUNT)} >= \
            {"acct-a", "acct-b"}
    from tests.utils import wait_until
    wait_until(listed, timeout=20)


def test_meta1_rebuild_from_an_input_file(namespace, tmp_path):
    api = namespace.api()
    put(api, "meta1-listed", "o", size=10)
    listing = tmp_path / "cids"
    listing.write_text(cid_from_name(ACCOUNT, "meta1-listed") + "\n")
    result = run_cli(namespace, "meta1", "rebuild", "--input-file",
                     str(listing), "--items-per-second", "0",
                     binary="openio-admin")
    assert result.code == 0 and result.out == "", result.err
    tool = run_tool(namespace, "oio-meta1-rebuilder", namespace.ns,
                    "--input-file", str(listing))
    assert tool.returncode == 0 and tool.stdout == "", tool.stderr
    assert "DONE prefixes=" in tool.stderr
    listing.write_text("zz-not-a-cid\n")
    bad = run_cli(namespace, "meta1", "rebuild", "--input-file", str(listing),
                  binary="openio-admin")
    assert bad.code != 0 and "Traceback" not in bad.err
