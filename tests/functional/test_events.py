"""Events through beanstalkd in the sandbox: meta2's durable spool, the
event agent, and the content cleaner freeing the chunks of deleted
objects (issue 5, first slice)."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from oio.common import exceptions as exc
from oio.event.beanstalk import Beanstalk
from tests.utils import chunk_file, chunks_gone, container_listed, wait_until

MiB = 1024 * 1024


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    if not namespace.services("beanstalkd"):
        pytest.skip("no beanstalkd in this sandbox")
    return namespace.api()


@pytest.mark.parametrize("policy", ["THREECOPIES", "ECISAL"])
def test_deleting_an_object_frees_its_chunks(api, namespace, policy):
    namespace.sandbox.wait_all_up()
    container = _name("ct")
    api.object_create("ev", container, data=os.urandom(MiB + 5), obj_name="o",
                      policy=policy)
    _, chunks = api.object_locate("ev", container, "o")
    api.object_delete("ev", container, "o")
    wait_until(lambda: chunks_gone(api, chunks), timeout=20)


def test_overwritten_versions_free_their_chunks(api):
    container = _name("ct")
    api.object_create("ev", container, data=b"first", obj_name="o")
    _, old = api.object_locate("ev", container, "o")
    api.object_create("ev", container, data=b"second", obj_name="o")
    wait_until(lambda: chunks_gone(api, old), timeout=20)
    assert b"".join(api.object_fetch("ev", container, "o")[1]) == b"second"


def test_malformed_event_is_buried_not_fatal(api, namespace):
    addr = namespace.services("beanstalkd")[0].addr
    producer = Beanstalk.from_url(f"beanstalk://{addr}")
    producer.use("oio")
    producer.put(b"{not json")
    producer.put(json.dumps({"no": "event field"}).encode())

    def buried() -> int:
        return producer.stats_tube("oio")["current-jobs-buried"]

    wait_until(lambda: buried() >= 2, timeout=20)
    # The agent goes on with the next events.
    container = _name("ct")
    api.object_create("ev", container, data=b"x", obj_name="o")
    _, chunks = api.object_locate("ev", container, "o")
    api.object_delete("ev", container, "o")
    wait_until(lambda: chunks_gone(api, chunks), timeout=20)
    # Exhume them (as `openio events exhume` would) and let them be buried
    # again: nothing is lost.
    assert producer.kick(100) >= 2
    wait_until(lambda: buried() >= 2, timeout=20)


def test_events_wait_while_beanstalkd_is_away(api, namespace):
    spec = namespace.services("beanstalkd")[0]
    container = _name("ct")
    api.object_create("ev", container, data=b"x" * 100, obj_name="o")
    _, chunks = api.object_locate("ev", container, "o")
    namespace.sandbox.stop_service(spec.name)
    try:
        api.object_delete("ev", container, "o")          # never blocks
        assert not chunks_gone(api, chunks)
    finally:
        namespace.sandbox.start_service(spec.name)
    wait_until(lambda: chunks_gone(api, chunks), timeout=30)


def test_the_cleaner_spares_what_is_still_used(api, namespace):
    """Operations that replace or share chunks must not have the live ones
    cleaned: change of policy, truncate, append, link, overwrite of a
    version in a versioned container."""
    namespace.sandbox.wait_all_up()
    container = _name("ct")
    data = os.urandom(MiB + 100)
    api.object_create("ev", container, data=data, obj_name="pol",
                      policy="THREECOPIES")
    api.object_change_policy("ev", container, "pol", "ECISAL")
    api.object_create("ev", container, data=data, obj_name="cut")
    api.object_truncate("ev", container, "cut", size=MiB + 1)
    api.object_create("ev", container, data=b"head", obj_name="app")
    api.object_create("ev", container, data=b"tail", obj_name="app",
                      append=True)
    api.object_create("ev", container, data=data, obj_name="target")
    api.object_link("ev", container, "target", "ev", container, "link")
    api.object_delete("ev", container, "target")
    # A marker for the end of the cleaner's work on the events above.
    api.object_create("ev", container, data=b"m", obj_name="marker")
    _, marker = api.object_locate("ev", container, "marker")
    api.object_delete("ev", container, "marker")
    wait_until(lambda: chunks_gone(api, marker), timeout=20)
    # meta2 sends its events in order: every earlier one is in beanstalkd;
    # wait until the agent has handled them all.
    wait_until(lambda: _tube_idle(namespace), timeout=20)
    expected = {"pol": data, "cut": data[:MiB + 1], "app": b"headtail",
                "link": data}
    for name, content in expected.items():
        assert b"".join(api.object_fetch("ev", container, name)[1]) == \
            content, name
        assert api.object_head("ev", container, name, trust_level=2), name


def _tube_idle(namespace) -> bool:
    addr = namespace.services("beanstalkd")[0].addr
    stats = Beanstalk.from_url(f"beanstalk://{addr}").stats_tube("oio")
    return stats["current-jobs-ready"] == 0 and \
        stats["current-jobs-reserved"] == 0


def test_account_statistics_follow_uploads(api):
    account = _name("acct")
    sizes = [1 + (i * 37) % 1000 for i in range(100)]
    for i, size in enumerate(sizes):
        api.object_create(account, f"ct{i % 2}", data=b"s" * size,
                          obj_name=f"o{i}")

    def counted():
        try:
            info = api.account_show(account)
        except exc.NoSuchAccount:
            return False
        return (info["objects"], info["bytes"], info["containers"]) == \
            (100, sum(sizes), 2)

    wait_until(counted, timeout=20)
    listing = {c[0]: c[1:3] for c in api.container_list(account)}
    assert listing == {"ct0": [50, sum(sizes[0::2])],
                       "ct1": [50, sum(sizes[1::2])]}
    api.object_delete(account, "ct0", "o0")
    wait_until(lambda: api.account_show(account)["objects"] == 99, timeout=20)


def test_rdir_lists_the_chunks_of_each_rawx(api, namespace):
    from oio.common.utils import cid_from_name
    from oio.rdir.client import RdirClient

    if not namespace.services("rdir"):
        pytest.skip("no rdir in this sandbox")
    namespace.sandbox.wait_all_up()
    account, container = _name("acct"), _name("ct")
    cid = cid_from_name(account, container)
    for i in range(5):
        api.object_create(account, container, data=os.urandom(MiB + i),
                          obj_name=f"o{i}", policy="THREECOPIES")
    api.object_delete(account, container, "o4")
    expected: dict[str, set] = {}
    for i in range(4):
        _, chunks = api.object_locate(account, container, f"o{i}")
        for chunk in chunks:
            volume, chunk_id = chunk["url"].split("/")[2:4]
            expected.setdefault(volume, set()).add(chunk_id)
    rdir = RdirClient({"namespace": namespace.ns},
                      endpoint=f"http://{namespace.proxy}")

    def indexed() -> dict[str, set]:
        found = {}
        for spec in namespace.services("rawx"):
            ids = {c[2] for c in rdir.chunk_fetch(spec.addr, container_id=cid)}
            if ids:
                found[spec.addr] = ids
        return found

    try:
        wait_until(lambda: indexed() == expected, timeout=30)
    except AssertionError:
        assert indexed() == expected    # shows which records differ


def test_rdir_lists_the_containers_of_each_meta2(api, namespace):
    """meta1's account.services and meta2's storage.meta2.deleted keep the
    meta2 volumes' index: exactly the live containers, on their meta2."""
    from oio.rdir.client import RdirClient

    if not namespace.services("rdir"):
        pytest.skip("no rdir in this sandbox")
    namespace.sandbox.wait_all_up()
    account = _name("acct")
    names = [_name("ct") for _ in range(4)]
    for name in names:
        api.container_create(account, name)
    api.container_delete(account, names[3])
    expected: dict[str, set] = {}
    for name in names[:3]:
        links = api.directory.list(account, name, service_type="meta2")
        for srv in links["srv"]:
            expected.setdefault(srv["host"], set()).add(
                f"{namespace.ns}/{account}/{name}")
    rdir = RdirClient({"namespace": namespace.ns},
                      endpoint=f"http://{namespace.proxy}")

    def indexed() -> dict[str, set]:
        found = {}
        for spec in namespace.services("meta2"):
            urls = {r["container_url"] for r in rdir.meta2_index_fetch_all(
                spec.addr) if r["container_url"].split("/")[1] == account}
            if urls:
                found[spec.addr] = urls
        return found

    try:
        wait_until(lambda: indexed() == expected, timeout=30)
    except AssertionError:
        assert indexed() == expected    # shows which records differ
    # The account learnt of the account from meta1's event too.
    assert api.account_show(account)["id"] == account


def test_no_event_lost_while_beanstalkd_is_down_during_uploads(api, namespace):
    spec = namespace.services("beanstalkd")[0]
    account = _name("acct")
    api.object_create(account, "ct", data=b"first", obj_name="o0")
    namespace.sandbox.stop_service(spec.name)
    try:
        for i in range(1, 20):
            api.object_create(account, "ct", data=b"x" * i, obj_name=f"o{i}")
    finally:
        namespace.sandbox.start_service(spec.name)

    def counted():
        try:
            info = api.account_show(account)
        except exc.NoSuchAccount:
            return False
        return (info["objects"], info["bytes"]) == (20, 5 + sum(range(1, 20)))

    wait_until(counted, timeout=30)


def test_replication_is_checked_with_the_account(api, namespace):
    from oio.event.filters.replicate import ReplicateFilter

    addr = namespace.services("beanstalkd")[0].addr
    replicate = ReplicateFilter(None, {
        "namespace": namespace.ns, "tube": "repli-test",
        "queue_url": f"beanstalk://{addr}",
        "check_replication_enabled": "true"})
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"x", obj_name="o")
    wait_until(lambda: container_listed(api, account, container), timeout=10)
    url = {"ns": namespace.ns, "account": account, "user": container}
    # The account says replication is off (7.2's default): not forwarded.
    replicate.on_event({"event": "storage.content.new", "url": url})
    replicate.on_event({"event": "storage.content.new",
                       "url": dict(url, user="missing")})
    tube = Beanstalk.from_url(f"beanstalk://{addr}")
    tube.watch("repli-test")
    assert tube.poll(timeout=0) is None
    assert replicate.cache[(account, container)][1] is False


def _rebuild_event(namespace, content_id: str, timeout: float = 15.0):
    """The first event of the rebuild tube about `content_id` (others are
    taken out of the way)."""
    addr = namespace.services("beanstalkd")[0].addr
    consumer = Beanstalk.from_url(f"beanstalk://{addr}")
    consumer.watch("oio-rebuild")
    consumer.ignore("default")
    found = []

    def arrived() -> bool:
        job = consumer.poll(timeout=0.5)
        if job is None:
            return False
        job_id, body = job
        consumer.delete(job_id)
        event = json.loads(body)
        if event.get("url", {}).get("content") == content_id:
            found.append(event)
        return bool(found)

    wait_until(arrived, timeout=timeout)
    consumer.close()
    return found[0]


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_read_reports_a_broken_fragment_for_rebuild(api, namespace, damage):
    """A fragment missing or damaged on disk: the read still returns every
    byte, and a storage.content.broken event naming it reaches the rebuild
    tube through the event agent."""
    namespace.sandbox.wait_all_up()       # EC 6+3 needs all 9 rawx
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(100_000)
    api.object_create("acct", container, data=data, obj_name=obj,
                      policy="ECISAL")
    meta, chunks = api.object_locate("acct", container, obj)
    lost = next(c for c in chunks if c["pos"] == "0.0")
    if damage == "deleted":
        api.blob_client.chunk_delete(lost["url"])
    else:
        with open(chunk_file(namespace, lost["url"]), "r+b") as handle:
            handle.seek(200)
            byte = handle.read(1)
            handle.seek(200)
            handle.write(bytes([byte[0] ^ 0xFF]))
    _, stream = api.object_fetch("acct", container, obj)
    assert b"".join(stream) == data
    event = _rebuild_event(namespace, meta["id"])
    assert event["event"] == "storage.content.broken"
    assert event["url"]["path"] == obj and event["url"]["account"] == "acct"
    assert event["data"]["missing_chunks"] == ["0.0"]
    assert [b["id"] for b in event["data"]["broken_chunks"]] == [lost["url"]]
    assert lost["url"] not in [c["id"] for c in
                               event["data"]["present_chunks"]]
