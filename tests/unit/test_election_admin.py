"""oio.directory.admin.AdminClient against a fake proxy: the requests it
sends (routes, query, deadline header) and the shapes it returns; and the
formatting helpers of `openio election`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from oio.cli.election.election import format_json, human_log_entry, humanize
from oio.common import exceptions as exc
from oio.directory.admin import AdminClient, loc_params

NS = "TESTNS"
M, S1, S2 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"


def _peer(status: int, message: str, body="") -> dict:
    return {"status": {"status": status, "message": message}, "body": body}


STATUS = {M: _peer(200, "OK"), S1: _peer(303, M), S2: _peer(303, M)}


class FakeProxy:
    """Records each request; answers from `routes`: (method, path) →
    (status, body) or a function of the query giving it."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.routes: dict[tuple[str, str], object] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append({
                    "method": self.command, "path": url.path, "query": query,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length)})
                answer = fake.routes.get((self.command, url.path),
                                         (404, {"status": 404,
                                                "message": "no route"}))
                if callable(answer):
                    answer = answer(query)
                status, body = answer
                data = body if isinstance(body, bytes) else \
                    json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def admin(self, action: str) -> tuple[str, str]:
        return "POST", f"/v3.0/{NS}/admin/{action}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def _server():
    fake = FakeProxy()
    yield fake
    fake.close()


@pytest.fixture
def proxy(_server):
    _server.requests.clear()
    _server.routes.clear()
    return _server


@pytest.fixture
def client(proxy):
    return AdminClient({"namespace": NS}, endpoint=f"http://{proxy.addr}")


# Elections -----------------------------------------------------------------
def test_status_names_master_and_slaves_and_sends_the_deadline(proxy, client):
    proxy.routes[proxy.admin("status")] = (200, STATUS)
    out = client.election_status("meta2", account="acc", reference="ct",
                                 service_id=[M, S1], timeout=32.0)
    assert out == {"peers": STATUS, "type": "meta2", "master": M,
                   "slaves": [S1, S2]}
    sent = proxy.requests[-1]
    assert sent["path"] == f"/v3.0/{NS}/admin/status"
    assert sent["query"] == {"type": "meta2", "acct": "acc", "ref": "ct",
                             "service_id": f"{M},{S1}"}
    # What the proxy is told it has: 99 % of the timeout, in microseconds.
    assert int(sent["headers"]["x-oio-timeout"]) == 31_680_000


def test_status_without_master(proxy, client):
    failed = {M: _peer(500, "Election failed"), S1: _peer(500, "x")}
    proxy.routes[proxy.admin("status")] = (200, failed)
    out = client.election_status("meta1", cid="AB")
    assert out["master"] is None and out["slaves"] == []
    assert proxy.requests[-1]["query"] == {"type": "meta1", "cid": "AB"}


@pytest.mark.parametrize("action", ["ping", "debug", "leave"])
def test_per_replica_actions_return_the_proxy_answer(proxy, client, action):
    answer = {M: _peer(200, "OK", {"local": {"state": "MASTER"}})}
    proxy.routes[proxy.admin(action)] = (200, answer)
    method = getattr(client, f"election_{action}")
    assert method("meta2", cid="C" * 64, service_id=M) == answer
    sent = proxy.requests[-1]
    assert sent["method"] == "POST"
    assert sent["query"] == {"type": "meta2", "cid": "C" * 64,
                             "service_id": M}


def test_sync_check_type(proxy, client):
    proxy.routes[proxy.admin("sync")] = (200, {M: _peer(301, "not SLAVE")})
    client.election_sync("meta2", "acc", "ct", check_type=2)
    assert proxy.requests[-1]["query"]["check_type"] == "2"
    client.election_sync("meta2", "acc", "ct")
    assert "check_type" not in proxy.requests[-1]["query"]
    with pytest.raises(exc.BadRequest):
        client.election_sync("meta2", "acc", "ct", check_type=7)
    assert len(proxy.requests) == 2


def test_meta0_needs_no_location(proxy, client):
    proxy.routes[proxy.admin("status")] = (200, STATUS)
    assert client.election_status("meta0")["master"] == M
    assert proxy.requests[-1]["query"] == {"type": "meta0"}


@pytest.mark.parametrize("kwargs", [
    {"service_type": None, "cid": "AB"},
    {"service_type": "meta2"},
    {"service_type": "meta2", "account": "acc"},
    {"service_type": "meta2", "cid": "AB", "service_id": 3},
])
def test_bad_input_is_refused_before_sending(proxy, client, kwargs):
    with pytest.raises(exc.BadRequest):
        client.election_ping(**kwargs)
    with pytest.raises(exc.BadRequest):
        client.election_ping("meta2", cid="AB", timeout=0)
    assert proxy.requests == []


def test_loc_params_joins_service_ids():
    assert loc_params("meta1", "a", "r", service_id=("x", "y")) == {
        "type": "meta1", "acct": "a", "ref": "r", "service_id": "x,y"}
    assert loc_params("meta2", "a", "r", cid="CID") == {"type": "meta2",
                                                        "cid": "CID"}


def test_proxy_errors_raise_by_status(proxy, client):
    proxy.routes[proxy.admin("status")] = (
        400, {"status": 400, "message": "No replicated bases of type foo"})
    with pytest.raises(exc.BadRequest, match="type foo"):
        client.election_status("foo", "acc", "ct")
    proxy.routes[proxy.admin("debug")] = (
        404, {"status": 406, "message": "Reference not found"})
    with pytest.raises(exc.NotFound) as caught:
        client.election_debug("meta2", "acc", "ct")
    assert caught.value.status == 406


def test_vacuum_base(proxy, client):
    proxy.routes[proxy.admin("vacuum")] = (200, {})
    assert client.vacuum_base("meta2", "acc", "ct") is None
    assert proxy.requests[-1]["query"] == {"type": "meta2", "acct": "acc",
                                           "ref": "ct"}


# Services ------------------------------------------------------------------
def _masters(counts: dict[str, int]):
    def info(query):
        if query["id"] not in counts:
            return 503, {"status": 2, "message": "Cannot connect"}
        return 200, {"type": "meta2", "id": query["id"], "elections": {
            "master": counts[query["id"]], "slave": 0, "other": 0}}
    return info


def _balance(query):
    if query["id"] == "down:1":
        return 503, {"status": 2, "message": "Cannot connect"}
    return 200, query["max"].encode()


def test_service_info_and_balance_routes(proxy, client):
    proxy.routes[("GET", "/v3.0/forward/info")] = _masters({M: 4})
    proxy.routes[("POST", "/v3.0/forward/balance-masters")] = _balance
    assert client.service_get_info(M)["elections"]["master"] == 4
    assert proxy.requests[-1]["query"] == {"id": M}
    assert client.service_balance_elections(M, max_ops=3, inactivity=60) \
        == (200, 3)
    assert proxy.requests[-1]["method"] == "POST"
    assert proxy.requests[-1]["query"] == {"id": M, "max": "3",
                                           "inactivity": "60"}
    with pytest.raises(exc.BadRequest):
        client.service_get_info("")


def test_balance_rows_go_on_after_a_failure(proxy, client):
    proxy.routes[("POST", "/v3.0/forward/balance-masters")] = _balance
    rows = client.election_balance([M, "down:1", S1], max_ops=5,
                                   inactivity=10)
    assert rows == [(M, 200, 5), ("down:1", 503, 0), (S1, 200, 5)]
    assert {r["query"]["inactivity"] for r in proxy.requests
            if r["query"]["id"] != "down:1"} == {"10"}


def test_balance_average_asks_only_services_above_the_mean(proxy, client):
    proxy.routes[("GET", "/v3.0/forward/info")] = _masters(
        {M: 7, S1: 2, S2: 0})
    proxy.routes[("POST", "/v3.0/forward/balance-masters")] = _balance
    rows = client.election_balance([M, S1, S2, "down:1"], max_ops=100,
                                   inactivity=600, average=True)
    # Mean of those that answered: 3; M holds 4 more.
    assert rows == [(M, 200, 4), (S1, 0, 0), (S2, 0, 0), ("down:1", 503, 0)]
    asked = [r["query"] for r in proxy.requests
             if r["path"].endswith("balance-masters")]
    assert asked == [{"id": M, "max": "4", "inactivity": "0"}]


# Formatting of `openio election` -------------------------------------------
class _Args:
    def __init__(self, formatter: str) -> None:
        self.formatter = formatter


def test_human_log_entries_in_local_time():
    millis = 1606245060123
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(millis / 1000))
    assert human_log_entry(f"{millis}:LISTING:LIST_OK:ASKING") == \
        f"{stamp}.123 LISTING, LIST_OK -> ASKING"
    assert human_log_entry("garbage") == "garbage"
    body = {"local": {}, "log": [f"{millis}:A:B:C"]}
    assert humanize(body)["log"] == [f"{stamp}.123 A, B -> C"]
    assert body["log"] == [f"{millis}:A:B:C"]
    assert humanize(None) is None


def test_body_cells_by_formatter():
    body = {"b": 1, "a": [1]}
    assert format_json(_Args("table"), body) == json.dumps(
        body, indent=4, sort_keys=True)
    assert format_json(_Args("json"), body) is body
    assert format_json(_Args("value"), body) == '{"a":[1],"b":1}'
    assert format_json(_Args("table"), "") == ""
