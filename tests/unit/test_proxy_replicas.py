"""The proxy's calls to replicated bases: master memory, redirections,
unreachable replicas, elections in progress (with a fake HTTP client)."""

from __future__ import annotations

import asyncio
import json

import pytest

from oio.common.aio_client import AsyncResponse, _unsent
from oio.common.exceptions import OioConnectionException, OioTimeout
from oio.common.http_server import HttpError
from oio.proxy import replicas as replicas_mod
from oio.proxy.replicas import ReplicaCaller


def reply(status: int, body: dict | None = None, headers=None):
    return AsyncResponse(status, "", headers or {},
                         json.dumps(body or {}).encode())


def redirect(master: str):
    return reply(303, {"status": 303, "message": master})


PENDING = reply(503, {"status": 503, "message": "Election failed [B][meta2]"})


class FakeClient:
    """Answers per address, from a function of (address, attempt)."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[str] = []

    async def request(self, method, addr, path, **kwargs):
        self.calls.append(addr)
        result = self.answer(addr, self.calls.count(addr))
        if isinstance(result, Exception):
            raise result
        return result


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def fast_rounds(monkeypatch):
    monkeypatch.setattr(replicas_mod, "ROUND_PAUSE", 0.01)
    monkeypatch.setattr(replicas_mod, "ROUND_PAUSE_MAX", 0.02)


def refused(addr):
    return _unsent(OioConnectionException(f"Cannot connect to {addr}"))


def test_redirections_lead_to_the_master_who_is_remembered():
    client = FakeClient(lambda a, n: reply(200) if a == "m" else redirect("m"))
    caller = ReplicaCaller(client)
    resp = run(caller.call("B", ["a", "b", "m"], "POST", "/x"))
    assert resp.status == 200 and client.calls == ["a", "m"]
    run(caller.call("B", ["a", "b", "m"], "POST", "/x"))
    assert client.calls[2:] == ["m"]       # straight to the master


def test_too_many_redirections_answer_305():
    client = FakeClient(lambda a, n: redirect("b" if a == "a" else "a"))
    with pytest.raises(HttpError) as exc:
        run(ReplicaCaller(client).call("B", ["a", "b"], "POST", "/x"))
    assert exc.value.status == 305 and exc.value.http_status == 503


def test_a_dead_master_is_waited_for_until_a_new_one_answers():
    # "a" is dead; "b" names it master twice, then takes over.
    def answer(addr, n):
        if addr == "a":
            return refused(addr)
        return redirect("a") if n <= 2 else reply(200, {"ok": 1})
    client = FakeClient(answer)
    resp = run(ReplicaCaller(client).call("B", ["a", "b"], "POST", "/x"))
    assert resp.status == 200 and client.calls[-1] == "b"


def test_an_election_that_never_ends_gives_503_after_the_window():
    client = FakeClient(lambda a, n: PENDING)
    caller = ReplicaCaller(client, retry_window=0.1)
    resp = run(caller.call("B", ["a", "b"], "POST", "/x"))
    assert resp.status == 503 and len(client.calls) > 2


def test_no_replica_reachable_gives_503_with_the_network_code():
    client = FakeClient(lambda a, n: refused(a))
    with pytest.raises(HttpError) as exc:
        run(ReplicaCaller(client, retry_window=0.05).call(
            "B", ["a", "b"], "GET", "/x", idempotent=True))
    assert exc.value.http_status == 503 and exc.value.status in range(2, 10)


def test_a_write_lost_in_flight_is_not_sent_elsewhere():
    client = FakeClient(lambda a, n: OioTimeout(f"Read timeout from {a}"))
    with pytest.raises(HttpError) as exc:
        run(ReplicaCaller(client).call("B", ["a", "b"], "POST", "/x"))
    assert exc.value.http_status == 503 and client.calls == ["a"]
    # A read may go elsewhere.
    client.calls.clear()
    caller = ReplicaCaller(FakeClient(
        lambda a, n: OioTimeout("t") if a == "a" else reply(200)))
    assert run(caller.call("B", ["a", "b"], "GET", "/x",
                           idempotent=True)).status == 200


def test_a_client_error_is_relayed_and_not_remembered_as_master():
    client = FakeClient(lambda a, n: reply(404, {"status": 431}))
    caller = ReplicaCaller(client)
    assert run(caller.call("B", ["a"], "GET", "/x")).status == 404
    assert caller.masters.get("B") is None
