"""The lean HTTP/1.1 client, against a raw socket server answering canned
replies."""

import socket
import threading

import pytest

from oio.common import exceptions as exc
from oio.common.client import ProxyClient
from oio.common.http_lean import LeanPool, LeanProtocolError, request_bytes
from oio.common.http_urllib3 import get_pool_manager, split_http_url


class CannedServer:
    """Answers each request (head up to the blank line, then
    Content-Length bytes) with the next reply of `replies`; a reply of
    None closes the connection instead."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            while self.replies:
                while b"\r\n\r\n" not in buf:
                    more = conn.recv(65536)
                    if not more:
                        return
                    buf += more
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                reply = self.replies.pop(0)
                if reply is None:
                    return
                conn.sendall(reply)

    def close(self):
        self.sock.close()


def ok(body=b"", extra=""):
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            ).encode() + body


def test_sized_chunked_and_close_delimited_replies():
    server = CannedServer([
        ok(b"hello", "X-Thing: 1\r\n"),
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
    ])
    pool = LeanPool()
    try:
        resp = pool.request("GET", "127.0.0.1", server.port, "/a", {}, None,
                            1, 5)
        assert (resp.status, resp.data) == (200, b"hello")
        assert resp.getheader("x-thing") == "1" and not resp.will_close
        resp = pool.request("POST", "127.0.0.1", server.port, "/b",
                            {"X-Req": "r"}, b"body", 1, 5)
        assert (resp.status, resp.reason, resp.data) == (201, "Created",
                                                         b"abcde")
        resp = pool.request("GET", "127.0.0.1", server.port, "/c", {}, None,
                            1, 5)
        assert resp.data == b"until the end" and resp.will_close
        # One connection for the three (the last one is then closed).
        assert server.connections == 1
        first, second = server.requests[:2]
        assert first.startswith(b"GET /a HTTP/1.1\r\n")
        assert b"Host: 127.0.0.1:%d\r\n" % server.port in first
        assert b"X-Req: r\r\nHost: " in second
        assert second.endswith(b"Content-Length: 4\r\n\r\nbody")
    finally:
        pool.close()
        server.close()


def test_a_connection_closed_by_the_server_is_replaced_once():
    # The first connection answers once then closes when reused.
    server = CannedServer([ok(b"1"), None, ok(b"2")])
    pool = LeanPool()
    try:
        assert pool.request("GET", "127.0.0.1", server.port, "/", {}, None,
                            1, 5).data == b"1"
        assert pool.request("GET", "127.0.0.1", server.port, "/", {}, None,
                            1, 5).data == b"2"
        assert server.connections == 2
    finally:
        pool.close()
        server.close()


def test_interim_replies_are_skipped():
    server = CannedServer([b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"done")])
    pool = LeanPool()
    try:
        resp = pool.request("PUT", "127.0.0.1", server.port, "/", {}, b"x",
                            1, 5)
        assert (resp.status, resp.data) == (200, b"done")
    finally:
        pool.close()
        server.close()


def test_a_new_connection_closed_at_once_is_an_error():
    server = CannedServer([None])
    pool = LeanPool()
    try:
        with pytest.raises(ConnectionResetError):
            pool.request("GET", "127.0.0.1", server.port, "/", {}, None, 1, 5)
    finally:
        server.close()


@pytest.mark.parametrize("reply", [
    b"SPDY/9 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_malformed_replies(reply):
    server = CannedServer([reply])       # then closes
    pool = LeanPool()
    try:
        with pytest.raises(LeanProtocolError):
            pool.request("GET", "127.0.0.1", server.port, "/", {}, None, 1, 5)
    finally:
        server.close()


def test_request_bytes_refuses_injections():
    with pytest.raises(ValueError):
        request_bytes("GET", "/a b", "h:1", {}, None)
    with pytest.raises(ValueError):
        request_bytes("GET", "/", "h:1", {"X": "a\r\nEvil: 1"}, None)
    # Caller's Host and Content-Length win, never doubled.
    head = request_bytes("PUT", "/", "h:1", {"host": "other",
                                             "Content-Length": "3"}, b"abc")
    assert head.count(b"Host") + head.count(b"host") == 1
    assert head.lower().count(b"content-length") == 1
    # A big body is not copied into the head.
    parts = request_bytes("PUT", "/", "h:1", {}, b"x" * 100000)
    assert isinstance(parts, list) and len(parts[1]) == 100000


def test_split_http_url():
    assert split_http_url("http://127.0.0.1:6000/v3.0/NS?x=1") == (
        "127.0.0.1", 6000, "/v3.0/NS?x=1")
    assert split_http_url("http://[::1]:80") == ("::1", 80, "/")
    assert split_http_url("https://h:1/") is None
    assert split_http_url("http://user@h:1/") is None


def test_proxy_client_errors_through_the_lean_path():
    pool_manager = get_pool_manager()
    server = CannedServer([
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 37\r\n\r\n"
        b'{"status": 420, "message": "no such"}',
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"])
    client = ProxyClient({"namespace": "NS"}, request_prefix="",
                         endpoint=f"http://127.0.0.1:{server.port}",
                         pool_manager=pool_manager)
    try:
        with pytest.raises(exc.NotFound) as caught:
            client._request("GET", "/thing")
        assert caught.value.status == 420
        assert client._request("GET", "/thing")[1] == {}
    finally:
        server.close()
    # Nobody listens any more: a connection error, as with urllib3.
    with pytest.raises(exc.OioNetworkException):
        client._request("GET", "/thing", connection_timeout=1)
