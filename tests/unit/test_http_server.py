"""The shared HTTP core over real sockets on loopback."""

import asyncio
import hashlib
import http.client
import json
import os
import socket
import tempfile

import pytest

from oio.common.aio_client import AsyncHttpClient
from oio.common.exceptions import OioConnectionException
from oio.common.http_server import (
    FileResponse,
    HttpError,
    Response,
    Router,
    StreamResponse,
    json_response,
    parse_query,
)
from tests.utils import ServerThread, free_port, wait_until


def make_router():
    router = Router()

    @router.route("GET", "/hello")
    async def hello(req):
        return json_response({"args": req.args, "req_id": req.req_id})

    @router.route("PUT", "/upload/{name}")
    async def upload(req):
        md5 = hashlib.md5()
        buf = bytearray(65536)
        view = memoryview(buf)
        total = 0
        while True:
            n = await req.readinto(view)
            if not n:
                break
            md5.update(view[:n])
            total += n
        return json_response({"name": req.match["name"], "size": total,
                              "md5": md5.hexdigest(), "trailers": req.trailers},
                             201)

    @router.route("POST", "/json")
    async def echo_json(req):
        return json_response({"got": await req.json()})

    @router.route("GET", "/stream")
    async def stream(req):
        async def gen():
            for i in range(3):
                yield b"part%d;" % i
        return StreamResponse(200, {}, gen())

    @router.route("GET", "/file")
    async def get_file(req):
        path = req.args["path"]
        offset = int(req.args.get("offset", 0))
        fd = os.open(path, os.O_RDONLY)
        size = os.fstat(fd).st_size
        return FileResponse(200, {}, fd, offset, size - offset)

    @router.route("GET", "/boom")
    async def boom(req):
        raise RuntimeError("unexpected")

    @router.route("GET", "/teapot")
    async def teapot(req):
        raise HttpError(418, "short and stout", status=1418)

    @router.route("PUT", "/ignore")
    async def ignore(req):
        return Response(204)

    @router.route("PUT", "/thread/{name}")
    async def in_thread(req):
        if not req.raw:
            raise HttpError(400, "not a raw body")

        def consume(reader):
            md5, total = hashlib.md5(), 0
            view = memoryview(bytearray(100_000))
            while got := reader.fill(view):
                md5.update(view[:got])
                total += got
            return total, md5.hexdigest()
        size, digest = await req.consume_in_thread(consume)
        return json_response({"size": size, "md5": digest,
                              "trailers": req.trailers}, 201)

    return router


@pytest.fixture(scope="module", params=["parsed", "raw"])
def server(request):
    """Every test twice: bodies parsed on the event loop, then PUT bodies
    taken raw (read from the socket in worker threads, as the rawx does)."""
    router = make_router()
    if request.param == "raw":
        router.raw_body = lambda req: req.method == "PUT"
    with ServerThread(router, echo_req_id=True) as srv:
        srv.raw = request.param == "raw"
        yield srv


@pytest.fixture(scope="module")
def raw_server():
    router = make_router()
    router.raw_body = lambda req: req.method == "PUT"
    with ServerThread(router) as srv:
        yield srv


def exchange(srv, *parts: bytes, replies: int = 1) -> bytes:
    """Send `parts` one by one on a new connection; what came back once
    `replies` JSON replies are complete."""
    sock = socket.create_connection((srv.server.host, srv.server.port))
    sock.settimeout(10)
    for part in parts:
        sock.sendall(part)
    data = b""
    while data.count(b"HTTP/1.1 ") < replies or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    sock.close()
    return data


def _json_bodies(data: bytes) -> list[dict]:
    bodies = []
    for reply in data.split(b"HTTP/1.1 ")[1:]:
        bodies.append(json.loads(reply.split(b"\r\n\r\n", 1)[1]))
    return bodies


def test_raw_body_in_a_thread_then_keep_alive(raw_server):
    """A chunked body with trailers read in a thread, then a pipelined
    request in the same packet, then one sent later: the connection goes
    back to the event loop after the body."""
    payload = os.urandom(300_000)
    framed = b"".join(b"%x\r\n%b\r\n" % (len(payload[i:i + 70_000]),
                                          payload[i:i + 70_000])
                      for i in range(0, len(payload), 70_000))
    data = exchange(
        raw_server,
        b"PUT /thread/a HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + framed[:1000],
        framed[1000:] + b"0\r\nX-Trailer: t1\r\n\r\n"
        b"GET /hello?n=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        replies=2)
    first, second = _json_bodies(data)
    assert first == {"size": len(payload),
                     "md5": hashlib.md5(payload).hexdigest(),
                     "trailers": {"x-trailer": "t1"}}
    assert second["args"] == {"n": "1"}


def test_raw_body_headers_end_across_reads(raw_server):
    """The end of the headers split between two sends (and a sized body):
    still taken raw, whole."""
    data = exchange(raw_server,
                    b"PUT /thread/b HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 5\r\n\r",
                    b"\nhel", b"lo")
    assert _json_bodies(data) == [{"size": 5,
                                   "md5": hashlib.md5(b"hello").hexdigest(),
                                   "trailers": {}}]


class _FakeTransport:
    def __init__(self):
        self.paused = False

    def get_extra_info(self, key):
        return None

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False

    def write(self, data):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("parts", [
    [b"Content-Length: 5\r\n\r\nhel"],
    [b"Content-Length: 5\r\n\r", b"\nhel"],
    [b"Content-Length: 5\r", b"\n\r", b"\nhel"],
    [b"Content-Length: 5\r\n", b"\r\nhel"],
])
def test_headers_are_fed_up_to_their_end_only(parts):
    """However the blank line ending the headers is split between reads,
    the parser gets the headers only, and the body's first bytes wait for
    the thread that takes the body."""
    from oio.common.http_server import HttpServer, _Connection

    async def run():
        router = make_router()
        router.raw_body = lambda req: req.method == "PUT"
        conn = _Connection(HttpServer(router))
        transport = _FakeTransport()
        conn.connection_made(transport)
        conn.data_received(b"PUT /thread/b HTTP/1.1\r\nHost: x\r\n")
        for part in parts:
            conn.data_received(part)
        req = conn.current
        assert req is not None and req.raw and transport.paused
        assert req._raw_buffered == b"hel"
        conn.task.cancel()

    asyncio.run(run())


def test_raw_body_after_a_parsed_request_in_the_same_packet(raw_server):
    """A raw-eligible request parsed behind another one in the same read
    cannot be split: it is parsed on the loop, and the handler sees it."""
    data = exchange(raw_server,
                    b"GET /hello?n=0 HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"PUT /upload/c HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 3\r\n\r\nabc", replies=2)
    first, second = _json_bodies(data)
    assert first["args"] == {"n": "0"}
    assert second["size"] == 3


@pytest.mark.parametrize("framing, status", [
    (b"zz\r\nhello\r\n0\r\n\r\n", b"400"),
    (b"5\r\nhelloXX0\r\n\r\n", b"400"),
    (b"0\r\nno-colon-here\r\n\r\n", b"400"),
])
def test_raw_body_bad_framing_is_400(raw_server, framing, status):
    sock = socket.create_connection((raw_server.server.host,
                                     raw_server.server.port))
    sock.settimeout(10)
    sock.sendall(b"PUT /thread/d HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + framing)
    data = sock.recv(65536)
    sock.close()
    assert data.startswith(b"HTTP/1.1 " + status), data


def request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(srv.server.host, srv.server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_query_decoding_first_wins_and_plus():
    args = parse_query("a=1&a=2&b=x+y&c=%2Fz&flag&e=")
    assert args == {"a": "1", "b": "x y", "c": "/z", "flag": "", "e": ""}


def test_get_json_and_req_id(server):
    resp, data = request(server, "GET", "/hello?x=%C3%A9", headers={
        "x-oio-req-id": "abc"})
    assert resp.status == 200
    assert json.loads(data) == {"args": {"x": "é"}, "req_id": "abc"}
    assert resp.getheader("x-oio-req-id") == "abc"


def test_every_reply_has_a_date(server):
    import email.utils
    import time

    for path in ("/hello", "/nope"):
        resp, _ = request(server, "GET", path)
        date = resp.getheader("Date")
        assert date and date.endswith(" GMT"), (path, date)
        when = email.utils.parsedate_to_datetime(date).timestamp()
        assert abs(when - time.time()) < 5
        assert len(resp.msg.get_all("Date")) == 1


def test_not_found_is_openio_json(server):
    resp, data = request(server, "GET", "/nope")
    assert resp.status == 404
    assert resp.reason == "No handler found"
    assert json.loads(data) == {"status": 404, "message": "No handler found"}


def test_errors(server):
    resp, data = request(server, "GET", "/boom")
    assert resp.status == 500
    assert json.loads(data)["status"] == 500
    resp, data = request(server, "GET", "/teapot")
    assert resp.status == 418
    assert json.loads(data) == {"status": 1418, "message": "short and stout"}
    resp, data = request(server, "POST", "/json", body=b"{not json")
    assert resp.status == 400


def test_upload_sized_body(server):
    payload = os.urandom(3 * 1024 * 1024 + 7)
    resp, data = request(server, "PUT", "/upload/a", body=payload)
    assert resp.status == 201
    got = json.loads(data)
    assert got["size"] == len(payload)
    assert got["md5"] == hashlib.md5(payload).hexdigest()


def test_small_chunked_body_refused_unread_is_drained(server):
    """A reply sent before the chunked body was read: the client sends the
    rest of it, then reads the reply on the same connection (Go's rawx
    does so; closing made clients fail with a broken pipe)."""
    sock = socket.create_connection((server.server.host, server.server.port))
    sock.settimeout(10)
    sock.sendall(b"PUT /ignore HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    sock.sendall(b"5\r\nhello\r\n")
    sock.sendall(b"0\r\n\r\n")
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
        part = sock.recv(65536)
        assert part, data
        data += part
    sock.close()
    assert data.startswith(b"HTTP/1.1 204 ")
    assert b"Connection: close" not in data.split(b"\r\n\r\n")[0]
    assert b"HTTP/1.1 200 " in data


def test_upload_chunked_with_trailers(server):
    sock = socket.create_connection((server.server.host, server.server.port))
    sock.sendall(b"PUT /upload/t HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
                 b"X-Oio-Chunk-Meta-Metachunk-Size: 11\r\n\r\n")
    data = b""
    while b"}" not in data:
        data += sock.recv(65536)
    sock.close()
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["size"] == 11
    assert body["md5"] == hashlib.md5(b"hello world").hexdigest()
    assert body["trailers"] == {"x-oio-chunk-meta-metachunk-size": "11"}


def test_keep_alive_pipelining(server):
    sock = socket.create_connection((server.server.host, server.server.port))
    sock.sendall(b"GET /hello?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 b"GET /hello?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk
        data += chunk
    sock.close()
    assert data.index(b'"n":"1"') < data.index(b"204 No Content") < data.index(
        b'"n":"2"')


def test_malformed_request_gets_400(server):
    sock = socket.create_connection((server.server.host, server.server.port))
    sock.sendall(b"BLAH\x01 / HTTP/1.1\r\n\r\n")
    data = sock.recv(65536)
    sock.close()
    assert data.startswith(b"HTTP/1.1 400")


def test_headers_too_large(server):
    resp, _ = request(server, "GET", "/hello", headers={"x-big": "a" * 70000})
    assert resp.status == 431


def test_stream_response_chunked(server):
    resp, data = request(server, "GET", "/stream")
    assert resp.status == 200
    assert resp.getheader("transfer-encoding") == "chunked"
    assert data == b"part0;part1;part2;"


@pytest.mark.parametrize("size,offset", [(100, 0), (5 * 1024 * 1024 + 3, 1000)])
def test_file_response(server, size, offset):
    payload = os.urandom(size)
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(payload)
        tmp.flush()
        resp, data = request(server, "GET", f"/file?path={tmp.name}&offset={offset}")
    assert resp.status == 200
    assert int(resp.getheader("content-length")) == size - offset
    assert data == payload[offset:]


def test_head_has_no_body(server):
    resp, data = request(server, "HEAD", "/hello")
    assert resp.status == 200
    assert data == b""


def test_client_disconnect_mid_body(server):
    sock = socket.create_connection((server.server.host, server.server.port))
    sock.sendall(b"PUT /upload/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                 b"\r\nonly a few bytes")
    sock.close()
    # The server survives and still answers.
    resp, _ = request(server, "GET", "/hello")
    assert resp.status == 200


def test_aio_client_roundtrip_and_reuse(server):
    async def scenario():
        client = AsyncHttpClient()
        try:
            r1 = await client.request("POST", server.addr, "/json", json={"a": 1})
            r2 = await client.request("GET", server.addr, "/hello?k=v")
            r3 = await client.request("GET", server.addr, "/nope")
            return r1, r2, r3, len(client._idle[server.addr])
        finally:
            await client.close()

    r1, r2, r3, idle = asyncio.run(scenario())
    assert r1.status == 200 and r1.json() == {"got": {"a": 1}}
    assert r2.json()["args"] == {"k": "v"}
    assert r3.status == 404 and r3.reason == "No handler found"
    assert idle == 1


def test_aio_client_connection_refused():
    async def scenario():
        client = AsyncHttpClient(connect_timeout=1)
        await client.request("GET", f"127.0.0.1:{free_port()}", "/")

    with pytest.raises(OioConnectionException):
        asyncio.run(scenario())


def test_slow_headers_time_out():
    with ServerThread(make_router(), header_timeout=0.3) as srv:
        sock = socket.create_connection((srv.server.host, srv.server.port))
        sock.settimeout(5)
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        data = sock.recv(65536)
        sock.close()
    assert data.startswith(b"HTTP/1.1 408")


def test_idle_keepalive_connection_closed():
    with ServerThread(make_router(), keepalive_timeout=0.3) as srv:
        sock = socket.create_connection((srv.server.host, srv.server.port))
        sock.settimeout(5)
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"}"):
            data += sock.recv(65536)
        assert sock.recv(65536) == b""  # closed by the server once idle
        sock.close()


def test_raw_body_after_100_continue(raw_server):
    sock = socket.create_connection((raw_server.server.host,
                                     raw_server.server.port))
    sock.settimeout(10)
    sock.sendall(b"PUT /thread/e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(b"abcd")
    data = b""
    while not data.endswith(b"}"):
        part = sock.recv(65536)
        assert part, data
        data += part
    sock.close()
    assert _json_bodies(data)[0]["size"] == 4


def test_raw_bodies_beyond_the_limit_are_parsed(raw_server, monkeypatch):
    """Raw bodies hold a thread each: past MAX_RAW_BODIES at once, the next
    ones are parsed on the event loop, and the count goes back to zero."""
    import oio.common.http_server as core

    monkeypatch.setattr(core, "MAX_RAW_BODIES", 1)
    slow = socket.create_connection((raw_server.server.host,
                                     raw_server.server.port))
    slow.settimeout(10)
    slow.sendall(b"PUT /thread/slow HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 6\r\n\r\nabc")
    wait_until(lambda: raw_server.server.raw_active == 1, timeout=5)
    data = exchange(raw_server, b"PUT /thread/next HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 3\r\n\r\nxyz")
    assert _json_bodies(data)[0]["message"] == "not a raw body"
    slow.sendall(b"def")
    reply = b""
    while not reply.endswith(b"}"):
        reply += slow.recv(65536)
    slow.close()
    assert _json_bodies(reply)[0]["size"] == 6
    wait_until(lambda: raw_server.server.raw_active == 0, timeout=5)
