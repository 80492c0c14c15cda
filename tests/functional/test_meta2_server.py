"""meta2 over real sockets: the HTTP routes, reply shapes and latency.

One server runs in-process (HttpServer + Meta2App on a free port, real
SQLite files); another is started through `oio-meta2`'s `main()` in a
subprocess to check the entry point and its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client as httpclient
import json
import os
import sys
import threading
import time
from urllib.parse import quote, unquote

import pytest

from oio.common.http_server import HttpServer
from oio.common.utils import cid_from_name, generate_chunk_id, generate_content_id
from oio.container.app import Meta2App
from oio.container.meta2 import Meta2

from .proxy_harness import free_port, spawn, stop, wait_for

pytestmark = pytest.mark.functional
NS = "OPENIO"
INFO = {"ns": NS, "chunksize": 1048576,
        "options": {"storage_policy": "SINGLE"},
        "storage_policy": {"SINGLE": "NONE:NONE",
                           "THREECOPIES": "rawx3:DUPONETHREE"},
        "service_pools": {"rawx3": "1,rawx"},
        "data_security": {"DUPONETHREE": "plain/nb_copy=3"}}


def ns_info():
    try:
        from oio.conscience.policies import NamespaceInfo
    except ImportError:  # the conscience classes have not landed yet
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                        "unit"))
        from meta2_fakes import FakeNsInfo
        return FakeNsInfo()
    return NamespaceInfo.from_dict(INFO)


class Client:
    """A keep-alive JSON client on one connection."""

    def __init__(self, addr: str):
        host, port = addr.rsplit(":", 1)
        self.conn = httpclient.HTTPConnection(host, int(port), timeout=10)

    def __call__(self, method, route, body=None, headers=None):
        data = body if body is None or isinstance(body, (bytes, str)) \
            else json.dumps(body)
        path = route if route.startswith("/") else "/v1/" + route
        self.conn.request(method, path, body=data,
                          headers=headers or {})
        resp = self.conn.getresponse()
        raw = resp.read()
        resp.body = raw
        resp.hdrs = {k.lower(): v for k, v in resp.getheaders()}
        resp.data = json.loads(raw) if raw else None
        return resp


@contextlib.contextmanager
def serve_meta2(datadir: str):
    """A Meta2App on a free port in a thread: yields (addr, meta2)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = free_port()
    meta2 = Meta2(datadir, NS, ns_info(), local_addr=f"127.0.0.1:{port}")
    srv = HttpServer(Meta2App(meta2), "127.0.0.1", port, access_log=False)
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(10)
    try:
        yield f"127.0.0.1:{srv.port}", meta2
    finally:
        asyncio.run_coroutine_threadsafe(srv.close(grace=1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        meta2.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_meta2(str(tmp_path_factory.mktemp("meta2"))) as (addr, _):
        yield addr


@pytest.fixture
def client(server):
    c = Client(server)
    yield c
    c.conn.close()


def create_body(size=4096, copies=1):
    return {"chunks": [{"url": f"http://127.0.0.1:6010/{generate_chunk_id()}",
                        "pos": "0", "size": size, "hash": "a" * 32,
                        "real_url": "x", "score": 10} for _ in range(copies)],
            "properties": {"color": "blue", "__OIO_CHUNK__http://x/y": "{}"},
            "container_properties": None}


def create_headers(version, size=4096, policy="SINGLE", content=None):
    return {"x-oio-content-meta-id": content or generate_content_id(),
            "x-oio-content-meta-version": str(version),
            "x-oio-content-meta-length": str(size),
            "x-oio-content-meta-hash": "b" * 32,
            "x-oio-content-meta-policy": policy,
            "x-oio-content-meta-chunk-method": "plain/nb_copy=1",
            "x-oio-action-mode": "autocreate"}


def test_status_and_unknown_route(client):
    resp = client("GET", "/status")
    assert resp.status == 200 and resp.data["service"] == "meta2"
    resp = client("GET", "container/nope")
    assert resp.status == 404 and resp.data["status"] == 404


def test_container_lifecycle(client):
    q = "acct=acc&ref=life"
    resp = client("POST", f"container/create?{q}",
                  {"properties": {"color": "red"},
                   "system": {"sys.m2.policy.version": "-1"}})
    assert resp.status == 201
    assert client("POST", f"container/create?{q}",
                  {"properties": {}, "system": {}}).status == 204
    cid = cid_from_name("acc", "life")
    resp = client("GET", f"container/show?cid={cid}")
    assert resp.status == 200 and resp.data == {"properties": {"color": "red"}}
    assert resp.hdrs["x-oio-container-meta-sys-user-name"] == "life"
    assert resp.hdrs["x-oio-container-meta-sys-m2-usage"] == "0"
    assert resp.hdrs["x-oio-container-meta-sys-ns"] == NS
    assert resp.hdrs["x-oio-container-meta-sys-m2-policy-version"] == "-1"
    assert "x-oio-container-meta-user-color" not in resp.hdrs
    resp = client("POST", f"container/get_properties?{q}", "[]",
                  {"x-oio-admin": "1"})
    assert resp.data["properties"] == {"color": "red"}
    assert resp.data["system"]["sys.m2.objects"] == "0"
    assert "stats.page_size" in resp.data["system"]
    resp = client("POST", f"container/set_properties?{q}", {})
    assert resp.status == 400 and resp.data["status"] == 400
    resp = client("POST", f"container/set_properties?{q}&flush=1",
                  {"properties": {"a": "b"}})
    assert resp.status == 200 and resp.data == {}
    resp = client("POST", f"container/del_properties?{q}", ["a"])
    assert resp.status == 200 and resp.data == {}
    assert client("POST", f"container/touch?{q}").status == 204
    assert client("POST", f"container/destroy?{q}").status == 204
    resp = client("GET", f"container/show?{q}")
    assert resp.status == 404 and resp.data["status"] == 431
    resp = client("POST", f"container/touch?{q}")
    assert resp.status == 403 and resp.data["status"] == 431


def test_bad_addressing(client):
    resp = client("GET", "container/show?cid=XYZ")
    assert resp.status == 400
    resp = client("GET", "container/show?acct=a")
    assert resp.status == 400
    resp = client("GET", f"container/show?cid={'A' * 64}.1")
    assert resp.status == 404 and resp.data["status"] == 431


def test_object_roundtrip(client):
    q = "acct=acc&ref=objs"
    assert client("POST", f"container/create?{q}").status == 201
    name = "dir/photo 1.jpg"
    path = quote(name, safe="")
    content = generate_content_id()
    resp = client("POST", f"content/create?{q}&path={path}", create_body(),
                  create_headers(1700000000123456, content=content))
    assert resp.status == 204, resp.body
    resp = client("GET", f"content/locate?{q}&path={path}")
    assert resp.status == 200
    h = resp.hdrs
    assert h["x-oio-content-meta-id"] == content
    assert unquote(h["x-oio-content-meta-name"]) == name
    assert h["x-oio-content-meta-version"] == "1700000000123456"
    assert h["x-oio-content-meta-deleted"] == "False"
    assert h["x-oio-content-meta-size"] == h["x-oio-content-meta-length"] \
        == "4096"
    assert h["x-oio-content-meta-policy"] == "SINGLE"
    assert h["x-oio-content-meta-hash"] == "B" * 32
    assert h["x-oio-content-meta-hash-method"] == "md5"
    assert h["x-oio-content-meta-mime-type"] == "application/octet-stream"
    assert h["x-oio-content-meta-color"] == "blue"
    assert not any("__oio_chunk__" in k for k in h)
    chunk = resp.data[0]
    assert chunk["pos"] == "0" and chunk["size"] == 4096
    assert chunk["hash"] == "A" * 32 and chunk["url"].startswith("http://")
    resp = client("GET", f"content/locate?{q}&path={path}&properties=False")
    assert "x-oio-content-meta-color" not in resp.hdrs
    resp = client("POST", f"content/get_properties?{q}&path={path}")
    assert resp.status == 200 and resp.data == {"properties": {"color": "blue"}}
    assert "x-oio-content-meta-color" not in resp.hdrs
    resp = client("POST", f"content/set_properties?{q}&path={path}",
                  {"properties": {"size": "L"}})
    assert resp.status == 204
    resp = client("POST", f"content/set_properties?{q}&content={content}",
                  {"properties": {}})
    assert resp.status == 400
    resp = client("POST", f"content/del_properties?{q}&path={path}", ["color"])
    assert resp.status == 204
    resp = client("POST", f"content/get_properties?{q}&path={path}")
    assert resp.data == {"properties": {"size": "L"}}
    # Listing, with headers.
    resp = client("GET", f"container/list?{q}&max=1&properties=True")
    assert resp.status == 200
    assert list(resp.data) == ["prefixes", "properties", "system", "objects"]
    assert resp.hdrs["x-oio-list-truncated"] == "false"
    assert unquote(resp.hdrs["x-oio-list-marker"]) == name
    assert resp.hdrs["x-oio-container-meta-sys-m2-objects"] == "1"
    entry = resp.data["objects"][0]
    assert entry["name"] == name and entry["size"] == 4096
    assert entry["id"] == entry["content"] == content
    assert entry["properties"] == {"size": "L"}
    resp = client("GET", f"container/list?{q}&max=abc")
    assert resp.status == 400
    # Errors.
    resp = client("POST", f"content/create?{q}&path={path}", create_body(),
                  create_headers(1700000000123456))
    assert resp.status == 409 and resp.data["status"] == 421
    resp = client("POST", f"content/create?{q}&path={path}", create_body(),
                  create_headers(1600000000000000))
    assert resp.status == 409 and resp.data["status"] == 424
    resp = client("POST", f"content/create?{q}&path={path}", None,
                  create_headers(1800000000000000))
    assert resp.status == 400
    resp = client("POST", f"content/create?{q}&path={path}", create_body(),
                  create_headers(1800000000000000, policy="NOPE"))
    assert resp.status == 500 and resp.data["status"] == 480
    resp = client("POST", f"container/destroy?{q}")
    assert resp.status == 409 and resp.data["status"] == 438
    resp = client("GET", f"content/locate?{q}&path=nope")
    assert resp.status == 404 and resp.data["status"] == 420
    resp = client("GET", "content/locate?acct=acc&ref=nope&path=x")
    assert resp.status == 404 and resp.data["status"] == 431
    resp = client("GET", f"content/locate?{q}&path={path}&version=x")
    assert resp.status == 400
    resp = client("POST", f"content/create?{q}&path=%FF%FE", create_body(),
                  create_headers(1800000000000000))
    assert resp.status == 400
    # Deletion.
    resp = client("POST", f"content/delete?{q}&path={path}")
    assert resp.status == 204
    resp = client("POST", f"content/delete_many?{q}",
                  {"contents": [{"name": "a"}]})
    assert resp.status == 200
    assert resp.data == {"contents": [{"name": "a", "status": 420,
                                       "message": "Alias not found"}]}
    resp = client("POST", f"content/delete_many?{q}",
                  {"contents": [{"name": str(i)} for i in range(101)]})
    assert resp.status == 413
    assert client("POST", f"container/destroy?{q}").status == 204


def test_delete_marker_over_http(client):
    q = "acct=acc&ref=vers"
    client("POST", f"container/create?{q}",
           {"system": {"sys.m2.policy.version": "-1"}})
    resp = client("POST", f"content/create?{q}&path=o", create_body(),
                  create_headers(10))
    assert resp.status == 204
    assert client("POST", f"content/delete?{q}&path=o").status == 204
    resp = client("GET", f"content/locate?{q}&path=o")
    assert resp.status == 404 and resp.data["status"] == 426
    resp = client("POST", f"content/get_properties?{q}&path=o")
    assert resp.status == 200
    assert resp.hdrs["x-oio-content-meta-deleted"] == "True"
    assert resp.hdrs["x-oio-content-meta-version"] == "11"
    resp = client("GET", f"content/locate?{q}&path=o&deleted=1")
    assert resp.status == 200 and resp.data == []
    resp = client("GET", f"container/list?{q}&all=1")
    assert [(o["name"], o["version"], o["deleted"])
            for o in resp.data["objects"]] == [("o", 11, True),
                                               ("o", 10, False)]
    resp = client("POST", f"content/drain?{q}&path=o&version=10")
    assert resp.status == 204
    resp = client("GET", f"content/locate?{q}&path=o&version=10")
    assert resp.status == 410 and resp.data["status"] == 427
    resp = client("POST", f"container/flush?{q}")
    assert resp.status == 204 and resp.hdrs["x-oio-truncated"] == "false"


def test_prepare_and_admin(client):
    q = "acct=acc&ref=prep"
    client("POST", f"container/create?{q}",
           {"system": {"sys.m2.policy.storage": "THREECOPIES"}})
    resp = client("POST", f"content/prepare?{q}&path=x", {"size": 10})
    assert resp.status == 200
    assert resp.data["policy"] == "THREECOPIES"
    assert resp.data["chunk_method"] == "plain/nb_copy=3"
    assert resp.data["chunk_size"] == 1048576
    resp = client("POST", f"content/prepare?{q}&path=x",
                  {"size": 1, "policy": "NOPE"})
    assert resp.status == 500 and resp.data["status"] == 480
    resp = client("POST", f"content/prepare?{q}&path=x", {"size": "x"})
    assert resp.status == 400
    assert client("POST", f"admin/freeze?{q}&type=meta2").status == 200
    resp = client("POST", f"content/create?{q}&path=o", create_body(),
                  create_headers(10))
    assert resp.status == 503 and resp.data["status"] == 436
    assert resp.hdrs["retry-after"] == "1"
    resp = client("POST", f"admin/freeze?{q}&type=meta2")
    assert resp.status == 503
    assert client("POST", f"admin/enable?{q}&type=meta2").status == 200


def test_small_object_latency(client):
    """content/create + content/locate of a 4 KiB object, one connection."""
    q = "acct=acc&ref=bench"
    client("POST", f"container/create?{q}")
    n = 200
    t0 = time.perf_counter()
    for i in range(n):
        resp = client("POST", f"content/create?{q}&path=o{i}",
                      create_body(copies=3), create_headers(10 + i))
        assert resp.status == 204
    t1 = time.perf_counter()
    for i in range(n):
        assert client("GET", f"content/locate?{q}&path=o{i}").status == 200
    t2 = time.perf_counter()
    create_us = (t1 - t0) / n * 1e6
    locate_us = (t2 - t1) / n * 1e6
    print(f"\nmeta2 4KiB content/create {create_us:.0f} µs/req, "
          f"content/locate {locate_us:.0f} µs/req (client included)")
    assert create_us < 50_000 and locate_us < 20_000


def test_entry_point(tmp_path):
    port = free_port()
    conf = tmp_path / "meta2.conf"
    conf.write_text(f"[meta2]\nnamespace={NS}\nbind_addr=127.0.0.1\n"
                    f"bind_port={port}\ndatadir={tmp_path / 'data'}\nzookeeper=\n"
                    "log_level=WARNING\n")
    proc = spawn("oio.container.server", str(conf), str(tmp_path / "log"))
    try:
        addr = f"127.0.0.1:{port}"

        def up():
            c = Client(addr)
            try:
                return c("GET", "/status").status == 200
            finally:
                c.conn.close()
        wait_for(up, 20, "meta2 to answer")
        c = Client(addr)
        assert c("POST", "container/create?acct=a&ref=b").status == 201
        assert c("GET", "container/list?acct=a&ref=b").data["objects"] == []
        c.conn.close()
    finally:
        stop(proc)
    bad = tmp_path / "bad.conf"
    bad.write_text("[meta2]\nnamespace=X\n")
    from oio.container.server import main
    assert main([str(bad)]) == 2


def test_snapshot_pulled_from_another_meta2(client, server, tmp_path):
    """The destination meta2 streams a consistent copy of the source base
    from the source meta2 (`admin/dump`) and installs it under its name."""
    src = cid_from_name("acc", "snapsrc")
    assert client("POST", "container/create?acct=acc&ref=snapsrc",
                  {"properties": {"k": "v"}, "system": {}}).status == 201
    resp = client("POST", f"content/create?cid={src}&path=obj",
                  create_body(), create_headers(1))
    assert resp.status == 204, resp.body
    dst = cid_from_name("other", "snapdst")
    with serve_meta2(str(tmp_path)) as (addr, _):
        remote = Client(addr)
        body = {"account": "other", "container": "snapdst",
                "source": server, "source_cid": src}
        resp = remote("POST", f"admin/snapshot?cid={dst}", body)
        assert resp.status == 204, resp.body
        resp = remote("GET", f"container/show?cid={dst}")
        assert resp.data == {"properties": {"k": "v"}}
        assert resp.hdrs["x-oio-container-meta-sys-user-name"] == "snapdst"
        assert resp.hdrs["x-oio-container-meta-sys-account"] == "other"
        assert unquote(resp.hdrs["x-oio-container-meta-sys-peers"]) == addr
        listing = remote("GET", f"container/list?cid={dst}").data
        assert [o["name"] for o in listing["objects"]] == ["obj"]
        # A second snapshot onto the same container is refused.
        resp = remote("POST", f"admin/snapshot?cid={dst}", body)
        assert resp.status == 409 and resp.data["status"] == 433
        # A missing source is a missing container; nothing is left behind.
        body.update(source_cid=cid_from_name("acc", "nope"))
        resp = remote("POST", "admin/snapshot?cid=" +
                      cid_from_name("other", "x"), body)
        assert resp.status == 404 and resp.data["status"] == 431
        assert os.listdir(os.path.join(str(tmp_path), "tmp")) == []
        for bad in ({}, dict(body, source_cid="zz"), dict(body, account="")):
            resp = remote("POST", f"admin/snapshot?cid={dst}", bad)
            assert resp.status == 400, bad
        remote.conn.close()


def test_bad_event_endpoint_stops_meta2_at_start(tmp_path, capsys):
    from oio.container.server import main

    conf = tmp_path / "meta2.conf"
    conf.write_text(f"[meta2]\nnamespace = {NS}\nbind_port = {free_port()}\n"
                    f"datadir = {tmp_path}\nevent_agent = http://nowhere:1\n"
                    "zookeeper =\n")
    assert main([str(conf)]) == 2
    assert "not a beanstalkd endpoint" in capsys.readouterr().err
