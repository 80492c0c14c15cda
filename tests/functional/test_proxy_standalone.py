"""The proxy alone, over real sockets: what it answers before (or without)
its back-ends: routing, validation, and 503 when they are unreachable."""

import pytest

from oio.proxy.config import ProxyConfig

from .proxy_harness import InProcessProxy, free_port, http

pytestmark = pytest.mark.functional
NS = "OPENIO"


@pytest.fixture(scope="module")
def proxy():
    # Nothing listens on this conscience address.
    conf = ProxyConfig.from_dict({
        "namespace": NS, "bind_port": "0",
        "conscience": f"127.0.0.1:{free_port()}",
        "meta0": f"127.0.0.1:{free_port()}",
        "lb_refresh_interval": "5"})
    server = InProcessProxy(conf)
    addr = server.start()
    yield addr
    server.stop()


def test_status(proxy):
    resp = http("GET", proxy, "/v3.0/status")
    assert resp.status == 200
    assert resp.headers["content-type"] == "text/x-java-properties"
    lines = resp.body.decode().splitlines()
    assert any(line.startswith("counter req.hits ") for line in lines)
    assert "gauge known.srv 0" in lines


def test_config(proxy):
    resp = http("GET", proxy, "/v3.0/config")
    assert resp.status == 200
    assert resp.json()["meta2.max_versions"] == "1"
    resp = http("POST", proxy, "/v3.0/config", body=[])
    assert resp.status == 400


def test_unknown_route(proxy):
    for method, path in (("GET", f"/v3.0/{NS}/reference/has"),
                         ("HEAD", "/v3.0/status/x"),
                         ("GET", f"/v3.0/{NS}/container/create")):
        resp = http(method, proxy, path)
        assert resp.status == 404, path
        if method != "HEAD":
            assert resp.json() == {"status": 404, "message": "No handler found"}


def test_wrong_namespace(proxy):
    resp = http("GET", proxy, "/v3.0/OTHER/container/show?acct=a&ref=b")
    assert resp.status == 400
    assert resp.json() == {"status": 400,
                           "message": "Invalid parameter 'namespace'"}
    resp = http("GET", proxy, "/v3.0/OTHER/reference/show?acct=a&ref=b")
    assert resp.status == 403
    assert resp.json()["status"] == 418


@pytest.mark.parametrize("path", [
    "container/show", "container/show?acct=a", "container/show?cid=XYZ",
    "content/locate?acct=a&ref=b&path=p&version=abc",
])
def test_bad_url(proxy, path):
    method = "GET"
    resp = http(method, proxy, f"/v3.0/{NS}/{path}")
    assert resp.status == 400
    assert resp.json()["status"] == 400


def test_backends_unreachable(proxy):
    resp = http("GET", proxy, f"/v3.0/{NS}/conscience/list?type=rawx")
    assert resp.status == 503
    assert resp.headers.get("retry-after") == "1"
    resp = http("GET", proxy, f"/v3.0/{NS}/container/show?acct=a&ref=b")
    assert resp.status == 503
    assert resp.json()["status"] in (2, 9)
    resp = http("POST", proxy, f"/v3.0/{NS}/content/prepare2?acct=a&ref=b&path=p",
                body={"size": 1})
    assert resp.status == 503


def test_prepare_bad_body(proxy):
    url = f"/v3.0/{NS}/content/prepare2?acct=a&ref=b&path=p"
    assert http("POST", proxy, url, body={"policy": "X"}).status == 400
    assert http("POST", proxy, url, body="{not json").status == 400
    resp = http("POST", proxy, f"/v3.0/{NS}/content/prepare2?acct=a&ref=b",
                body={"size": 1})
    assert resp.status == 400
    assert resp.json()["message"] == "Missing path"
