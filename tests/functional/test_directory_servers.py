"""meta0 and meta1 servers over real sockets (docs/internal-protocol.md)."""

import json
import urllib.error
import urllib.request

import pytest

from oio.common.utils import cid_from_name
from oio.directory import meta0_server, meta1_server
from oio.directory.meta0 import Meta0
from oio.directory.meta1 import Meta1
from tests.utils import ServerThread

CID = cid_from_name("acct", "ctr")


def call(addr, method, path, body=None, raw=None):
    data = raw if raw is not None else (
        None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("dir")
    m0 = ServerThread(meta0_server.build_app(Meta0(str(root / "m0"), 2), "NS"))
    m1 = ServerThread(meta1_server.build_app(Meta1(str(root / "m1"), 2), "NS"))
    with m0, m1:
        yield m0.addr, m1.addr


def test_meta0_routes(servers):
    m0, _ = servers
    assert call(m0, "GET", "/v1/meta0/list") == (404, {
        "status": 404, "message": "meta0 not initialized"})
    assert call(m0, "POST", "/v1/meta0/init?replicas=1", ["127.0.0.1:1"])[0] == 204
    status, reply = call(m0, "POST", "/v1/meta0/init?replicas=1", ["127.0.0.1:2"])
    assert (status, reply["status"]) == (409, 433)
    status, mapping = call(m0, "GET", "/v1/meta0/list")
    assert status == 200 and len(mapping) == 65536
    assert call(m0, "GET", "/v1/meta0/get?prefix=00FF") == (200, ["127.0.0.1:1"])
    assert call(m0, "GET", "/v1/meta0/get?prefix=zz")[0] == 400
    assert call(m0, "POST", "/v1/meta0/force", raw=b"{not json")[0] == 400
    assert call(m0, "GET", "/status") == (200, {"service": "meta0", "ns": "NS"})


def test_meta1_routes(servers):
    _, m1 = servers
    q = f"cid={CID}"
    assert call(m1, "GET", f"/v1/reference/show?{q}")[1]["status"] == 406
    assert call(m1, "POST", f"/v1/reference/create?{q}&acct=acct&ref=ctr")[0] == 201
    assert call(m1, "POST", f"/v1/reference/create?{q}&acct=acct&ref=ctr")[0] == 202
    entry = {"seq": 1, "type": "meta2", "host": "127.0.0.1:5", "args": ""}
    assert call(m1, "POST", f"/v1/reference/link?{q}&type=meta2",
                [entry]) == (200, [entry])
    status, shown = call(m1, "GET", f"/v1/reference/show?{q}&type=meta2")
    assert status == 200 and shown["srv"] == [entry] and shown["name"] == "ctr"
    assert call(m1, "POST", f"/v1/reference/destroy?{q}")[1]["status"] == 407
    assert call(m1, "POST", f"/v1/reference/set_properties?{q}",
                {"properties": {"a": "b"}})[0] == 204
    assert call(m1, "POST", f"/v1/reference/get_properties?{q}", None) == (
        200, {"properties": {"a": "b"}})
    assert call(m1, "GET", f"/v1/reference/list?prefix={CID[:4]}")[1][0]["cid"] == CID
    assert call(m1, "POST", f"/v1/reference/destroy?{q}&force=1")[0] == 204
    assert call(m1, "GET", f"/v1/reference/show?{q}")[0] == 404


@pytest.mark.parametrize("path", [
    "/v1/reference/show?cid=..%2F..%2Fetc", "/v1/reference/show",
    "/v1/reference/create?cid=" + CID + "&acct=other&ref=ctr",
    "/v1/reference/list?prefix=ZZZZ",
])
def test_meta1_bad_input(servers, path):
    _, m1 = servers
    method = "POST" if "create" in path else "GET"
    status, reply = call(m1, method, path)
    assert (status, reply["status"]) == (400, 400)
