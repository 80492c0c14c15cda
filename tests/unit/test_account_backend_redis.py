"""What only the Redis account backend has to show: its keys, several
services on one Redis, atomic counters under concurrency, a Redis lost and
back, and listings identical to SQLite's on random data."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time

import pytest

from oio.account.backend import AccountBackend, AccountError
from oio.account.backend_redis import (
    AccountUnavailable,
    RedisAccountBackend,
    connect,
    parse_address,
)
from tests.redis_process import REDIS_SERVER, RedisServer
from tests.utils import free_port, wait_until

# Tests that need a redis-server skip through RedisServer.start.


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture
def backend(redis_server):
    backend = RedisAccountBackend.from_conf({"redis_host": redis_server.addr})
    backend.redis.flushdb()
    yield backend
    backend.close()


def test_key_layout(backend):
    backend.update_metadata("acct", {"quota": "10"}, None)
    backend.update_container("acct", "c1", {"mtime": 5, "objects": 2,
                                            "bytes": 7, "bucket": "c1"})
    backend.update_container("acct", "c2", {"mtime": 5})
    r = backend.redis
    assert r.hgetall("accounts:") == {"acct": "1"}
    assert r.hgetall("account:acct")["objects"] == "2"
    assert r.hgetall("metadata:acct") == {"quota": "10"}
    assert r.zrange("containers:acct", 0, -1, withscores=True) == [
        ("c1", 0.0), ("c2", 0.0)]
    assert r.hgetall("container:acct:c1") == {
        "name": "c1", "mtime": "0000000005.00000", "dtime": "0",
        "objects": "2", "bytes": "7", "damaged_objects": "0",
        "missing_chunks": "0", "bucket": "c1"}
    backend.update_container("acct", "c2", {"dtime": 6})
    assert r.zrange("containers:acct", 0, -1) == ["c1"]
    assert 0 < r.ttl("container:acct:c2") <= 60    # deleted: expires, as 7.2
    backend.update_container("acct", "c2", {"mtime": 7})
    assert r.ttl("container:acct:c2") == -1        # alive again: kept


def test_tombstone_refuses_stale_events(backend):
    backend.update_container("a", "c", {"mtime": 10})
    backend.update_container("a", "c", {"dtime": 20})
    backend.delete_account("a")
    with pytest.raises(AccountError) as err:
        backend.update_container("a", "c", {"mtime": 5, "objects": 1})
    assert err.value.http_status == 409
    assert backend.list_accounts() == []


def test_two_services_share_one_redis(redis_server, backend):
    other = RedisAccountBackend.from_conf({"redis_host": redis_server.addr})
    try:
        backend.update_container("a", "c", {"mtime": 1, "objects": 3})
        assert other.list_containers("a")[0][:3] == ["c", 3, 0]
        other.update_container("a", "c", {"mtime": 2, "objects": 5})
        other.update_metadata("a", {"k": "v"}, None)
        info = backend.show("a")
        assert (info["objects"], info["metadata"]) == (5, {"k": "v"})
        assert backend.count() == other.count() == 1
    finally:
        other.close()


def test_concurrent_updates_keep_counters_exact(redis_server, backend):
    """Several services (own clients) and threads move one account's
    counters at once: nothing is lost or counted twice."""
    services = [RedisAccountBackend.from_conf({"redis_host": redis_server.addr})
                for _ in range(2)]
    clock = iter(range(1, 10 ** 6))
    clock_lock = threading.Lock()
    conflicts = []

    def tick() -> int:
        with clock_lock:
            return next(clock)

    def work(index: int) -> None:
        service = services[index % 2]
        rng = random.Random(index)
        for _ in range(150):
            name = f"c{rng.randrange(6)}"
            data = {"mtime": tick(), "objects": rng.randrange(100),
                    "bytes": rng.randrange(10 ** 12)}
            if rng.random() < 0.1:
                data = {"dtime": tick()}
            try:
                service.update_container("acct", name, data)
            except AccountError as exc:   # a later event won the race
                conflicts.append(exc.http_status)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for service in services:
        service.close()
    assert set(conflicts) <= {409}
    info = backend.show("acct")
    listing = backend.list_containers("acct")
    assert info["containers"] == len(listing)
    assert info["objects"] == sum(e[1] for e in listing)
    assert info["bytes"] == sum(e[2] for e in listing)
    before = {k: info[k] for k in ("objects", "bytes")}
    backend.refresh("acct")
    assert {k: backend.show("acct")[k] for k in before} == before


def test_redis_lost_then_back(tmp_path):
    server = RedisServer(str(tmp_path)).start()
    try:
        backend = RedisAccountBackend.from_conf({"redis_host": server.addr})
        backend.update_container("a", "c", {"mtime": 1, "objects": 1})
        server.stop()
        started = time.monotonic()
        for call in (lambda: backend.show("a"),
                     lambda: backend.update_container("a", "c", {"mtime": 2}),
                     backend.ping):
            with pytest.raises(AccountUnavailable) as err:
                call()
            assert err.value.http_status == 503
            assert err.value.message.startswith("Could not satisfy the request")
        assert time.monotonic() - started < 5
        server.start()   # empty (no persistence), and without the scripts
        backend.update_container("a", "c", {"mtime": 3, "objects": 4})
        assert backend.show("a")["objects"] == 4
        backend.close()
    finally:
        server.stop()


def test_listing_as_sqlite_does(backend, tmp_path):
    """Random names, random listing arguments: both backends answer alike."""
    sqlite = AccountBackend(str(tmp_path))
    rng = random.Random(7)
    alphabet = "ab/-é"
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6)))
             for _ in range(150)}
    for index, name in enumerate(sorted(names)):
        data = {"mtime": 100 + index, "objects": index, "bytes": 3 * index}
        if index % 7 == 0:
            data["dtime"] = 1000      # deleted: listed by neither
        for each in (sqlite, backend):
            each.update_container("acct", name, data)
    for _ in range(400):
        kwargs = {"limit": rng.choice([0, 1, 2, 5, 1000]),
                  "marker": rng.choice(["", "a", "b/", "ab/a", "é"]),
                  "end_marker": rng.choice(["", "", "b", "é/"]),
                  "prefix": rng.choice(["", "", "a", "b/", "é", "a/b"]),
                  "delimiter": rng.choice(["", "/", "-", "é"])}
        assert backend.list_containers("acct", **kwargs) == \
            sqlite.list_containers("acct", **kwargs), kwargs
    assert backend.show("acct") | {"ctime": 0} == sqlite.show("acct") | {"ctime": 0}
    sqlite.close()


def test_connection_settings():
    assert parse_address("10.0.0.1", 6379) == ("10.0.0.1", 6379)
    assert parse_address("redis.local:6380", 6379) == ("redis.local", 6380)
    assert parse_address("[::1]:7000", 6379) == ("::1", 7000)
    with pytest.raises(ValueError):
        connect({"redis_host": "host:port"})
    with pytest.raises(ValueError):
        connect({"sentinel_hosts": "127.0.0.1:26379"})
    client, where = connect({"redis_host": "127.0.0.1:1", "redis_db": "3"})
    assert where == "Redis at 127.0.0.1:1"
    assert client.connection_pool.connection_kwargs["db"] == 3
    backend = RedisAccountBackend(client)
    with pytest.raises(AccountUnavailable):
        backend.ping()


def test_through_sentinel(redis_server, backend, tmp_path):
    conf = tmp_path / "sentinel.conf"
    port = free_port()
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor acct 127.0.0.1 {redis_server.port} 1\n")
    proc = subprocess.Popen([REDIS_SERVER, str(conf), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=os.fspath(tmp_path))
    try:
        via = RedisAccountBackend.from_conf(
            {"sentinel_hosts": f"127.0.0.1:{port}", "sentinel_name": "acct"})

        def answers() -> bool:
            try:
                via.ping()
                return True
            except AccountUnavailable:
                return False
        wait_until(answers, timeout=10)
        via.update_container("a", "c", {"mtime": 1, "objects": 2})
        assert backend.show("a")["objects"] == 2
        via.close()
    finally:
        proc.terminate()
        proc.wait(10)
