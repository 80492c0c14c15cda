"""A lean HTTP/1.1 client for the services' small requests.

Every internal call (proxy, rdir, account, chunk PUTs of small objects) is
a few hundred bytes each way. Through urllib3 and http.client such a call
cost ~600 µs of CPU on our 2-core machines, against ~35 µs for the bytes
themselves: URL parsing, pool keys, Retry and Timeout objects, and
http.client's header parsing by the email package. Here a request is one
`sendall` of bytes built at once, and a reply is read with one buffer and
split by hand. Connections are kept alive per host:port and checked
before reuse; a reused connection that turns out closed by the server
(its keep-alive timeout) is replaced once, transparently.

Only plain http. Transport errors are raised as OSError subclasses
(timeouts as TimeoutError), and as LeanProtocolError for a reply that is
not HTTP; callers map them with `http_urllib3.oio_exception`.
"""

from __future__ import annotations

import socket
import threading
from collections import deque

from urllib3 import HTTPHeaderDict

MAX_HEAD = 64 * 1024
MAX_IDLE_PER_HOST = 32
_NO_BODY_STATUS = frozenset((204, 304))


class LeanProtocolError(OSError):
    """The server's reply is not valid HTTP/1.1."""


class LeanResponse:
    """A fully read reply: the few attributes callers use of urllib3's."""

    __slots__ = ("status", "reason", "headers", "data", "will_close")

    def __init__(self, status: int, reason: str, headers: HTTPHeaderDict,
                 data: bytes, will_close: bool):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.data = data
        self.will_close = will_close

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, *_args) -> bytes:
        return self.data

    def release_conn(self) -> None:
        """The connection went back to its pool when the reply was read."""

    def close(self) -> None:
        """Nothing to release."""


class LeanConnection:
    """One keep-alive socket to a host:port."""

    def __init__(self, host: str, port: int, connect_timeout: float):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port),
                                             timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reused = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def dropped(self) -> bool:
        """Whether the idle socket is unusable: closed by the server (EOF)
        or holding bytes nobody asked for."""
        try:
            # Non-blocking mode: with a timeout set, Python would wait for
            # data instead of returning at once.
            self.sock.settimeout(0)
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False            # nothing to read: still open
        except OSError:
            return True
        return True

    def send(self, data: bytes | list, timeout: float) -> None:
        self.sock.settimeout(timeout)
        if isinstance(data, list):
            # Head and body as they are: no joined copy of a big body.
            for part in data:
                self.sock.sendall(part)
        else:
            self.sock.sendall(data)

    def _fill(self) -> bool:
        more = self.sock.recv(262144)
        if not more:
            return False
        self.buf += more
        return True

    def read_response(self, timeout: float, head_only: bool = False
                      ) -> LeanResponse:
        """Read one reply (interim 1xx replies skipped);
        ConnectionResetError if the server closed the connection before
        the first byte."""
        self.sock.settimeout(timeout)
        while True:
            resp = self._read_one(head_only)
            if not 100 <= resp.status < 200:
                return resp

    def _read_one(self, head_only: bool) -> LeanResponse:
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEAD:
                raise LeanProtocolError("reply headers too long")
            if not self._fill():
                if self.buf:
                    raise LeanProtocolError("connection closed in the reply "
                                            "headers")
                raise ConnectionResetError("connection closed before the "
                                           "reply")
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") \
                or not parts[1].isdigit():
            raise LeanProtocolError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = HTTPHeaderDict()
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise LeanProtocolError(f"bad header line {line[:80]!r}")
            headers.add(name.strip(), value.strip())
        will_close = (headers.get("connection", "").lower() == "close"
                      or parts[0] == "HTTP/1.0")
        if head_only or status in _NO_BODY_STATUS or 100 <= status < 200:
            data = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            data = self._read_chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise LeanProtocolError("bad Content-Length") from None
            data = self._read_exactly(length)
        else:
            while self._fill():         # the body ends with the connection
                pass
            data, self.buf, will_close = self.buf, b"", True
        return LeanResponse(status, reason, headers, data, will_close)

    def _read_exactly(self, length: int) -> bytes:
        while len(self.buf) < length:
            if not self._fill():
                raise LeanProtocolError("connection closed in the reply body")
        data, self.buf = self.buf[:length], self.buf[length:]
        return data

    def _read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                return line
            if len(self.buf) > MAX_HEAD or not self._fill():
                raise LeanProtocolError("bad chunked reply body")

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise LeanProtocolError("bad chunk size") from None
            if size == 0:
                while self._read_line():    # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            if self._read_exactly(2) != b"\r\n":
                raise LeanProtocolError("bad chunk end")


class LeanPool:
    """Idle keep-alive connections per host:port, shared by threads."""

    def __init__(self, max_idle: int = MAX_IDLE_PER_HOST):
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], deque[LeanConnection]] = {}
        self._lock = threading.Lock()

    def acquire(self, host: str, port: int, connect_timeout: float
                ) -> LeanConnection:
        """An idle connection still open, or a new one."""
        key = (host, port)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return LeanConnection(host, port, connect_timeout)
            if not conn.buf and not conn.dropped():
                conn.reused = True
                return conn
            conn.close()

    def release(self, conn: LeanConnection, reusable: bool = True) -> None:
        if not reusable or conn.buf:
            conn.close()
            return
        with self._lock:
            idle = self._idle.setdefault((conn.host, conn.port), deque())
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def request(self, method: str, host: str, port: int, target: str,
                headers: dict[str, str], body: bytes | None,
                connect_timeout: float, read_timeout: float) -> LeanResponse:
        """One request and its whole reply. A reused connection the server
        had closed is replaced once (the request never reached it)."""
        data = request_bytes(method, target, f"{host}:{port}", headers, body)
        while True:
            conn = self.acquire(host, port, connect_timeout)
            try:
                conn.send(data, read_timeout)
                resp = conn.read_response(read_timeout, method == "HEAD")
            except (ConnectionResetError, BrokenPipeError):
                conn.close()
                if conn.reused:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            self.release(conn, not resp.will_close)
            return resp

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                conn.close()


def request_bytes(method: str, target: str, host: str,
                  headers: dict[str, str], body: bytes | None
                  ) -> bytes | list:
    """The request's head (and body): bytes, or [head, body] for a body
    big enough not to be copied."""
    if not target.startswith("/") or any(c in target for c in " \r\n"):
        raise ValueError(f"invalid request target {target[:80]!r}")
    lines = [f"{method} {target} HTTP/1.1"]
    given = set()
    for name, value in headers.items():
        value = str(value)
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"invalid header {name!r}")
        given.add(name.lower())
        lines.append(f"{name}: {value}")
    if "host" not in given:
        lines.append(f"Host: {host}")
    if "content-length" not in given and "transfer-encoding" not in given \
            and (body is not None or method in ("POST", "PUT")):
        lines.append(f"Content-Length: {len(body) if body else 0}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if not body:
        return head
    if len(body) > 65536:
        return [head, body]
    return head + body
