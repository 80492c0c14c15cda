"""A rawx that stops answering is waited for once per read: the following
metachunks of the same read try it last (io.ChunkReader, object_stream)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oio.api.broken import BrokenChunks
from oio.api.io import avoided_last, chunk_host, object_stream
from oio.common.http_urllib3 import get_pool_manager

DATA = b"0123456789" * 100


class _Chunk(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.startswith("/" + "0" * 64):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        first, last = self.headers["Range"].split("=")[1].split("-")
        body = DATA[int(first):int(last) + 1]
        self.send_response(206)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def good():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chunk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stalled():
    """Accepts connections and never answers; counts them."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{sock.getsockname()[1]}", accepted
    sock.close()
    for conn in accepted:
        conn.close()


def test_avoided_rawx_go_last_in_order():
    chunks = [{"url": f"http://h{i}:1/C{i}"} for i in range(3)]
    assert avoided_last(chunks, {"h0:1"}) == chunks[1:] + chunks[:1]
    assert avoided_last(chunks, set()) == chunks
    assert chunk_host({"url": "http://a:2/x", "real_url": "http://b:3/x"}) \
        == "b:3"


def test_a_stalled_replica_is_waited_for_once(good, stalled):
    stall_addr, accepted = stalled
    metachunks = []
    for pos in range(3):
        chunks = [{"url": f"http://{stall_addr}/{'A' * 64}", "pos": str(pos)},
                  {"url": f"http://{good}/{'B' * 64}", "pos": str(pos)}]
        metachunks.append(({"chunks": chunks, "size": 300}, 0, 299))
    stream = object_stream(get_pool_manager(), metachunks, "req-avoid",
                           read_timeout=0.5)
    assert b"".join(stream) == DATA[:300] * 3
    assert len(accepted) == 1


def test_a_missing_replica_is_reported_not_avoided(good):
    """A 404 is the chunk's problem (reported for rebuild), not the rawx's
    (the next metachunk may read that rawx first again)."""
    report = BrokenChunks({"path": "o"}, "req-404", None)
    missing = {"url": f"http://{good}/{'0' * 64}", "pos": "0"}
    present = {"url": f"http://{good}/{'B' * 64}", "pos": "0"}
    avoid: set[str] = set()
    stream = object_stream(get_pool_manager(),
                           [({"chunks": [missing, present], "size": 300},
                             0, 299)],
                           "req-404", avoid=avoid, report=report)
    assert b"".join(stream) == DATA[:300]
    assert list(report.found) == [missing["url"]]
    assert not avoid
