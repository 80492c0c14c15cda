"""Buckets in the account backends (account.md §4.8, §4.11 step 8,
§4.14-4.16), on real SQLite and on a real Redis: every test runs against
both, and a random walk checks that they agree."""

from __future__ import annotations

import random
import time

import pytest

from oio.account.backend import AccountBackend, AccountError
from oio.account.backend_redis import RedisAccountBackend
from oio.account.buckets import bucket_deltas, cast_bucket, listing_page
from tests.redis_process import needs_redis
from tests.unit import test_account_backend as base

# The account backend tests' fixtures: each test runs on SQLite and on Redis.
backend = base.backend
redis_server = base.redis_server


def _redis(request) -> RedisAccountBackend:
    server = request.getfixturevalue("redis_server")
    backend = RedisAccountBackend.from_conf({"redis_host": server.addr})
    backend.redis.flushdb()
    return backend


def _put(backend, name: str, mtime: float, bucket: str | None = None,
         account: str = "a", **counters) -> None:
    backend.update_container(account, name, dict(counters, mtime=mtime,
                                                 bucket=bucket))


def _spoil(backend, bucket: str, **values) -> None:
    """Make stored bucket counters wrong, as a lost update would."""
    if isinstance(backend, RedisAccountBackend):
        backend.redis.hset("bucket:" + bucket, mapping=values)
    else:
        for key, value in values.items():
            backend.db.execute("UPDATE bucket_fields SET value = ? WHERE "
                               "bucket = ? AND key = ?", (str(value), bucket, key))


def _counters(info: dict) -> tuple:
    return (info["objects"], info["bytes"], info["damaged_objects"],
            info["missing_chunks"])


# Pure rules ----------------------------------------------------------------

def test_deltas_of_a_container_joining_its_bucket_are_its_whole_content():
    deltas = dict(objects=1, bytes=10, damaged_objects=0, missing_chunks=0)
    values = dict(objects=5, bytes=50, damaged_objects=1, missing_chunks=2)
    assert bucket_deltas("c", deltas, values, attached=True) == deltas
    assert bucket_deltas("c", deltas, values, attached=False) == values
    assert bucket_deltas("c+segments", deltas, values, False)["objects"] == 0
    assert bucket_deltas("c+segments", deltas, values, False)["bytes"] == 50


def test_cast_bucket_always_shows_counters_and_the_replication_flag():
    assert cast_bucket({}) == dict(objects=0, bytes=0, damaged_objects=0,
                                   missing_chunks=0, replication_enabled=False)
    shown = cast_bucket({"bytes": "12", "replication_enabled": "True",
                         "account": "a"})
    assert shown["bytes"] == 12 and shown["replication_enabled"] is True
    assert cast_bucket({"replication_enabled": "false"})[
        "replication_enabled"] is False


def test_a_full_page_says_truncated_as_7_2_does():
    assert listing_page(["a", "b"], 2) == (["a", "b"], "b")
    assert listing_page(["a"], 2) == (["a"], None)
    assert listing_page([], 2) == ([], None)


# Both backends -------------------------------------------------------------

def test_root_container_creates_and_lists_its_bucket(backend):
    _put(backend, "photos", 1, bucket="photos")
    assert backend.show_bucket("photos") == {
        "account": "a", "mtime": "0000000001.00000", "objects": 0,
        "bytes": 0, "damaged_objects": 0, "missing_chunks": 0,
        "replication_enabled": False}
    assert backend.show("a")["buckets"] == 1
    listing, next_marker = backend.list_buckets("a")
    assert listing == [{"name": "photos", "objects": 0, "bytes": 0,
                        "mtime": 1.0}]
    assert next_marker is None
    assert backend.show_container("a", "photos")["bucket"] == "photos"


def test_counters_are_the_sum_of_the_attached_containers(backend):
    _put(backend, "b", 1, bucket="b", objects=1, bytes=10)
    _put(backend, "b%2Fshard", 1, bucket="b", objects=2, bytes=20,
         damaged_objects=1, missing_chunks=3)
    _put(backend, "b+segments", 1, bucket="b", objects=7, bytes=70)
    _put(backend, "other", 1, objects=100, bytes=1000)
    assert _counters(backend.show_bucket("b")) == (3, 100, 1, 3)
    # Later states need not repeat the bucket: the container remembers it.
    _put(backend, "b%2Fshard", 2, objects=5, bytes=50)
    _put(backend, "b", 2, objects=0, bytes=0)
    info = backend.show_bucket("b")
    assert _counters(info) == (5, 120, 0, 0)
    assert info["mtime"] == "0000000002.00000"
    # Only the root container is a bucket of the account.
    assert [e["name"] for e in backend.list_buckets("a")[0]] == ["b"]
    assert backend.show("a")["objects"] == 112


def test_a_container_attached_late_brings_its_whole_content(backend):
    _put(backend, "b", 1, bucket="b")
    _put(backend, "b%2F1", 1, objects=4, bytes=40)
    assert backend.show_bucket("b")["objects"] == 0
    _put(backend, "b%2F1", 2, bucket="b", objects=5, bytes=50)
    assert _counters(backend.show_bucket("b")) == (5, 50, 0, 0)


def test_stale_update_moves_nothing(backend):
    _put(backend, "b", 5, bucket="b", objects=3, bytes=3)
    with pytest.raises(AccountError) as err:
        _put(backend, "b", 4, bucket="b", objects=9, bytes=9)
    assert err.value.http_status == 409
    assert _counters(backend.show_bucket("b")) == (3, 3, 0, 0)


def test_shard_deletion_leaves_the_bucket_and_root_deletion_deletes_it(backend):
    _put(backend, "b", 1, bucket="b", objects=1, bytes=1)
    _put(backend, "b%2F1", 1, bucket="b", objects=2, bytes=2)
    backend.update_container("a", "b%2F1", {"dtime": 2})
    assert _counters(backend.show_bucket("b")) == (1, 1, 0, 0)
    assert "bucket" not in backend.show_container("a", "b%2F1")
    backend.update_bucket("b", {"replication_enabled": "true"}, None)
    backend.update_container("a", "b", {"dtime": 2})
    with pytest.raises(AccountError) as err:
        backend.show_bucket("b")
    assert err.value.http_status == 404
    assert backend.list_buckets("a") == ([], None)
    assert backend.show("a")["buckets"] == 0
    # Created again: a new bucket, nothing kept from the old one.
    _put(backend, "b", 3, bucket="b")
    assert backend.show_bucket("b")["replication_enabled"] is False


def test_update_bucket_sets_and_deletes_free_fields(backend):
    # As 7.2: no existence check, the flag can come before the bucket.
    shown = backend.update_bucket("new", {"replication_enabled": True}, None)
    assert shown["replication_enabled"] is True and shown["bytes"] == 0
    _put(backend, "new", 1, bucket="new", objects=1, bytes=5)
    shown = backend.show_bucket("new")
    assert shown["replication_enabled"] is True and shown["bytes"] == 5
    assert backend.show_container("a", "new")["replication_enabled"] is True
    shown = backend.update_bucket("new", {"tag": "x"}, ["replication_enabled"])
    assert shown["tag"] == "x" and shown["replication_enabled"] is False
    assert backend.show_container("a", "new")["replication_enabled"] is False
    for bad in ({"metadata": "x"}, {"to_delete": "x"}):
        with pytest.raises(AccountError) as err:
            backend.update_bucket("new", bad.get("metadata"),
                                  bad.get("to_delete"))
        assert err.value.http_status == 400


def test_refresh_recomputes_from_the_owner_containers(backend):
    expected = [0, 0, 0, 0]
    for i in range(12):
        values = [random.randrange(100) for _ in range(4)]
        expected = [e + v for e, v in zip(expected, values, strict=True)]
        _put(backend, f"c{i:02d}", 1, bucket="bk", objects=values[0],
             bytes=values[1], damaged_objects=values[2],
             missing_chunks=values[3])
    _put(backend, "bk", 1, bucket="bk")
    _put(backend, "elsewhere", 1, bucket="other", objects=50, bytes=50)
    _spoil(backend, "bk", objects=1, bytes=2, damaged_objects=3,
           missing_chunks=4)
    if isinstance(backend, RedisAccountBackend):
        backend.refresh_bucket("bk", batch_size=5)   # several batches
        assert not backend.redis.exists("bucketlock:bk")
    else:
        backend.refresh_bucket("bk")
    assert list(_counters(backend.show_bucket("bk"))) == expected


def test_refresh_of_an_unknown_bucket_is_404(backend):
    for bucket in ("nope", ""):
        with pytest.raises(AccountError) as err:
            backend.refresh_bucket(bucket)
        assert err.value.http_status == (404 if bucket else 400)
    # A bucket with fields but no owner is not one either.
    backend.update_bucket("flag-only", {"replication_enabled": "1"}, None)
    with pytest.raises(AccountError) as err:
        backend.refresh_bucket("flag-only")
    assert err.value.http_status == 404


def test_listing_pages_with_marker_prefix_and_end_marker(backend):
    names = ["alpha", "beta", "beta2", "betb", "gamma"]
    for name in names:
        _put(backend, name, 1, bucket=name)
    _put(backend, "zeta", 1, bucket="zeta", account="other")

    def names_of(**kwargs):
        listing, next_marker = backend.list_buckets("a", **kwargs)
        return [e["name"] for e in listing], next_marker

    assert names_of() == (names, None)
    assert names_of(limit=2) == (["alpha", "beta"], "beta")
    assert names_of(limit=2, marker="beta") == (["beta2", "betb"], "betb")
    assert names_of(limit=2, marker="betb") == (["gamma"], None)
    assert names_of(prefix="beta") == (["beta", "beta2"], None)
    assert names_of(prefix="beta", marker="beta") == (["beta2"], None)
    assert names_of(prefix="beta", limit=1) == (["beta"], "beta")
    assert names_of(end_marker="betb") == (["alpha", "beta", "beta2"], None)
    assert names_of(prefix="zz") == ([], None)
    # Exactly `limit` left: truncated, the next page is empty (7.2 quirk).
    assert names_of(marker="beta2", limit=2) == (["betb", "gamma"], "gamma")
    assert backend.list_buckets("nobody") == ([], None)


# Redis only ----------------------------------------------------------------

@needs_redis
def test_redis_refresh_lock(request):
    backend = _redis(request)
    try:
        r = backend.redis
        for name, value in (("cnt-1", 100), ("cnt-2", 500), ("cnt-3", 999)):
            _put(backend, name, 1, bucket="bk", objects=value, bytes=value)
        now = int(time.time())
        r.hset("bucketlock:bk", mapping={"marker": "cnt-2", "mtime": now,
                                         "ctime": now})
        with pytest.raises(AccountError) as err:
            backend.refresh_bucket("bk")
        assert err.value.http_status == 409
        r.hset("bucket:bk", "bytes", 100)
        # At or before the walk's marker: counted; after it: left to the walk.
        _put(backend, "cnt-1", 2, objects=200, bytes=200)
        assert r.hget("bucket:bk", "bytes") == "200"
        _put(backend, "cnt-2", 2, objects=600, bytes=600)
        assert r.hget("bucket:bk", "bytes") == "300"
        _put(backend, "cnt-3", 2, objects=998, bytes=998)
        assert r.hget("bucket:bk", "bytes") == "300"
        # A lock idle for more than an hour belongs to a dead refresh.
        r.hset("bucketlock:bk", "mtime", 1000)
        backend.refresh_bucket("bk")
        assert r.hget("bucket:bk", "bytes") == "1798"
        assert not r.exists("bucketlock:bk")
    finally:
        backend.close()


@needs_redis
def test_redis_key_layout_of_buckets(request):
    backend = _redis(request)
    try:
        _put(backend, "b", 1, bucket="b", objects=1, bytes=2)
        r = backend.redis
        assert r.zrange("buckets:a", 0, -1) == ["b"]
        assert r.zrange("buckets:", 0, -1) == ["b"]
        assert r.hgetall("bucket:b") == {
            "account": "a", "mtime": "0000000001.00000", "objects": "1",
            "bytes": "2"}
    finally:
        backend.close()


@needs_redis
def test_both_backends_agree_on_a_random_walk(request, tmp_path):
    sqlite, redis_backend = AccountBackend(str(tmp_path)), _redis(request)
    rng = random.Random(7)
    clock = {}
    try:
        for _ in range(300):
            name = rng.choice(["b", "b%2F1", "b%2F2", "b+segments", "c", "c%2F1"])
            clock[name] = clock.get(name, 0) + 1
            if rng.random() < 0.15:
                data: dict = {"dtime": clock[name]}
            else:
                data = {"mtime": clock[name],
                        "objects": rng.randrange(10), "bytes": rng.randrange(99),
                        "damaged_objects": rng.randrange(2),
                        "missing_chunks": rng.randrange(2)}
                if rng.random() < 0.5:
                    data["bucket"] = name.split("%")[0].split("+")[0]
            for each in (sqlite, redis_backend):
                each.update_container("a", name, data)
            for bucket in ("b", "c"):
                shown = []
                for each in (sqlite, redis_backend):
                    try:
                        shown.append(each.show_bucket(bucket))
                    except AccountError as err:
                        shown.append(err.http_status)
                assert shown[0] == shown[1], (name, data)
            assert sqlite.list_buckets("a") == redis_backend.list_buckets("a")
    finally:
        sqlite.close()
        redis_backend.close()
