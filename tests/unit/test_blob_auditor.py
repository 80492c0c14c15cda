"""BlobAuditor on a real volume directory, with fake neighbours (meta2,
rdir, beanstalkd)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

import pytest

from oio.blob import chunk_meta as cm
from oio.blob.auditor import BlobAuditor, auditor_config
from oio.blob.rebuild_report import broken_chunk_event
from oio.common import exceptions as exc
from oio.common.configuration import Config
from oio.common.pacing import Pacer
from oio.common.volume import lock_volume, read_volume

CID = "A" * 64
CONTENT = "C0FFEE" * 4
VOL_ID = "127.0.0.1:6010"


@pytest.fixture
def volume():
    tmp = "/var/tmp" if os.path.isdir("/var/tmp") else None
    with tempfile.TemporaryDirectory(dir=tmp) as path:
        if not lock_volume(path, "OPENIO", VOL_ID, "rawx"):
            pytest.skip("no user xattrs here")
        yield path


def write_chunk(volume: str, data: bytes, pos: str = "0", xattrs: bool = True,
                age: float = 0.0) -> str:
    chunk_id = os.urandom(32).hex().upper()
    os.makedirs(os.path.join(volume, chunk_id[:3]), exist_ok=True)
    path = os.path.join(volume, chunk_id[:3], chunk_id)
    with open(path, "wb") as out:
        out.write(data)
    if xattrs:
        attrs = {cm.XATTR_FULLPATH + chunk_id: f"acct/cont/obj/1/{CONTENT}",
                 cm.X_CHUNK_HASH: hashlib.md5(data).hexdigest().upper(),
                 cm.X_CHUNK_SIZE: str(len(data)), cm.X_CHUNK_POS: pos,
                 cm.X_CHUNK_METHOD: "plain/nb_copy=3",
                 cm.X_POLICY: "THREECOPIES", cm.X_OIO_VERSION: "4.2"}
        for key, value in attrs.items():
            os.setxattr(path, key, value.encode())
    if age:
        when = time.time() - age
        os.utime(path, (when, when))
    return chunk_id


class FakeMeta2:
    def __init__(self):
        self.chunks: dict[str, dict] = {}   # chunk ID → meta2 record
        self.calls = 0

    def add(self, chunk_id: str, data: bytes, pos: str = "0"):
        self.chunks[chunk_id] = {
            "url": f"http://{VOL_ID}/{chunk_id}", "pos": pos,
            "size": len(data), "hash": hashlib.md5(data).hexdigest().upper()}

    def content_locate(self, cid=None, content=None, properties=True):
        self.calls += 1
        if not self.chunks:
            raise exc.NotFound(message="no such content")
        return {}, list(self.chunks.values())


class FakeRdir:
    def __init__(self):
        self.deleted = []

    def chunk_delete(self, volume_id, cid, content_id, chunk_id):
        self.deleted.append((volume_id, cid, content_id, chunk_id))


class FakeReporter:
    def __init__(self):
        self.tasks = []

    def report(self, cid, content_id, url):
        self.tasks.append((cid, content_id, url))
        return True


def auditor(volume, meta2, rdir=None, reporter=None, **conf):
    conf = Config({"chunks_per_second": 0, "bytes_per_second": 0, **conf})
    return BlobAuditor(conf, read_volume(volume, "rawx"), meta2,
                       rdir or FakeRdir(), reporter)


def test_healthy_chunk_is_ok(volume):
    meta2 = FakeMeta2()
    chunk_id = write_chunk(volume, b"x" * 1000)
    meta2.add(chunk_id, b"x" * 1000)
    stats = auditor(volume, meta2).run_pass()
    assert stats["chunks"] == 1 and stats["bytes"] == 1000
    assert all(stats[k] == 0 for k in ("corrupted", "faulty", "orphans",
                                       "errors"))


def test_flipped_byte_is_corrupted_and_reported_once(volume):
    meta2, reporter = FakeMeta2(), FakeReporter()
    chunk_id = write_chunk(volume, b"y" * 4096)
    meta2.add(chunk_id, b"y" * 4096)
    path = os.path.join(volume, chunk_id[:3], chunk_id)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"z")
    audit = auditor(volume, meta2, reporter=reporter)
    assert audit.run_pass()["corrupted"] == 1
    assert reporter.tasks == [(CID_OF_FULLPATH, CONTENT,
                               f"http://{VOL_ID}/{chunk_id}")]
    audit.run_pass()            # the same damaged file: not reported again
    assert len(reporter.tasks) == 1


CID_OF_FULLPATH = cm.cid_from_name("acct", "cont")


def test_without_xattrs_is_faulty_not_reported(volume):
    reporter = FakeReporter()
    write_chunk(volume, b"data", xattrs=False)
    stats = auditor(volume, FakeMeta2(), reporter=reporter).run_pass()
    assert stats["faulty"] == 1 and reporter.tasks == []


def test_position_differing_from_meta2_is_faulty(volume):
    meta2, reporter = FakeMeta2(), FakeReporter()
    chunk_id = write_chunk(volume, b"abc", pos="1")
    meta2.add(chunk_id, b"abc", pos="2")
    assert auditor(volume, meta2, reporter=reporter).run_pass()["faulty"] == 1
    assert len(reporter.tasks) == 1


def test_orphans_removed_once_unchanged_for_the_grace(volume):
    meta2, rdir = FakeMeta2(), FakeRdir()
    old = write_chunk(volume, b"old", age=2 * 86400)
    young = write_chunk(volume, b"young")
    # ctime cannot be set back: accept files changed 1 s ago as old.
    stats = auditor(volume, meta2, rdir, orphan_grace_delay="1h").run_pass()
    assert stats["orphans"] == 2
    # Both have a fresh ctime (just written), so neither is removed...
    assert stats["orphans_removed"] == 0 and not rdir.deleted
    stats = auditor(volume, meta2, rdir, orphan_grace_delay="0").run_pass()
    assert stats["orphans_removed"] == 2
    assert {d[3] for d in rdir.deleted} == {old, young}
    assert not os.path.exists(os.path.join(volume, old[:3], old))


def test_pending_and_foreign_files_are_skipped(volume):
    os.makedirs(os.path.join(volume, "ABC"))
    open(os.path.join(volume, "ABC", "ABCD" * 16 + ".pending"), "w").close()
    open(os.path.join(volume, "ABC", "README"), "w").close()
    assert auditor(volume, FakeMeta2()).run_pass()["chunks"] == 0


def test_both_rates_hold():
    now = [0.0]

    def sleep(delay):
        now[0] += delay
    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(21):
        pacer.wait(5)        # 5 units at 10/s: 0.5 s each
    assert now[0] == pytest.approx(10.0)


def test_event_is_the_spec_task_without_reply():
    event = broken_chunk_event("OPENIO", CID, CONTENT, "http://r1/AB", when=1.5)
    assert event == {"when": 1.5, "event": "storage.content.broken",
                     "url": {"ns": "OPENIO", "id": CID, "content": CONTENT},
                     "data": {"missing_chunks": ["http://r1/AB"]}}


def test_config_text():
    text = auditor_config("/vol", "OPENIO", chunks_per_second=5)
    assert text == ("[blob-auditor]\nvolume = /vol\nnamespace = OPENIO\n"
                    "chunks_per_second = 5\n")
