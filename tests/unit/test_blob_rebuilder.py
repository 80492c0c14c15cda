"""The blob rebuilder's items, grouping, results and reports, the mover's
helpers, and the beanstalkd task format, with a fake chunk operator."""

from __future__ import annotations

import logging

import pytest

from oio.blob import rebuilder as blob
from oio.blob.mover import excluded_chunks, linked_ids
from oio.blob.rebuild_tasks import rebuilt_event, task_items
from oio.common import exceptions as exc

CID = "A" * 64


def item(content: str, chunk: str) -> blob.RebuildItem:
    return blob.RebuildItem(CID, content, chunk)


class FakeOperator:
    """Rebuilds what it is told: 'orphan' and 'fail' chunks fail."""

    def __init__(self):
        self.locates = 0
        self.rebuilt = []

    def content(self, cid, content_id):
        self.locates += 1
        if content_id == "GONE":
            raise exc.OrphanChunk("Content not found")
        return object()

    def rebuild(self, cid, content_id, chunk, **kwargs):
        if chunk == "orphan":
            raise exc.OrphanChunk("not in content")
        if chunk == "fail":
            raise exc.ServiceBusy(message="rawx down")
        if chunk == "lost":
            raise exc.UnrecoverableContent("No copy of missing chunk")
        self.rebuilt.append((content_id, chunk, kwargs["rawx_id"]))
        return 100


def test_items_from_file(tmp_path):
    path = tmp_path / "items"
    path.write_text(f"# comment\n\n{CID}|C1|0\n#IRREPARABLE|{CID}|C2|1\n"
                    f"{CID}|C1|http://r/X|extra\n")
    assert list(blob.items_from_file(str(path))) == [
        item("C1", "0"), item("C1", "http://r/X")]
    path.write_text("only|two\n")
    with pytest.raises(ValueError, match="expected cid"):
        list(blob.items_from_file(str(path)))


def test_consecutive_items_of_a_content_are_grouped():
    items = [item("C1", "a"), item("C1", "b"), item("C2", "c"),
             item("C1", "d")]
    assert [[i.chunk for i in g] for g in blob.group_by_content(items)] == \
        [["a", "b"], ["c"], ["d"]]


def test_one_locate_per_object_and_results_per_chunk():
    operator = FakeOperator()
    rebuilder = blob.BlobRebuilder(operator, rawx_id="r1", concurrency=2,
                                   items_per_second=0,
                                   logger=logging.getLogger("test"))
    items = [item("C1", "a"), item("C1", "orphan"), item("C2", "fail"),
             item("C3", "lost"), item("GONE", "x"), item("C1", "b")]
    results = {r.item.chunk: r for r in rebuilder.run(items)}
    assert operator.locates == 5           # C1, C2, C3, GONE, C1 again
    assert results["a"].bytes == 100 and results["a"].error is None
    assert results["orphan"].orphan and not results["orphan"].retryable
    assert results["x"].orphan
    assert results["fail"].retryable and not results["fail"].orphan
    assert not results["lost"].retryable
    stats = rebuilder.stats
    assert (stats.chunks, stats.bytes, stats.errors, stats.orphans) == \
        (6, 200, 2, 2)
    assert not rebuilder.success
    assert ("C1", "a", "r1") in operator.rebuilt


def test_dry_run_touches_nothing():
    operator = FakeOperator()
    rebuilder = blob.BlobRebuilder(operator, dry_run=True, items_per_second=0)
    assert [r.error for r in rebuilder.run([item("C1", "a")])] == [None]
    assert operator.locates == 0 and not operator.rebuilt


def test_report_line_has_progress_and_eta():
    now = [100.0]
    stats = blob.RebuildStats(total=10, clock=lambda: now[0])
    for _ in range(4):
        stats.add(blob.RebuildResult(item("C", "x"), bytes=1_000_000))
    now[0] += 2.0
    line = stats.line("RUN")
    assert "total_chunks=4 2.00/s" in line and "progress=4/10 40.00%" in line
    assert "eta=3s" in line and "total_bytes=4000000 2.00MB/s" in line


def test_task_items_and_replies():
    event = {"event": "storage.content.broken",
             "url": {"ns": "OPENIO", "id": CID, "content": "C1"},
             "data": {"missing_chunks": ["http://r/X", "0"]}}
    items = task_items(event, "OPENIO")
    assert items == [item("C1", "http://r/X"), item("C1", "0")]
    with pytest.raises(ValueError, match="namespace"):
        task_items(event, "OTHER")
    with pytest.raises(ValueError):
        task_items({"url": {"ns": "OPENIO"}}, "OPENIO")
    reply = rebuilt_event(event, [blob.RebuildResult(items[0], bytes=5)],
                          {"addr": "a", "tube": "t"})
    assert reply["event"] == "storage.content.rebuilt"
    assert reply["data"]["chunks_rebuilt"] == [
        {"chunk_id_or_pos": "http://r/X", "bytes_processed": 5,
         "error": None}]


def test_mover_helpers():
    attrs = {"user.oio.content.fullpath:AAA": b"x",
             "user.oio.content.fullpath:BBB": b"y", "user.grid.chunk.id": b"z"}
    assert linked_ids("AAA", attrs) == ["BBB"]
    fakes = excluded_chunks(["rawx-1", "10.0.0.1:6200"])
    assert [f["url"].split("/")[2] for f in fakes] == ["rawx-1",
                                                       "10.0.0.1:6200"]


def test_the_rate_limit_holds():
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    rebuilder = blob.BlobRebuilder(FakeOperator(), items_per_second=10,
                                   clock=lambda: clock[0], sleep=sleep)
    items = [item(f"C{i // 2}", f"c{i}") for i in range(40)]
    assert len(list(rebuilder.run(items))) == 40
    # 40 chunks at 10/s: the last ones start 3.8 s or more after the first.
    assert clock[0] >= 3.8
