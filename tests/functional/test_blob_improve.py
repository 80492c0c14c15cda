"""The blob improver daemon at work (docs/healing.md "Blob improver"), on
a namespace of its own (6 rawx, healing daemons on): with every
`rawx-even` locked, a THREECOPIES upload puts a copy in the fallback slot
`rawx`; meta2 announces it (`storage.content.perfectible`, tube
`oio-improve`), and once the even rawx are back the sandbox's
oio-blob-improver moves that copy to one of them."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from oio.event.beanstalk import Beanstalk

from .replicated import start_replicated, stop

IMPROVER = "OPENIO-blob-improver-1"


@pytest.fixture(scope="module")
def ns():
    sandbox = start_replicated(replicas=1, nb_rawx=6, healing=True,
                               xcute=False, storage_policy="THREECOPIES")
    try:
        yield sandbox
    finally:
        stop(sandbox)


def _post(ns, path: str, body=None) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://{ns.settings.proxy}{path}",
                                 data=data, method="POST")
    with urllib.request.urlopen(req, timeout=30):
        pass


def _set_scores(ns, cs, services: list[dict], locked: bool) -> None:
    """Lock `services` at score 0 (or unlock them); the proxy's load
    balancer sees it at once."""
    items = [{"type": "rawx", "addr": s["addr"], "score": 0}
             for s in services]
    if locked:
        cs.lock_score(items)
    else:
        cs.unlock_score(items)
    _post(ns, f"/v3.0/{ns.settings.namespace}/lb/reload")


def _slot(chunk_url: str, even: set[str]) -> str:
    return "even" if chunk_url.split("/")[2] in even else "other"


def test_a_fallback_copy_is_moved_to_its_slot(ns):
    from oio import ObjectStorageApi
    from oio.conscience.client import ConscienceClient

    conf = {"namespace": ns.settings.namespace}
    api = ObjectStorageApi(ns.settings.namespace,
                           endpoint=f"http://{ns.settings.proxy}")
    cs = ConscienceClient(conf, endpoint=f"http://{ns.settings.proxy}")
    rawx = cs.all_services("rawx")
    evens = [s for s in rawx
             if "rawx-even" in s["tags"].get("tag.slots", "")]
    even_ids = {s["tags"].get("tag.service_id") or s["addr"]
                for s in evens} | {s["addr"] for s in evens}
    # The daemon waits while the placement is degraded: a move now would
    # find no better rawx and only delay the event by 30 s.
    ns.stop_service(IMPROVER)
    _set_scores(ns, cs, evens, True)
    try:
        chunks, _, _ = api.object_create("improve", "box", obj_name="o",
                                         data=b"whatever",
                                         policy="THREECOPIES")
    finally:
        _set_scores(ns, cs, evens, False)
    assert not any(_slot(c["url"], even_ids) == "even" for c in chunks)
    queue = Beanstalk.from_url(ns.settings.one("beanstalkd").addr)
    job, body = queue.wait_for_ready_job("oio-improve", timeout=10)
    assert job is not None, "no perfectible event"
    event = json.loads(body)
    assert event["event"] == "storage.content.perfectible"
    assert any(c["quality"]["final_slot"] != c["quality"]["expected_slot"]
               for c in event["data"]["chunks"])

    started = time.monotonic()
    ns.start_service(IMPROVER)
    deadline = started + 30
    while time.monotonic() < deadline:
        _, located = api.object_locate("improve", "box", "o")
        if any(_slot(c["url"], even_ids) == "even" for c in located):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the improver moved no chunk to a rawx-even")
    assert sorted(c["url"] for c in located) != sorted(
        c["url"] for c in chunks)
    assert b"".join(api.object_fetch("improve", "box", "o")[1]) == \
        b"whatever"
    # Improved: nothing queued again.
    assert queue.wait_for_ready_job("oio-improve", timeout=2)[0] is None
