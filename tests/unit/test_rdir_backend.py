"""The rdir backend on real SQLite (rdir.md §2, §4)."""

import os
import sqlite3

import pytest

from oio.rdir.backend import (
    DB_FILE,
    MAX_LIMIT,
    RdirBackend,
    RdirError,
    meta2_db_name,
)

VOL = "127.0.0.1:6009"
M2 = "127.0.0.1:6008"


@pytest.fixture
def backend(tmp_path):
    b = RdirBackend(str(tmp_path))
    yield b
    b.close()


def chunk(cid="C1", content="X", chunk_id="K1", **extra):
    return dict(container_id=cid, content_id=content, chunk_id=chunk_id, **extra)


def status_of(func, *args):
    with pytest.raises(RdirError) as err:
        func(*args)
    return err.value.http_status


def test_create_and_paths(backend, tmp_path):
    assert backend.status() == {"opened_db_count": 0}
    backend.create(VOL)
    backend.create(VOL)
    backend.meta2_create(M2)
    assert os.path.isfile(tmp_path / VOL / DB_FILE)
    assert os.path.isfile(tmp_path / "meta2-127.0.0.1-6008" / DB_FILE)
    assert meta2_db_name("OPENIO-meta2-1") == "meta2-OPENIO-meta2-1"
    assert backend.status() == {"opened_db_count": 1}
    assert RdirBackend(str(tmp_path), service_id="rdir-1").status() == {
        "opened_db_count": 0, "service_id": "rdir-1"}


def test_missing_db_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        RdirBackend(str(tmp_path / "nowhere"))


def test_push_needs_db_unless_create(backend):
    assert status_of(backend.chunk_push, VOL, chunk()) == 404
    assert status_of(backend.chunk_delete, VOL, chunk()) == 404
    assert status_of(backend.chunk_fetch, VOL) == 404
    assert status_of(backend.admin_show, VOL) == 404
    backend.chunk_push(VOL, chunk(mtime=5), create=True)
    assert backend.chunk_fetch(VOL) == ([["C1|X|K1", {"mtime": 5}]], False, None)


def test_push_upsert_rtime_delete(backend):
    backend.create(VOL)
    backend.chunk_push(VOL, chunk(mtime=5, rtime=9, extra="ignored"))
    backend.chunk_push(VOL, chunk(chunk_id="K2"))
    records, _, _ = backend.chunk_fetch(VOL)
    assert records == [["C1|X|K1", {"mtime": 9}], ["C1|X|K2", {"mtime": 0}]]
    backend.chunk_push(VOL, chunk(mtime=3))
    assert backend.chunk_fetch(VOL)[0][0] == ["C1|X|K1", {"mtime": 3}]
    backend.chunk_delete(VOL, chunk(mtime=100))
    backend.chunk_delete(VOL, chunk())          # already gone: no error
    assert backend.chunk_fetch(VOL)[0] == [["C1|X|K2", {"mtime": 0}]]


@pytest.mark.parametrize("body", [
    None, {}, [], "x", chunk(cid=None), {"content_id": "X", "chunk_id": "K"},
    chunk(cid=""), chunk(cid=5), chunk(content="a|b"), chunk(chunk_id=["K"]),
    chunk(mtime="12"), chunk(mtime=True), chunk(rtime={}), chunk(cid="C" * 65),
    chunk(content="\ud800"),
])
def test_bad_chunk_records(backend, body):
    backend.create(VOL)
    assert status_of(backend.chunk_push, VOL, body) == 400
    assert status_of(backend.chunk_delete, VOL, body) == 400


@pytest.mark.parametrize("volume", [
    "", None, "..", ".", "../etc", "a/b", "/abs", ".hidden", "a\\b", "a\x00b",
    "a\nb", "x" * 201, "meta2-127.0.0.1-6008", "bad\udcff",
])
def test_bad_volume_ids(backend, tmp_path, volume):
    assert status_of(backend.create, volume) == 400
    assert status_of(backend.chunk_push, volume, chunk(), True) == 400
    if volume != "meta2-127.0.0.1-6008":
        assert status_of(backend.meta2_create, volume) == 400
    assert sorted(os.listdir(tmp_path)) == []


def fill(backend, n=10):
    backend.create(VOL)
    for i in range(n):
        backend.chunk_push(VOL, chunk(cid=f"C{i % 2}", chunk_id=f"K{i}",
                                      mtime=100 + i))


def test_fetch_pagination(backend):
    fill(backend)
    keys, marker = [], None
    while True:
        records, truncated, marker = backend.chunk_fetch(VOL, marker=marker,
                                                         limit=3)
        keys += [r[0] for r in records]
        if not truncated:
            assert marker is None
            break
        assert marker == records[-1][0]
    assert keys == sorted(keys) and len(keys) == 10
    # Exactly `limit` left: not truncated.
    records, truncated, _ = backend.chunk_fetch(VOL, marker=keys[6], limit=3)
    assert len(records) == 3 and not truncated


def test_fetch_prefix_marker_rules(backend):
    fill(backend)
    records, truncated, _ = backend.chunk_fetch(VOL, prefix="C1")
    assert [r[0] for r in records] == [f"C1|X|K{i}" for i in (1, 3, 5, 7, 9)]
    assert not truncated
    # A marker before the prefix: the seek lands on the prefix.
    assert backend.chunk_fetch(VOL, prefix="C1", marker="C0|X|K8")[0] == records
    # A partial marker skips only the key the seek lands on.
    assert [r[0] for r in backend.chunk_fetch(VOL, marker="C1|X|K")[0]] == [
        f"C1|X|K{i}" for i in (3, 5, 7, 9)]
    assert backend.chunk_fetch(VOL, marker="C9")[0] == []
    assert backend.chunk_fetch(VOL, prefix="C2")[0] == []


def test_fetch_limits(backend):
    fill(backend, 3)
    assert len(backend.chunk_fetch(VOL, limit=0)[0]) == 3
    assert len(backend.chunk_fetch(VOL, limit=-5)[0]) == 3
    assert len(backend.chunk_fetch(VOL, limit=MAX_LIMIT * 10)[0]) == 3
    assert status_of(backend.chunk_fetch, VOL, None, "3") == 400


def test_rebuild_and_status(backend):
    fill(backend, 6)
    assert backend.chunk_fetch(VOL, rebuild=True) == ([], False, None)
    stats, _, _ = backend.chunk_status(VOL)
    assert stats == {"chunk": {"total": 6},
                     "container": {"C0": {"total": 3}, "C1": {"total": 3}}}
    backend.admin_incident_set(VOL, {"date": 102})
    assert backend.admin_incident_get(VOL) == 102
    records, _, _ = backend.chunk_fetch(VOL, rebuild=True)
    assert [r[0] for r in records] == ["C0|X|K0", "C0|X|K2", "C1|X|K1"]
    stats, _, _ = backend.chunk_status(VOL)
    assert stats == {"chunk": {"total": 6, "to_rebuild": 3},
                     "container": {"C0": {"total": 3, "to_rebuild": 2},
                                   "C1": {"total": 3, "to_rebuild": 1}},
                     "rebuild": {"incident_date": 102}}
    stats, truncated, marker = backend.chunk_status(VOL, limit=4)
    assert stats["chunk"] == {"total": 4, "to_rebuild": 3} and truncated
    stats, truncated, _ = backend.chunk_status(VOL, marker=marker, limit=4)
    assert stats["chunk"] == {"total": 2, "to_rebuild": 0} and not truncated
    assert stats["container"] == {"C1": {"total": 2}}


def test_incident_validation(backend):
    backend.create(VOL)
    assert backend.admin_incident_get(VOL) == 0
    for body in (None, {}, {"date": "12"}, {"date": 1.5}, {"date": True}, []):
        assert status_of(backend.admin_incident_set, VOL, body) == 400
    assert status_of(backend.admin_incident_set, "nope", {"date": 1}) == 404


def test_lock_unlock_show(backend):
    backend.create(VOL)
    assert backend.admin_show(VOL) == {}
    backend.admin_lock(VOL, {"who": "alice"})
    backend.admin_lock(VOL, {"who": "alice"})
    with pytest.raises(RdirError) as err:
        backend.admin_lock(VOL, {"who": "bob"})
    assert (err.value.http_status, err.value.message) == (
        403, "Already locked by alice")
    for body in (None, {}, {"who": ""}, {"who": 3}):
        assert status_of(backend.admin_lock, VOL, body) == 400
    backend.admin_incident_set(VOL, {"date": 7})
    assert backend.admin_show(VOL) == {"lock": "alice", "incident_date": "7"}
    backend.admin_unlock(VOL)
    backend.admin_unlock(VOL)
    assert backend.admin_show(VOL) == {"incident_date": "7"}


def test_clear(backend):
    fill(backend, 6)
    backend.admin_lock(VOL, {"who": "bob"})
    assert status_of(backend.admin_clear, VOL, True) == 403
    backend.admin_unlock(VOL)
    assert backend.admin_clear(VOL) == {"removed": 0, "repaired": 0, "errors": 0}
    backend.admin_incident_set(VOL, {"date": 102})
    # A record damaged behind our back counts as an error.
    db = backend._db(VOL, create=False)
    db.write(puts=[("chunk|C9|X|bad", "{not json")])
    result = backend.admin_clear(VOL, before_incident=True, repair=True)
    assert result == {"removed": 3, "repaired": 3, "errors": 1}
    assert backend.admin_show(VOL) == {}    # incident and lock are gone
    assert [r[0] for r in backend.chunk_fetch(VOL)[0]] == [
        "C0|X|K4", "C1|X|K3", "C1|X|K5"]    # the bad record is skipped
    assert backend.admin_clear(VOL, clear_all=True)["removed"] == 4
    assert backend.chunk_fetch(VOL)[0] == []


def test_meta2(backend):
    rec = {"container_id": "ID1", "container_url": "NS/a/c1", "mtime": 5}
    assert status_of(backend.meta2_push, M2, rec, False) == 404
    assert status_of(backend.meta2_delete, M2, rec) == 404
    assert status_of(backend.meta2_fetch, M2, {}) == 400
    backend.meta2_push(M2, rec)
    backend.meta2_push(M2, {"container_id": "ID2", "container_url": "NS/a/c2",
                            "extra_data": "x"})
    backend.meta2_push(M2, {"container_id": "ID3", "container_url": "NS/b/c3"})
    page = backend.meta2_fetch(M2, {})
    assert page["truncated"] is False
    assert page["records"][0] == {"container_id": "ID1",
                                  "container_url": "NS/a/c1",
                                  "extra_data": None, "mtime": 5}
    assert page["records"][1]["extra_data"] == "x"
    assert page["records"][1]["mtime"] == 0
    urls = [r["container_url"] for r in backend.meta2_fetch(
        M2, {"prefix": "NS/a/"})["records"]]
    assert urls == ["NS/a/c1", "NS/a/c2"]
    # 7.2.0 paging: limit + 1 records, the record after the marker skipped.
    page = backend.meta2_fetch(M2, {"limit": 1})
    assert len(page["records"]) == 2 and page["truncated"] is True
    page = backend.meta2_fetch(M2, {"marker": "NS/a/c1"})
    assert [r["container_url"] for r in page["records"]] == ["NS/a/c2", "NS/b/c3"]
    page = backend.meta2_fetch(M2, {"marker": "NS/a/c1x"})
    assert [r["container_url"] for r in page["records"]] == ["NS/b/c3"]
    backend.meta2_delete(M2, {"container_id": "ID1", "container_url": "NS/a/c1"})
    assert len(backend.meta2_fetch(M2, {})["records"]) == 2
    assert backend.status()["opened_db_count"] == 0


@pytest.mark.parametrize("body", [
    None, {}, [], {"container_id": "x"}, {"container_url": "NS/a/c"},
    {"container_id": 1, "container_url": "NS/a/c"},
    {"container_id": "x", "container_url": "NS/a/c", "mtime": "1"},
    {"container_id": "x", "container_url": "NS/a/c", "extra_data": {}},
])
def test_meta2_bad_records(backend, body):
    backend.meta2_create(M2)
    assert status_of(backend.meta2_push, M2, body) == 400
    assert status_of(backend.meta2_delete, M2, body) == 400


@pytest.mark.parametrize("body", [[], "x", {"limit": "3"}, {"prefix": 3},
                                  {"marker": []}])
def test_meta2_bad_fetch(backend, body):
    backend.meta2_create(M2)
    assert status_of(backend.meta2_fetch, M2, body) == 400


def test_durable_across_reopen(tmp_path):
    backend = RdirBackend(str(tmp_path))
    backend.chunk_push(VOL, chunk(mtime=7), create=True)
    backend.admin_lock(VOL, {"who": "me"})
    backend.admin_incident_set(VOL, {"date": 9})
    backend.meta2_push(M2, {"container_id": "I", "container_url": "NS/a/c"})
    conn = backend._db(VOL, create=False).conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL
    # Another process would see the data at once (no unflushed cache).
    other = sqlite3.connect(str(tmp_path / VOL / DB_FILE))
    assert other.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 3
    other.close()
    backend.close()
    again = RdirBackend(str(tmp_path))
    assert again.chunk_fetch(VOL)[0] == [["C1|X|K1", {"mtime": 7}]]
    assert again.admin_show(VOL) == {"lock": "me", "incident_date": "9"}
    assert again.meta2_fetch(M2, {})["records"][0]["container_url"] == "NS/a/c"
    again.close()
