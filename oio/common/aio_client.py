"""A small asyncio HTTP/1.1 client for service-to-service metadata calls.

Keep-alive connections are pooled per address. Bodies are read whole: this
client is meant for JSON requests between services, not for chunk data.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections import defaultdict, deque
from typing import Any

import httptools

from oio.common.exceptions import (
    OioConnectionException,
    OioNetworkException,
    OioProtocolError,
    OioTimeout,
)


class AsyncResponse:
    __slots__ = ("status", "reason", "headers", "body", "names")

    def __init__(self, status: int, reason: str, headers: dict[str, str],
                 body: bytes, names: dict[str, str] | None = None):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case names
        self.body = body
        # Each lower-case name as the server sent it (object property
        # names are case-sensitive; a relay must keep them).
        self.names = names or {}

    def original_headers(self) -> dict[str, str]:
        """The headers under the names the server sent."""
        return {self.names.get(k, k): v for k, v in self.headers.items()}

    def json(self) -> Any:
        if not self.body:
            return None
        return jsonlib.loads(self.body)


class _ResponseReader:
    """httptools callbacks collecting one response."""

    def __init__(self):
        self.headers: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.body: list[bytes] = []
        self.reason = ""
        self.done = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self):
        # llhttp forgets the keep-alive state once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()

    def on_status(self, status: bytes):
        self.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes):
        original = name.decode("latin-1")
        key = original.lower()
        self.names.setdefault(key, original)
        old = self.headers.get(key)
        val = value.decode("latin-1")
        self.headers[key] = val if old is None else f"{old}, {val}"

    def on_body(self, body: bytes):
        self.body.append(bytes(body))

    def on_message_complete(self):
        self.done = True


class _PooledConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def close(self):
        self.writer.close()


class AsyncHttpClient:
    """Pooled keep-alive HTTP client; one pool of idle connections per address."""

    def __init__(self, connect_timeout: float = 2.0, read_timeout: float = 30.0,
                 pool_size: int = 32):
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self._idle: dict[str, deque[_PooledConnection]] = defaultdict(deque)

    async def _connect(self, addr: str) -> tuple[_PooledConnection, bool]:
        idle = self._idle[addr]
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port)), self.connect_timeout)
        except asyncio.TimeoutError:
            raise _unsent(OioTimeout(f"Connection timeout to {addr}")) from None
        except (OSError, ValueError) as exc:
            raise _unsent(OioConnectionException(
                f"Cannot connect to {addr}: {exc}")) from None
        return _PooledConnection(reader, writer), False

    def _release(self, addr: str, conn: _PooledConnection) -> None:
        idle = self._idle[addr]
        if len(idle) < self.pool_size:
            idle.append(conn)
        else:
            conn.close()

    async def request(self, method: str, addr: str, path: str,
                      headers: dict[str, str] | None = None,
                      body: bytes | None = None, json: Any = None,
                      timeout: float | None = None) -> AsyncResponse:
        """Send one request to `addr` ("IP:PORT"); `path` includes the query."""
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
        body = body or b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {addr}",
                 f"Content-Length: {len(body)}"]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers.items()
                         if k.lower() not in ("host", "content-length"))
        if json is not None and not (
                headers and any(k.lower() == "content-type" for k in headers)):
            lines.append("Content-Type: application/json")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        timeout = self.read_timeout if timeout is None else timeout
        # A pooled connection may have been closed by the peer meanwhile:
        # retry once on a fresh one, but only when nothing came back.
        for attempt in range(2):
            try:
                conn, reused = await self._connect(addr)
            except OioNetworkException as exc:
                if attempt:
                    # The first attempt went out on a pooled connection:
                    # the server may have run it before closing.
                    exc.request_sent = True
                raise
            try:
                return await asyncio.wait_for(
                    self._exchange(addr, conn, payload, method), timeout)
            except asyncio.TimeoutError:
                conn.close()
                # Its other idle connections may be dead too (a host cut
                # off): do not hand them out again.
                self.forget(addr)
                raise OioTimeout(f"Read timeout from {addr}") from None
            except _StaleConnection:
                conn.close()
                if not reused or attempt:
                    raise OioConnectionException(
                        f"Connection closed by {addr}") from None
            except OioNetworkException:
                conn.close()
                raise
            except (OSError, httptools.HttpParserError) as exc:
                conn.close()
                raise OioProtocolError(f"Error talking to {addr}: {exc}") from None
        raise OioConnectionException(f"Cannot talk to {addr}")  # not reached

    async def _exchange(self, addr: str, conn: _PooledConnection, payload: bytes,
                        method: str) -> AsyncResponse:
        try:
            conn.writer.write(payload)
            await conn.writer.drain()
        except OSError:
            raise _StaleConnection() from None
        collector = _ResponseReader()
        parser = httptools.HttpResponseParser(collector)
        collector.parser = parser
        got_bytes = False
        while not collector.done:
            try:
                data = await conn.reader.read(65536)
            except OSError:
                data = b""
            if not data:
                if not got_bytes:
                    raise _StaleConnection()
                if method != "HEAD":
                    try:
                        parser.feed_data(b"")
                    except httptools.HttpParserError:
                        pass
                if not collector.done:
                    raise OioProtocolError(f"Truncated reply from {addr}")
                break
            got_bytes = True
            if method == "HEAD" and b"\r\n\r\n" in data:
                # httptools would wait for a body announced by Content-Length.
                parser.feed_data(data[:data.index(b"\r\n\r\n") + 4])
                collector.done = True
                collector.keep_alive = False
                break
            parser.feed_data(data)
        status = parser.get_status_code()
        keep = collector.keep_alive
        resp = AsyncResponse(status, collector.reason, collector.headers,
                             b"".join(collector.body), collector.names)
        if keep:
            self._release(addr, conn)
        else:
            conn.close()
        return resp

    def forget(self, addr: str) -> None:
        """Close the idle connections to `addr`."""
        idle = self._idle.pop(addr, None)
        while idle:
            idle.pop().close()

    async def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


class _StaleConnection(Exception):
    pass


def _unsent(exc: OioNetworkException) -> OioNetworkException:
    exc.request_sent = False
    return exc


def request_may_have_run(exc: Exception) -> bool:
    """False when the request surely never reached the server (it could
    not connect): then it is safe to send it elsewhere."""
    return getattr(exc, "request_sent", True)
