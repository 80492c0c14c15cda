"""Proxy routes driven without sockets, over fake meta0/meta1/meta2."""

import asyncio
import json
from types import SimpleNamespace

from oio.common.aio_client import AsyncResponse
from oio.common.http_server import Request
from oio.common.utils import cid_from_name
from oio.proxy.app import Proxy
from oio.proxy.config import ProxyConfig

from .test_proxy_prepare import PLAIN3, FakeLb, FakeSelection, rawx

NS = "OPENIO"
M2 = "127.0.0.1:6120"


def reply(status, obj=None, headers=None):
    body = json.dumps(obj).encode() if obj is not None else b""
    return AsyncResponse(status, "", dict(headers or {}), body)


class FakeWorld:
    """meta0 + meta1 + meta2 in memory, answering like the internal protocol."""

    def __init__(self):
        self.calls = []
        self.refs = {}      # cid -> {"srv": [...]}
        self.bases = {}     # cid -> {"properties": ..., "objects": {}}

    async def request(self, method, addr, path, headers=None, body=None,
                      json=None, timeout=None):
        route, _, query = path.partition("?")
        args = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
        if json is None and body:
            json = __import__("json").loads(body)
        self.calls.append((method, addr, route, args))
        cid = args.get("cid")
        if route == "/v1/meta0/list":
            return reply(200, {"0000": ["m1"], **{
                f"{i:04X}": ["m1"] for i in range(65536)}})
        if route.startswith("/v1/reference/"):
            return self.meta1(route.rsplit("/", 1)[1], cid, args, json)
        if route.startswith("/v1/"):
            return self.meta2(route[4:], cid, args, json)
        return reply(404, {"status": 404, "message": "No handler found"})

    def meta1(self, action, cid, args, body):
        ref = self.refs.get(cid)
        if action == "create":
            if ref:
                return reply(202)
            self.refs[cid] = {"srv": []}
            return reply(201)
        if ref is None:
            return reply(404, {"status": 406, "message": "no such reference"})
        if action == "show":
            return reply(200, {"cid": cid, "srv": ref["srv"]})
        if action == "link":
            if not ref["srv"]:
                ref["srv"] = body
            return reply(200, ref["srv"])
        if action == "unlink":
            ref["srv"] = []
            return reply(204)
        return reply(404, {"status": 404, "message": "No handler found"})

    def meta2(self, action, cid, args, body):
        base = self.bases.get(cid)
        if action == "container/create":
            if base is not None:
                return reply(409, {"status": 433, "message": "exists"})
            self.bases[cid] = {"properties": (body or {}).get("properties")
                               or {}, "objects": {}}
            return reply(201)
        if base is None:
            return reply(404, {"status": 431, "message": "no such base"})
        if action == "container/show":
            return reply(200, {"properties": base["properties"]},
                         {"content-type": "application/json",
                          "x-oio-container-meta-sys-ns": NS})
        if action == "container/destroy":
            del self.bases[cid]
            return reply(204)
        if action == "content/prepare":
            return reply(200, {"policy": body.get("policy") or "THREECOPIES",
                               "chunk_method": "plain/nb_copy=3",
                               "version": 1234, "chunk_size": 1024,
                               "mime_type": "application/octet-stream"})
        if action == "content/create":
            base["objects"][args["path"]] = body["chunks"]
            return reply(204)
        if action == "content/locate":
            return reply(200, base["objects"][args["path"]])
        return reply(404, {"status": 404, "message": "No handler found"})


class FakeMeta2Lb(FakeLb):
    def poll(self, pool, avoid=(), known=()):
        svc = {"addr": M2, "score": 90, "tags": {}, "id": M2}
        return [FakeSelection(svc, {})]


def make_proxy():
    config = ProxyConfig.from_dict({"namespace": NS, "conscience": "cs:1",
                                    "meta0": "m0"})
    world = FakeWorld()
    proxy = Proxy(config, client=world)
    view = proxy.view
    view.lb = FakeMeta2Lb([rawx(1), rawx(2, "rawx-2"), rawx(3)])
    view.ns_info = SimpleNamespace(
        chunk_size=1024, get_policy=lambda name: PLAIN3 if name in (
            None, "THREECOPIES") else (_ for _ in ()).throw(ValueError(name)))
    view.services = {"rawx": [rawx(1), rawx(2, "rawx-2"), rawx(3)]}
    view._by_id = {("rawx", d[k]): d for d in view.services["rawx"]
                   for k in ("id", "addr")}
    return proxy, world


class FakeConn:
    peer = "test"
    server = SimpleNamespace(body_timeout=5.0)

    def body_consumed(self):
        pass

    def write(self, data):
        pass


def call(proxy, method, route, body=None, headers=None):
    raw = json.dumps(body).encode() if body is not None else b""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if raw:
        hdrs["content-length"] = str(len(raw))
    req = Request(FakeConn(), method, f"/v3.0/{NS}/{route}".encode(), hdrs,
                  True, "1.1")
    if raw:
        req._feed(raw)
    req._finish()
    resp = asyncio.run(proxy(req))
    return SimpleNamespace(
        status=resp.status, headers=resp.headers, body=resp.body,
        json=lambda: json.loads(resp.body) if resp.body else None)


def test_container_create_links_meta2():
    proxy, world = make_proxy()
    resp = call(proxy, "POST", "container/create?acct=a&ref=c",
                {"properties": {"x": "1"}, "system": {}})
    assert resp.status == 201
    cid = cid_from_name("a", "c")
    assert world.refs[cid]["srv"] == [{"seq": 1, "type": "meta2", "host": M2,
                                       "args": ""}]
    assert world.bases[cid]["properties"] == {"x": "1"}
    assert call(proxy, "POST", "container/create?acct=a&ref=c").status == 204
    resp = call(proxy, "GET", "container/show?acct=a&ref=c")
    assert resp.status == 200
    assert resp.headers["x-oio-container-meta-sys-ns"] == NS
    assert resp.json() == {"properties": {"x": "1"}}
    forwarded = [c for c in world.calls if c[2] == "/v1/container/show"][0]
    assert forwarded[1] == M2 and forwarded[3]["cid"] == cid


def test_container_create_bad_body():
    proxy, world = make_proxy()
    resp = call(proxy, "POST", "container/create?acct=a&ref=c",
                {"properties": {"x": 1}})
    assert resp.status == 400
    assert call(proxy, "POST", "container/create?cid=" + "A" * 64).status == 400
    assert not world.calls


def test_missing_container_and_destroy():
    proxy, world = make_proxy()
    resp = call(proxy, "GET", "container/show?acct=a&ref=nope")
    assert (resp.status, resp.json()["status"]) == (404, 406)
    call(proxy, "POST", "container/create?acct=a&ref=c")
    assert call(proxy, "POST", "container/destroy?acct=a&ref=c").status == 204
    cid = cid_from_name("a", "c")
    assert world.refs[cid]["srv"] == []      # unlinked, reference kept
    resp = call(proxy, "GET", "container/show?acct=a&ref=c")
    assert (resp.status, resp.json()["status"]) == (404, 431)


def test_prepare2_and_locate():
    proxy, world = make_proxy()
    call(proxy, "POST", "container/create?acct=a&ref=c")
    resp = call(proxy, "POST", "content/prepare2?acct=a&ref=c&path=o",
                {"size": 3000}, {"x-oio-perfdata": "enabled"})
    assert resp.status == 200
    assert resp.headers["x-oio-content-meta-version"] == "1234"
    assert resp.headers["x-oio-ns-chunk-size"] == "1024"
    chunks = resp.json()["chunks"]
    assert [c["pos"] for c in chunks] == ["0"] * 3 + ["1"] * 3 + ["2"] * 3
    # The container does not need to exist: local policy, fresh version.
    resp = call(proxy, "POST", "content/prepare2?acct=a&ref=none&path=o",
                {"size": 1})
    assert resp.status == 200
    assert int(resp.headers["x-oio-content-meta-version"]) > 10**15
    resp = call(proxy, "POST", "content/prepare2?acct=a&ref=none&path=o",
                {"size": 1, "policy": "NOPE"})
    assert (resp.status, resp.json()["status"]) == (500, 480)
    # locate: real_url and score come from the proxy's view
    stored = [{"url": c["url"], "pos": c["pos"], "size": 1, "hash": "00"}
              for c in chunks[:3]]
    call(proxy, "POST", "content/create?acct=a&ref=c&path=o",
         {"chunks": stored})
    resp = call(proxy, "GET", "content/locate?acct=a&ref=c&path=o")
    located = resp.json()
    assert [list(c) for c in located] == [
        ["url", "real_url", "pos", "size", "hash", "score"]] * 3
    assert located[1]["url"].startswith("http://rawx-2/")
    assert located[1]["real_url"].startswith("http://127.0.0.1:6002/")
    assert located[1]["score"] == 80


def test_content_create_autocreate():
    proxy, world = make_proxy()
    body = {"chunks": [{"url": "http://x/1", "pos": "0", "size": 0,
                        "hash": "00"}],
            "container_properties": {"properties": {"k": "v"}}}
    resp = call(proxy, "POST", "content/create?acct=a&ref=auto&path=o", body)
    assert resp.status == 404
    resp = call(proxy, "POST", "content/create?acct=a&ref=auto&path=o", body,
                {"x-oio-action-mode": "autocreate"})
    assert resp.status == 204
    assert world.bases[cid_from_name("a", "auto")]["properties"] == {"k": "v"}


def test_register_marks_first_sighting():
    proxy, world = make_proxy()
    proxy.config.conscience = ["cs:1"]
    item = {"type": "rawx", "addr": "127.0.0.1:9", "tags": {}}
    call(proxy, "POST", "conscience/register", item)
    call(proxy, "POST", "conscience/register", [item])
    sent = [c for c in world.calls if c[2].endswith("/conscience/register")]
    assert len(sent) == 2
    resp = call(proxy, "GET", "local/list")
    assert resp.json()[0]["type"] == "rawx"
