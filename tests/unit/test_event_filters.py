"""The event agent's handlers file and filters that need no service."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from oio.event.agent import EventAgent
from oio.event.evob import Event
from oio.event.filters.account_update import AccountUpdateFilter
from oio.event.filters.base import BuryEvent
from oio.event.filters.bury import BuryFilter
from oio.event.filters.content_cleaner import ContentReaperFilter
from oio.event.filters.dump import DumpFilter
from oio.event.filters.notify import NotifyFilter
from oio.event.filters.volume_index import VolumeIndexFilter
from oio.event.loader import load_pipelines


def write(tmp_path, text: str) -> str:
    path = tmp_path / "handlers.conf"
    path.write_text(text)
    return str(path)


def test_handlers_file(tmp_path):
    path = write(tmp_path, "[handler:a.b]\npipeline = noop dump\n"
                           "[handler:c.d]\npipeline =\n"
                           "[filter:noop]\nuse = egg:oio#noop\n"
                           "[filter:dump]\nuse = egg:oio#dump\n")
    handlers = load_pipelines(path, {"namespace": "OPENIO"})
    assert [type(s.filter).__name__ for s in handlers["a.b"].stages] == [
        "NoopFilter", "DumpFilter"]
    assert handlers["c.d"].stages == []
    # One instance per filter section, shared by the handlers using it.
    path = write(tmp_path, "[handler:a]\npipeline = noop\n"
                           "[handler:b]\npipeline = noop\n"
                           "[filter:noop]\nuse = egg:oio#noop\n")
    handlers = load_pipelines(path, {})
    assert handlers["a"].stages[0].filter is handlers["b"].stages[0].filter


@pytest.mark.parametrize("text,message", [
    ("[handler:a]\npipeline = missing\n", "no [filter:missing]"),
    ("[handler:a]\npipeline = x\n[filter:x]\nuse = egg:oio#nothing\n",
     "unknown use"),
    ("[handler:a]\npipeline = x\n[filter:x]\nuse = egg:other#noop\n",
     "unknown use"),
    ("[handler:a]\npipeline = x\n[filter:x]\nuse = egg:oio#notify\n",
     "queue_url is required"),
])
def test_bad_handlers_files(tmp_path, text, message):
    with pytest.raises(ValueError) as info:
        load_pipelines(write(tmp_path, text), {})
    assert message in str(info.value)


def test_agent_configuration_errors(tmp_path):
    with pytest.raises(ValueError):
        EventAgent({"namespace": "OPENIO"})
    with pytest.raises(ValueError):
        load_pipelines(str(tmp_path / "nope.conf"), {})
    with pytest.raises(ValueError):
        EventAgent({"namespace": "OPENIO", "queue_url": "http://x:1",
                    "handlers_conf": write(tmp_path, "")})


def test_notify_exclusions():
    notify = NotifyFilter(None, {"queue_url": "beanstalk://127.0.0.1:1",
                                 "exclude": "acct1,acct2/ct%2Fx"})

    def goes(url):
        return notify.should_notify(Event({"event": "e", "url": url}))

    assert not goes({"account": "acct1", "user": "c"})
    assert not goes({"account": "acct2", "user": "ct/x"})
    assert goes({"account": "acct2", "user": "ct"})
    assert goes(None)                   # chunk events have no URL
    # 7.2's shape; a whole account wins over its containers.
    assert NotifyFilter._parse_exclude(
        "a,b/c%2F1,b/d,a/e,f/g,f") == {"a": [], "b": ["c/1", "d"], "f": []}
    assert NotifyFilter._parse_exclude([]) == {}


class _OneShotBeanstalk:
    """A fake beanstalkd whose every connection takes one `use` and one
    `put`, then is closed: what a kept connection sees when beanstalkd
    restarts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.bodies: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"beanstalk://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    if line.startswith(b"use"):
                        conn.sendall(b"USING t\r\n")
                    elif line.startswith(b"put"):
                        self.bodies.append(lines.readline().rstrip(b"\r\n"))
                        conn.sendall(b"INSERTED 1\r\n")
                        break


def test_notify_reconnects_when_its_connection_died():
    server = _OneShotBeanstalk()
    notify = NotifyFilter(None, {"queue_url": server.url, "tube": "t"})
    notify.on_event({"event": "first"})
    # The kept connection is closed now: the next event goes through a new
    # one instead of being released for 15 s.
    notify.on_event({"event": "second"})
    assert [json.loads(b)["event"] for b in server.bodies] == [
        "first", "second"]
    server.sock.close()


def test_notify_built_the_7_2_way():
    """As 7.2's own tests drive it: the class with `app=` and `conf=`,
    then process(env, beanstalkd, cb) passing the event on to `app`."""
    server = _OneShotBeanstalk()
    passed = []
    notify = NotifyFilter(app=lambda env, beanstalkd, cb: passed.append(env),
                          conf={"queue_url": server.url, "exclude": []})
    notify.process({"event": "storage.content.new"}, None, None)
    assert [json.loads(b)["event"] for b in server.bodies] == [
        "storage.content.new"]
    assert passed == [{"event": "storage.content.new"}]
    server.sock.close()


def test_dump_and_bury(tmp_path):
    DumpFilter(None, {"directory": str(tmp_path)}).on_event(
        {"event": "x", "job_id": 12})
    assert json.loads((tmp_path / "event_12").read_text())["event"] == "x"
    with pytest.raises(BuryEvent):
        BuryFilter(None, {}).on_event({"event": "x"})


def test_content_cleaner_ignores_other_events_and_needs_beans():
    cleaner = ContentReaperFilter(None, {})
    cleaner.on_event({"event": "storage.content.new", "data": "whatever"})
    with pytest.raises(BuryEvent):
        cleaner.on_event({"event": "storage.content.deleted", "data": {}})


def test_container_states_are_coalesced():
    from oio.container.events import CoalescingNotifier, RecordingNotifier
    from tests.utils import wait_until

    sink = RecordingNotifier()
    notifier = CoalescingNotifier(sink, delay=0.2)
    url = {"ns": "OPENIO", "account": "a", "user": "c", "id": "AB" * 32}
    other = dict(url, user="d", id="CD" * 32)
    try:
        for n in range(3):
            notifier.emit("storage.container.state", {"url": url, "n": n})
        notifier.emit("storage.container.state", {"url": other, "n": 9})
        assert sink.events == []                     # held
        wait_until(lambda: len(sink.events) == 2, timeout=5)
        assert sorted(p["n"] for _, p in sink.events) == [2, 9]
        # A deletion goes at once, after the held state of its container.
        notifier.emit("storage.container.state", {"url": url, "n": 3})
        notifier.emit("storage.container.deleted", {"url": url, "n": 4})
        assert [p["n"] for _, p in sink.events[2:]] == [3, 4]
        # A content event goes at once and leaves the state held (one
        # state per delay, not one per object written).
        notifier.emit("storage.container.state", {"url": other, "n": 6})
        notifier.emit("storage.content.new", {"url": other, "n": 5})
        assert sink.events[-1][1]["n"] == 5
        wait_until(lambda: sink.events[-1][1]["n"] == 6, timeout=5)
    finally:
        notifier.stop()


class _Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kw: self.calls.append((name, args))


def _services_event(services, account="acct"):
    return {"event": "account.services", "when": 2_000_000,
            "url": {"ns": "NS", "account": account, "user": "ct",
                    "id": "C" * 64}, "data": services}


def test_account_services_feed_the_account_and_the_meta2_index():
    m2 = {"seq": 1, "type": "meta2", "host": "127.0.0.1:6008", "args": ""}
    account = AccountUpdateFilter.__new__(AccountUpdateFilter)
    account.client = _Recorder()
    account.on_event(_services_event([m2]))
    account.on_event(_services_event([]))
    account.on_event(_services_event([m2], account="_RDIR"))
    assert account.client.calls == [
        ("account_create", ("acct",)),
        ("container_update", ("acct", "ct", {"dtime": 2.0}))]

    index = VolumeIndexFilter.__new__(VolumeIndexFilter)
    index.conf, index.client = {"namespace": "NS"}, _Recorder()
    index.on_event(_services_event([m2, dict(m2, type="sqlx")]))
    index.on_event({"event": "storage.meta2.deleted", "url": {
        "ns": "NS", "account": "acct", "user": "ct", "id": "C" * 64},
        "data": {"peer": "127.0.0.1:6008"}})
    assert index.client.calls == [
        ("meta2_index_push", ("127.0.0.1:6008", "NS/acct/ct", "C" * 64, 2)),
        ("meta2_index_delete", ("127.0.0.1:6008", "NS/acct/ct", "C" * 64))]
    with pytest.raises(BuryEvent):
        index.on_event(_services_event("not a list"))


def _chunk_event(kind, volume, chunk_id, when=3_000_000):
    return {"event": kind, "when": when,
            "data": {"volume_service_id": volume, "container_id": "C",
                     "content_id": "X", "chunk_id": chunk_id}}


def _volume_index():
    index = VolumeIndexFilter.__new__(VolumeIndexFilter)
    index.conf, index.client = {"namespace": "NS"}, _Recorder()
    index._setup_state()
    return index


def test_volume_index_defers_chunk_pushes_to_the_end_of_the_batch():
    index = _volume_index()
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K1"))
    index.on_event(_chunk_event("storage.chunk.new", "rawx-2", "K2"))
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K3"))
    assert index.client.calls == []
    index.flush()
    record = {"container_id": "C", "content_id": "X", "mtime": 3}
    assert sorted(index.client.calls) == [
        ("chunk_push_many", ("rawx-1", [dict(record, chunk_id="K1"),
                                        dict(record, chunk_id="K3")])),
        ("chunk_push_many", ("rawx-2", [dict(record, chunk_id="K2")]))]
    index.client.calls.clear()
    index.flush()
    assert index.client.calls == []


def test_volume_index_deletion_wins_over_a_push_of_another_worker():
    """Workers share the filter: a deletion drops the push of the same
    chunk waiting in another worker's batch, and a push handled after the
    deletion (its worker was slower) is not made."""
    index = _volume_index()
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K1"))
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K2"))
    index.on_event(_chunk_event("storage.chunk.deleted", "rawx-1", "K1",
                                when=4_000_000))
    index.on_event(_chunk_event("storage.chunk.deleted", "rawx-1", "K3",
                                when=4_000_000))
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K3"))
    index.flush()
    assert [(name, args[0], args[-1] if name == "chunk_delete" else
             [r["chunk_id"] for r in args[1]])
            for name, args in index.client.calls] == [
        ("chunk_delete", "rawx-1", "K1"), ("chunk_delete", "rawx-1", "K3"),
        ("chunk_push_many", "rawx-1", ["K2"])]
    # A chunk created again after its deletion is indexed again.
    index.client.calls.clear()
    index.on_event(_chunk_event("storage.chunk.new", "rawx-1", "K3",
                                when=5_000_000))
    index.flush()
    assert [args[1][0]["chunk_id"] for _, args in index.client.calls] == [
        "K3"]
