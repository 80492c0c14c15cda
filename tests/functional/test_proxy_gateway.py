"""The proxy in front of real conscience, meta0, meta1 and meta2 servers.

Services run as subprocesses on free ports in a temporary directory; the
rawx services are only registered (prepare does not contact them).
"""

import importlib.util
import os
from urllib.parse import quote

import pytest

from oio.common.utils import cid_from_name
from oio.proxy.config import ProxyConfig

from .proxy_harness import InProcessProxy, free_port, http, spawn, stop, wait_for

pytestmark = pytest.mark.functional
NS = "OPENIO"
CHUNK_SIZE = 1024 * 1024
MODULES = {
    "conscience": "oio.conscience.server",
    "meta0": "oio.directory.meta0_server",
    "meta1": "oio.directory.meta1_server",
    "meta2": "oio.container.server",
}
MISSING = [m for m in MODULES.values() if importlib.util.find_spec(m) is None]
if MISSING:
    pytest.skip(f"servers not available yet: {MISSING}",
                allow_module_level=True)


def _ini(section, values):
    return f"[{section}]\n" + "".join(f"{k}={v}\n" for k, v in values.items())


def _write(path, text):
    with open(path, "w") as out:
        out.write(text)


class Stack:
    """conscience + meta0 + meta1 + meta2 + proxy (+ registered rawx)."""

    def __init__(self, root):
        from oio.sandbox.bootstrap import POLICIES, POOLS, SERVICE_TYPES

        self.root = root
        self.addr = {k: f"127.0.0.1:{free_port()}" for k in MODULES}
        self.procs = {}
        prefix = os.path.join(root, NS)
        _write(f"{prefix}-policies.conf", POLICIES)
        _write(f"{prefix}-service-pools.conf", POOLS)
        _write(f"{prefix}-service-types.conf", SERVICE_TYPES)
        base = {"namespace": NS, "bind_addr": "127.0.0.1", "log_level": "INFO"}
        self.confs = {"conscience": _ini("conscience", dict(
            base, bind_port=self.port("conscience"),
            policies=f"{prefix}-policies.conf",
            services=f"{prefix}-service-*.conf", chunk_size=CHUNK_SIZE,
            storage_policy="THREECOPIES", meta1_digits=4,
            **{"ns.service_update_policy":
               "meta2=KEEP|1|1;sqlx=KEEP|1|1|;rdir=KEEP|1|1|"}))}
        for kind in ("meta0", "meta1", "meta2"):
            datadir = os.path.join(root, kind)
            os.makedirs(datadir, exist_ok=True)
            # Alone, not in the elections of the session's namespace.
            self.confs[kind] = _ini(kind, dict(
                base, bind_port=self.port(kind), datadir=datadir,
                conscience=self.addr["conscience"], meta1_digits=4,
                zookeeper=""))
        self.rawx = [f"127.0.0.1:{free_port()}" for _ in range(4)]
        self.proxy = None
        self.url = None

    def port(self, kind):
        return self.addr[kind].rsplit(":", 1)[1]

    def start_service(self, kind):
        conf = os.path.join(self.root, f"{kind}.conf")
        _write(conf, self.confs[kind])
        self.procs[kind] = spawn(MODULES[kind], conf,
                                 os.path.join(self.root, f"{kind}.log"))
        wait_for(lambda: http("GET", self.addr[kind], "/status").status == 200,
                 20, f"{kind} to answer")

    def start(self):
        for kind in MODULES:
            self.start_service(kind)
        conf = ProxyConfig.from_dict({
            "namespace": NS, "bind_port": "0",
            "conscience": self.addr["conscience"]})
        self.proxy = InProcessProxy(conf)
        self.url = self.proxy.start()
        self.register_all()
        resp = http("POST", self.addr["meta0"], "/v1/meta0/init?replicas=1",
                    body=[self.addr["meta1"]])
        assert resp.status in (204, 409), resp.body
        # Wait for the proxy's own LB view to see usable rawx and meta2.
        wait_for(lambda: self.call("POST", "content/prepare2?acct=w&ref=w&path=w",
                                   {"size": 1}).status == 200,
                 30, "the proxy to allocate chunks")

    def register_all(self):
        items = []
        for kind in ("meta0", "meta1", "meta2"):
            items.append(self.desc(kind, self.addr[kind], "rack.h0.v"))
        for n, addr in enumerate(self.rawx, 1):
            desc = self.desc("rawx", addr, f"rack.h{n}.v",
                             ["rawx", "rawx-odd" if n % 2 else "rawx-even"])
            if n == 1:
                desc["tags"]["tag.service_id"] = f"{NS}-rawx-1"
            items.append(desc)
        resp = self.call("POST", "conscience/register", items)
        assert resp.status == 204, resp.body
        resp = self.call("POST", "conscience/unlock",
                         [{"type": d["type"], "addr": d["addr"]} for d in items])
        assert resp.status == 204, resp.body
        # Scores are computed at registration: register once more.
        assert self.call("POST", "conscience/register", items).status == 204

    @staticmethod
    def desc(kind, addr, loc, slots=None):
        return {"ns": NS, "type": kind, "addr": addr, "score": 0,
                "tags": {"tag.up": True, "tag.loc": loc,
                         "tag.slots": ",".join(slots or [kind]),
                         "stat.cpu": 100.0, "stat.io": 100.0,
                         "stat.space": 100.0}}

    def call(self, method, route, body=None, headers=None):
        return http(method, self.url, f"/v3.0/{NS}/{route}", body=body,
                    headers=headers)

    def stop(self):
        if self.proxy is not None:
            self.proxy.stop()
        for proc in self.procs.values():
            stop(proc)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(str(tmp_path_factory.mktemp("proxy-stack")))
    try:
        st.start()
        yield st
    finally:
        st.stop()


def test_conscience_routes(stack):
    resp = stack.call("GET", "conscience/list?type=rawx")
    assert resp.status == 200
    listed = resp.json()
    assert len(listed) == 4
    assert all("tag.1" not in s["tags"] for s in listed)
    resp = stack.call("GET", "conscience/list?type=nope")
    assert resp.status == 404
    resp = stack.call("GET", "lb/choose?type=meta2")
    assert resp.status == 200
    assert resp.json()[0]["addr"] == stack.addr["meta2"]
    resp = stack.call("GET", f"conscience/resolve?type=rawx&service_id={NS}-rawx-1")
    assert resp.json() == {"addr": stack.rawx[0]}


def test_container_lifecycle(stack):
    q = "acct=acct1&ref=cont1"
    assert stack.call("POST", f"container/create?{q}",
                      {"properties": {"color": "blue"}, "system": {}}
                      ).status == 201
    assert stack.call("POST", f"container/create?{q}",
                      {"properties": {}, "system": {}}).status == 204
    resp = stack.call("GET", f"container/show?{q}")
    assert resp.status == 200, resp.body
    assert resp.json()["properties"] == {"color": "blue"}
    resp = stack.call("GET", f"reference/show?{q}")
    assert resp.status == 200
    data = resp.json()
    assert list(data) == ["dir", "srv", "cid", "account", "name"]
    assert data["cid"] == cid_from_name("acct1", "cont1")
    assert [d["type"] for d in data["dir"]] == ["meta0", "meta1"]
    assert [(s["type"], s["host"]) for s in data["srv"]] == [
        ("meta2", stack.addr["meta2"])]
    assert (data["account"], data["name"]) == ("acct1", "cont1")
    resp = stack.call("GET", f"container/list?{q}")
    assert resp.status == 200
    assert resp.json()["objects"] == []
    assert stack.call("POST", f"container/destroy?{q}").status == 204
    resp = stack.call("GET", f"container/show?{q}")
    assert resp.status == 404
    assert resp.json()["status"] in (406, 431)
    resp = stack.call("GET", f"container/show?cid={cid_from_name('acct1', 'cont1')}")
    assert resp.status == 404


def _prepare(stack, q, body):
    resp = stack.call("POST", f"content/prepare2?{q}", body)
    assert resp.status == 200, resp.body
    return resp


def test_content_flow(stack):
    q = "acct=acct1&ref=cont2"
    assert stack.call("POST", f"container/create?{q}").status == 201
    resp = _prepare(stack, f"{q}&path=dir%2Fobj+1", {"size": 10})
    h = resp.headers
    assert h["x-oio-ns-chunk-size"] == str(CHUNK_SIZE)
    assert h["x-oio-content-meta-name"] == quote("dir/obj 1", safe="")
    assert h["x-oio-content-meta-policy"] == "THREECOPIES"
    assert h["x-oio-content-meta-chunk-method"] == "plain/nb_copy=3"
    assert h["x-oio-content-meta-size"] == h["x-oio-content-meta-length"] == "10"
    assert h["x-oio-content-meta-mime-type"] == "application/octet-stream"
    assert len(h["x-oio-content-meta-id"]) == 32
    body = resp.json()
    chunks = body["chunks"]
    assert [c["pos"] for c in chunks] == ["0"] * 3
    assert len({c["real_url"].split("/")[2] for c in chunks}) == 3
    assert set(body["properties"]) == {"__OIO_CHUNK__" + c["url"] for c in chunks}
    for chunk in chunks:
        chunk["size"] = 10
        chunk["hash"] = "9e107d9d372bb6826bd81d3542a419d6"
    headers = {
        "x-oio-content-meta-length": "10",
        "x-oio-content-meta-hash": "9e107d9d372bb6826bd81d3542a419d6",
        "x-oio-content-meta-id": h["x-oio-content-meta-id"],
        "x-oio-content-meta-policy": "THREECOPIES",
        "x-oio-content-meta-version": h["x-oio-content-meta-version"],
        "x-oio-content-meta-chunk-method": "plain/nb_copy=3",
    }
    resp = stack.call("POST", f"content/create?{q}&path=dir%2Fobj+1",
                      {"chunks": chunks, "properties": body["properties"]},
                      headers)
    assert resp.status == 204, resp.body
    resp = stack.call("GET", f"content/locate?{q}&path=dir%2Fobj+1")
    assert resp.status == 200, resp.body
    located = resp.json()
    assert len(located) == 3
    by_url = {c["url"]: c for c in located}
    for chunk in chunks:
        assert by_url[chunk["url"]]["real_url"] == chunk["real_url"]
        assert by_url[chunk["url"]]["score"] > 0
    assert stack.call("POST", f"container/destroy?{q}").status == 409
    assert stack.call("POST", f"content/delete?{q}&path=dir%2Fobj+1").status == 204
    resp = stack.call("GET", f"content/locate?{q}&path=dir%2Fobj+1")
    assert resp.status == 404
    assert resp.json()["status"] == 420


def test_prepare_ec_and_errors(stack):
    q = "acct=acct1&ref=cont3&path=o"
    resp = _prepare(stack, q, {"size": 2 * CHUNK_SIZE + 1, "policy": "EC21",
                               "position": 1})
    assert [c["pos"] for c in resp.json()["chunks"]] == [
        "1.0", "1.1", "1.2", "2.0", "2.1", "2.2"]
    assert resp.headers["x-oio-content-meta-chunk-method"] == (
        "ec/algo=liberasurecode_rs_vand,k=2,m=1")
    resp = stack.call("POST", f"content/prepare?{q}", {"size": 1})
    assert resp.status == 200
    assert isinstance(resp.json(), list)
    resp = stack.call("POST", f"content/prepare2?{q}",
                      {"size": 1, "policy": "NOPE"})
    assert (resp.status, resp.json()["status"]) == (500, 480)
    resp = stack.call("POST", f"content/prepare2?{q}&version=42&content=ABCD",
                      {"size": 1, "policy": "SINGLE"})
    assert resp.headers["x-oio-content-meta-version"] == "42"
    assert resp.headers["x-oio-content-meta-id"] == "ABCD"


def test_autocreate(stack):
    resp = _prepare(stack, "acct=acct2&ref=auto&path=o", {"size": 0,
                                                          "policy": "SINGLE"})
    chunks = resp.json()["chunks"]
    for chunk in chunks:
        chunk["size"] = 0
        chunk["hash"] = "d41d8cd98f00b204e9800998ecf8427e"
    headers = {"x-oio-content-meta-length": "0",
               "x-oio-content-meta-id": resp.headers["x-oio-content-meta-id"],
               "x-oio-content-meta-policy": "SINGLE",
               "x-oio-content-meta-version":
                   resp.headers["x-oio-content-meta-version"],
               "x-oio-content-meta-chunk-method": "plain/nb_copy=1"}
    body = {"chunks": chunks, "properties": {},
            "container_properties": {"properties": {"k": "v"}, "system": {}}}
    resp = stack.call("POST", "content/create?acct=acct2&ref=noauto&path=o",
                      body, headers)
    assert resp.status == 404
    resp = stack.call("POST", "content/create?acct=acct2&ref=auto&path=o", body,
                      dict(headers, **{"x-oio-action-mode": "autocreate"}))
    assert resp.status == 204, resp.body
    resp = stack.call("GET", "container/show?acct=acct2&ref=auto")
    assert resp.json()["properties"] == {"k": "v"}


def test_reference_routes(stack):
    q = "acct=acct3&ref=ref1"
    assert stack.call("POST", f"reference/create?{q}").status == 201
    assert stack.call("POST", f"reference/create?{q}").status == 202
    resp = stack.call("POST", f"reference/link?{q}&type=meta2")
    assert resp.status == 200
    assert resp.json()[0]["host"] == stack.addr["meta2"]
    assert stack.call("POST", f"reference/destroy?{q}").status == 403
    assert stack.call("POST", f"reference/unlink?{q}&type=meta2").status == 204
    assert stack.call("POST", f"reference/destroy?{q}").status == 204
    resp = stack.call("GET", f"reference/show?{q}")
    assert (resp.status, resp.json()["status"]) == (404, 406)


def test_meta2_down_gives_503(stack):
    q = "acct=acct9&ref=down"
    assert stack.call("POST", f"container/create?{q}").status == 201
    stop(stack.procs["meta2"])
    resp = stack.call("GET", f"container/show?{q}")
    assert resp.status == 503
    assert resp.headers.get("retry-after") == "1"


def _lock_echo(stack, scores):
    """Lock the scores of fake `echo` services and wait for the proxy's
    load balancer to see them."""
    items = [{"ns": NS, "type": "echo", "addr": addr, "score": score,
              "tags": {"tag.up": True, "tag.loc": f"rack.echo.{n}",
                       "stat.cpu": 100.0}}
             for n, (addr, score) in enumerate(scores.items())]
    assert stack.call("POST", "conscience/register", items).status == 204
    assert stack.call("POST", "conscience/lock", items).status == 204

    def seen():
        stack.call("POST", "lb/reload")
        got = stack.call("GET", "conscience/list?type=echo").json()
        return {s["addr"]: s["score"] for s in got} == scores
    wait_for(seen, 15, "the locked echo scores")


def test_renew_keeps_linked_services_as_7_2(stack):
    """Without a service update policy for the type (KEEP), renew leaves
    linked services alone, even at score 0; with none linked it links an
    available one."""
    up, down = f"127.0.0.2:{free_port()}", f"127.0.0.2:{free_port()}"
    q = "acct=acct4&ref=renew&type=echo"
    assert stack.call("POST", f"reference/create?{q}").status == 201
    _lock_echo(stack, {up: 1, down: 0})
    resp = stack.call("POST", f"reference/link?{q}")
    assert resp.status == 200 and [s["host"] for s in resp.json()] == [up]
    _lock_echo(stack, {up: 0, down: 1})
    resp = stack.call("POST", f"reference/renew?{q}")
    assert resp.status == 200 and [s["host"] for s in resp.json()] == [up]
    shown = stack.call("GET", f"reference/show?{q}").json()["srv"]
    assert [s["host"] for s in shown] == [up]
    assert stack.call("POST", f"reference/unlink?{q}").status == 204
    resp = stack.call("POST", f"reference/renew?{q}")
    assert resp.status == 200 and [s["host"] for s in resp.json()] == [down]
    shown = stack.call("GET", f"reference/show?{q}").json()["srv"]
    assert [s["host"] for s in shown] == [down]
