"""A request body read straight from the socket, in a worker thread.

For bodies worth it (a rawx chunk upload), the HTTP core stops parsing at
the end of the headers and hands the connection's socket to a thread: the
body is received with `recv_into` into the caller's own buffer (chunked
framing decoded here, trailers kept), instead of being parsed on the event
loop into one bytes object per read and copied again. The core takes the
connection back once the body is over (`done`), with the bytes received
beyond it (`extra`, the start of a pipelined request).
"""

from __future__ import annotations

import os
import select

MAX_LINE = 8192          # a chunk-size line or a trailer
MAX_TRAILERS = 65536
_FRAMING_READ = 4096     # framing is read in small pieces: data goes direct


class BodyError(Exception):
    """The body is malformed (`status` 400) or the client went away
    (`disconnected`) or stalled (`timeout`)."""

    def __init__(self, message: str, status: int = 400,
                 disconnected: bool = False, timeout: bool = False):
        super().__init__(message)
        self.status = status
        self.disconnected = disconnected
        self.timeout = timeout


class RawBodyReader:
    """Blocking reader of one body: `chunked`, or `length` bytes.

    `sock_fd` is a non-blocking socket (a duplicate of the connection's,
    owned by the caller),
    `buffered` the body bytes already received with the headers. Not
    thread-safe: one thread reads at a time."""

    def __init__(self, sock_fd: int, buffered: bytes, chunked: bool,
                 length: int | None, timeout: float):
        self.fd = sock_fd
        self.pending = bytearray(buffered)     # received, not yet consumed
        self.chunked = chunked
        self.left = 0 if chunked else (length or 0)   # data left in chunk/body
        self.timeout = timeout
        self.done = not chunked and not length
        self.trailers: dict[str, str] = {}
        self.received = 0                      # body data bytes handed out
        self._need_crlf = False                # after a chunk's data
        self.failed: BodyError | None = None
        self._poller: select.poll | None = None

    @property
    def extra(self) -> bytes:
        """Bytes received beyond the body (valid once `done`)."""
        return bytes(self.pending)

    # -- data --
    def readinto(self, view: memoryview) -> int:
        """Up to len(view) body bytes into `view`; 0 once the body is over.
        After a BodyError, raises it again: the body cannot be resumed."""
        if self.failed is not None:
            raise self.failed
        try:
            return self._readinto(view)
        except BodyError as exc:
            self.failed = exc
            raise

    def _readinto(self, view: memoryview) -> int:
        while not self.done and self.left == 0:
            self._next_chunk()
        if self.done or not len(view):
            return 0
        want = min(len(view), self.left)
        if self.pending:
            n = min(want, len(self.pending))
            view[:n] = self.pending[:n]
            del self.pending[:n]
        else:
            n = self._recv_into(view[:want])
        self.left -= n
        self.received += n
        if not self.chunked and self.left == 0:
            self.done = True
        return n

    def fill(self, view: memoryview) -> int:
        """Fill `view` unless the body ends first; bytes written."""
        total = 0
        while total < len(view):
            n = self.readinto(view[total:])
            if not n:
                break
            total += n
        return total

    # -- framing --
    def _next_chunk(self) -> None:
        if self._need_crlf:
            if self._line() != b"":
                raise BodyError("chunk data not followed by CRLF")
            self._need_crlf = False
        line = self._line()
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BodyError(f"bad chunk size line {line[:40]!r}") from None
        if size < 0:
            raise BodyError(f"bad chunk size line {line[:40]!r}")
        if size == 0:
            self._read_trailers()
            self.done = True
            return
        self.left = size
        self._need_crlf = True

    def _read_trailers(self) -> None:
        total = 0
        while True:
            line = self._line()
            if not line:
                return
            total += len(line)
            if total > MAX_TRAILERS:
                raise BodyError("trailers too large", status=431)
            name, sep, value = line.partition(b":")
            if not sep or not name.strip():
                raise BodyError(f"bad trailer line {line[:40]!r}")
            key = name.strip().decode("latin-1").lower()
            self.trailers[key] = value.strip().decode("latin-1")

    def _line(self) -> bytes:
        """The next CRLF-terminated line, without its CRLF."""
        start = 0
        while True:
            end = self.pending.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.pending[:end])
                del self.pending[:end + 2]
                return line
            if len(self.pending) > MAX_LINE:
                raise BodyError("chunk framing line too long")
            start = max(0, len(self.pending) - 1)
            self.pending += self._recv(_FRAMING_READ)

    # -- socket --
    def _wait(self) -> None:
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.fd, select.POLLIN)
        if not self._poller.poll(self.timeout * 1000):
            raise BodyError("no request body data for too long", 408,
                            timeout=True)

    def _recv(self, size: int) -> bytes:
        return self._receive(lambda: os.read(self.fd, size))

    def _recv_into(self, view: memoryview) -> int:
        return self._receive(lambda: os.readv(self.fd, [view]))

    def _receive(self, call):
        """What `call` (a non-blocking read) returns, waiting for data; the
        end of the stream before the end of the body is an error."""
        while True:
            try:
                got = call()
            except (BlockingIOError, InterruptedError):
                self._wait()
                continue
            except OSError as exc:
                raise BodyError(f"client connection lost: {exc}",
                                disconnected=True) from None
            if not got:
                raise BodyError("client closed the connection",
                                disconnected=True)
            return got
