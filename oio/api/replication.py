"""Writing one metachunk to its N replicas in parallel (naming.md §6.4,
rawx.md §7.1, §10).

The caller's thread reads the source into a ring of reused buffers
and hashes each byte once; every filled buffer is shared (never copied) by
one sender thread per rawx through bounded queues, and goes back to the ring
when the last sender has written it. Memory stays at `queue_depth + 2`
buffers per upload (BufferRing, shared by its metachunks) whatever the
object size.
"""

from __future__ import annotations

import collections
import http.client
import logging
import queue
import threading
import time
from urllib.parse import quote, urlparse

import urllib3

from oio.common import checksums
from oio.common import exceptions as exc
from oio.common import perfdata as perf
from oio.common.constants import CHUNK_HEADERS, OIO_VERSION, REQID_HEADER
from oio.common.fullpath import encode_fullpath
from oio.common.http_lean import request_bytes
from oio.common.http_urllib3 import oio_exception, split_http_url, timeout
from oio.common.storage_method import StorageMethod

LOGGER = logging.getLogger(__name__)

WRITE_BUFFER_SIZE = 1024 * 1024
PUT_QUEUE_DEPTH = 4
# A metachunk this small is sent from the caller's thread: one thread per
# copy costs more than the copies' writes (sockets take it all at once).
INLINE_MAX = 256 * 1024


def fill(source, view: memoryview, whole: bool = True) -> int:
    """Read until `view` is full or the source ends (a short read is not
    the end); with `whole` False, one read only. Read errors become
    SourceReadError."""
    total = 0
    while total < view.nbytes:
        try:
            got = source.readinto(view[total:])
        except exc.OioException:
            raise
        except (OSError, ValueError) as err:
            raise exc.SourceReadError(str(err)) from err
        if not got:
            break
        total += got
        if not whole:
            break
    return total


def send_parts(sock, parts: list) -> None:
    """sendall of several buffers in one system call at a time: with
    TCP_NODELAY, separate sends of a chunk-size line, its data and its CRLF
    go out as separate segments, each waking the rawx for a few bytes."""
    views = [memoryview(part) for part in parts if len(part)]
    while views:
        sent = sock.sendmsg(views)
        while sent:
            first = views[0]
            if sent >= first.nbytes:
                sent -= first.nbytes
                views.pop(0)
            else:
                views[0] = first[sent:]
                sent = 0


def new_chunk_hasher(algo: str):
    """A hasher for chunk checksums; OioException for an unknown one."""
    try:
        return checksums.new_hasher(algo)
    except checksums.UnknownChecksum as err:
        raise exc.OioException(str(err)) from None


def reply_mismatch(local_hash: str | None, reply_hash: str | None,
                   local_size: int, reply_size: int | None) -> str | None:
    """Why a rawx reply does not match what was sent, or None."""
    if reply_hash and local_hash and reply_hash != local_hash:
        return f"checksum mismatch: {local_hash} (local), {reply_hash} (rawx)"
    if reply_size is not None and reply_size != local_size:
        return f"chunk size mismatch: {local_size} (local), {reply_size} (rawx)"
    return None


# Copies from which the client leaves the chunk hash to the rawx replies,
# which must then agree (two at least: a majority of the quorum).
VOTING_COPIES = 3


def replies_vote(method: StorageMethod) -> bool:
    """Whether a metachunk of `method` is checked by its replies agreeing
    instead of a hash computed by the client."""
    return not method.ec and getattr(method, "nb_copy", 1) >= VOTING_COPIES


def check_single_metachunk(chunks: list[dict], md5: str) -> None:
    """An object of one metachunk has its MD5 for chunk hash: the copies'
    agreed hash checked against the client's (free: both exist)."""
    for chunk in chunks:
        if (chunk.get("hash") or md5).lower() != md5.lower():
            raise exc.CorruptedChunk(
                f"checksum mismatch: the copies hold {chunk['hash']}, the "
                f"object's MD5 is {md5}")


def content_headers(sysmeta: dict) -> dict:
    """The headers every chunk PUT of an object shares (rawx.md §7.1):
    `sysmeta` is the object metadata of content/prepare2 completed with
    `container_id`, `content_path` and `full_path`."""
    return {
        CHUNK_HEADERS["content_id"]: sysmeta["id"],
        CHUNK_HEADERS["content_version"]: str(sysmeta["version"]),
        CHUNK_HEADERS["content_path"]: quote(sysmeta["content_path"], safe="/"),
        CHUNK_HEADERS["content_chunkmethod"]: sysmeta["chunk_method"],
        CHUNK_HEADERS["content_policy"]: sysmeta["policy"],
        CHUNK_HEADERS["container_id"]: sysmeta["container_id"],
        CHUNK_HEADERS["oio_version"]: sysmeta.get("oio_version") or OIO_VERSION,
        CHUNK_HEADERS["full_path"]: sysmeta["full_path"],
    }


def chunk_headers(content: dict, chunk: dict) -> dict:
    """The headers of a chunk PUT, as the 7.2 client sends them: `content`
    (from `content_headers`, built once per object) and the chunk's own."""
    headers = dict(content)
    headers[CHUNK_HEADERS["chunk_pos"]] = str(chunk["pos"])
    headers[CHUNK_HEADERS["chunk_id"]] = urlparse(
        chunk.get("real_url") or chunk["url"]).path.rsplit("/", 1)[-1]
    return headers


def sysmeta_for(obj_meta: dict, account: str, container: str, obj_name: str,
                cid: str) -> dict:
    """Complete prepare2's object metadata with what chunk headers need."""
    return dict(obj_meta, content_path=obj_name, container_id=cid,
                full_path=encode_fullpath(account, container, obj_name,
                                          obj_meta["version"], obj_meta["id"]))


class BufferRing:
    """`count` buffers of `size` bytes, reused across the metachunks of an
    upload: taking one blocks while all are in flight (back-pressure)."""

    def __init__(self, size: int = WRITE_BUFFER_SIZE,
                 count: int = PUT_QUEUE_DEPTH + 2):
        self.size = size
        self._free: queue.Queue = queue.Queue()
        for _ in range(count):
            self._free.put(_Buffer(size, self._free))

    def get(self) -> _Buffer:
        return self._free.get()

    def put(self, buf: _Buffer) -> None:
        self._free.put(buf)

    def close(self) -> None:
        """Drop the free buffers (they point back to the ring: a cycle the
        garbage collector would free late, holding megabytes)."""
        while True:
            try:
                self._free.get_nowait()
            except queue.Empty:
                return


class _Buffer:
    """One reused buffer of a ring, shared by the consumers of a block."""

    __slots__ = ("data", "view", "refs", "lock", "ring", "got")

    def __init__(self, size: int, ring: queue.Queue):
        self.data = bytearray(size)
        self.view = memoryview(self.data)
        self.refs = 0
        self.got = 0
        self.lock = threading.Lock()
        self.ring = ring

    def release(self) -> None:
        with self.lock:
            self.refs -= 1
            last = self.refs == 0
        if last:
            self.ring.put(self)

    def give_back(self) -> None:
        """Back to the ring unused."""
        self.ring.put(self)


class _Lent:
    """A block of the caller's own memory, sent without a copy: released
    by every consumer like a ring buffer, but goes nowhere after."""

    __slots__ = ("view", "refs", "got")

    def __init__(self, view: memoryview):
        self.view = view
        self.refs = 0
        self.got = view.nbytes

    def release(self) -> None:
        pass

    def give_back(self) -> None:
        pass


class _End:
    """End of the metachunk: the trailers to send after the last HTTP chunk."""

    def __init__(self, trailers: dict):
        self.trailers = trailers


_ABORT = object()   # quorum lost or source failed: cut the upload


class _Consumer:
    """Takes (buffer, length) blocks from a bounded queue, handles them, and
    always releases them, even after a failure, so the reader never stalls.

    The thread and its queue exist only once started: a small metachunk's
    copies go out inline (send_whole), and nine unused threads and queues
    per 4 KiB EC object cost a tenth of the client's CPU."""

    def __init__(self, name: str, depth: int):
        self.name = name
        self.depth = depth
        self.failed: str | None = None
        self.error: Exception | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None

    @property
    def queue(self) -> queue.Queue:
        if self._queue is None:
            self._queue = queue.Queue(maxsize=self.depth)
        return self._queue

    def start(self) -> None:
        self.queue  # noqa: B018 - made before the thread, never by two threads
        self._thread = threading.Thread(target=self.run, daemon=True,
                                        name=self.name)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def handle(self, view: memoryview) -> None:
        raise NotImplementedError

    def finish(self, end: _End) -> None:
        """Called once after the last block."""

    def run(self) -> None:
        ended = False
        try:
            self.prepare()
            while True:
                item = self.queue.get()
                if item is _ABORT or isinstance(item, _End):
                    ended = True
                if item is _ABORT:
                    raise exc.OioException("upload aborted")
                if isinstance(item, _End):
                    self.finish(item)
                    return
                buf, length = item
                try:
                    self.handle(buf.view[:length])
                finally:
                    buf.release()
        except Exception as err:  # noqa: BLE001 - any failure fails this copy
            self._fail(err)
            if not ended:
                self._drain()

    def _fail(self, err: Exception) -> None:
        self.error = err
        self.failed = self.failed or f"{type(err).__name__}: {err}"
        self.on_failure()

    def prepare(self) -> None:
        """Called before the first block."""

    def on_failure(self) -> None:
        """Called once when the consumer fails."""

    def _drain(self) -> None:
        while True:
            item = self.queue.get()
            if item is _ABORT or isinstance(item, _End):
                return
            item[0].release()


class _HashConsumer(_Consumer):
    """Feeds the object-wide hash beside the chunk hash (hashlib releases
    the GIL, so both run at once on two cores)."""

    def __init__(self, checksum, depth: int):
        super().__init__("put-objhash", depth)
        self.checksum = checksum

    def handle(self, view: memoryview) -> None:
        self.checksum.update(view)


class _ChunkPut(_Consumer):
    """Streams the blocks of its queue to one rawx as a chunked PUT, on a
    keep-alive connection of the shared pool."""

    def __init__(self, writer: ReplicatedMetachunkWriter, chunk: dict,
                 headers: dict):
        url = chunk.get("real_url") or chunk["url"]
        super().__init__(f"put-{url.rsplit('/', 1)[-1][:8]}", writer.queue_depth)
        self.writer = writer
        self.chunk = chunk
        self.url = url
        self.headers = headers
        self.pool = None
        self.conn = None
        # The inline path on the lean pool: the connection and what it sent
        # (sent again once if a kept-alive connection turns out closed).
        self.lean_conn = None
        self.lean_request: list | None = None
        self.status: int | None = None
        self.reply_hash: str | None = None
        self.reply_size: int | None = None

    def prepare(self) -> None:
        self._open()
        self.conn.endheaders()
        self._connected()

    def _open(self) -> None:
        """Take a pooled connection and buffer the request's headers."""
        self.started = time.monotonic()
        parsed = urlparse(self.url)
        # Not connection_from_url: urllib3's URL parser costs more than
        # the rest of a small PUT.
        self.pool = self.writer.pool_manager.connection_from_host(
            parsed.hostname, parsed.port, parsed.scheme)
        conn = self.conn = self.pool._get_conn()
        conn.timeout = self.writer.timeout.connect_timeout
        if conn.sock is not None:
            conn.sock.settimeout(self.writer.timeout.read_timeout)
        conn.putrequest("PUT", parsed.path, skip_accept_encoding=True)
        # The plain http.client putheader: urllib3's checks each name.
        putheader = http.client.HTTPConnection.putheader
        for key, value in self.headers.items():
            putheader(conn, key, value)
        putheader(conn, "Transfer-Encoding", "chunked")

    def _connected(self) -> None:
        self.conn.sock.settimeout(self.writer.timeout.read_timeout)
        perf.add(self.writer.perfdata, "rawx", "connect." + self.chunk["url"],
                 time.monotonic() - self.started)

    def account(self, view: memoryview) -> None:
        """What a subclass learns from the bytes it sends."""

    def handle(self, view: memoryview) -> None:
        self.account(view)
        if view.nbytes:
            send_parts(self.conn.sock, (b"%x\r\n" % view.nbytes, view,
                                        b"\r\n"))

    def finish(self, end: _End) -> None:
        self.send_end(end)
        self.read_reply()

    def send_end(self, end: _End) -> None:
        self.conn.send(self.last_chunk(end))

    def last_chunk(self, end: _End) -> bytes:
        """The zero-size chunk and the trailers."""
        trailers = "".join(f"{k}: {v}\r\n" for k, v in end.trailers.items())
        return b"0\r\n" + trailers.encode("ascii") + b"\r\n"

    def read_reply(self) -> None:
        # The plain http.client reader: urllib3's wrapper expects to have
        # sent the request itself.
        resp = http.client.HTTPConnection.getresponse(self.conn)
        body = resp.read()
        self.status = resp.status
        if resp.status != 201:
            self.failed = f"HTTP {resp.status} {body[:200]!r}"
            raise exc.from_response(resp, body)
        perf.add(self.writer.perfdata, "rawx", "upload." + self.chunk["url"],
                 time.monotonic() - self.started)
        self.reply_hash = resp.getheader(CHUNK_HEADERS["chunk_hash"])
        size = resp.getheader(CHUNK_HEADERS["chunk_size"])
        self.reply_size = int(size) if size else None
        if resp.will_close:
            self.conn.close()
        self.pool._put_conn(self.conn)
        self.conn = None

    def on_failure(self) -> None:
        if isinstance(self.error, (OSError, urllib3.exceptions.HTTPError)):
            self.error = oio_exception(self.error, self.url)
        self.chunk["error"] = self.failed
        if self.lean_conn is not None:
            self.lean_conn.close()
            self.lean_conn = None
        if self.conn is not None:
            self.conn.close()
            self.pool._put_conn(self.conn)   # gives the pool its slot back
            self.conn = None

    # Inline use, without the thread (small metachunks): the whole request
    # goes out with send_whole(), the reply is read later by reply_inline(),
    # so the copies are written by the rawx in parallel all the same.
    def send_whole(self, view: memoryview, end: _End) -> None:
        lean = getattr(self.writer.pool_manager, "lean", None)
        parts = split_http_url(self.url) if lean is not None else None
        if parts is not None:
            self._send_whole_lean(lean, parts, view, end)
            return
        try:
            self._open()
            self.account(view)
            body = b"%x\r\n%b\r\n" % (view.nbytes, view) if view.nbytes \
                else b""
            # Headers and body in one send (http.client joins them).
            http.client.HTTPConnection.endheaders(
                self.conn, message_body=body + self.last_chunk(end))
            self._connected()
        except Exception as err:  # noqa: BLE001 - any failure fails this copy
            self._fail(err)

    def reply_inline(self) -> None:
        if self.failed or self.status is not None:
            return
        try:
            if self.lean_conn is not None:
                self._read_reply_lean()
            else:
                self.read_reply()
        except Exception as err:  # noqa: BLE001 - any failure fails this copy
            self._fail(err)

    # The same on the lean pool (http_lean): the request's bytes are built
    # at once and sent with one sendmsg, the reply parsed by hand.
    def _send_whole_lean(self, lean, parts: tuple[str, int, str],
                         view: memoryview, end: _End) -> None:
        host, port, target = parts
        try:
            self.started = time.monotonic()
            self.account(view)
            headers = dict(self.headers)
            headers["Transfer-Encoding"] = "chunked"
            head = request_bytes("PUT", target, f"{host}:{port}", headers, None)
            body = (b"%x\r\n" % view.nbytes, view, b"\r\n") if view.nbytes \
                else ()
            self.lean_request = [head, *body, self.last_chunk(end)]
            self.lean_conn = lean.acquire(host, port,
                                          self.writer.timeout.connect_timeout)
            try:
                self._send_lean()
            except (ConnectionResetError, BrokenPipeError):
                self._resend_lean(lean)
        except Exception as err:  # noqa: BLE001 - any failure fails this copy
            self._fail(err)

    def _resend_lean(self, lean) -> None:
        """The kept-alive connection was closed by the rawx while it sat in
        the pool (the request never reached it): send on a new one."""
        if not self.lean_conn.reused:
            raise
        self.lean_conn.close()
        self.lean_conn = None
        host, port, _ = split_http_url(self.url)
        self.lean_conn = lean.acquire(host, port,
                                      self.writer.timeout.connect_timeout)
        self._send_lean()

    def _send_lean(self) -> None:
        conn = self.lean_conn
        conn.sock.settimeout(self.writer.timeout.read_timeout)
        send_parts(conn.sock, self.lean_request)
        perf.add(self.writer.perfdata, "rawx", "connect." + self.chunk["url"],
                 time.monotonic() - self.started)

    def _read_reply_lean(self) -> None:
        lean = self.writer.pool_manager.lean
        read_timeout = self.writer.timeout.read_timeout
        try:
            resp = self.lean_conn.read_response(read_timeout)
        except (ConnectionResetError, BrokenPipeError):
            self._resend_lean(lean)
            resp = self.lean_conn.read_response(read_timeout)
        conn, self.lean_conn = self.lean_conn, None
        lean.release(conn, not resp.will_close)
        self.status = resp.status
        if resp.status != 201:
            self.failed = f"HTTP {resp.status} {resp.data[:200]!r}"
            raise exc.from_response(resp, resp.data)
        perf.add(self.writer.perfdata, "rawx", "upload." + self.chunk["url"],
                 time.monotonic() - self.started)
        self.reply_hash = resp.headers.get(CHUNK_HEADERS["chunk_hash"])
        size = resp.headers.get(CHUNK_HEADERS["chunk_size"])
        self.reply_size = int(size) if size else None


class ReplicatedMetachunkWriter:
    """One metachunk to the rawx of `meta_chunk`, in parallel.

    `sysmeta` gives the chunk headers (None: `headers` holds them all).
    `checksum` is the object-wide hash to feed (or None); the chunk hash is
    computed here with `chunk_checksum_algo` (None: trust the rawx replies,
    which must then agree)."""

    def __init__(self, sysmeta: dict | None, meta_chunk: list[dict], checksum,
                 storage_method: StorageMethod, quorum: int | None = None,
                 connection_timeout: float | None = None,
                 write_timeout: float | None = None,
                 read_timeout: float | None = None, headers: dict | None = None,
                 pool_manager: urllib3.PoolManager | None = None,
                 chunk_checksum_algo: str | None = "md5",
                 chunk_buffer_max: int = WRITE_BUFFER_SIZE,
                 queue_depth: int = PUT_QUEUE_DEPTH, reqid: str | None = None,
                 logger=None, buffers: BufferRing | None = None,
                 perfdata: dict | None = None, **_kwargs):
        if pool_manager is None:
            raise ValueError("A pool manager is needed")
        self.sysmeta = sysmeta
        self._content_headers: dict | None = None
        self.perfdata = perfdata
        self.meta_chunk = meta_chunk
        self.checksum = checksum
        self.storage_method = storage_method
        self.quorum = quorum if quorum is not None else storage_method.quorum
        self.quorum = max(1, self.quorum)
        self.timeout = timeout(connection_timeout, write_timeout)
        self.read_timeout = read_timeout
        self.headers = dict(headers or {})
        if reqid:
            self.headers[REQID_HEADER] = reqid
        self.reqid = self.headers.get(REQID_HEADER)
        self.pool_manager = pool_manager
        self.chunk_checksum_algo = chunk_checksum_algo
        self.queue_depth = max(1, int(queue_depth))
        self.buffers = buffers or BufferRing(max(1, int(chunk_buffer_max)),
                                             self.queue_depth + 2)
        self.buffer_size = self.buffers.size
        self.logger = logger or LOGGER
        self.chunk_checksum = (new_chunk_hasher(chunk_checksum_algo)
                               if chunk_checksum_algo else None)
        if chunk_checksum_algo and not checksums.is_default(chunk_checksum_algo):
            # Our rawx then computes and checks the same algorithm.
            self.headers[CHUNK_HEADERS["chunk_hash_algo"]] = chunk_checksum_algo
        self._puts: list[_ChunkPut] = []
        self._consumers: list[_Consumer] = []
        self._inline = False
        self._transferred = 0
        self._hash: str | None = None

    # Quorum ----------------------------------------------------------------
    def quorum_or_fail(self, successes: list[dict], failures: list[dict]) -> None:
        """ServiceBusy (OioTimeout when a copy timed out, SourceReadError
        when the source failed) if fewer than `quorum` copies succeeded."""
        if len(successes) >= self.quorum:
            return
        errors = "; ".join(f"{c.get('real_url') or c['url']}: "
                           f"{c.get('error', 'success')}"
                           for c in successes + failures)
        new_exc = exc.ServiceBusy(message=(
            f"RAWX write failure, quorum not reached "
            f"({len(successes)}/{self.quorum}): {errors}"))
        for chunk in failures:
            if isinstance(chunk.get("_exc"), exc.OioTimeout):
                raise exc.OioTimeout(new_exc) from None
        raise new_exc

    # Streaming -------------------------------------------------------------
    def stream(self, source, size: int | None) -> tuple[int, str, list[dict]]:
        """Read at most `size` bytes (None: until the end) from `source`
        (anything with `readinto`), write them to every rawx, and wait for
        the replies.

        Returns (bytes transferred, chunk hash, chunks written), each chunk
        with its `size` and `hash` set; failed ones carry `error`."""
        self.send(source, size)
        return self.wait()

    def put_headers(self, chunk: dict, extra: dict | None = None) -> dict:
        """The request headers of `chunk`'s PUT (the object's part built
        once per metachunk)."""
        if self.sysmeta:
            if self._content_headers is None:
                self._content_headers = content_headers(self.sysmeta)
            headers = chunk_headers(self._content_headers, chunk)
        else:
            headers = {}
        headers.update(extra if extra is not None else self.headers)
        return headers

    def send(self, source, size: int | None) -> int:
        """The data half of stream(): returns once every byte has been
        handed to the senders, without waiting for the rawx replies (so the
        caller can stream the next metachunk meanwhile)."""
        self._puts = [_ChunkPut(self, chunk, self.put_headers(chunk))
                      for chunk in self.meta_chunk]
        left = self.inline_size(source, size)
        if left is not None:
            return self._send_inline(source, left)
        consumers: list[_Consumer] = list(self._puts)
        # Hashed inline when it is the only hash, in a thread otherwise.
        inline_hash = self.checksum if self.chunk_checksum is None else None
        if self.checksum is not None and inline_hash is None:
            consumers.append(_HashConsumer(self.checksum, self.queue_depth))
        self._consumers = consumers
        for consumer in consumers:
            consumer.start()
        transferred = 0
        try:
            while size is None or transferred < size:
                want = self.buffer_size if size is None else min(
                    self.buffer_size, size - transferred)
                buf = self._next_block(source, want)
                if buf is None:
                    break
                got = buf.got
                block = buf.view[:got]
                if self.chunk_checksum is not None:
                    self.chunk_checksum.update(block)
                if inline_hash is not None:
                    inline_hash.update(block)
                transferred += got
                self._dispatch(buf, got, consumers, self._puts)
        except BaseException:
            self.abort()
            raise
        self._transferred = transferred
        self._hash = (self.chunk_checksum.hexdigest()
                      if self.chunk_checksum is not None else None)
        trailers = {CHUNK_HEADERS["chunk_size"]: str(transferred)}
        if self._hash:
            trailers[CHUNK_HEADERS["chunk_hash"]] = self._hash
        end = _End(trailers)
        for consumer in consumers:
            consumer.queue.put(end)
        self._join_object_hash()
        return transferred

    def _next_block(self, source, want: int,
                    whole: bool = False) -> _Buffer | _Lent | None:
        """The next block of at most `want` bytes (None at the end): the
        caller's memory when the source lends it, else a ring buffer
        filled by the source (its `got` set): by one read, or until full
        when `whole` (EC segments)."""
        borrow = getattr(source, "borrow", None)
        view = borrow(want) if borrow is not None else None
        if view is not None:
            return _Lent(view) if view.nbytes else None
        buf = self.buffers.get()
        try:
            got = fill(source, buf.view[:want], whole)
        except BaseException:
            buf.give_back()
            raise
        if not got:
            buf.give_back()
            return None
        buf.got = got
        return buf

    def inline_size(self, source, size: int | None) -> int | None:
        """What is left of a small source that ends within this metachunk
        (sent inline, without sender threads), or None."""
        remaining = getattr(source, "remaining", None)
        left = remaining() if remaining is not None else None
        if left is None or left > min(INLINE_MAX, self.buffer_size) or (
                size is not None and left > size):
            return None
        return left

    def _send_inline(self, source, size: int) -> int:
        buf = self.buffers.get()
        try:
            got = fill(source, buf.view[:size])
            block = buf.view[:got]
            if self.chunk_checksum is not None:
                self.chunk_checksum.update(block)
            if self.checksum is not None:
                self.checksum.update(block)
            self._hash = (self.chunk_checksum.hexdigest()
                          if self.chunk_checksum is not None else None)
            self._inline = True
            for put, view, end in self._inline_requests(block):
                put.send_whole(view, end)
        except BaseException:
            self.abort()
            raise
        finally:
            self.buffers.put(buf)
        self._transferred = got
        return got

    def _inline_requests(self, block: memoryview
                         ) -> list[tuple[_ChunkPut, memoryview, _End]]:
        """What each copy sends of a small metachunk: all of it."""
        trailers = {CHUNK_HEADERS["chunk_size"]: str(block.nbytes)}
        if self._hash:
            trailers[CHUNK_HEADERS["chunk_hash"]] = self._hash
        end = _End(trailers)
        return [(put, block, end) for put in self._puts]

    def _join_object_hash(self) -> None:
        """Wait until this metachunk is in the object hash: the next
        metachunk's writer feeds the same hash, and must come after."""
        for consumer in self._consumers:
            if isinstance(consumer, _HashConsumer) and \
                    consumer.checksum is self.checksum:
                consumer.join()

    def wait(self) -> tuple[int, str, list[dict]]:
        """The reply half of stream()."""
        for consumer in self._consumers:
            consumer.join()
        if self._inline:
            for put in self._puts:
                put.reply_inline()
        return self._results(self._puts, self._transferred, self._hash)

    def abort(self) -> None:
        """Cut every upload still running (the rawx drop them)."""
        for consumer in self._consumers:
            consumer.queue.put(_ABORT)
        for consumer in self._consumers:
            consumer.join()
        if self._inline:
            # Whole requests went out: read the replies, so that chunks the
            # rawx kept are known (uploaded()) and deleted by the caller.
            for put in self._puts:
                put.reply_inline()

    def failed_chunks(self) -> list[dict]:
        """Chunks whose upload failed (after wait())."""
        return [put.chunk for put in self._puts if put.failed]

    def rejected(self) -> list[dict]:
        """Chunks a rawx kept (201) but whose reply did not match what was
        sent (after wait()): orphans to delete once replaced."""
        return [put.chunk for put in self._puts
                if put.failed and put.status == 201]

    def uploaded(self) -> list[dict]:
        """Chunks a rawx accepted (201), good or not: what to delete when
        the object fails."""
        return [put.chunk for put in self._puts if put.status == 201]

    def _dispatch(self, buf: _Buffer, length: int, consumers: list[_Consumer],
                  puts: list[_ChunkPut]) -> None:
        live = [c for c in consumers if not c.failed]
        live_puts = [c for c in puts if not c.failed]
        if len(live_puts) < self.quorum:
            buf.give_back()
            failures = [self._failed_chunk(c) for c in puts if c.failed]
            self.quorum_or_fail([c.chunk for c in live_puts], failures)
        buf.refs = len(live)
        for consumer in live:
            consumer.queue.put((buf, length))

    @staticmethod
    def _failed_chunk(put: _ChunkPut) -> dict:
        put.chunk["error"] = put.failed
        return dict(put.chunk, _exc=put.error)

    def _results(self, puts: list[_ChunkPut], transferred: int,
                 chunk_hash: str | None) -> tuple[int, str, list[dict]]:
        """Check each reply, apply the quorum, and give the chunks written
        the size and hash meta2 records."""
        successes, failures = [], []
        recorded = chunk_hash or self._agreed_hash(puts)
        for put in puts:
            if not put.failed:
                put.failed, recorded = self._check_reply(put, transferred,
                                                         recorded)
            if put.failed:
                self.logger.warning("chunk upload to %s failed (reqid=%s): %s",
                                    put.url, self.reqid, put.failed)
                failures.append(self._failed_chunk(put))
                continue
            put.chunk.pop("error", None)
            successes.append(put.chunk)
        self.quorum_or_fail(successes, failures)
        for chunk in successes:
            chunk["size"] = transferred
            chunk["hash"] = recorded
        return transferred, recorded, successes

    @staticmethod
    def _agreed_hash(puts: list[_ChunkPut]) -> str | None:
        """Without a local hash: the hash most replies give, when at least
        two (or the only reply) give it; the copies answering another are
        rejected. Replies that all differ reject every copy."""
        votes = collections.Counter(
            put.reply_hash.lower() for put in puts
            if not put.failed and put.reply_hash)
        if not votes:
            return None
        (best, count), *others = votes.most_common()
        if count < min(2, sum(votes.values())) or (
                others and others[0][1] == count):
            for put in puts:
                if not put.failed:
                    put.failed = ("rawx replies disagree on the chunk hash: "
                                  + ", ".join(sorted(votes)))
            return None
        return best

    @staticmethod
    def _check_reply(put: _ChunkPut, transferred: int, expected: str | None
                     ) -> tuple[str | None, str | None]:
        """(why the copy failed or None, the chunk hash so far): without a
        local hash, the first reply's is the reference of the others."""
        reply = (put.reply_hash or "").lower() or None
        expected = expected or reply
        return reply_mismatch(expected, reply, transferred,
                              put.reply_size), expected
