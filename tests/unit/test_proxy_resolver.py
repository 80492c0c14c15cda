"""Directory resolution and its caches, with a fake meta0/meta1 backend."""

import asyncio
import json

import pytest

from oio.common.aio_client import AsyncResponse
from oio.common.exceptions import OioConnectionException
from oio.common.http_server import HttpError
from oio.proxy.conscience_view import ConscienceView, parse_update_policy
from oio.proxy.forward import Backend, UpstreamError
from oio.proxy.resolver import Resolver

CID = "ABCD" + "0" * 60


def reply(status, obj=None):
    body = json.dumps(obj).encode() if obj is not None else b""
    return AsyncResponse(status, "", {"content-type": "application/json"}, body)


class FakeClient:
    """Answers by (addr, path prefix); records every call."""

    def __init__(self):
        self.calls = []
        self.down = set()
        self.meta0_map = {"ABCD": ["m1a", "m1b"]}
        self.refs = {CID: [{"seq": 1, "type": "meta2", "host": "m2",
                            "args": ""}]}

    async def request(self, method, addr, path, headers=None, body=None,
                      json=None, timeout=None):
        self.calls.append((addr, path))
        if addr in self.down:
            raise OioConnectionException(f"Cannot connect to {addr}")
        if path == "/v1/meta0/list":
            return reply(200, self.meta0_map)
        if path.startswith("/v1/reference/show"):
            if CID not in self.refs:
                return reply(404, {"status": 406, "message": "no ref"})
            return reply(200, {"cid": CID, "srv": self.refs[CID]})
        return reply(404, {"status": 404, "message": "No handler found"})


def make(client=None):
    client = client or FakeClient()
    resolver = Resolver(Backend(client), lambda: ["m0"], dir_ttl=60,
                        negative_ttl=60)
    return client, resolver


def run(coro):
    return asyncio.run(coro)


def test_linked_is_cached():
    client, resolver = make()
    srv = run(resolver.linked(CID, "meta2"))
    assert srv[0]["host"] == "m2"
    assert run(resolver.linked(CID, "meta2")) == srv
    assert [c[0] for c in client.calls] == ["m0", "m1a"]
    resolver.invalidate(CID)
    run(resolver.linked(CID, "meta2"))
    # meta0 map stays cached, meta1 asked again
    assert [c[0] for c in client.calls] == ["m0", "m1a", "m1a"]


def test_meta1_failover_and_meta0_reload():
    client, resolver = make()
    client.down.add("m1a")
    assert run(resolver.linked(CID, "meta2"))[0]["host"] == "m2"
    assert [c[0] for c in client.calls] == ["m0", "m1a", "m1b"]
    client.down.add("m1b")
    resolver.invalidate(CID)
    with pytest.raises(HttpError) as exc:
        run(resolver.linked(CID, "meta2"))
    assert exc.value.http_status == 503 and 2 <= exc.value.status <= 9


def test_missing_reference_negative_cache():
    client, resolver = make()
    client.refs.clear()
    with pytest.raises(UpstreamError) as exc:
        run(resolver.linked(CID, "meta2"))
    assert (exc.value.http_status, exc.value.status) == (404, 406)
    calls = len(client.calls)
    with pytest.raises(UpstreamError):
        run(resolver.linked(CID, "meta2"))
    assert len(client.calls) == calls
    resolver.invalidate(CID)
    with pytest.raises(UpstreamError):
        run(resolver.linked(CID, "meta2"))
    assert len(client.calls) == calls + 1


def test_unknown_prefix_reloads_meta0_once():
    client, resolver = make()
    run(resolver.load_meta0())
    client.meta0_map["FFFF"] = ["m1c"]
    other = "FFFF" + "0" * 60
    client.refs[other] = []
    run(resolver.meta1_of(other))
    assert [c[0] for c in client.calls] == ["m0", "m0"]


def test_update_policy():
    assert parse_update_policy("meta2=KEEP|3|1;sqlx=KEEP|1|1|;rdir=KEEP|1|1|"
                               ) == {"meta2": ("KEEP", 3, 1),
                                     "sqlx": ("KEEP", 1, 1),
                                     "rdir": ("KEEP", 1, 1)}
    assert parse_update_policy(None) == {}
    assert parse_update_policy("bad;meta2=KEEP|x|1") == {}


def test_first_sightings():
    now = [0.0]
    view = ConscienceView("NS", known_ttl=10, clock=lambda: now[0])
    item = {"type": "rawx", "addr": "127.0.0.1:1", "tags": {"tag.up": True}}
    first = view.mark_first_sightings([item])[0]
    assert first["tags"] == {"tag.up": True, "tag.1": True}
    assert item["tags"] == {"tag.up": True}  # input left untouched
    again = view.mark_first_sightings([item])[0]
    assert "tag.1" not in again["tags"]
    now[0] = 11.0
    assert view.mark_first_sightings([item])[0]["tags"]["tag.1"] is True
    # keyed by service ID when there is one
    with_id = {"type": "rawx", "addr": "127.0.0.1:2",
               "tags": {"tag.service_id": "rawx-2"}}
    view.remember(["NS|rawx|rawx-2"])
    assert "tag.1" not in view.mark_first_sightings([with_id])[0]["tags"]
