"""The account backend on real SQLite (account.md §3, §4)."""

import pytest

from oio.account.backend import AccountBackend, AccountError, format_time
from oio.account.s3 import is_s3_bucket_name


@pytest.fixture
def backend(tmp_path):
    return AccountBackend(str(tmp_path))


def test_create_show_delete(backend):
    assert backend.create_account("a") is True
    assert backend.create_account("a") is False
    info = backend.show("a")
    assert (info["id"], info["objects"], info["containers"]) == ("a", 0, 0)
    backend.update_metadata("a", {"k": "v"}, None)
    backend.update_metadata("a", {"x": "1"}, ["k"])
    assert backend.show("a")["metadata"] == {"x": "1"}
    backend.update_container("a", "c", {"mtime": 10})
    with pytest.raises(AccountError) as err:
        backend.delete_account("a")
    assert err.value.http_status == 409
    backend.update_container("a", "c", {"dtime": 11})
    backend.delete_account("a")
    with pytest.raises(AccountError) as err:
        backend.show("a")
    assert err.value.http_status == 404
    assert backend.list_accounts() == []


def test_counters_follow_containers(backend):
    backend.update_container("a", "c1", {"mtime": 1, "objects": 3, "bytes": 30})
    backend.update_container("a", "c2", {"mtime": 1, "objects": 1, "bytes": 5})
    backend.update_container("a", "c1", {"mtime": 2, "objects": 2, "bytes": 20})
    assert (backend.show("a")["objects"], backend.show("a")["bytes"]) == (3, 25)
    with pytest.raises(AccountError) as err:   # older than what is stored
        backend.update_container("a", "c1", {"mtime": 1.5, "objects": 9})
    assert err.value.http_status == 409
    backend.update_container("a", "c2", {"dtime": 3})
    info = backend.show("a")
    assert (info["objects"], info["bytes"], info["containers"]) == (2, 20, 1)
    shown = backend.show_container("a", "c2")
    assert shown["dtime"] == format_time(3) and shown["objects"] == 0
    backend.db.execute("UPDATE accounts SET objects = 99")
    backend.refresh("a")
    assert backend.show("a")["objects"] == 2
    backend.flush("a")
    assert backend.show("a")["containers"] == 0


def test_listing(backend):
    for name in ("a", "b/1", "b/2", "c", "d/x/y"):
        backend.update_container("acct", name, {"mtime": 5, "objects": 1})
    names = lambda **kw: [e[0] for e in backend.list_containers("acct", **kw)]  # noqa: E731
    assert names() == ["a", "b/1", "b/2", "c", "d/x/y"]
    assert names(delimiter="/") == ["a", "b/", "c", "d/"]
    assert names(prefix="b/") == ["b/1", "b/2"]
    assert names(marker="b/1") == ["b/2", "c", "d/x/y"]
    assert names(end_marker="c") == ["a", "b/1", "b/2"]
    assert names(limit=2) == ["a", "b/1"]
    assert names(prefix="d/", delimiter="/") == ["d/x/"]
    entry = backend.list_containers("acct", prefix="c")[0]
    assert entry == ["c", 1, 0, 0, 5.0]


def test_timestamps_and_names():
    assert format_time(1606245060.123456) == "1606245060.12346"
    assert format_time(1606245060123456) == "1606245060.12346"   # µs
    assert format_time(None) == "0"
    assert is_s3_bucket_name("my.bucket-1")
    assert not is_s3_bucket_name("My_Bucket")
    assert not is_s3_bucket_name("192.168.1.1")
