"""oio-crawler-integrity: outputs, delayed reporting, hourly rates, the
report and usage errors (the checker itself: test_integrity_checker.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from oio.crawler import integrity_cmd as cmd
from oio.crawler.integrity import Checker, ItemResult, Target
from oio.crawler.rate_policy import PolicyPacer, parse_policy, rate_at

from .test_integrity_checker import FakeApi

THREE = "plain/nb_copy=3"


class PlainApi(FakeApi):
    def object_locate(self, account, container, obj, version=None,
                      properties=False):
        return ({"id": "ID", "version": 1, "chunk_method": THREE,
                 "length": 10}, self.chunks)


def copies(n: int) -> list[dict]:
    return [{"url": f"http://r{i}/C{i}", "pos": "0", "size": 10, "hash": "AB"}
            for i in range(n)]


def head() -> dict:
    return {"chunk_size": "10", "chunk_hash": "ab"}


def run(api, target=None) -> list[Target]:
    checker = Checker(api, concurrency=4)
    checker.check(target or Target("a", "c", "o"), 4)
    return list(checker.run())


def test_replicated_object_missing_copies_names_their_position():
    # 7.2 failed on an undefined variable here: a generic check failure.
    chunks = copies(1)
    results = run(PlainApi(chunks, {c["url"]: head() for c in chunks}))
    obj = next(t for t in results if t.type == "object")
    assert obj.latest_error_result().errors == [
        "Missing chunk at position 0", "Missing chunk at position 0"]
    missing = [t for t in results if t.type == "chunk" and t.chunk == "0"]
    assert missing and not any(t.irreparable for t in missing)
    assert not any("Check failed" in str(e) for t in results if t.has_errors
                   for e in t.latest_error_result().errors)


class Sender:
    def __init__(self):
        self.sent = []

    def report(self, cid, content, chunk, irreparable=False):
        self.sent.append((cid, content, chunk, irreparable))

    def close(self):
        pass


def broken_chunk_targets() -> list[Target]:
    # The only copy is lost: irreparable.
    results = run(PlainApi(copies(1), {}))
    return [t for t in results if t.type == "chunk"]


def test_outputs_write_rebuild_input_and_tasks(tmp_path):
    errors, rebuild = tmp_path / "err", tmp_path / "rebuild"
    sender = Sender()
    outputs = cmd.ErrorOutputs(str(errors), str(rebuild), sender)
    for target in broken_chunk_targets():
        outputs.handle(target)
    outputs.close()
    lines = rebuild.read_text().splitlines()
    assert "#IRREPARABLE|" + "|".join(
        [Target("a", "c").cid, "ID", "http://r0/C0"]) in lines
    assert all(line.startswith("#IRREPARABLE|") for line in lines)
    assert ("#IRREPARABLE a c o http://r0/C0") in errors.read_text()
    assert {s[2] for s in sender.sent} == {"http://r0/C0", "0"}
    assert all(s[3] for s in sender.sent)
    # The -o file reads back as items (marks dropped).
    entries = list(cmd.entries_from_lines(errors.read_text().splitlines()))
    assert ["a", "c", "o", "http://r0/C0"] in entries


def test_errors_wait_for_their_confirmations(tmp_path):
    now = [1000.0]
    out = tmp_path / "err"
    outputs = cmd.ErrorOutputs(str(out), confirmations=1,
                               min_time_in_error=30, clock=lambda: now[0])
    target = broken_chunk_targets()[0]
    outputs.handle(target)
    assert out.read_text() == "" and outputs.delayed == 1
    now[0] += 10
    outputs.handle(target)             # confirmed, but too early
    assert out.read_text() == ""
    now[0] += 30
    outputs.handle(target)
    assert out.read_text().count("\n") == 1 and outputs.delayed == 0
    # Healthy again: forgotten.
    outputs.handle(target)
    healthy = target.copy()
    healthy.append_result(ItemResult([]))
    outputs.handle(healthy)
    assert outputs.delayed == 0


def test_report_counts_and_success():
    report = cmd.Report()
    for target in run(PlainApi(copies(1), {})):
        report.add(target)
    text = "\n".join(report.lines())
    assert "Chunks checked    : 3" in text
    assert "Missing chunks    : 3" in text
    assert not report.success
    ok = cmd.Report()
    chunks = copies(3)
    for target in run(PlainApi(chunks, {c["url"]: head() for c in chunks})):
        ok.add(target)
    assert ok.success and "Objects checked   : 1" in "\n".join(ok.lines())


def test_rate_policy():
    policy = parse_policy("6h45:2; 0h30:10;20h00:8")
    assert policy == [(30, 10.0), (405, 2.0), (1200, 8.0)]
    at = [rate_at(policy, datetime(2024, 1, 1, h, m))
          for h, m in ((0, 0), (0, 30), (12, 0), (23, 59))]
    assert at == [8.0, 10.0, 2.0, 8.0]
    assert parse_policy("25") == [(0, 25.0)]
    for bad in ("x", "25h00:3", "1h30", "1h30:-1", "-3"):
        with pytest.raises(ValueError):
            parse_policy(bad)
    slept = []
    pacer = PolicyPacer(policy, now=lambda: datetime(2024, 1, 1, 12),
                        clock=lambda: 0.0, sleep=slept.append)
    pacer()
    pacer()
    assert slept == [0.5]              # 2/s at noon


@pytest.mark.parametrize("argv, message", [
    (["OPENIO", "--attempts", "0"], "--attempts"),
    (["OPENIO", "-r", "nonsense"], "unparseable"),
    (["OPENIO", "a", "c", "o", "ch", "extra"], "at most"),
    (["NO_SUCH_NS_HERE"], "NO_SUCH_NS_HERE"),
])
def test_bad_usage_exits_2_without_traceback(argv, message, capsys,
                                             monkeypatch, tmp_path):
    monkeypatch.setenv("OIO_SDS_CONF", str(tmp_path / "none"))
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_task_event_carries_irreparable():
    from oio.blob.rebuild_report import broken_chunk_event

    event = broken_chunk_event("NS", "CID", "ID", "0", irreparable=True)
    assert json.loads(json.dumps(event))["data"] == {
        "missing_chunks": ["0"], "irreparable": True}
    assert "irreparable" not in broken_chunk_event("NS", "C", "I", "0")["data"]


@pytest.mark.timeout(20)
def test_an_object_and_its_chunk_checked_together_do_not_deadlock():
    # The -o file of a run lists a broken object and its chunks: read back,
    # both are checked at once (this used to hang for good).
    class SlowApi(PlainApi):
        def object_locate(self, *args, **kwargs):
            time.sleep(0.05)        # the object holds its key meanwhile
            return super().object_locate(*args, **kwargs)

    chunks = copies(3)
    api = SlowApi(chunks, {c["url"]: head() for c in chunks})
    for _ in range(3):
        checker = Checker(api, concurrency=4)
        checker.check(Target("a", "c", "o"), 4)
        for chunk in chunks:
            checker.check(Target("a", "c", "o", chunk["url"]), 4)
        results = list(checker.run())
        assert sorted(t.chunk for t in results if t.type == "chunk") == \
            sorted(c["url"] for c in chunks)
