"""Several consciences behind a proxy: writes to all of them, reads with
fail-over, resync of one that restarted; and the fail-over between proxies
of the conscience agent and of ProxyClient. Fake back-ends, no sockets:
each fake conscience is the real conscience app over its own Registry."""

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest
import urllib3

from oio.common.aio_client import AsyncResponse
from oio.common.client import ProxyClient
from oio.common.exceptions import (
    OioConnectionException,
    OioNetworkException,
    OioTimeout,
)
from oio.common.failover import FailoverOrder, never_sent, split_addresses
from oio.common.http_server import HttpError, Request
from oio.conscience.agent import Agent
from oio.conscience.app import build_app
from oio.conscience.policies import BUILTIN_TYPES, NamespaceInfo, ServiceType
from oio.conscience.registry import Registry
from oio.proxy.app import Proxy
from oio.proxy.config import ProxyConfig
from oio.proxy.consciences import Consciences, repairs
from oio.proxy.forward import BackendUnavailable

NS = "OPENIO"
A, B = "10.0.0.1:6001", "10.0.0.2:6001"
STATS = {"stat.cpu": 90, "stat.io": 100, "stat.space": 100, "tag.up": True}


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


class FakeConn:
    peer = "test"
    server = SimpleNamespace(body_timeout=5.0)

    def body_consumed(self):
        pass

    def write(self, data):
        pass


def make_request(method, path, body=b"", headers=None):
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if body:
        hdrs["content-length"] = str(len(body))
    req = Request(FakeConn(), method, path.encode(), hdrs, True, "1.1")
    if body:
        req._feed(body)
    req._finish()
    return req


def new_registry():
    types = dict(BUILTIN_TYPES)
    types["rawx"] = ServiceType("rawx", "(num stat.cpu)")
    types["meta1"] = ServiceType("meta1", "(num stat.cpu)",
                                 lock_at_first_register=False)
    return Registry(NamespaceInfo(NS), types)


class FakeConsciences:
    """An AsyncHttpClient whose addresses are in-memory consciences; an
    address in `down` refuses connections, one in `hang` never answers."""

    def __init__(self, *addrs):
        self.registries = {}
        self.routers = {}
        for addr in addrs:
            self.restart(addr)
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []

    def restart(self, addr):
        self.registries[addr] = new_registry()
        self.routers[addr] = build_app(self.registries[addr])

    def calls_to(self, route):
        return [c[1] for c in self.calls if c[2].endswith(route)]

    async def request(self, method, addr, path, headers=None, body=None,
                      json=None, timeout=None):
        self.calls.append((method, addr, path.partition("?")[0]))
        if addr in self.hang:
            await asyncio.sleep(3600)
        if addr in self.down:
            raise OioConnectionException(f"Cannot connect to {addr}")
        if json is not None:
            body = __import__("json").dumps(json).encode()
        req = make_request(method, path, body or b"", headers)
        try:
            resp = await self.routers[addr](req)
        except HttpError as exc:
            resp = exc.to_response()
        return AsyncResponse(resp.status, resp.reason or "",
                             dict(resp.headers), resp.body)

    async def close(self):
        pass


def rawx(port, **tags):
    return {"ns": NS, "type": "rawx", "addr": f"127.0.0.1:{port}",
            "tags": dict(STATS, **tags)}


def listing(fake, addr, kind="rawx"):
    return {d["addr"]: d for d in fake.registries[addr].list(kind)}


def run(coro):
    return asyncio.run(coro)


def consciences(fake, *addrs, clock=None):
    return Consciences(fake, lambda: list(addrs), NS,
                       clock=clock or Clock())


REGISTER = f"/v3.0/{NS}/conscience/register"
LOCK = f"/v3.0/{NS}/conscience/lock"


# FailoverOrder, addresses ---------------------------------------------------
def test_failover_order_puts_failed_addresses_last_for_a_while():
    clock = Clock()
    order = FailoverOrder(penalty=5, clock=clock)
    assert order.order(["a", "b", "c"]) == ["a", "b", "c"]
    assert order.failed("a") is True        # first failure: log it
    assert order.failed("a") is False       # already said
    clock.now += 1
    order.failed("b")
    assert order.order(["a", "b", "c"]) == ["c", "a", "b"]
    assert order.succeeded("a") is True     # came back: log it once
    assert order.succeeded("a") is False
    assert order.penalized("a")             # still last for a while
    clock.now += 4.5
    assert order.order(["a", "b", "c"]) == ["a", "c", "b"]
    clock.now += 1
    assert order.order(["a", "b", "c"]) == ["a", "b", "c"]


def test_split_addresses():
    assert split_addresses("a:1") == ("http", ["a:1"])
    assert split_addresses(" a:1 , b:2,") == ("http", ["a:1", "b:2"])
    assert split_addresses("http://a:1,b:2/") == ("http", ["a:1", "b:2"])
    assert split_addresses("https://a:1,https://b:2") == \
        ("https", ["a:1", "b:2"])
    assert split_addresses("") == ("http", [])


def test_never_sent():
    assert never_sent(ConnectionRefusedError(111, "refused"))
    assert never_sent(urllib3.exceptions.NewConnectionError(None, "x"))
    assert not never_sent(TimeoutError("timed out"))
    assert not never_sent(ConnectionResetError(104, "reset"))


# Writes ----------------------------------------------------------------------
def test_a_registration_goes_to_every_conscience():
    fake = FakeConsciences(A, B)
    cs = consciences(fake, A, B)
    resp = run(cs.write("POST", REGISTER, json_body=[rawx(1)]))
    assert resp.status == 204
    assert sorted(fake.calls_to("/register")) == [A, B]
    for addr in (A, B):
        assert "127.0.0.1:1" in listing(fake, addr)


def test_one_conscience_down_still_accepts_and_is_logged_once(caplog):
    fake = FakeConsciences(A, B)
    fake.down.add(A)
    cs = consciences(fake, A, B)
    with caplog.at_level(logging.INFO, "oio.proxy.consciences"):
        for port in (1, 2, 3):
            resp = run(cs.write("POST", REGISTER, json_body=rawx(port)))
            assert resp.status == 204
    assert len(listing(fake, B)) == 3
    down = [r for r in caplog.records if A in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING
    fake.down.clear()
    with caplog.at_level(logging.INFO, "oio.proxy.consciences"):
        run(cs.write("POST", REGISTER, json_body=rawx(4)))
        run(cs.write("POST", REGISTER, json_body=rawx(5)))
    back = [r for r in caplog.records if "answers again" in r.getMessage()]
    assert len(back) == 1
    assert A in cs.suspect        # it may have restarted: checked first


def test_errors_when_every_conscience_refuses_or_is_down():
    fake = FakeConsciences(A, B)
    cs = consciences(fake, A, B)
    resp = run(cs.write("POST", REGISTER, json_body={"addr": "127.0.0.1:1",
                                                     "type": "nosuch"}))
    assert resp.status == 404
    assert json.loads(resp.body)["status"] == 453
    fake.down |= {A, B}
    with pytest.raises(BackendUnavailable) as err:
        run(cs.write("POST", REGISTER, json_body=rawx(1)))
    assert err.value.http_status == 503
    assert err.value.headers == {"Retry-After": "1"}


def test_a_refusal_beside_a_success_is_relayed_as_success_and_logged_once(
        caplog):
    fake = FakeConsciences(A, B)
    # B does not manage meta1 (configurations differ)
    del fake.registries[B].types["meta1"]
    cs = consciences(fake, A, B)
    meta1 = {"type": "meta1", "addr": "127.0.0.1:7", "tags": STATS}
    with caplog.at_level(logging.WARNING, "oio.proxy.consciences"):
        for _ in range(3):
            assert run(cs.write("POST", REGISTER, json_body=meta1)).status == 204
    assert len([r for r in caplog.records if B in r.getMessage()]) == 1


def test_a_conscience_that_failed_is_not_waited_for():
    fake = FakeConsciences(A, B)
    clock = Clock()
    cs = consciences(fake, A, B, clock=clock)
    cs.health.failed(A)          # it failed a moment ago...
    fake.hang.add(A)             # ...and now hangs

    async def scenario():
        resp = await asyncio.wait_for(
            cs.write("POST", REGISTER, json_body=rawx(1)), 1.0)
        lagging = len(cs._background)
        await cs.close()
        return resp, lagging

    resp, lagging = run(scenario())
    assert resp.status == 204
    assert lagging == 1                   # still sent to A, in the background
    assert "127.0.0.1:1" in listing(fake, B)


def test_lock_and_flush_go_everywhere_through_the_proxy():
    fake = FakeConsciences(A, B)
    proxy = make_proxy(fake)
    assert call(proxy, "POST", "conscience/register", rawx(1)).status == 204
    item = {"type": "rawx", "addr": "127.0.0.1:1", "score": 42}
    assert call(proxy, "POST", "conscience/lock", item).status == 204
    for addr in (A, B):
        srv = listing(fake, addr)["127.0.0.1:1"]
        assert (srv["score"], srv["tags"]["tag.lock"]) == (42, True)
    assert call(proxy, "POST", "conscience/flush?type=rawx").status == 204
    assert listing(fake, A) == listing(fake, B) == {}
    body = {"targets": "1,rawx", "options": {}}
    assert call(proxy, "POST", "lb/create_pool?name=p1", body).status == 201
    for addr in (A, B):
        assert "p1" in fake.registries[addr].ns_info.pools


# Reads -----------------------------------------------------------------------
def test_reads_fail_over_and_try_the_failed_conscience_last():
    fake = FakeConsciences(A, B)
    clock = Clock()
    cs = consciences(fake, A, B, clock=clock)
    run(cs.write("POST", REGISTER, json_body=rawx(1)))
    fake.down.add(A)
    path = f"/v3.0/{NS}/conscience/list?type=rawx"
    addr, resp = run(cs.read_from("GET", path))
    assert (addr, resp.status) == (B, 200)
    fake.calls.clear()
    addr, _ = run(cs.read_from("GET", path))
    assert addr == B and fake.calls_to("/list") == [B]   # A not tried
    fake.down.add(B)
    with pytest.raises(BackendUnavailable):
        run(cs.read("GET", path))
    # Once the penalty is over, A is first again (and answers).
    fake.down.clear()
    clock.now += 10
    assert run(cs.read_from("GET", path))[0] == A


def test_a_conscience_back_is_read_last_until_checked():
    fake = FakeConsciences(A, B)
    clock = Clock()
    cs = consciences(fake, A, B, clock=clock)
    cs.health.failed(A)
    run(cs.write("POST", REGISTER, json_body=rawx(1)))   # A answers again
    clock.now += 10          # the penalty is over, the suspicion is not
    assert cs.read_order() == [B, A]
    run(cs.sync())           # A and B hold the same registry
    assert cs.suspect == set()
    assert cs.read_order() == [A, B]


def test_reads_of_the_proxy_and_its_view_fail_over():
    fake = FakeConsciences(A, B)
    proxy = make_proxy(fake)
    call(proxy, "POST", "conscience/register", rawx(1))
    fake.down.add(A)
    resp = call(proxy, "GET", "conscience/list?type=rawx")
    assert resp.status == 200 and len(resp.json()) == 1
    assert call(proxy, "GET", "lb/choose?type=rawx").status in (200, 500)
    assert run(proxy.refresh_view())
    assert proxy.view.known_count() == 1


# Resync ----------------------------------------------------------------------
def test_repairs():
    ref = {"services": {"rawx": [
        {"addr": "a:1", "score": 0, "tags": {"tag.lock": True, "tag.up": True}},
        {"addr": "a:2", "score": 50, "tags": {"tag.lock": False}},
        {"addr": "a:3", "score": 50, "tags": {"tag.lock": False}},
        {"addr": "a:4", "score": 20, "tags": {"tag.lock": True}},
    ], "meta9": [{"addr": "a:5", "score": 1, "tags": {}}]}}
    other = {"services": {"rawx": [
        {"addr": "a:1", "score": 70, "tags": {"tag.lock": False}},
        {"addr": "a:3", "score": 0, "tags": {"tag.lock": True}},
        {"addr": "a:4", "score": 20, "tags": {"tag.lock": True}},
        {"addr": "a:9", "score": 20, "tags": {"tag.lock": True}},
    ]}}
    todo = repairs(ref, other)
    assert todo["lock"] == [{"type": "rawx", "addr": "a:1", "score": 0,
                             "tags": {"tag.up": True}}]
    assert todo["register"] == [{"type": "rawx", "addr": "a:2", "tags": {}}]
    assert todo["unlock"] == [{"type": "rawx", "addr": "a:3"}]
    # meta9 is not managed by the other; a:9 is left alone (deregistering
    # is the fan-out's business)


def lock_one(fake, cs, port=1, score=0):
    run(cs.write("POST", LOCK, json_body={"type": "rawx",
                                          "addr": f"127.0.0.1:{port}",
                                          "score": score}))


def test_a_restarted_conscience_gets_its_locks_back_on_the_second_pass():
    fake = FakeConsciences(A, B)
    cs = consciences(fake, A, B)
    for port in (1, 2, 3):
        run(cs.write("POST", REGISTER, json_body=rawx(port)))
    lock_one(fake, cs, 2, 30)
    fake.restart(A)            # quick restart: nobody saw it fail
    for port in (1, 2, 3):     # the agents register again
        run(cs.write("POST", REGISTER, json_body=rawx(port)))
    assert listing(fake, A)["127.0.0.1:2"]["tags"]["tag.lock"] is False
    # The first pass notes the difference, the second repairs it.
    assert run(cs.sync()) == {}
    assert run(cs.sync()) == {A: {"lock": 1}}
    srv = listing(fake, A)["127.0.0.1:2"]
    assert (srv["score"], srv["tags"]["tag.lock"]) == (30, True)
    assert run(cs.sync()) == {}


def test_services_no_agent_registers_any_more_come_back_too():
    fake = FakeConsciences(A, B)
    cs = consciences(fake, A, B)
    run(cs.write("POST", REGISTER, json_body=[rawx(1), rawx(2)]))
    fake.restart(B)
    run(cs.write("POST", REGISTER, json_body=rawx(1)))
    run(cs.sync())
    assert run(cs.sync()) == {B: {"register": 1}}
    assert set(listing(fake, B)) == {"127.0.0.1:1", "127.0.0.1:2"}


def test_a_write_in_flight_is_not_taken_for_a_divergence():
    fake = FakeConsciences(A, B)
    cs = consciences(fake, A, B)
    run(cs.write("POST", REGISTER, json_body=rawx(1)))
    # As if a lock had reached A, and not yet B, when the dumps were read.
    fake.registries[A].lock({"type": "rawx", "addr": "127.0.0.1:1"})
    run(cs.sync())
    fake.registries[B].lock({"type": "rawx", "addr": "127.0.0.1:1"})
    assert run(cs.sync()) == {}


def test_the_reference_holds_the_most_locks_whatever_the_order():
    fake = FakeConsciences(A, B)
    for order in ((A, B), (B, A)):
        cs = consciences(fake, *order)
        run(cs.write("POST", REGISTER, json_body=[rawx(1), rawx(2)]))
        fake.registries[B].lock({"type": "rawx", "addr": "127.0.0.1:2"})
        run(cs.sync())
        assert run(cs.sync()) == {A: {"lock": 1}}
        fake.restart(A)
        fake.restart(B)


def test_one_conscience_never_syncs():
    fake = FakeConsciences(A)
    cs = consciences(fake, A)
    assert not any(cs.sync_due() for _ in range(20))
    assert run(cs.sync()) == {}
    cs.health.failed(A)
    run(cs.write("POST", REGISTER, json_body=rawx(1)))
    assert cs.suspect == set()


def test_the_proxy_sets_aside_a_dump_that_shrank():
    fake = FakeConsciences(A, B)
    proxy = make_proxy(fake)
    call(proxy, "POST", "conscience/register", [rawx(1), rawx(2)])
    assert run(proxy.refresh_view())
    assert proxy.view.known_count() == 2
    fake.restart(A)          # empty again, and first in the list
    assert run(proxy.refresh_view())
    assert proxy.view.known_count() == 2     # read from B
    assert A in proxy.consciences.suspect
    assert proxy.consciences.read_order()[0] == B


def test_locks_survive_a_restart_through_the_proxy():
    fake = FakeConsciences(A, B)
    proxy = make_proxy(fake)
    call(proxy, "POST", "conscience/register", [rawx(1), rawx(2)])
    call(proxy, "POST", "conscience/unlock", [rawx(1), rawx(2)])
    call(proxy, "POST", "conscience/lock",
         {"type": "rawx", "addr": "127.0.0.1:2", "score": 0})
    fake.down.add(A)
    call(proxy, "POST", "conscience/register", [rawx(1), rawx(2)])
    fake.down.clear()
    fake.restart(A)
    call(proxy, "POST", "conscience/register", [rawx(1), rawx(2)])
    assert A in proxy.consciences.suspect
    run(proxy.consciences.sync())
    run(proxy.consciences.sync())
    srv = listing(fake, A)
    assert srv["127.0.0.1:2"]["tags"]["tag.lock"] is True
    assert srv["127.0.0.1:1"]["tags"]["tag.lock"] is False
    # Scores may differ: B's still climb by 5 a registration since the
    # unlock, A computed them at once.
    assert {a: s["tags"]["tag.lock"] for a, s in listing(fake, A).items()} \
        == {a: s["tags"]["tag.lock"] for a, s in listing(fake, B).items()}


def make_proxy(fake, addrs=(A, B)):
    config = ProxyConfig.from_dict({"namespace": NS,
                                    "conscience": ",".join(addrs),
                                    "meta0": "m0"})
    return Proxy(config, client=fake)


def call(proxy, method, route, body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    req = make_request(method, f"/v3.0/{NS}/{route}", raw)
    resp = asyncio.run(proxy(req))
    return SimpleNamespace(
        status=resp.status, body=resp.body,
        json=lambda: json.loads(resp.body) if resp.body else None)


# The conscience agent ----------------------------------------------------------
def test_the_agent_fails_over_between_proxies(monkeypatch):
    agent = Agent({"namespace": NS, "proxy": "p1:6000,p2:6000",
                   "services": {}})
    assert agent.proxies == ["p1:6000", "p2:6000"]
    sent = []
    answers = {"p1:6000": (0, "refused"), "p2:6000": (204, "")}
    monkeypatch.setattr(agent, "_post_to", lambda proxy, data: (
        sent.append(proxy), answers[proxy])[1])
    agent.register(rawx(1))
    assert sent == ["p1:6000", "p2:6000"] and not agent._failing
    sent.clear()
    agent.register(rawx(1))
    assert sent == ["p2:6000"]            # p1 waits its turn
    # A proxy that reaches no conscience hands over too.
    answers["p2:6000"] = (503, "no conscience")
    answers["p1:6000"] = (204, "")
    sent.clear()
    agent.register(rawx(1))
    assert sent == ["p2:6000", "p1:6000"] and not agent._failing
    answers["p1:6000"] = (0, "refused")
    agent.register(rawx(1))
    assert agent._failing


# ProxyClient -------------------------------------------------------------------
class FakeReply:
    def __init__(self, status=200, data=b"[]"):
        self.status = status
        self.data = data
        self.headers = {}


def fake_transport(monkeypatch, errors):
    """request_whole of ProxyClient: `errors[netloc]` raised for netloc."""
    sent = []

    def request_whole(pool, method, url, data, headers, tmo):
        netloc = url.split("/")[2]
        sent.append((method, netloc))
        if netloc in errors:
            raise errors[netloc]
        return FakeReply()

    monkeypatch.setattr("oio.common.client.request_whole", request_whole)
    return sent


def test_proxy_client_fails_over_on_connection_errors(monkeypatch):
    sent = fake_transport(monkeypatch, {
        "p1:6000": ConnectionRefusedError(111, "Connection refused")})
    client = ProxyClient({"namespace": NS}, endpoint="p1:6000,p2:6000",
                         request_prefix="/conscience")
    assert client.proxy_netloc == "p1:6000,p2:6000"
    client._request("POST", "/register", json_body={})
    assert sent == [("POST", "p1:6000"), ("POST", "p2:6000")]
    sent.clear()
    client._request("GET", "/list")
    assert sent == [("GET", "p2:6000")]      # p1 is tried last meanwhile


def test_proxy_client_retries_only_idempotent_requests_after_a_timeout(
        monkeypatch):
    sent = fake_transport(monkeypatch, {"p1:6000": TimeoutError("timed out")})
    client = ProxyClient({"namespace": NS}, endpoint="http://p1:6000,p2:6000")
    client._request("GET", "/x")
    assert sent == [("GET", "p1:6000"), ("GET", "p2:6000")]
    client._proxy_order = FailoverOrder(5)     # forget that p1 failed
    sent.clear()
    # A POST may have been executed: not sent twice, but p1 goes last.
    with pytest.raises(OioTimeout):
        client._request("POST", "/x", json_body={})
    assert sent == [("POST", "p1:6000")]
    sent.clear()
    client._request("POST", "/x", json_body={})
    assert sent == [("POST", "p2:6000")]


def test_proxy_client_with_one_proxy_is_unchanged(monkeypatch):
    sent = fake_transport(monkeypatch, {
        "p1:6000": ConnectionRefusedError(111, "Connection refused")})
    client = ProxyClient({"namespace": NS}, endpoint="http://p1:6000/")
    assert client.proxy_netloc == "p1:6000"
    with pytest.raises(OioNetworkException):
        client._request("GET", "/x")
    assert sent == [("GET", "p1:6000")]


def test_clients_made_from_a_client_keep_every_proxy(monkeypatch):
    from oio.conscience.client import ConscienceClient

    sent = fake_transport(monkeypatch, {
        "p1:6000": ConnectionRefusedError(111, "Connection refused")})
    first = ProxyClient({"namespace": NS}, endpoint="p1:6000,p2:6000")
    cs = ConscienceClient({"namespace": NS}, endpoint=(
        f"{first.proxy_scheme}://{first.proxy_netloc}"))
    assert cs.all_services("rawx") == []
    assert cs.lb.proxy_netlocs == ["p1:6000", "p2:6000"]
    assert sent == [("GET", "p1:6000"), ("GET", "p2:6000")]
