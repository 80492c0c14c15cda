"""What a read reports of the chunks it found broken (events.md §3.5)."""

from __future__ import annotations

import socket

from oio.api.broken import EVENT, BrokenChunks

URL = {"ns": "NS", "account": "a", "user": "c", "id": "CID", "content": "C1",
       "path": "o", "version": "1"}
CHUNKS = [{"url": f"http://r{i}:1/{i:064X}", "pos": "0", "hash": "H",
           "size": 3} for i in range(3)]


def test_nothing_broken_sends_nothing():
    report = BrokenChunks(URL, "req", "beanstalk://127.0.0.1:1")
    assert report.event(CHUNKS) is None
    assert report.send(CHUNKS) is False


def test_event_names_the_broken_copy_and_keeps_the_others_present():
    report = BrokenChunks(URL, "req", None)
    report.add(CHUNKS[1], "HTTP 404")
    report.add(dict(CHUNKS[1]), "seen again")        # once per chunk
    event = report.event(CHUNKS)
    assert event["event"] == EVENT and event["url"] == URL
    assert event["request_id"] == "req"
    assert event["data"]["missing_chunks"] == ["0"]
    assert event["data"]["broken_chunks"] == [
        {"id": CHUNKS[1]["url"], "pos": "0", "reason": "HTTP 404"}]
    assert [c["id"] for c in event["data"]["present_chunks"]] == [
        CHUNKS[0]["url"], CHUNKS[2]["url"]]


def test_an_unreachable_beanstalkd_never_fails_the_read():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]       # closed: connection refused
    report = BrokenChunks(URL, "req", f"beanstalk://127.0.0.1:{port}")
    report.add(CHUNKS[0], "HTTP 404")
    assert report.send(CHUNKS) is False
    assert BrokenChunks(URL, "req", None).send(CHUNKS) is False
