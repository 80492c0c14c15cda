"""The chunk quality rules (meta2's and the improver's), meta2's
`storage.content.perfectible` events, and the blob improver's loop over
fake contents and a fake tube."""

import json
import threading

import pytest

from oio.common import exceptions as exc
from oio.common.chunk_quality import (
    imperfections,
    is_flawed,
    parse_qualities,
    perfectible_metachunks,
)
from oio.common.utils import cid_from_name
from oio.container.events import RecordingNotifier
from oio.container.meta2 import ContentMeta, Meta2
from oio.content.chunk import ChunksHelper
from oio.rebuilder.blob_improver import (
    BlobImprover,
    EventBudget,
    ImproveWorker,
    parser,
)

from .meta2_fakes import FakeNsInfo

GOOD = {"expected_dist": 2, "final_dist": 2, "warn_dist": 1,
        "expected_slot": "rawx-even", "final_slot": "rawx-even"}
FALLBACK = dict(GOOD, final_slot="rawx")
CLOSE = dict(GOOD, final_dist=1)


# The rules -----------------------------------------------------------------
@pytest.mark.parametrize("quality, flawed, imperfect", [
    (GOOD, False, []),
    (FALLBACK, True, ["slot rawx != rawx-even"]),
    (CLOSE, True, ["dist 1 < 2"]),
    # Below the expected distance but above the warning one: no alarm,
    # yet a move would help.
    (dict(GOOD, expected_dist=3), False, ["dist 2 < 3"]),
    (dict(GOOD, final_dist=0, warn_dist=0), True, ["dist 0 < 2"]),
])
def test_rules(quality, flawed, imperfect):
    assert is_flawed(quality) is flawed
    assert imperfections(quality) == imperfect


def test_parse_qualities_skips_other_and_bad_properties():
    props = {"__OIO_CHUNK__http://r/A": json.dumps(GOOD),
             "__OIO_CHUNK__http://r/B": "not json", "color": "blue",
             "__OIO_CHUNK__http://r/C": None}
    assert parse_qualities(props) == {"http://r/A": GOOD}


def _chunk(url, pos):
    return {"id": url, "pos": pos, "hash": "A" * 32, "size": 8}


def test_perfectible_metachunks_one_event_per_flawed_metachunk():
    chunks = [_chunk("http://a/1", "0"), _chunk("http://b/1", "0"),
              _chunk("http://a/2", "1"), _chunk("http://b/2", "1"),
              _chunk("http://c/2", "1")]
    qualities = {"http://a/1": GOOD, "http://b/1": GOOD,
                 "http://a/2": GOOD, "http://b/2": FALLBACK}
    events = perfectible_metachunks(chunks, qualities)
    assert [e["pos"] for e in events] == [1]
    # Chunks without a quality record are left out, as upstream does.
    assert [c["id"] for c in events[0]["chunks"]] == ["http://a/2",
                                                      "http://b/2"]
    assert events[0]["chunks"][1]["quality"] == FALLBACK


# meta2 ---------------------------------------------------------------------
CID = cid_from_name("acct", "box")


@pytest.fixture
def m2(tmp_path):
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(),
                events=RecordingNotifier())
    svc.container_create(CID, "acct", "box")
    yield svc
    svc.close()


def _create(m2, name, qualities, content_id="0A" * 16):
    chunks = [{"url": f"http://r{i}/{i:064X}", "pos": "0", "size": 8,
               "hash": "a" * 32} for i in range(3)]
    props = {f"__OIO_CHUNK__{c['url']}": json.dumps(q)
             for c, q in zip(chunks, qualities, strict=True)}
    props["color"] = "blue"
    meta = ContentMeta(content_id, 1000, 8, "b" * 32, "THREECOPIES", None,
                       None)
    m2.content_create(CID, name, meta, {"chunks": chunks,
                                        "properties": props})
    return chunks


def _perfectible(m2):
    return [p for t, p in m2.events.events
            if t == "storage.content.perfectible"]


def test_meta2_emits_perfectible_for_a_fallback_slot(m2):
    chunks = _create(m2, "o", [GOOD, FALLBACK, GOOD])
    (event,) = _perfectible(m2)
    assert event["url"]["path"] == "o"
    assert event["url"]["version"] == "1000"
    assert event["url"]["content"] == "0A" * 16
    assert event["data"]["pos"] == 0
    assert [c["id"] for c in event["data"]["chunks"]] == [
        c["url"] for c in chunks]
    # Quality records are not user properties.
    props = m2.content_locate(CID, "o").properties
    assert props == {"color": "blue"}


def test_meta2_is_quiet_when_placement_is_good(m2):
    _create(m2, "o", [GOOD, GOOD, GOOD])
    assert _perfectible(m2) == []


# The improver --------------------------------------------------------------
class FakeContent:
    def __init__(self, chunks, fail=None):
        self.chunks = ChunksHelper([dict(c) for c in chunks])
        self.fail = fail or {}
        self.moved = []

    def move_chunk(self, chunk, check_quality=False, dry_run=False,
                   max_attempts=3, **kwargs):
        assert check_quality
        if chunk.url in self.fail:
            raise self.fail[chunk.url]
        self.moved.append(chunk.url)
        return {"url": chunk.url.replace("http://", "http://new-")}


class FakeFactory:
    def __init__(self, content):
        self.content = content

    def get(self, cid, content_id, **kwargs):
        if self.content is None:
            raise exc.ContentNotFound("gone")
        return self.content


def _event(chunks, qualities):
    return {"event": "storage.content.perfectible",
            "url": {"ns": "OPENIO", "account": "a", "user": "c", "path": "o",
                    "version": "1", "id": CID, "content": "0A" * 16},
            "data": {"pos": 0, "chunks": [
                dict(c, id=c["url"], quality=q)
                for c, q in zip(chunks, qualities, strict=True)]}}


RAW = [{"url": f"http://r{i}/{i:064X}", "pos": "0", "size": 8,
        "hash": "A" * 32} for i in range(3)]


def test_improver_moves_only_imperfect_chunks():
    content = FakeContent(RAW)
    outcome = BlobImprover(FakeFactory(content)).improve(
        _event(RAW, [GOOD, FALLBACK, CLOSE]))
    assert sorted(content.moved) == sorted([RAW[1]["url"], RAW[2]["url"]])
    assert not outcome.retry and not outcome.errors


def test_improver_retries_when_nothing_moved():
    content = FakeContent(RAW, fail={RAW[1]["url"]: exc.SpareChunkException(
        "the spare chunks found would not improve the quality")})
    outcome = BlobImprover(FakeFactory(content)).improve(
        _event(RAW, [GOOD, FALLBACK, GOOD]))
    assert outcome.retry


def test_improver_refuses_an_event_naming_a_vanished_chunk():
    content = FakeContent(RAW[:2])
    with pytest.raises(exc.PreconditionFailed):
        BlobImprover(FakeFactory(content)).improve(
            _event(RAW, [GOOD, GOOD, FALLBACK]))


class RecordingQueue:
    def __init__(self):
        self.deleted, self.buried, self.put_jobs = [], [], []

    def use(self, tube):
        self.tube = tube

    def put(self, body, delay=0):
        self.put_jobs.append((json.loads(body), delay))

    def delete(self, job_id):
        self.deleted.append(job_id)

    def bury(self, job_id):
        self.buried.append(job_id)


def _worker(content, budget=None):
    worker = ImproveWorker(BlobImprover(FakeFactory(content)), "127.0.0.1:1",
                           retry_delay=30, budget=budget)
    queue = RecordingQueue()
    worker._client = queue
    return worker, queue


def test_worker_deletes_an_improved_event():
    worker, queue = _worker(FakeContent(RAW))
    worker.handle(7, json.dumps(_event(RAW, [FALLBACK, GOOD, GOOD])).encode())
    assert queue.deleted == [7] and queue.put_jobs == []


def test_worker_queues_again_after_the_retry_delay():
    content = FakeContent(RAW, fail={RAW[0]["url"]: exc.SpareChunkException(
        "no spare")})
    worker, queue = _worker(content)
    worker.handle(7, json.dumps(_event(RAW, [FALLBACK, GOOD, GOOD])).encode())
    assert queue.deleted == [7]
    ((event, delay),) = queue.put_jobs
    assert delay == 30 and event["attempts"] == 1


def test_worker_drops_events_of_vanished_objects_and_buries_strangers():
    worker, queue = _worker(None)
    worker.handle(1, json.dumps(_event(RAW, [FALLBACK] * 3)).encode())
    worker.handle(2, b'{"event": "storage.content.new"}')
    worker.handle(3, b"not json")
    assert queue.deleted == [1] and queue.buried == [2, 3]
    assert queue.put_jobs == []


def test_budget_stops_the_daemon_after_n_events():
    stop = threading.Event()
    worker, _ = _worker(FakeContent(RAW), EventBudget(2, stop))
    body = json.dumps(_event(RAW, [GOOD] * 3)).encode()
    worker.handle(1, body)
    assert not stop.is_set()
    worker.handle(2, body)
    assert stop.is_set()


def test_command_line_takes_72s_options():
    args = parser().parse_args(
        ["OPENIO", "--beanstalkd=127.0.0.1:6014", "--retry-delay=1",
         "--log-level=INFO", "--stop-after-events=1"])
    assert (args.retry_delay, args.stop_after_events) == (1, 1)
    assert parser().parse_args(
        ["OPENIO", "--beanstalkd", "x:1"]).retry_delay == 30
