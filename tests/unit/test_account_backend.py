"""The account backends, on real SQLite and on a real Redis (account.md
§3, §4): every test runs against both."""

import pytest

from oio.account.backend import AccountBackend, AccountError, format_time
from oio.account.backend_redis import RedisAccountBackend
from oio.account.s3 import is_s3_bucket_name
from tests.redis_process import RedisServer, needs_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis)])
def backend(request, tmp_path):
    if request.param == "sqlite":
        backend = AccountBackend(str(tmp_path))
    else:
        server = request.getfixturevalue("redis_server")
        backend = RedisAccountBackend.from_conf({"redis_host": server.addr})
        backend.redis.flushdb()
    yield backend
    backend.close()


def _set_account_objects(backend, value: int) -> None:
    """Make the stored account counter wrong, as a lost update would."""
    if isinstance(backend, RedisAccountBackend):
        backend.redis.hset("account:a", "objects", value)
    else:
        backend.db.execute("UPDATE accounts SET objects = ?", (value,))


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
    _set_account_objects(backend, 99)
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


def test_refusals_leave_nothing(backend):
    backend.update_container("a", "c", {"mtime": 10})
    backend.update_container("a", "c", {"dtime": 20})
    with pytest.raises(AccountError) as err:   # stale: refused, no trace
        backend.update_container("b", "x", {"mtime": 5}) or \
            backend.update_container("b", "x", {"mtime": 4, "objects": 1})
    assert err.value.http_status == 409
    assert backend.show("b")["objects"] == 0
    backend.delete_account("a")
    with pytest.raises(AccountError) as err:
        backend.reset_container("b", "nope", 30)
    assert (err.value.http_status, err.value.message) == (
        404, "Container nope not found")
    with pytest.raises(AccountError) as err:
        backend.update_container("", "c", {"mtime": 1})
    assert err.value.http_status == 400
    with pytest.raises(AccountError) as err:
        backend.update_container("b", "c", {"mtime": 1, "objects": "x"})
    assert err.value.http_status == 400
    assert backend.list_accounts() == ["b"]


def test_reset_and_show_container(backend):
    backend.update_container("a", "c", {"mtime": 10, "objects": 4, "bytes": 8,
                                        "bucket": "c"})
    shown = backend.show_container("a", "c")
    assert shown == {"replication_enabled": False, "name": "c",
                     "mtime": format_time(10), "dtime": "0", "objects": 4,
                     "bytes": 8, "damaged_objects": 0, "missing_chunks": 0,
                     "bucket": "c"}
    backend.reset_container("a", "c", 11)
    assert backend.show("a")["objects"] == 0
    assert backend.show_container("a", "c")["bucket"] == "c"
    assert backend.show_container("a", "other") == {"replication_enabled": False}


def test_no_autocreate(backend):
    backend.autocreate = False
    for call in (lambda: backend.update_container("a", "c", {"mtime": 1}),
                 lambda: backend.update_metadata("a", {"k": "v"}, None),
                 lambda: backend.refresh("a"), lambda: backend.flush("a"),
                 lambda: backend.delete_account("a"),
                 lambda: backend.list_containers("a")):
        with pytest.raises(AccountError) as err:
            call()
        assert (err.value.http_status, err.value.message) == (
            404, "Account not found")
    assert backend.count() == 0


def test_names_with_separators(backend):
    # ("x:y", "z") and ("x", "y:z") are two different containers.
    backend.update_container("x:y", "z", {"mtime": 1, "objects": 1})
    backend.update_container("x", "y:z", {"mtime": 1, "objects": 2})
    assert backend.show_container("x:y", "z")["objects"] == 1
    assert backend.show_container("x", "y:z")["objects"] == 2
    for name in ("é/1", "é/2", "éa", "z", "\u4e2d/x"):
        backend.update_container("u", name, {"mtime": 2})
    names = lambda **kw: [e[0] for e in backend.list_containers("u", **kw)]  # noqa: E731
    assert names(delimiter="/") == ["z", "é/", "éa", "\u4e2d/"]
    assert names(prefix="é", delimiter="/") == ["é/", "éa"]
    assert names(marker="é/", delimiter="/") == ["éa", "\u4e2d/"]
    assert backend.list_accounts() == ["u", "x", "x:y"]
