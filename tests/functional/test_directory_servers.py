"""meta0 and meta1 servers over real sockets (docs/internal-protocol.md),
and DirectoryClient through a real proxy in front of them."""

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from oio.directory import meta0_server, meta1_server
from oio.directory.meta0 import Meta0
from oio.directory.meta1 import Meta1
from tests.utils import ServerThread, free_port

from .proxy_harness import wait_for

pytestmark = pytest.mark.functional
CID = cid_from_name("acct", "ctr")
M2 = {"seq": 1, "type": "meta2", "host": "127.0.0.1:5", "args": ""}


def call(addr, method, path, body=None, raw=None):
    """(HTTP status, decoded JSON body or text)."""
    data = raw if raw is not None else (
        None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode()


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
    assert call(m0, "GET", "/v1/meta0/get?prefix=0000")[0] == 404
    assert call(m0, "POST", "/v1/meta0/init?replicas=1",
                ["127.0.0.1:1", "127.0.0.1:2"]) == (204, None)
    status, reply = call(m0, "POST", "/v1/meta0/init?replicas=1",
                         ["127.0.0.1:3"])
    assert (status, reply["status"]) == (409, 433)          # double init
    status, mapping = call(m0, "GET", "/v1/meta0/list")
    assert status == 200 and len(mapping) == 65536
    assert mapping["00FF"] == ["127.0.0.1:1"] and mapping["0100"] == ["127.0.0.1:2"]
    assert call(m0, "GET", "/v1/meta0/get?prefix=00ff") == (200, ["127.0.0.1:1"])
    assert call(m0, "POST", "/v1/meta0/force",
                {"00FF": ["127.0.0.1:9"]}) == (204, None)
    assert call(m0, "GET", "/v1/meta0/get?prefix=00FF") == (200, ["127.0.0.1:9"])
    assert call(m0, "GET", "/v1/meta0/list")[1]["00FF"] == ["127.0.0.1:9"]
    assert call(m0, "POST", "/v1/meta0/init?replicas=1&force=1",
                ["127.0.0.1:4"]) == (204, None)
    assert call(m0, "GET", "/v1/meta0/get?prefix=00FF") == (200, ["127.0.0.1:4"])
    assert call(m0, "GET", "/status") == (200, {"service": "meta0", "ns": "NS"})
    status, text = call(m0, "GET", "/info")
    assert status == 200 and "meta0" in text


@pytest.mark.parametrize("method, path, raw", [
    ("GET", "/v1/meta0/get?prefix=zz", None),
    ("GET", "/v1/meta0/get?prefix=..%2F..", None),
    ("GET", "/v1/meta0/get", None),
    ("POST", "/v1/meta0/force", b"{not json"),
    ("POST", "/v1/meta0/force", b'{"XYZW": ["127.0.0.1:1"]}'),
    ("POST", "/v1/meta0/force", b'{"0000": "127.0.0.1:1"}'),
    ("POST", "/v1/meta0/force", b"[]"),
    ("POST", "/v1/meta0/force", b""),
    ("POST", "/v1/meta0/force", b"[" * 100_000),
    ("POST", "/v1/meta0/init?replicas=x&force=1", b'["127.0.0.1:1"]'),
    ("POST", "/v1/meta0/init?replicas=3&force=1", b'["127.0.0.1:1"]'),
    ("POST", "/v1/meta0/init?force=1", b'["no-port"]'),
    ("POST", "/v1/meta0/init?force=1", b'{"a": 1}'),
])
def test_meta0_bad_input(servers, method, path, raw):
    m0, _ = servers
    status, reply = call(m0, method, path, raw=raw)
    assert (status, reply["status"]) == (400, 400), reply


def test_meta1_routes(servers):
    _, m1 = servers
    q = f"cid={CID.lower()}"
    assert call(m1, "GET", f"/v1/reference/show?{q}")[1]["status"] == 406
    assert call(m1, "POST", f"/v1/reference/create?{q}&acct=acct&ref=ctr",
                {"properties": {"p": "1"}}) == (201, None)
    assert call(m1, "POST", f"/v1/reference/create?{q}&acct=acct&ref=ctr")[0] == 202
    assert call(m1, "GET", f"/v1/reference/show?{q}") == (200, {
        "cid": CID, "account": "acct", "name": "ctr", "srv": []})
    assert call(m1, "POST", f"/v1/reference/link?{q}&type=meta2",
                [M2]) == (200, [M2])
    assert call(m1, "POST", f"/v1/reference/link?{q}&type=meta2",
                [dict(M2, host="127.0.0.1:6")]) == (200, [M2])
    status, shown = call(m1, "GET", f"/v1/reference/show?{q}&type=meta2")
    assert status == 200 and shown["srv"] == [M2] and shown["name"] == "ctr"
    status, reply = call(m1, "POST", f"/v1/reference/force?{q}&type=meta2",
                         dict(M2, seq=2))
    assert (status, reply["status"]) == (409, 455)
    assert call(m1, "POST", f"/v1/reference/force?{q}&type=meta2&replace=1",
                dict(M2, seq=2, host="127.0.0.1:7,127.0.0.1:8"))[0] == 204
    assert [s["host"] for s in call(m1, "GET", f"/v1/reference/show?{q}")[1][
        "srv"]] == ["127.0.0.1:7", "127.0.0.1:8"]
    status, reply = call(m1, "POST", f"/v1/reference/destroy?{q}")
    assert (status, reply["status"]) == (403, 407)
    assert call(m1, "POST", f"/v1/reference/set_properties?{q}",
                {"properties": {"a": "b", "c": "d"}}) == (204, None)
    assert call(m1, "POST", f"/v1/reference/get_properties?{q}") == (
        200, {"properties": {"a": "b", "c": "d", "p": "1"}})
    assert call(m1, "POST", f"/v1/reference/get_properties?{q}", ["a"]) == (
        200, {"properties": {"a": "b"}})
    assert call(m1, "POST", f"/v1/reference/del_properties?{q}",
                ["a"]) == (204, None)
    assert call(m1, "POST", f"/v1/reference/set_properties?{q}&flush=1",
                {"properties": {"x": "y"}}) == (204, None)
    assert call(m1, "POST", f"/v1/reference/get_properties?{q}", None) == (
        200, {"properties": {"x": "y"}})
    assert call(m1, "POST", f"/v1/reference/del_properties?{q}", []) == (204, None)
    assert call(m1, "POST", f"/v1/reference/get_properties?{q}")[1] == {
        "properties": {}}
    assert call(m1, "GET", f"/v1/reference/list?prefix={CID[:4]}") == (
        200, [{"cid": CID, "account": "acct", "name": "ctr"}])
    assert call(m1, "POST", f"/v1/reference/unlink?{q}&type=meta2") == (204, None)
    assert call(m1, "GET", f"/v1/reference/show?{q}")[1]["srv"] == []
    assert call(m1, "POST", f"/v1/reference/destroy?{q}") == (204, None)
    assert call(m1, "GET", f"/v1/reference/show?{q}")[0] == 404
    assert call(m1, "GET", "/status") == (200, {"service": "meta1", "ns": "NS"})
    assert call(m1, "GET", "/info")[0] == 200


GHOST = cid_from_name("acct", "ghost")


@pytest.mark.parametrize("method, action", [
    ("GET", "show"), ("POST", "destroy"), ("POST", "link?type=meta2"),
    ("POST", "force?type=meta2"), ("POST", "unlink?type=meta2"),
    ("POST", "get_properties"), ("POST", "set_properties"),
    ("POST", "del_properties"),
])
def test_meta1_unknown_reference(servers, method, action):
    _, m1 = servers
    sep = "&" if "?" in action else "?"
    body = {"properties": {}} if action == "set_properties" else (
        M2 if "force" in action else [M2] if "link" in action else None)
    status, reply = call(m1, method, f"/v1/reference/{action}{sep}cid={GHOST}",
                         body)
    assert (status, reply["status"]) == (404, 406)


BAD = cid_from_name("acct", "bad")


@pytest.mark.parametrize("method, path, raw", [
    ("GET", "/v1/reference/show?cid=..%2F..%2Fetc", None),
    ("GET", "/v1/reference/show", None),
    ("GET", "/v1/reference/show?cid=" + "A" * 63, None),
    ("GET", f"/v1/reference/show?cid={BAD}&type=..%2Fx", None),
    ("POST", f"/v1/reference/create?cid={BAD}&acct=other&ref=bad", None),
    ("POST", f"/v1/reference/create?cid={BAD}&ref=bad", None),
    ("POST", f"/v1/reference/create?cid={BAD}&acct=acct&ref=bad", b"{oops"),
    ("POST", f"/v1/reference/create?cid={BAD}&acct=acct&ref=bad", b"[1]"),
    ("POST", f"/v1/reference/create?cid={BAD}&acct=acct&ref=bad",
     b'{"properties": {"k": 1}}'),
    ("POST", f"/v1/reference/link?cid={CID}", b"[]"),
    ("POST", f"/v1/reference/link?cid={CID}&type=meta2", b"not json"),
    ("POST", f"/v1/reference/link?cid={CID}&type=meta2", b'[{"host": 1}]'),
    ("POST", f"/v1/reference/force?cid={CID}&type=meta2", b'["a:1"]'),
    ("POST", f"/v1/reference/unlink?cid={CID}", None),
    ("POST", f"/v1/reference/set_properties?cid={CID}", b'{"props": {}}'),
    ("POST", f"/v1/reference/get_properties?cid={CID}", b'"k"'),
    ("POST", f"/v1/reference/del_properties?cid={CID}", b"[" * 100_000),
    ("GET", "/v1/reference/list?prefix=ZZZZ", None),
    ("GET", "/v1/reference/list", None),
    ("GET", "/v1/reference/list?prefix=0000&limit=0", None),
    ("GET", "/v1/reference/list?prefix=0000&marker=x", None),
])
def test_meta1_bad_input(servers, method, path, raw):
    _, m1 = servers
    status, reply = call(m1, method, path, raw=raw)
    assert (status, reply["status"]) == (400, 400), reply


def test_meta1_body_too_large(servers):
    _, m1 = servers
    host, port = m1.rsplit(":", 1)
    # Beyond 16 MiB (7.2 takes properties of 1 MiB); the server answers
    # before reading the body: send only the headers.
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /v1/reference/set_properties?cid={CID} HTTP/1.1\r\n"
                     f"Host: x\r\nContent-Length: {17 << 20}\r\n\r\n".encode())
        reply = sock.makefile("rb").readline()
    assert reply.split()[1] == b"413"


@pytest.mark.parametrize("module", ["meta0", "meta1"])
def test_main_serves_from_a_config_file(tmp_path, module):
    port = free_port()
    conf = tmp_path / f"{module}.conf"
    conf.write_text(f"[{module}]\nnamespace=NS\nbind_addr=127.0.0.1\n"
                    f"bind_port={port}\ndatadir={tmp_path / 'data'}\nzookeeper=\n"
                    "conscience=127.0.0.1:1\nmeta1_digits=2\nlog_level=WARNING\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-m",
                             f"oio.directory.{module}_server", str(conf)],
                            env=env, stderr=subprocess.PIPE)
    try:
        addr = f"127.0.0.1:{port}"

        def answers():
            return call(addr, "GET", "/status")
        assert wait_for(answers, 20, module) == (
            200, {"service": module, "ns": "NS"})
    finally:
        proc.terminate()
        proc.wait(10)
    conf.write_text(f"[{module}]\nnamespace=NS\n")
    bad = subprocess.run([sys.executable, "-m", f"oio.directory.{module}_server",
                          str(conf)], env=env, capture_output=True, timeout=30)
    assert bad.returncode == 2 and b"needs" in bad.stderr


# -- DirectoryClient through the proxy --------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from .test_proxy_gateway import Stack
    st = Stack(str(tmp_path_factory.mktemp("dir-stack")))
    try:
        st.start()
        yield st
    finally:
        st.stop()


def test_directory_client(stack):
    from oio.directory.client import DirectoryClient
    client = DirectoryClient({"namespace": "OPENIO"}, endpoint=stack.url)
    acct, ref = "dir-acct", "dir-ref"
    cid = cid_from_name(acct, ref)
    assert client.has(acct, ref) is False
    with pytest.raises(exc.NotFound) as err:
        client.list(acct, ref)
    assert err.value.status == 406
    assert client.create(acct, ref, properties={"a": "1"}) is True
    assert client.create(acct, ref) is False
    assert client.has(cid=cid) is True
    shown = client.list(cid=cid)
    assert (shown["cid"], shown["account"], shown["name"], shown["srv"]) == (
        cid, acct, ref, [])
    assert client.get_properties(acct, ref)["properties"] == {"a": "1"}
    client.set_properties(acct, ref, {"b": "2"})
    client.del_properties(acct, ref, ["a"])
    assert client.get_properties(acct, ref) == {"cid": cid,
                                                "properties": {"b": "2"}}
    linked = client.link(acct, ref, "meta2")
    assert [e["host"] for e in linked] == [stack.addr["meta2"]]
    assert client.show(acct, ref, service_type="meta2")["srv"] == linked
    with pytest.raises(exc.Forbidden) as err:
        client.delete(acct, ref)
    assert err.value.status == 407
    entry = {"seq": 1, "type": "rdir", "host": "127.0.0.1:6300", "args": ""}
    client.force(acct, ref, "rdir", entry)
    with pytest.raises(exc.Forbidden) as err:
        client.force(acct, ref, "rdir", entry)
    assert err.value.status == 455
    client.force(acct, ref, "rdir", dict(entry, host="127.0.0.1:6301"),
                 replace=True)
    assert client.list(acct, ref, service_type="rdir")["srv"][0]["host"] == \
        "127.0.0.1:6301"
    client.unlink(acct, ref, "meta2")
    client.unlink(acct, ref, "rdir")
    client.destroy(acct, ref)
    assert client.has(acct, ref) is False
    with pytest.raises(ValueError):
        client.create(acct)
    with pytest.raises(exc.BadRequest):
        client.link(acct, ref, "")
