"""Real `oio-account` processes on one real Redis: what one writes the other
lists, a lost Redis answers 503 and recovers, a bad start exits with 2; and
the same requests get the same replies from the SQLite and Redis backends."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest

from oio.account.app import build_app
from oio.account.backend import AccountBackend
from oio.account.backend_redis import RedisAccountBackend, connect
from tests.functional.test_account_server import call
from tests.redis_process import RedisServer
from tests.utils import ServerThread, free_port, wait_until

# Tests that need a redis-server skip through RedisServer.start.


def _write_conf(path, **settings) -> str:
    lines = ["[account-server]"] + [f"{k} = {v}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@contextlib.contextmanager
def account_process(conf_dir, redis_addr: str):
    """An `oio-account` on a free port with `backend = redis`; yields its
    address once it answers."""
    port = free_port()
    conf = _write_conf(conf_dir / f"account-{port}.conf", backend="redis",
                       redis_host=redis_addr, bind_addr="127.0.0.1",
                       bind_port=port, log_level="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "oio.account.server", conf],
                            stderr=subprocess.DEVNULL)
    addr = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or _answers(addr))
        assert proc.poll() is None, "oio-account exited"
        yield addr
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(addr: str) -> bool:
    try:
        return call(addr, "GET", "/status")[0] == 200
    except OSError:
        return False


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield server


def test_two_services_one_redis(tmp_path, redis_server):
    with account_process(tmp_path, redis_server.addr) as one, \
            account_process(tmp_path, redis_server.addr) as two:
        status, _, body = call(one, "PUT", "/v1.0/account/container/update?id=acme",
                               {"name": "photos", "mtime": 1700000000.5,
                                "objects": 2, "bytes": 10})
        assert (status, body) == (200, b'"photos"')
        status, ctype, body = call(two, "GET", "/v1.0/account/containers?id=acme")
        assert (status, ctype) == (200, "text/json")
        info = json.loads(body)
        assert info["listing"] == [["photos", 2, 10, 0, 1700000000.5]]
        assert (info["objects"], info["bytes"], info["containers"]) == (2, 10, 1)
        # A stale event reaching the other service is refused there too.
        status, _, body = call(two, "PUT", "/v1.0/account/container/update?id=acme",
                               {"name": "photos", "mtime": 1600000000})
        assert status == 409 and b"No update needed" in body
        call(two, "PUT", "/v1.0/account/container/update?id=acme",
             {"name": "photos", "dtime": 1700000001})
        assert json.loads(call(one, "GET", "/v1.0/account/show?id=acme")[2])[
            "containers"] == 0
        assert call(one, "POST", "/v1.0/account/delete?id=acme")[0] == 204
        assert call(two, "GET", "/v1.0/account/show?id=acme")[0] == 404


def test_two_services_share_buckets(tmp_path, redis_server):
    with account_process(tmp_path, redis_server.addr) as one, \
            account_process(tmp_path, redis_server.addr) as two:
        for name, objects in (("bk", 1), ("bk%2Fa", 2)):
            call(one, "PUT", "/v1.0/account/container/update?id=acme",
                 {"name": name, "mtime": 1700000000, "bucket": "bk",
                  "objects": objects, "bytes": 10})
        shown = json.loads(call(two, "GET", "/v1.0/bucket/show?id=bk")[2])
        assert (shown["account"], shown["objects"], shown["bytes"]) == (
            "acme", 3, 20)
        call(two, "PUT", "/v1.0/bucket/update?id=bk",
             {"metadata": {"replication_enabled": "true"}})
        _, _, body = call(one, "GET",
                          "/v1.0/account/show-container?id=acme&container=bk")
        assert json.loads(body)["replication_enabled"] is True
        # A refresh running on one service: another one is refused.
        client = connect({"redis_host": redis_server.addr})[0]
        client.hset("bucketlock:bk", mapping={"ctime": 1, "mtime": 4e9,
                                              "marker": ""})
        status, _, body = call(two, "POST", "/v1.0/bucket/refresh?id=bk")
        assert status == 409 and b"Refresh on bucket already in progress" in body
        client.delete("bucketlock:bk")
        assert call(two, "POST", "/v1.0/bucket/refresh?id=bk")[0] == 204
        assert json.loads(call(one, "GET", "/v1.0/account/buckets?id=acme")[2])[
            "listing"] == [{"name": "bk", "objects": 3, "bytes": 20,
                            "mtime": 1700000000.0}]


def test_redis_lost_while_serving(tmp_path, redis_server):
    with account_process(tmp_path, redis_server.addr) as addr:
        call(addr, "PUT", "/v1.0/account/create?id=acme")
        redis_server.stop()
        for method, path, body in (
                ("GET", "/v1.0/account/show?id=acme", None),
                ("GET", "/status", None),
                ("PUT", "/v1.0/account/container/update?id=acme",
                 {"name": "c", "mtime": 1})):
            status, ctype, text = call(addr, method, path, body)
            assert status == 503, (path, text)
            assert ctype.startswith("text/plain")
            assert text.startswith(b"Could not satisfy the request: Redis at ")
            assert b"Traceback" not in text
        redis_server.start()   # empty again: no persistence in tests
        assert call(addr, "PUT", "/v1.0/account/create?id=acme")[0] == 201
        assert json.loads(call(addr, "GET", "/status")[2]) == {"account_count": 1}


@pytest.mark.parametrize("settings, message", [
    ({"backend": "mongo", "datadir": "/tmp"}, "backend must be sqlite or redis"),
    ({"backend": "redis"}, "needs 'redis_host'"),
    ({"backend": "redis", "redis_host": "127.0.0.1:1"},
     "Redis at 127.0.0.1:1"),
])
def test_bad_start_exits_2(tmp_path, settings, message):
    conf = _write_conf(tmp_path / "account.conf", bind_port=free_port(),
                       **settings)
    done = subprocess.run([sys.executable, "-m", "oio.account.server", conf],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_same_replies_from_both_backends(tmp_path, redis_server):
    def clock() -> float:
        return 1606245060.123456
    sqlite = AccountBackend(str(tmp_path / "sqlite"), clock=clock)
    redis = RedisAccountBackend.from_conf({"redis_host": redis_server.addr},
                                          clock=clock)
    requests = [
        ("PUT", "/v1.0/account/create?id=acme", None),
        ("PUT", "/v1.0/account/create?id=acme", None),
        ("PUT", "/v1.0/account/update?id=acme",
         {"metadata": {"quota": "10", "x": 1}, "to_delete": None}),
        ("PUT", "/v1.0/account/update?id=acme", {"to_delete": ["x"]}),
        *[("PUT", "/v1.0/account/container/update?id=acme",
           {"name": name, "mtime": 1700000000 + i, "objects": i, "bytes": 2 * i,
            "bucket": "b"}) for i, name in enumerate(
               ["a", "b/1", "b/2", "my-bucket", "C", "d/x/y"])],
        ("PUT", "/v1.0/account/container/update?id=acme",
         {"name": "C", "dtime": 1800000000}),
        ("PUT", "/v1.0/account/container/update?id=acme",
         {"name": "a", "mtime": 1}),
        ("PUT", "/v1.0/account/container/reset?id=acme",
         {"name": "b/1", "mtime": 1750000000}),
        ("PUT", "/v1.0/account/container/reset?id=acme",
         {"name": "nope", "mtime": 1750000000}),
        ("GET", "/v1.0/account/containers?id=acme&delimiter=/&limit=3", None),
        ("GET", "/v1.0/account/containers?id=acme&prefix=b/&marker=b/1", None),
        ("GET", "/v1.0/account/containers?id=acme&s3_buckets_only=True", None),
        ("GET", "/v1.0/account/show-container?id=acme&container=b/2", None),
        ("GET", "/v1.0/account/container/show?id=acme&container=zz", None),
        ("POST", "/v1.0/account/refresh?id=acme", None),
        ("GET", "/v1.0/account/list", None),
        ("POST", "/v1.0/account/delete?id=acme", None),
        ("POST", "/v1.0/account/flush?id=acme", None),
        ("POST", "/v1.0/account/delete?id=acme", None),
        ("GET", "/v1.0/account/show?id=acme", None),
        ("POST", "/v1.0/account/refresh?id=nobody", None),
        ("GET", "/status", None),
    ]
    with ServerThread(build_app(sqlite)) as one, \
            ServerThread(build_app(redis)) as two:
        for method, path, body in requests:
            got = [call(s.addr, method, path, body) for s in (one, two)]
            assert got[0] == got[1], (method, path)
    redis.close()
    sqlite.close()
