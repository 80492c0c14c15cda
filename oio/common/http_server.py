"""The HTTP/1.1 server core shared by every service.

asyncio + httptools (llhttp), uvloop when available. It streams request
bodies with back-pressure, keeps request trailers (OpenIO EC uploads send the
metachunk size and hash as trailers), sends chunked or sized replies, and
serves files with os.sendfile. Services are a Router of small async handlers
over plain classes; see docs/http-core.md.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import httptools

from oio.common.blocking_pool import BlockingPool
from oio.common.constants import REQID_HEADER
from oio.common.http_file_send import send_direct, sendfile_all
from oio.common.http_raw_body import BodyError, RawBodyReader
from oio.common.logbuffer import BufferedLogHandler
from oio.common.memory import tune_malloc
from oio.common.utils import MAX_REQUEST_ID_LENGTH, request_id

Handler = Callable[["Request"], Awaitable["Response"]]

access_logger = logging.getLogger("access")
logger = logging.getLogger("oio.http")

# Request body bytes buffered per connection before we stop reading the socket.
BODY_HIGH_WATER = 4 * 1024 * 1024
BODY_LOW_WATER = 1024 * 1024
# Body bytes left unread by a handler that we read and discard to keep the
# connection alive; above this, closing is cheaper.
MAX_DRAIN = 1024 * 1024
# Below this size a file reply is read and written inline: cheaper than a
# thread hop for sendfile.
INLINE_FILE_MAX = 64 * 1024

# The process-wide thread pool for blocking work (disk, fsync, SQLite).
_blocking_pool = BlockingPool(max_workers=64)
# Raw bodies hold a thread for a whole upload (a slow client, long): they
# have threads of their own, at most this many at once; the requests beyond
# are parsed on the event loop as before, so that neither pool starves.
MAX_RAW_BODIES = 32
_raw_pool = BlockingPool(max_workers=MAX_RAW_BODIES, name="raw-body")
# The Date of replies, formatted once per second.
_date_cache: tuple[int, str] = (0, "")


def http_date_now() -> str:
    """Now as an HTTP date (IMF-fixdate), e.g. for the Date header every
    reply carries (RFC 9110 §6.6.1; 7.2's rawx and account send it)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        from email.utils import formatdate

        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
# Queued disk work (a rename, a commit) completes before the process exits.
atexit.register(_blocking_pool.shutdown)


async def run_blocking(func: Callable[..., Any], *args: Any) -> Any:
    """Run `func(*args)` in the blocking thread pool, without blocking the loop."""
    return await _blocking_pool.submit(asyncio.get_running_loop(), func, *args)


class HttpError(Exception):
    """An error reply: `{"status": status or http_status, "message": ...}`."""

    def __init__(self, http_status: int, message: str = "",
                 status: int | None = None, headers: dict | None = None,
                 reason: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.message = message or _reason(http_status)
        self.status = status if status is not None else http_status
        self.headers = headers or {}
        self.reason = reason

    def to_response(self) -> Response:
        return json_response({"status": self.status, "message": self.message},
                             self.http_status, headers=self.headers,
                             reason=self.reason)


class ClientDisconnected(ConnectionError):
    """The client went away before its request body was complete."""


class BodyTimeout(TimeoutError):
    """The client sent no body byte for longer than the body timeout."""


# Looked up once: HTTPStatus(status) costs an Enum construction per reply.
_REASONS = {int(status): status.phrase for status in HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


# --------------------------------------------------------------------------
# Responses


class Response:
    """A reply with its whole body in memory (small bodies only)."""

    __slots__ = ("status", "headers", "body", "reason")

    def __init__(self, status: int = 200, body: bytes | str = b"",
                 headers: dict | None = None, reason: str | None = None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = headers if headers is not None else {}
        self.reason = reason


class StreamResponse(Response):
    """A reply whose body comes from an async iterator of bytes.

    Without `content_length`, it is sent with chunked transfer encoding.
    """

    __slots__ = ("chunks", "content_length")

    def __init__(self, status: int, headers: dict | None,
                 chunks: AsyncIterator[bytes], content_length: int | None = None,
                 reason: str | None = None):
        super().__init__(status, b"", headers, reason)
        self.chunks = chunks
        self.content_length = content_length


class FileResponse(Response):
    """A reply whose body is `length` bytes of `fd` from `offset` (sendfile).

    The core closes `fd` once the reply is sent (or failed). `direct`: `fd`
    is opened with O_DIRECT, and is read by aligned blocks into a reused
    buffer then sent (without the page cache), instead of sendfile.
    """

    __slots__ = ("fd", "offset", "length", "direct")

    def __init__(self, status: int, headers: dict | None, fd: int, offset: int,
                 length: int, reason: str | None = None, direct: bool = False):
        super().__init__(status, b"", headers, reason)
        self.fd = fd
        self.offset = offset
        self.length = length
        self.direct = direct


def json_response(obj: Any, status: int = 200, headers: dict | None = None,
                  reason: str | None = None) -> Response:
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return Response(status, body, hdrs, reason)


# --------------------------------------------------------------------------
# Requests


def parse_query(query_string: str) -> dict[str, str]:
    """OpenIO query decoding: split on '&', '+' is a space, then percent-decode
    the whole token; the first occurrence of a name wins.

    Bytes that are not UTF-8 are kept as surrogates (see `is_utf8`).
    """
    args: dict[str, str] = {}
    if not query_string:
        return args
    for token in query_string.split("&"):
        if not token:
            continue
        raw = unquote_to_bytes(token.replace("+", " "))
        decoded = raw.decode("utf-8", "surrogateescape")
        name, sep, value = decoded.partition("=")
        if name not in args:
            args[name] = value if sep else ""
    return args


def is_utf8(value: str) -> bool:
    """False when `value` holds bytes that were not valid UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Request:
    """One HTTP request, its headers parsed, its body streamed on demand."""

    def __init__(self, conn: _Connection, method: str, raw_url: bytes,
                 headers: dict[str, str], keep_alive: bool, http_version: str):
        self._conn = conn
        self.method = method
        url = raw_url.decode("latin-1")
        raw_path, _, self.query_string = url.partition("?")
        self.raw_path = raw_path
        self.path = unquote(raw_path, errors="surrogateescape")
        self.headers = headers
        self.keep_alive = keep_alive
        self.http_version = http_version
        self.match: dict[str, str] = {}
        self.trailers: dict[str, str] = {}
        self._args: dict[str, str] | None = None
        cl = headers.get("content-length")
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.content_length: int | None = (
            int(cl) if cl is not None and cl.strip().isdigit() else None)
        self._req_id: str | None = None
        self.peer = conn.peer
        self.start = time.monotonic()
        # Body state, fed by the connection.
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = not self.chunked and not self.content_length
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._expect_continue = (
            headers.get("expect", "").lower() == "100-continue")
        self.bytes_read = 0
        # Raw mode: the body is not parsed by the connection but read from
        # the socket (bytes received with the headers, then the reader).
        self.raw = False
        self._raw_counted = False     # in the server's raw_active
        self._raw_buffered = b""
        self._raw: RawBodyReader | None = None
        self._raw_fd = -1

    @property
    def req_id(self) -> str:
        """From x-oio-req-id (or x-trans-id), else generated; <= 63 chars."""
        if self._req_id is None:
            rid = (self.headers.get(REQID_HEADER)
                   or self.headers.get("x-trans-id") or request_id())
            self._req_id = rid[:MAX_REQUEST_ID_LENGTH]
        return self._req_id

    @property
    def args(self) -> dict[str, str]:
        if self._args is None:
            self._args = parse_query(self.query_string)
        return self._args

    @property
    def awaits_continue(self) -> bool:
        """The client waits for "100 Continue" before sending the body."""
        return self._expect_continue

    @property
    def body_complete(self) -> bool:
        if self.raw:
            return self._raw is not None and self._raw.done
        return self._eof and not self._chunks

    # Raw mode ---------------------------------------------------------------
    def _raw_reader(self) -> RawBodyReader:
        """The socket reader of a raw body, made on first use."""
        if self._raw is None:
            if self._expect_continue:
                self._expect_continue = False
                self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock = self._conn.transport.get_extra_info("socket")
            # A duplicate: the thread reads it without touching the loop's
            # registration (reading is paused meanwhile).
            self._raw_fd = os.dup(sock.fileno())
            self._raw = RawBodyReader(
                self._raw_fd, self._raw_buffered, self.chunked,
                self.content_length, self._conn.server.body_timeout)
            self._raw_buffered = b""
        return self._raw

    async def consume_in_thread(self, func: Callable[..., Any],
                                *args: Any) -> Any:
        """Run `func(reader, *args)` in a worker thread, `reader` reading
        the body from the socket (RawBodyReader: `readinto`, `fill`,
        `done`, `trailers`); the requests of `raw_body` only. Reading
        errors come out as HttpError, ClientDisconnected, BodyTimeout."""
        reader = self._raw_reader()
        try:
            return await _raw_pool.submit(asyncio.get_running_loop(), func,
                                          reader, *args)
        except BodyError as exc:
            raise self._body_exception(exc) from None
        finally:
            self.trailers.update(reader.trailers)
            self.bytes_read = reader.received

    @staticmethod
    def _body_exception(exc: BodyError) -> Exception:
        if exc.disconnected:
            return ClientDisconnected(str(exc))
        if exc.timeout:
            return BodyTimeout(str(exc))
        return HttpError(exc.status, str(exc))

    async def _raw_read(self, size: int) -> bytes:
        reader = self._raw_reader()
        buf = bytearray(size)
        try:
            n = await _raw_pool.submit(asyncio.get_running_loop(),
                                       reader.readinto, memoryview(buf))
        except BodyError as exc:
            raise self._body_exception(exc) from None
        self.trailers.update(reader.trailers)
        self.bytes_read = reader.received
        return bytes(buf[:n])

    def _raw_close(self) -> None:
        if self._raw_fd >= 0:
            os.close(self._raw_fd)
            self._raw_fd = -1
        self._raw_uncount()

    def _raw_uncount(self) -> None:
        if self._raw_counted:
            self._raw_counted = False
            self._conn.server.raw_active -= 1

    # Called by the connection
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if error is not None and not self._eof:
            self._error = error
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait_data(self) -> None:
        if self._expect_continue:
            self._expect_continue = False
            self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            await asyncio.wait_for(self._waiter, self._conn.server.body_timeout)
        except asyncio.TimeoutError:
            raise BodyTimeout("no request body data for too long") from None
        finally:
            self._waiter = None

    def _consumed(self, n: int) -> None:
        self._buffered -= n
        self.bytes_read += n
        self._conn.body_consumed()

    async def read(self, size: int = 65536) -> bytes:
        """Up to `size` body bytes; b"" at the end of the body."""
        if self.raw:
            return await self._raw_read(size)
        while not self._chunks:
            if self._eof:
                if self._error is not None:
                    raise self._error
                return b""
            await self._wait_data()
        chunk = self._chunks[0]
        if len(chunk) <= size:
            self._chunks.popleft()
        else:
            self._chunks[0] = chunk[size:]
            chunk = chunk[:size]
        self._consumed(len(chunk))
        return chunk

    async def readinto(self, view: memoryview) -> int:
        """Fill `view` with as many buffered body bytes as possible (at least
        one unless the body is over); 0 at the end of the body."""
        if self.raw:
            data = await self._raw_read(len(view))
            view[:len(data)] = data
            return len(data)
        while not self._chunks:
            if self._eof:
                if self._error is not None:
                    raise self._error
                return 0
            await self._wait_data()
        total = 0
        room = len(view)
        chunks = self._chunks
        while chunks and total < room:
            chunk = chunks[0]
            n = min(len(chunk), room - total)
            view[total:total + n] = chunk[:n] if n < len(chunk) else chunk
            total += n
            if n < len(chunk):
                chunks[0] = chunk[n:]
            else:
                chunks.popleft()
        self._consumed(total)
        return total

    async def body(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """The whole body; HttpError 413 beyond `limit` bytes."""
        if self.content_length is not None and self.content_length > limit:
            raise HttpError(413, "Request body too large")
        parts = []
        size = 0
        while True:
            chunk = await self.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "Request body too large")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self, limit: int = 16 * 1024 * 1024) -> Any:
        """The body parsed as JSON; None when empty; HttpError 400 if invalid."""
        raw = await self.body(limit)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HttpError(400, f"Invalid JSON body: {exc}") from None


# --------------------------------------------------------------------------
# Routing


class Router:
    """Maps (method, path) to handlers; `{name}` matches one path segment."""

    def __init__(self, not_found: Handler | None = None):
        self._static: dict[tuple[str, str], Handler] = {}
        self._buckets: dict[tuple, list[tuple[list[str], Handler]]] = {}
        self.not_found = not_found or self._default_not_found

    @staticmethod
    async def _default_not_found(req: Request) -> Response:
        raise HttpError(404, "No handler found", reason="No handler found")

    def add(self, method: str, path: str, handler: Handler) -> None:
        path = self.normalize(path)
        if "{" in path:
            segments = path.split("/")
            # Patterns are looked up by method, depth and last segment (when
            # it is not a parameter), so that a request scans a few of them.
            last = segments[-1]
            key = (method.upper(), len(segments),
                   None if last.startswith("{") else last)
            self._buckets.setdefault(key, []).append((segments, handler))
        else:
            self._static[(method.upper(), path)] = handler

    def route(self, method: str, path: str):
        def decorator(func: Handler) -> Handler:
            self.add(method, path, func)
            return func
        return decorator

    @staticmethod
    def normalize(path: str) -> str:
        path = "/" + path.lstrip("/")
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        return path

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        path = self.normalize(path)
        handler = self._static.get((method, path))
        if handler is not None:
            return handler, {}
        if method == "HEAD":
            handler = self._static.get(("GET", path))
        if handler is not None:
            return handler, {}
        segments = path.split("/")
        methods = (method, "GET") if method == "HEAD" else (method,)
        for candidate in methods:
            for last in (segments[-1], None):
                bucket = self._buckets.get((candidate, len(segments), last))
                for psegments, phandler in bucket or ():
                    match = {}
                    for pseg, seg in zip(psegments, segments, strict=True):
                        if pseg[:1] == "{":
                            match[pseg[1:-1]] = seg
                        elif pseg != seg:
                            break
                    else:
                        return phandler, match
        return self.not_found, {}

    async def __call__(self, req: Request) -> Response:
        handler, req.match = self.resolve(req.method, req.path)
        return await handler(req)


# --------------------------------------------------------------------------
# Connections


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, serves them in order."""

    def __init__(self, server: HttpServer):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.parser = httptools.HttpRequestParser(self)
        self.requests: deque[Request] = deque()
        self.current: Request | None = None  # the one receiving body bytes
        self.task: asyncio.Task | None = None
        self.closed = False
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        # When the connection times out (monotonic), None when a request
        # is being served: checked by the server's sweeper, cheaper than a
        # loop timer armed and cancelled twice per request.
        self.deadline: float | None = None
        # Parser state for the message being parsed.
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._headers_done = False
        self._in_headers = False
        # Raw bodies: the last bytes of headers fed so far (their end may
        # straddle two reads), and whether the parser is fed headers only.
        self._head_tail = b""
        self._splitting = False

    # asyncio.Protocol ------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc):
        self.closed = True
        self.server.connections.discard(self)
        self._cancel_idle()
        error = ClientDisconnected("client closed the connection")
        for req in ([self.current] if self.current else []) + list(self.requests):
            if req is not None:
                req._finish(error)
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_exception(error)

    def data_received(self, data):
        if self.server.raw_body is not None and self.current is None:
            data = self._feed_headers(data)
            if not data:
                return
        self._feed(data)

    def _feed_headers(self, data: bytes) -> bytes:
        """Feed the headers of the request being received up to their end
        only, so that a body taken raw is never parsed here; returns the
        bytes left to feed (nothing for a raw body: they are its first)."""
        tail = self._head_tail
        across = (tail + data[:3]).find(b"\r\n\r\n") if tail else -1
        if across >= 0:
            end = across + 4 - len(tail)     # the blank line straddles reads
        else:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._head_tail = (tail + data[-3:])[-3:]
                self._feed(data)
                return b""
            end += 4
        self._head_tail = b""
        self._splitting = True
        try:
            self._feed(data[:end])
        finally:
            self._splitting = False
        req = self.current
        if req is not None and req.raw:
            req._raw_buffered = data[end:]
            return b""
        return data[end:]

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fatal(400, "Protocol upgrades are not supported")
        except _TooLarge as exc:
            self._fatal(exc.status, str(exc))
        except httptools.HttpParserError as exc:
            # httptools wraps exceptions raised by our callbacks.
            cause = exc.__context__ or exc.__cause__
            if isinstance(cause, _TooLarge):
                self._fatal(cause.status, str(cause))
            else:
                self._fatal(400, f"Malformed request: {exc}")

    def pause_writing(self):
        self.write_paused = True

    def resume_writing(self):
        self.write_paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    # httptools callbacks ---------------------------------------------------
    def on_message_begin(self):
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._headers_done = False
        self._in_headers = True
        # One timer per connection: idle between requests, then header timeout.
        self._cancel_idle()
        self._arm_idle(self.server.header_timeout)

    def on_url(self, url: bytes):
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.server.max_header_size:
            raise _TooLarge(414, "Request URL too long")

    def on_header(self, name: bytes, value: bytes):
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        if self._headers_done:  # a trailer of a chunked body
            if self.current is not None:
                self.current.trailers[key] = val
            return
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.server.max_header_size:
            raise _TooLarge(431, "Request headers too large")
        old = self._headers.get(key)
        self._headers[key] = val if old is None else f"{old}, {val}"

    def on_headers_complete(self):
        self._headers_done = True
        self._in_headers = False
        self._cancel_idle()
        parser = self.parser
        req = Request(self, parser.get_method().decode("ascii"), self._url,
                      self._headers, parser.should_keep_alive(),
                      parser.get_http_version())
        self.current = req
        self.requests.append(req)
        server = self.server
        if (self._splitting and server.raw_body is not None
                and (req.chunked or req.content_length)
                and server.raw_active < MAX_RAW_BODIES
                and server.raw_body(req)):
            # The body goes to a thread: the loop stops reading the socket
            # until it is over (_end_raw).
            req.raw = req._raw_counted = True
            server.raw_active += 1
            self.transport.pause_reading()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    def on_body(self, body: bytes):
        req = self.current
        if req is None:
            return
        if req.raw:
            # The split missed the end of the headers (it straddled reads
            # we did not look at): the parser has the body, let it go on.
            req.raw = False
            req._raw_uncount()
            self.transport.resume_reading()
        req._feed(bytes(body))
        if req._buffered > BODY_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def on_message_complete(self):
        req = self.current
        if req is not None:
            req._finish()
        self.current = None

    # Flow control ----------------------------------------------------------
    def body_consumed(self):
        req = self.current
        if (self.reading_paused and not self.closed
                and (req is None or req._buffered < BODY_LOW_WATER)):
            self.reading_paused = False
            self.transport.resume_reading()

    async def drain(self):
        if self.closed:
            raise ClientDisconnected("client closed the connection")
        if not self.write_paused:
            return
        self.drain_waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self.drain_waiter, self.server.write_timeout)
        finally:
            self.drain_waiter = None

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    # Timeouts --------------------------------------------------------------
    def _arm_idle(self, delay: float | None = None):
        if self.deadline is None and not self.closed:
            self.deadline = time.monotonic() + (
                delay or self.server.keepalive_timeout)

    def _cancel_idle(self):
        self.deadline = None

    def _idle_timeout(self):
        self.deadline = None
        if self._in_headers:
            self._fatal(408, "Timeout while reading request headers")
        else:
            self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            self.transport.close()

    def _fatal(self, status: int, message: str):
        """Reply to a request we cannot parse, then close."""
        logger.info("%s: %s", self.peer, message)
        if self.current is not None:
            self.current._finish(ClientDisconnected(message))
        if self.task is None and not self.closed:
            resp = HttpError(status, message).to_response()
            self.write(self._head(resp, len(resp.body), False) + resp.body)
        self.close()

    # Serving ---------------------------------------------------------------
    async def _serve(self):
        try:
            while self.requests and not self.closed:
                req = self.requests.popleft()
                try:
                    keep = await self._serve_one(req)
                finally:
                    req._raw_close()
                if not keep:
                    self.close()
                    break
        finally:
            self.task = None
            if not self.closed:
                self._arm_idle()

    async def _serve_one(self, req: Request) -> bool:
        server = self.server
        try:
            resp = await server.handler(req)
        except HttpError as exc:
            resp = exc.to_response()
        except (ClientDisconnected, BodyTimeout) as exc:
            server.log_access(req, 499 if isinstance(exc, ClientDisconnected)
                              else 408, 0)
            return False
        except Exception:
            logger.exception("req_id=%s %s %s failed", req.req_id, req.method,
                             req.path)
            resp = HttpError(500, "Internal error").to_response()
        keep = req.keep_alive and server.keep_alive
        if not req.body_complete:
            keep = keep and await self._drain_body(req)
        if req.raw:
            keep = self._end_raw(req, keep)
        try:
            sent = await self._send(req, resp, keep)
        except (ClientDisconnected, ConnectionError, asyncio.TimeoutError,
                TimeoutError, OSError) as exc:
            logger.info("req_id=%s reply not sent: %r", req.req_id, exc)
            server.log_access(req, resp.status, 0)
            return False
        server.log_access(req, resp.status, sent)
        return keep

    def _end_raw(self, req: Request, keep: bool) -> bool:
        """Take the connection back from a raw body: a new parser for the
        next request, fed what was received beyond the body. Whether the
        connection can be kept (not when the body was not read whole)."""
        reader = req._raw
        req._raw_close()
        self.current = None
        if self.closed or not keep or not req.body_complete:
            return False
        self.parser = httptools.HttpRequestParser(self)
        extra = reader.extra if reader is not None else req._raw_buffered
        self.transport.resume_reading()
        if extra:
            self.data_received(extra)
        return True

    async def _drain_body(self, req: Request) -> bool:
        """Read and drop the rest of an unread body, up to MAX_DRAIN bytes;
        False to close instead. A small chunked body is drained too: a
        client still sending it (e.g. a chunk PUT refused on its headers)
        then reads the answer instead of a reset connection, as from 7.2's
        rawx."""
        if req.awaits_continue:
            return False    # the client waits for us before sending it
        if req.content_length is None and not req.chunked:
            return False
        if req.content_length is not None and \
                req.content_length - req.bytes_read > MAX_DRAIN:
            return False
        drained = 0
        try:
            while chunk := await req.read(1 << 20):
                drained += len(chunk)
                if drained > MAX_DRAIN:
                    return False
        except (ClientDisconnected, BodyTimeout, HttpError):
            return False    # HttpError: a raw body's framing is broken
        return True

    def _head(self, resp: Response, length: int | None, keep: bool,
              req: Request | None = None) -> bytes:
        reason = resp.reason or _reason(resp.status)
        lines = [f"HTTP/1.1 {resp.status} {reason}"]
        has_length = has_date = False
        for key, value in resp.headers.items():
            lower = key.lower()
            if lower == "content-length":
                has_length = True
            elif lower == "date":
                has_date = True
            lines.append(f"{key}: {value}")
        if not has_date:
            lines.append(f"Date: {http_date_now()}")
        if not has_length:
            if length is None:
                lines.append("Transfer-Encoding: chunked")
            else:
                lines.append(f"Content-Length: {length}")
        if (req is not None and self.server.echo_req_id
                and REQID_HEADER not in resp.headers):
            lines.append(f"{REQID_HEADER}: {req.req_id}")
        if not keep:
            lines.append("Connection: close")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    async def _send(self, req: Request, resp: Response, keep: bool) -> int:
        head_only = req.method == "HEAD"
        if isinstance(resp, FileResponse):
            try:
                if head_only:
                    self.write(self._head(resp, resp.length, keep, req))
                    return 0
                return await self._send_file(req, resp, keep)
            finally:
                os.close(resp.fd)
        if isinstance(resp, StreamResponse):
            return await self._send_stream(req, resp, keep, head_only)
        head = self._head(resp, len(resp.body), keep, req)
        if head_only or not resp.body:
            self.write(head)
            return 0
        if len(resp.body) < 65536:
            self.write(head + resp.body)
        else:
            self.write(head)
            self.write(resp.body)
        await self.drain()
        return len(resp.body)

    async def _send_stream(self, req: Request, resp: StreamResponse, keep: bool,
                           head_only: bool) -> int:
        chunked = resp.content_length is None
        self.write(self._head(resp, resp.content_length, keep, req))
        if head_only:
            return 0
        sent = 0
        async for chunk in resp.chunks:
            if not chunk:
                continue
            if chunked:
                self.write(b"%x\r\n" % len(chunk))
                self.write(chunk)
                self.write(b"\r\n")
            else:
                self.write(chunk)
            sent += len(chunk)
            await self.drain()
        if chunked:
            self.write(b"0\r\n\r\n")
        elif sent != resp.content_length:
            # The peer expects more bytes than we have: it must not reuse
            # this connection or take the reply for complete.
            self.close()
            raise ConnectionError(
                f"stream ended after {sent} of {resp.content_length} bytes")
        await self.drain()
        return sent

    async def _send_file(self, req: Request, resp: FileResponse,
                         keep: bool) -> int:
        head = self._head(resp, resp.length, keep, req)
        if resp.length <= INLINE_FILE_MAX and not resp.direct:
            data = os.pread(resp.fd, resp.length, resp.offset)
            if len(data) != resp.length:
                self.close()
                raise ConnectionError("file shorter than announced")
            self.write(head + data)
            await self.drain()
            return len(data)
        self.write(head)
        await self._wait_flushed()
        sock = self.transport.get_extra_info("socket")
        # A duplicate descriptor lets a worker thread call sendfile on the
        # socket without touching the event loop's registration of it.
        sock_fd = os.dup(sock.fileno())
        send = send_direct if resp.direct else sendfile_all
        try:
            sent = await run_blocking(send, sock_fd, resp.fd, resp.offset,
                                      resp.length, self.server.write_timeout)
        finally:
            os.close(sock_fd)
        if sent != resp.length:
            self.close()
            raise ConnectionError("file shorter than announced")
        return sent

    async def _wait_flushed(self):
        while self.transport.get_write_buffer_size() > 0:
            if self.closed:
                raise ClientDisconnected("client closed the connection")
            await asyncio.sleep(0.0005)


class _TooLarge(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------
# Server


class HttpServer:
    """Serves `handler` (a Router or any async callable) on host:port."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1",
                 port: int = 0, *, name: str = "oio",
                 max_header_size: int = 65536, keepalive_timeout: float = 60.0,
                 header_timeout: float = 60.0, body_timeout: float = 900.0,
                 write_timeout: float = 900.0, keep_alive: bool = True,
                 echo_req_id: bool = False, access_log: bool = True,
                 backlog: int = 1024):
        self.handler = handler
        # Which requests' bodies are read from the socket in a worker thread
        # (Request.consume_in_thread): the handler says, if it can.
        self.raw_body: Callable[[Request], bool] | None = getattr(
            handler, "raw_body", None)
        self.raw_active = 0         # raw bodies being served now
        self.host = host
        self.port = port
        self.name = name
        self.max_header_size = max_header_size
        self.keepalive_timeout = keepalive_timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.write_timeout = write_timeout
        self.keep_alive = keep_alive
        self.echo_req_id = echo_req_id
        self.access_log = access_log
        self.backlog = backlog
        self.connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task | None = None
        # Timeouts fire at most a quarter of the shortest one late.
        self.sweep_interval = min(1.0, keepalive_timeout / 4,
                                  header_timeout / 4)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port,
            backlog=self.backlog, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close the connections idle (or stuck in their headers) past
        their deadline."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            now = time.monotonic()
            for conn in [c for c in self.connections
                         if c.deadline is not None and c.deadline <= now]:
                conn._idle_timeout()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        await self._server.serve_forever()

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, let in-flight requests finish for `grace` seconds."""
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while (any(c.task is not None for c in self.connections)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is not None:
            await self._server.wait_closed()

    def log_access(self, req: Request, status: int, sent: int) -> None:
        if not self.access_log or not access_logger.isEnabledFor(logging.INFO):
            return
        duration = int((time.monotonic() - req.start) * 1e6)
        if _log_handler is not None and not access_logger.handlers:
            _log_handler.line("access", f"{self.name} {req.peer} {req.method} "
                              f"{req.raw_path} {status} {sent} {duration}us "
                              f"req_id={req.req_id}")
            return
        access_logger.info("%s %s %s %s %d %d %dus req_id=%s", self.name,
                           req.peer, req.method, req.raw_path, status, sent,
                           duration, req.req_id)


# The buffered stderr handler of a running service (setup_logging), whose
# fast lane takes the access lines; None in tests and library use.
_log_handler: BufferedLogHandler | None = None


def setup_logging(name: str, level: str = "INFO") -> None:
    """Log to stderr through a buffer: one write per batch of records (or
    at once for warnings and errors) instead of one per request, which cost
    a sixth of a busy proxy's time in access logs."""
    global _log_handler
    handler = BufferedLogHandler(name)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    handler.start_flusher()
    _log_handler = handler


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_service(handler: Handler, host: str, port: int, *, name: str = "oio",
                log_level: str = "INFO",
                on_startup: Callable[[], Awaitable[None]] | None = None,
                on_cleanup: Callable[[], Awaitable[None]] | None = None,
                **server_kwargs: Any) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully."""
    setup_logging(name, log_level)
    install_uvloop()
    tune_malloc()

    async def main():
        server = HttpServer(handler, host, port, name=name, **server_kwargs)
        if on_startup is not None:
            await on_startup()
        try:
            try:
                await server.start()
            except OSError as exc:
                # e.g. the port is taken: exit, so that a supervisor sees it.
                logger.error("%s cannot listen on %s:%d: %s", name, host,
                             port, exc)
                raise SystemExit(1) from None
            logger.info("%s listening on %s:%d", name, host, server.port)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            logger.info("%s stopping", name)
            await server.close()
        finally:
            if on_cleanup is not None:
                await on_cleanup()

    asyncio.run(main())
