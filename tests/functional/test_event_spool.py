"""The beanstalkd client and the durable event spool, against a real
beanstalkd started on a free port."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from oio.event.beanstalk import Beanstalk, BeanstalkError, parse_endpoint
from oio.event.spool import EventSpool
from tests.utils import free_port, wait_until

pytestmark = pytest.mark.skipif(not shutil.which("beanstalkd"),
                                reason="beanstalkd is not installed")


class Beanstalkd:
    def __init__(self):
        self.port = free_port()
        self.url = f"beanstalk://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["beanstalkd", "-l", "127.0.0.1", "-p",
                                      str(self.port)])
        wait_until(self._accepts, timeout=10)

    def _accepts(self) -> bool:
        try:
            Beanstalk("127.0.0.1", self.port, timeout=1).connect()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def beanstalkd():
    server = Beanstalkd()
    server.start()
    yield server
    server.stop()


def consumer(server, tube="oio") -> Beanstalk:
    client = Beanstalk.from_url(server.url)
    client.watch(tube)
    client.ignore("default")
    return client


def drain(client, count: int) -> list[dict]:
    out = []
    for _ in range(count):
        job = client.poll(timeout=5)
        assert job is not None, f"only {len(out)} of {count} events"
        out.append(json.loads(job[1]))
        client.delete(job[0])
    return out


def test_client_commands(beanstalkd):
    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("t1")
    first = producer.put(b"one")
    producer.put(b"two", delay=0)
    assert "t1" in producer.list_tubes()
    assert producer.stats_tube("t1")["current-jobs-ready"] == 2
    worker = consumer(beanstalkd, "t1")
    job_id, body = worker.reserve(timeout=2)
    assert (job_id, body) == (first, b"one")
    worker.bury(job_id)
    assert producer.peek_buried()[1] == b"one"
    assert producer.kick(10) == 1
    job_id, body = worker.reserve(timeout=2)
    worker.release(job_id)
    assert worker.reserve(timeout=2)[0] == job_id
    worker.delete(job_id)
    with pytest.raises(BeanstalkError):
        worker.delete(job_id)
    assert worker.reserve(timeout=2)[1] == b"two"
    assert worker.poll(timeout=0) is None            # nothing else ready
    with pytest.raises(ValueError):
        parse_endpoint("http://127.0.0.1:80")
    assert parse_endpoint("127.0.0.1:6002") == ("127.0.0.1", 6002)


def test_batched_reserve_and_delete(beanstalkd):
    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("t2")
    ids = [producer.put(f"job{i}".encode()) for i in range(5)]
    worker = consumer(beanstalkd, "t2")
    first = worker.reserve(timeout=2)
    # Asking for more than is ready gives what is ready, in order.
    more = worker.reserve_ready(10)
    assert [first[0]] + [j for j, _ in more] == ids
    assert [body for _, body in more] == [b"job1", b"job2", b"job3", b"job4"]
    assert worker.reserve_ready(3) == []
    worker.delete_many(ids[:4])
    stats = producer.stats_tube("t2")
    assert stats["current-jobs-reserved"] == 1
    assert stats["current-jobs-ready"] == 0
    # One unknown job: the others are deleted all the same, the error
    # names the job, and the connection stays in step.
    with pytest.raises(BeanstalkError, match=f"delete {ids[0]}"):
        worker.delete_many([ids[0], ids[4]])
    assert producer.stats_tube("t2")["current-jobs-reserved"] == 0
    producer.put(b"after")
    assert worker.reserve(timeout=2)[1] == b"after"
    # Puts in one write: how many went in before a refusal, and the
    # connection still in step after it.
    assert producer.put_many([b"p1", b"p2"]) == 2
    with pytest.raises(BeanstalkError, match="JOB_TOO_BIG") as caught:
        producer.put_many([b"p3", b"x" * 70000, b"p4"])
    assert caught.value.inserted == 1
    assert [worker.reserve(timeout=2)[1] for _ in range(4)] == [
        b"p1", b"p2", b"p3", b"p4"]


def test_agent_takes_a_backlog_by_batches(beanstalkd, tmp_path):
    from oio.event.agent import EventAgent

    handlers = tmp_path / "handlers.conf"
    handlers.write_text("[handler:storage.content.new]\npipeline = noop\n"
                        "[filter:noop]\nuse = egg:oio#noop\n")
    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("oio")
    for i in range(60):
        producer.put(b"garbage" if i == 30 else json.dumps(
            {"event": "storage.content.new", "n": i}).encode())
    agent = EventAgent({"namespace": "OPENIO", "queue_url": beanstalkd.url,
                        "tube": "oio", "concurrency": "1",
                        "handlers_conf": str(handlers)})
    worker = agent.workers[0]
    batches = []
    handle_batch = worker.handle_batch
    worker.handle_batch = lambda *args: (batches.append(1),
                                         handle_batch(*args))
    agent.start()
    try:
        wait_until(lambda: worker.handled == 59, timeout=10)
    finally:
        agent.stop()
    stats = producer.stats_tube("oio")
    assert stats["current-jobs-buried"] == 1
    assert stats["current-jobs-ready"] == stats["current-jobs-reserved"] == 0
    assert producer._yaml("stats")["cmd-delete"] == 59
    # Batches growing to MAX_BATCH: 1, 2, 4, 8, 16, 32... not 60 reserves.
    assert len(batches) <= 8


def test_spool_delivers_in_order(beanstalkd, tmp_path):
    spool = EventSpool(str(tmp_path / "spool.db"), [beanstalkd.url])
    try:
        for i in range(20):
            spool.emit("storage.content.new", {"event": "storage.content.new",
                                               "n": i})
        spool.notify("storage.chunk.new", {"chunk_id": "AB"}, "-")
        events = drain(consumer(beanstalkd), 21)
        assert [e.get("n") for e in events[:20]] == list(range(20))
        assert events[20]["event"] == "storage.chunk.new"
        assert events[20]["request_id"] == "-" and "url" not in events[20]
        wait_until(lambda: spool.pending() == 0, timeout=5)
    finally:
        spool.stop()


def test_spool_keeps_events_while_beanstalkd_is_away(beanstalkd, tmp_path):
    path = str(tmp_path / "spool.db")
    beanstalkd.stop()
    spool = EventSpool(path, [beanstalkd.url], max_pause=0.2)
    for i in range(50):
        spool.emit("storage.content.deleted", {"n": i})
    assert spool.pending() == 50
    spool.stop()                             # the service restarts meanwhile
    beanstalkd.start()
    spool = EventSpool(path, [beanstalkd.url], max_pause=0.2)
    try:
        events = drain(consumer(beanstalkd), 50)
        assert [e["n"] for e in events] == list(range(50))
        wait_until(lambda: spool.pending() == 0, timeout=5)
        # beanstalkd goes away again, then comes back: the spool follows.
        beanstalkd.stop()
        spool.emit("x", {"n": 50})
        wait_until(lambda: spool.pending() == 1, timeout=5)
        beanstalkd.start()
        assert drain(consumer(beanstalkd), 1)[0]["n"] == 50
    finally:
        spool.stop()


def test_spool_refuses_a_bad_endpoint(tmp_path):
    with pytest.raises(ValueError):
        EventSpool(str(tmp_path / "s.db"), ["http://nowhere:1"])
    with pytest.raises(ValueError):
        EventSpool(str(tmp_path / "s.db"), [])


def test_write_behind_spool_keeps_the_order_and_the_rest(beanstalkd, tmp_path):
    path = str(tmp_path / "wb.db")
    beanstalkd.stop()
    spool = EventSpool(path, [beanstalkd.url], max_pause=0.2,
                       write_behind=True)
    for i in range(30):
        spool.notify("storage.chunk.new", {"n": str(i)}, "-")
    wait_until(lambda: not spool._incoming, timeout=5)     # on disk now
    spool.stop()                       # what is left is on disk
    beanstalkd.start()
    spool = EventSpool(path, [beanstalkd.url], write_behind=True)
    try:
        events = drain(consumer(beanstalkd), 30)
        assert [e["data"]["n"] for e in events] == [str(i) for i in range(30)]
    finally:
        spool.stop()


def test_rawx_announces_chunks(beanstalkd, tmp_path):
    from tests.functional.test_rawx_server import Rawx, chunk_id

    server = Rawx(str(tmp_path))
    spool = EventSpool(str(tmp_path / "rawx.events.spool"), [beanstalkd.url],
                       write_behind=True)
    server.app.notifier = spool
    server.thread.start()
    try:
        cid = chunk_id(1)
        assert server.put(cid, b"hello", **{"X-oio-req-id": "REQ1"})[0] == 201
        assert server.request("DELETE", "/" + cid)[0] == 204
        new, deleted = drain(consumer(beanstalkd), 2)
    finally:
        server.thread.stop()
    assert new["event"] == "storage.chunk.new" and "url" not in new
    assert new["request_id"] == "REQ1"
    assert new["data"]["chunk_id"] == cid and new["data"]["chunk_size"] == "5"
    assert new["data"]["volume_id"] == server.addr
    assert deleted["event"] == "storage.chunk.deleted"
    assert deleted["data"]["chunk_id"] == cid
    assert deleted["data"]["chunk_hash"] == ""


class Receiver:
    """A local HTTP endpoint recording what is POSTed to it."""

    def __init__(self):
        import http.server
        import threading

        received, self.status = [], [200]
        self.received = received
        status = self.status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(status[0])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_agent_pipeline_with_a_webhook(beanstalkd, tmp_path):
    from oio.event.agent import EventAgent

    receiver = Receiver()
    handlers = tmp_path / "handlers.conf"
    handlers.write_text(
        "[handler:storage.content.new]\npipeline = logger webhook\n"
        "[handler:storage.content.deleted]\npipeline = webhook\n"
        "[handler:storage.chunk.new]\npipeline = bury\n"
        "[filter:webhook]\nuse = egg:oio#webhook\n"
        f"endpoint = {receiver.url}\n"
        "[filter:logger]\nuse = egg:oio#logger\n"
        "[filter:bury]\nuse = egg:oio#bury\n")
    agent = EventAgent({"namespace": "OPENIO", "queue_url": beanstalkd.url,
                        "tube": "oio", "concurrency": "1",
                        "handlers_conf": str(handlers)})
    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("oio")
    url = {"ns": "OPENIO", "account": "a", "user": "c", "path": "o",
           "content": "AB" * 8, "id": "CD" * 32, "version": "5"}
    beans = [{"type": "aliases", "name": "o", "version": 5, "ctime": 1,
              "mtime": 2, "deleted": False, "header": "AB" * 8},
             {"type": "contents_headers", "id": "AB" * 8, "hash": "EF" * 16,
              "size": 3, "policy": "SINGLE", "chunk-method": "plain/nb_copy=1",
              "mime-type": "text/plain"},
             {"type": "properties", "alias": "o", "version": 5, "key": "k",
              "value": "v"}]
    agent.start()
    try:
        producer.put(json.dumps({"event": "storage.content.new", "when": 7,
                                 "url": url, "data": beans}).encode())
        wait_until(lambda: receiver.received, timeout=10)
        hook = receiver.received[0]
        assert hook["eventType"] == "storage.content.new"
        assert hook["timestamp"] == 7 and hook["eventId"]
        assert hook["data"]["name"] == "o" and hook["data"]["size"] == 3
        assert hook["data"]["metadata"] == {"k": "v"}
        assert hook["data"]["contentType"] == "text/plain"
        # Malformed, explicitly buried, and without handler.
        producer.put(b"garbage")
        producer.put(json.dumps({"event": "storage.chunk.new",
                                 "data": {}}).encode())
        producer.put(json.dumps({"event": "unknown.type"}).encode())
        wait_until(lambda: producer.stats_tube("oio")[
            "current-jobs-buried"] == 2, timeout=10)
        # The endpoint fails: the event is released to be retried later.
        receiver.status[0] = 500
        producer.put(json.dumps({"event": "storage.content.deleted",
                                 "url": url, "data": beans}).encode())
        wait_until(lambda: producer.stats_tube("oio")[
            "current-jobs-delayed"] == 1, timeout=10)
        assert receiver.received[-1]["eventType"] == "storage.content.deleted"
        assert "size" not in receiver.received[-1]["data"]
    finally:
        agent.stop()
        receiver.close()
    stats = producer.stats_tube("oio")
    assert stats["current-jobs-ready"] == 0


def test_replicate(beanstalkd):
    from oio.event.filters.replicate import ReplicateFilter

    replicate = ReplicateFilter(None, {
        "namespace": "OPENIO", "queue_url": beanstalkd.url,
        "exclude": "skipped"})
    url = {"ns": "OPENIO", "account": "a", "user": "c"}
    for kind in ("storage.content.new", "storage.chunk.new",
                 "storage.container.state", "xcute.tasks"):
        replicate.on_event({"event": kind, "url": url})
    replicate.on_event({"event": "storage.content.new",
                       "url": dict(url, account="skipped")})
    repli = [e["event"] for e in drain(consumer(beanstalkd, "oio-repli"), 2)]
    assert repli == ["storage.content.new", "storage.container.state"]
    assert consumer(beanstalkd, "oio-repli").poll(timeout=0) is None


def test_wait_until_empty(beanstalkd):
    """7.2's helper: returns once a consumer took every ready job, or at
    its timeout."""
    import threading
    import time

    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("oio-wait")
    for i in range(3):
        producer.put(b"job %d" % i)
    start = time.monotonic()
    producer.wait_until_empty("oio-wait", timeout=0.5, poll_interval=0.05)
    assert time.monotonic() - start >= 0.5          # still full: timed out
    taker = consumer(beanstalkd, "oio-wait")

    def take():
        for _ in range(3):
            job_id, _ = taker.reserve(timeout=5)
            taker.delete(job_id)
    thread = threading.Thread(target=take)
    thread.start()
    producer.wait_until_empty("oio-wait", timeout=10, poll_interval=0.05)
    thread.join(5)
    assert producer.peek_ready() == (None, None)


def test_drain_buried(beanstalkd):
    producer = Beanstalk.from_url(beanstalkd.url)
    producer.use("oio-buried")
    for i in range(3):
        producer.put(b"job %d" % i)
    taker = consumer(beanstalkd, "oio-buried")
    for _ in range(2):
        job_id, _ = taker.reserve(timeout=5)
        taker.bury(job_id)
    assert producer.drain_buried("oio-buried") == 2
    assert producer.peek_buried() is None
    assert producer.peek_ready()[0] is not None    # the ready one stays
