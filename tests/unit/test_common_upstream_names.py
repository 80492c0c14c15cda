"""The `oio.common` modules OpenIO 7.2's tools import (decorators, http,
logger, timestamp, xattr, green, storage_functions, tool, wsgi,
redis_conn) and the CLI modules of its plugins."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import urllib.request

import pytest

from oio.common import exceptions as exc
from oio.common.constants import REQID_HEADER


def test_decorators():
    from oio.common.decorators import (
        ensure_headers,
        ensure_request_id2,
        handle_object_not_found,
        patch_kwargs,
    )

    @ensure_request_id2(prefix="T-")
    def call(**kwargs):
        return kwargs
    out = call()
    assert out["reqid"].startswith("T-")
    assert out["headers"][REQID_HEADER] == out["reqid"]
    assert call(reqid="R1")["headers"][REQID_HEADER] == "R1"
    assert ensure_headers(lambda **kw: kw)(headers=None) == {"headers": {}}

    class Api:
        _global_kwargs = {"read_timeout": 2.0, "autocreate": True}

        @patch_kwargs
        @handle_object_not_found
        def get(self, account, container, obj, **kwargs):
            if obj == "none":
                raise exc.NotFound(404, 420, "no object")
            if obj == "nocontainer":
                raise exc.NotFound(404, 406, "no container")
            return kwargs
    api = Api()
    got = api.get("a", "c", "o", autocreate=False)
    assert got["autocreate"] is False and got["read_timeout"] == 2.0
    assert got["deadline"] > 0
    with pytest.raises(exc.NoSuchObject):
        api.get("a", "c", "none")
    with pytest.raises(exc.NoSuchContainer):
        api.get("a", "c", "nocontainer")


def test_http_helpers():
    from oio.common.http import (
        HeadersDict,
        get_addr,
        headers_from_object_metadata,
        http_header_from_ranges,
        parse_content_range,
        ranges_from_http_header,
    )

    ranges = [(0, 9), (10, None), (None, 5)]
    assert http_header_from_ranges(ranges) == "bytes=0-9,10-,-5"
    assert ranges_from_http_header("bytes=0-9,10-,-5") == ranges
    for bad in ("items=0-1", "bytes=5-1", "bytes=-", "bytes=3"):
        with pytest.raises(ValueError):
            ranges_from_http_header(bad)
    with pytest.raises(ValueError):
        http_header_from_ranges([(None, None)])
    assert parse_content_range("bytes 0-9/100") == (0, 9, 100)
    with pytest.raises(ValueError):
        parse_content_range("bytes 0-9/*")
    assert get_addr("::1", 80) == "[::1]:80" and get_addr("h", 1) == "h:1"
    hdrs = HeadersDict({"x-a": "1"}, y_b=None)
    hdrs["X-A"] = "2"
    assert hdrs["x-a"] == "2" and "X-a" in hdrs
    hdrs["x-a"] = None
    assert "x-a" not in hdrs
    meta = {"id": "ID", "version": 3, "content_path": "a b", "policy": "P",
            "chunk_method": "plain/nb_copy=1", "container_id": "CID",
            "full_path": "acct/cont/a%20b/3/ID", "metachunk_size": 10}
    out = headers_from_object_metadata(meta)
    assert out["transfer-encoding"] == "chunked"
    assert out["x-oio-chunk-meta-content-path"] == "a%20b"
    assert out["x-oio-chunk-meta-metachunk-size"] == "10"


def test_timestamp():
    from oio.common.timestamp import Timestamp

    ts = Timestamp(1.5)
    assert ts.normal == "0000000001.50000" and str(ts) == ts.normal
    assert ts.isoformat == "1970-01-01T00:00:01.500000"
    assert Timestamp("2") > ts and Timestamp(1.5) == ts and ts == 1.5
    assert int(Timestamp(7.9)) == 7 and float(ts) == 1.5
    with pytest.raises(ValueError):
        Timestamp(-1)


def test_xattr(tmp_path):
    from oio.common.xattr import read_user_xattr, set_fullpath_xattr

    path = tmp_path / "chunk"
    path.write_bytes(b"x")
    os.setxattr(path, "user.grid.chunk.id", b"OLD")
    os.setxattr(path, "user.extra", b"e")
    with open(path, "rb") as src:
        set_fullpath_xattr(src, {"abcd": "a/c/o/1/ID"}, remove_old_xattr=True,
                           xattr_to_remove=["extra"])
        attrs = read_user_xattr(src)
    assert attrs["oio.content.fullpath:ABCD"] == "a/c/o/1/ID"
    assert "grid.chunk.id" not in attrs and "extra" not in attrs
    assert attrs["grid.oio.version"]
    assert read_user_xattr(str(path)) == attrs


def test_xattr_module_as_7_2_exposes_it(tmp_path):
    from oio.common.xattr import xattr

    path = tmp_path / "chunk"
    path.write_bytes(b"x")
    with open(path) as src:
        xattr.setxattr(src, "user.grid.content.path", "a/b")
        xattr.setxattr(str(path), "user.other", b"v")
        assert xattr.getxattr(src, "user.grid.content.path") == b"a/b"
        assert sorted(xattr.listxattr(src)) == ["user.grid.content.path",
                                                "user.other"]
        xattr.removexattr(src, "user.other")
    assert os.listxattr(path) == ["user.grid.content.path"]
    with pytest.raises(OSError):
        xattr.removexattr(str(path), "user.other")


def test_logger_and_stdio(capsys):
    from oio.common.logger import StreamToLogger, get_logger

    logger = get_logger({"log_level": "warn"}, name="oio.test.logger")
    assert logger.level == logging.WARNING and len(logger.handlers) == 1
    logger = get_logger({}, name="oio.test.logger", verbose=True)
    assert logger.level == logging.DEBUG and len(logger.handlers) == 1
    records = []
    logger.addHandler(type("H", (logging.Handler,), {
        "emit": lambda self, rec: records.append(rec.getMessage())})())
    StreamToLogger(logger, "STDERR").write("  boom \n")
    StreamToLogger(logger).write("\n")
    assert records == ["STDERR: boom"]


def test_green_on_threads():
    from oio.common.green import ContextPool, GreenPile, Timeout, ratelimit

    with ContextPool(4) as pool:
        threads = [pool.spawn(lambda x: x * 2, i) for i in range(6)]
    assert [t.wait() for t in threads] == [0, 2, 4, 6, 8, 10]
    pile = GreenPile(3)
    for i in range(5):
        pile.spawn(lambda x: x + 1, i)
    assert list(pile) == [1, 2, 3, 4, 5]
    with pytest.raises(Timeout):
        with Timeout(0.001):
            threading.Event().wait(0.01)
    with Timeout(5):
        pass
    run_time = ratelimit(0, 100, time_time=10.0)
    assert run_time == 10_010.0     # ms: next slot 1/100 s later


def test_storage_functions_ranges():
    from oio.common.storage_functions import (
        get_meta_ranges,
        obj_range_to_meta_chunk_range,
    )

    assert obj_range_to_meta_chunk_range(5, 25, [10, 10, 10]) == {
        0: (5, 9), 1: (0, 9), 2: (0, 5)}
    assert obj_range_to_meta_chunk_range(None, 5, [10, 10]) == {1: (5, 9)}
    assert obj_range_to_meta_chunk_range(15, None, [10, 10]) == {1: (5, 9)}
    chunks = {0: [{"pos": "0", "size": 4, "url": "http://h/1"}],
              1: [{"pos": "1", "size": 4, "url": "http://h/2"}]}
    assert get_meta_ranges([(2, 5)], chunks) == [{0: (2, 3), 1: (0, 1)}]


def test_sort_chunks_as_7_2():
    from oio.api.object_storage import _sort_chunks

    ec = _sort_chunks([{"pos": "0.1", "size": 5, "score": 10},
                       {"pos": "0.0", "size": 5, "score": 0},
                       {"pos": "1.0", "size": 3, "score": 5},
                       {"pos": "0.1", "size": 5, "score": 1}], True)
    assert [(c["num"], c["offset"]) for c in ec[0]] == [(1, 0), (0, 0)]
    assert ec[0][0]["score"] == 10          # the duplicate was dropped
    assert ec[1][0]["offset"] == 5
    copies = _sort_chunks([{"pos": "0", "hash": "A", "size": 2},
                           {"pos": "0", "hash": "A", "size": 2},
                           {"pos": "0", "hash": "B", "size": 2}], False)
    assert [c["hash"] for c in copies[0]] == ["A", "A"]


def test_tool_runs_workers():
    from oio.common.tool import Tool, ToolWorker

    class Doubler(ToolWorker):
        def _process_item(self, item):
            if item == 3:
                raise ValueError("three")
            return item * 2

    class Doubling(Tool):
        def _fetch_items(self):
            yield from range(5)

        def create_worker(self, queue_workers, queue_reply):
            return Doubler(self, queue_workers, queue_reply)

        def _get_report(self, status, end_time, counters):
            return f"{status} {counters}"

    tool = Doubling({"namespace": "OPENIO", "concurrency": 2,
                     "items_per_second": 0})
    with pytest.raises(ValueError):
        list(tool.run())            # no dispatcher
    tool.prepare_local_dispatcher()
    results = sorted(tool.run(), key=lambda r: r[0])
    assert results == [(0, 0, None), (1, 2, None), (2, 4, None),
                       (3, None, "three"), (4, 8, None)]
    assert tool.total_items_processed == 5 and tool.total_errors == 1
    assert not tool.is_success()
    with pytest.raises(exc.ConfigurationException):
        tool.prepare_distributed_dispatcher()


def test_wsgi_app_on_our_http_core():
    from oio.common.http_server import HttpServer
    from oio.common.wsgi import wsgi_handler

    def app(env, start_response):
        body = env["wsgi.input"].read()
        if env["PATH_INFO"] == "/fail":
            raise RuntimeError("app broke")
        start_response("201 Created", [("X-Len", str(len(body)))])
        return [b"path=", env["PATH_INFO"].encode(), b" q=",
                env["QUERY_STRING"].encode()]

    async def scenario():
        server = HttpServer(wsgi_handler(app), "127.0.0.1", 0,
                            access_log=False)
        await server.start()
        base = f"http://127.0.0.1:{server.port}"

        def call(path):
            req = urllib.request.Request(base + path, data=b"z" * 300_000,
                                         method="PUT")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, resp.headers["X-Len"], resp.read()
            except urllib.error.HTTPError as err:
                return err.code, None, b""
        try:
            return (await asyncio.to_thread(call, "/a%20b?x=1"),
                    await asyncio.to_thread(call, "/fail"))
        finally:
            await server.close()
    good, bad = asyncio.run(scenario())
    assert good == (201, "300000", b"path=/a b q=x=1")
    assert bad[0] == 500


def test_redis_connection(tmp_path):
    from oio.common.redis_conn import RedisConnection, catch_service_errors
    from tests.redis_process import RedisServer

    down = RedisConnection("127.0.0.1:1", socket_connect_timeout=0.2)
    with pytest.raises(exc.ServiceBusy):
        catch_service_errors(down.conn.ping)()
    with pytest.raises(ValueError):
        RedisConnection(sentinel_hosts="127.0.0.1:26379")
    with RedisServer(str(tmp_path)) as server:
        conn = RedisConnection(server.addr)
        assert conn.conn_slave is conn.conn
        lock = conn.acquire_lock_with_timeout("job", acquire_timeout=0)
        assert lock
        assert conn.acquire_lock_with_timeout("job", acquire_timeout=0) \
            is False
        assert not conn.release_lock("job", "someone-else")
        assert conn.release_lock("job", lock)
        assert conn.register_script("return 41 + 1")() == 42


def test_cli_modules_of_7_2():
    from oio.cli.admin.blob_rebuild import ChunkRebuild as Ours
    from oio.cli.admin.item_rebuild import ChunkRebuild, ItemRebuildCommand
    from oio.cli.clientmanager import ClientManager
    from oio.cli.common.clientmanager import ClientManager as Common
    from oio.cli.common.utils import KeyValueAction

    assert ChunkRebuild is Ours and issubclass(ChunkRebuild, ItemRebuildCommand)
    assert ClientManager is Common and KeyValueAction

    class Options:
        ns, account, admin_mode = "OPENIO", "acct", True
        proxyd_url, request_id = "127.0.0.1:6000", "REQ"
    manager = ClientManager(Options())
    assert manager.client_conf == {"admin_mode": True, "reqid": "REQ",
                                   "endpoint": "http://127.0.0.1:6000"}
    for name in ("account_client", "conscience", "rdir", "rdir_dispatcher",
                 "xcute_client", "admin", "storage", "logger", "nsinfo",
                 "meta1_digits", "pool_manager", "sds_conf"):
        assert hasattr(type(manager), name), name


def test_time_of_day_rate_policies():
    from datetime import datetime, timedelta

    from oio.common.green import (
        ratelimit_function_build,
        ratelimit_function_curr_rate,
        ratelimit_function_next_rate,
        ratelimit_policy_from_string,
        ratelimit_validate_policy,
    )

    policy = ratelimit_policy_from_string("20h00:8;0h30:10;9h45:5")
    assert policy == [(timedelta(minutes=30), 10),
                      (timedelta(hours=9, minutes=45), 5),
                      (timedelta(hours=20), 8)]
    assert ratelimit_validate_policy(policy)
    day = datetime(2024, 3, 1)
    assert ratelimit_function_curr_rate(day.replace(minute=1), policy) == 8
    assert ratelimit_function_curr_rate(day.replace(hour=11), policy) == 5
    assert ratelimit_function_next_rate(day.replace(hour=21), policy) == \
        (10, datetime(2024, 3, 2, 0, 30))
    for bad in ("x", "0h30:10;6h45", "0h30:1.5;1h00:2"):
        with pytest.raises(ValueError):
            ratelimit_policy_from_string(bad)
    with pytest.raises(ValueError):
        ratelimit_validate_policy([(timedelta(hours=24), 1)])
    limiter = ratelimit_function_build("1000")
    assert limiter(0) > 0 and limiter.policy == [(timedelta(0), 1000)]


def test_http_connect_streams_a_request():
    from oio.common.http_eventlet import http_connect
    from oio.common.http_server import Response, Router
    from tests.utils import ServerThread

    router = Router()

    async def echo(req):
        body = await req.body()
        return Response(201, body[::-1], {"X-Path": req.path,
                                          "X-Query": req.query_string})
    router.add("PUT", "/a b", echo)
    with ServerThread(router, access_log=False) as server:
        conn = http_connect(server.addr, "PUT", "/a b",
                            headers={"Content-Length": 3},
                            query_string={"k": "v"})
        conn.send(b"abc")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (201, b"cba")
        assert resp.getheader("X-Query") == "k=v"
        conn.close()


def test_daemon_base_and_agent_names(tmp_path):
    from oio.common.daemon import Daemon, run_daemon
    from oio.conscience import agent

    ran = []

    class BlobThing(Daemon):
        def run(self, *args, **kwargs):
            ran.append((self.conf["answer"], kwargs))

    conf = tmp_path / "d.conf"
    conf.write_text("[blob-thing]\nanswer = 42\n")
    kept = {sig: signal.getsignal(sig)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}
    try:
        run_daemon(BlobThing, str(conf), once=True)
    finally:   # start() set its own handlers
        for sig, handler in kept.items():
            signal.signal(sig, handler)
    assert ran == [("42", {"once": True})]
    with pytest.raises(exc.ConfigurationException):
        run_daemon(BlobThing, str(conf), section_name="other")
    assert agent.ServiceWatcher is agent.Watcher
    assert agent.ConscienceAgent is agent.Agent
    assert {"http", "tcp", "asn1"} <= set(agent.CHECKERS_MODULES)
    assert "volume" in agent.STATS_MODULES
