"""The rawx HTTP routes (rawx.md §2, §7, §8) over a ChunkStore.

Error replies carry no body, as the 7.2.0 rawx. Chunk metadata is read on
the event loop (a cached open + a dozen getxattr cost a few µs, less than a
thread hop); uploads, deletions, links and hash checks go to threads.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from urllib.parse import urlsplit

from oio.blob.chunk_meta import (
    BadChunkMeta,
    CorruptChunkMeta,
    fullpath_fields,
    parse_upload_headers,
    reply_headers,
    served_size,
    stored_fields,
    upload_fields,
)
from oio.blob.chunk_store import (
    NOCACHE_MIN_SIZE,
    ChunkExists,
    ChunkNotFound,
    ChunkStore,
    InvalidChunkId,
    advise,
    normalize_chunk_id,
    set_direct,
)
from oio.blob.ranges import RangeNotSatisfiable, content_range, parse_range
from oio.blob.rawx_config import RawxConfig
from oio.blob.rawx_notifier import (
    DELETE_EVENT_FIELDS,
    EVENT_CHUNK_DELETED,
    EVENT_CHUNK_NEW,
    ChunkNotifier,
    NullNotifier,
    event_data,
)
from oio.blob.rawx_stats import RawxStats
from oio.blob.rawx_upload import ChunkUpload, receive_chunk, receive_raw
from oio.common.checksums import new_hasher
from oio.common.constants import CHECKHASH_HEADER, CHUNK_HEADERS, REQID_HEADER
from oio.common.http_server import (
    BodyTimeout,
    ClientDisconnected,
    FileResponse,
    Request,
    Response,
    run_blocking,
)
from oio.common.utils import parse_bool

logger = logging.getLogger("oio.rawx")

PROBE_INTERVAL = 5.0    # seconds between two I/O probes
PROBE_VALIDITY = 60.0   # seconds a successful probe vouches for the volume
_KIND = {"PUT": "put", "COPY": "copy", "GET": "get", "HEAD": "head",
         "DELETE": "del"}


class HttpStatus(Exception):
    """Stop handling and reply with `status` and no body."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message)
        self.status = status


class IoHealth:
    """The verdict of the periodic I/O probe (rawx.md §1.4)."""

    def __init__(self):
        self.last_ok = 0.0
        self.last_ko = 0.0

    def ok(self, now: float | None = None) -> bool:
        if not self.last_ok and not self.last_ko:
            return True
        now = time.monotonic() if now is None else now
        return self.last_ok > self.last_ko and now - self.last_ok < PROBE_VALIDITY


class RawxApp:
    """An async handler for the HttpServer core: the whole rawx protocol."""

    def __init__(self, conf: RawxConfig, notifier: ChunkNotifier | None = None):
        self.conf = conf
        self.store = ChunkStore(conf.basedir, conf.hash_width, conf.hash_depth,
                                conf.fsync_file, conf.fsync_dir,
                                conf.fadvise_upload)
        self.notifier = notifier or NullNotifier()
        self.stats = RawxStats()
        self.health = IoHealth()
        self.hosts = {h for h in (conf.service_id, conf.addr, conf.tls_rawx_url)
                      if h}
        self._probe_task: asyncio.Task | None = None
        self._info = self._render_info().encode()

    # Lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the periodic I/O probe (call from the serving loop)."""
        self._probe_task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        await self.notifier.close()

    async def _probe(self) -> None:
        while True:
            try:
                await run_blocking(self.store.probe)
                self.health.last_ok = time.monotonic()
            except OSError as exc:
                self.health.last_ko = time.monotonic()
                logger.error("I/O probe failed on %s: %s", self.conf.basedir, exc)
            await asyncio.sleep(PROBE_INTERVAL)

    # Dispatch --------------------------------------------------------------
    async def __call__(self, req: Request) -> Response:
        start = time.monotonic()
        path = req.path
        while path.startswith("//"):
            path = path[1:]
        if path == "/info":
            kind = "info"
        elif path == "/stat":
            kind = "stat"
        else:
            kind = _KIND.get(req.method, "other")
        status = 500
        try:
            resp = await self._dispatch(req, path, kind)
            status = resp.status
        except HttpStatus as exc:
            status = exc.status
            if exc.status >= 500:
                logger.error("req_id=%s %s %s: %s", req.req_id, req.method,
                             path, exc)
            resp = Response(exc.status)
        except (ClientDisconnected, asyncio.TimeoutError, TimeoutError):
            status = 499
            raise
        finally:
            self.stats.record(kind, status,
                              int((time.monotonic() - start) * 1e6))
        rid = req.headers.get(REQID_HEADER) or req.headers.get("x-trans-id")
        if rid:
            resp.headers["X-Oio-Req-Id"] = req.req_id
        return resp

    async def _dispatch(self, req: Request, path: str, kind: str) -> Response:
        host = req.headers.get("host")
        if host and host not in self.hosts:
            raise HttpStatus(418, f"unexpected Host {host!r}")
        if not self.health.ok():
            raise HttpStatus(503, "I/O probe failed")
        if kind in ("info", "stat"):
            if req.method not in ("GET", "HEAD"):
                raise HttpStatus(405)
            if kind == "info":
                return Response(200, self._info, {"Content-Type": "text/plain"})
            body = self.stats.render(self.conf.basedir, self.conf.service_id)
            return Response(200, body, {"Content-Type": "text/plain"})
        try:
            chunk_id = normalize_chunk_id(path[1:])
        except InvalidChunkId as exc:
            raise HttpStatus(400, str(exc)) from None
        handler = self._handlers.get(req.method)
        if handler is None:
            raise HttpStatus(405)
        try:
            return await handler(self, req, chunk_id)
        except ChunkNotFound:
            raise HttpStatus(404) from None
        except ChunkExists:
            raise HttpStatus(409) from None
        except BadChunkMeta as exc:
            raise HttpStatus(400, str(exc)) from None
        except CorruptChunkMeta as exc:
            raise HttpStatus(500, str(exc)) from None
        except PermissionError as exc:
            raise HttpStatus(403, str(exc)) from None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise HttpStatus(404) from None
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # The client takes another rawx for this chunk.
                raise HttpStatus(507, f"volume full: {exc}") from None
            raise HttpStatus(500, f"I/O error: {exc}") from None

    def _render_info(self) -> str:
        lines = [f"namespace {self.conf.ns}", f"path {self.conf.basedir}"]
        if self.conf.service_id:
            lines.append(f"service_id {self.conf.service_id}")
        if self.conf.tls_rawx_url:
            lines.append(f"url_tls {self.conf.tls_rawx_url}")
        return "\n".join(lines) + "\n"

    def _emit(self, event: str, req: Request, fields: dict[str, str],
              only: frozenset[str] | None = None) -> None:
        if not self.notifier.enabled or not self.conf.events:
            return
        rid = req.headers.get(REQID_HEADER) or req.headers.get("x-trans-id")
        data = event_data(fields, self.conf.addr, self.conf.service_id, only)
        self.notifier.notify(event, data, rid[:63] if rid else "-")

    # PUT -------------------------------------------------------------------
    @staticmethod
    def raw_body(req: Request) -> bool:
        """Chunk uploads are received in a worker thread, straight from the
        socket (HttpServer raw bodies)."""
        return req.method == "PUT"

    async def put_chunk(self, req: Request, chunk_id: str) -> Response:
        try:
            return await self._put_chunk(req, chunk_id)
        except (ClientDisconnected, BodyTimeout):
            raise
        except Exception:
            # As 7.2's rawx: a refused upload (bad headers, existing chunk)
            # still reads the body, so that the client, which may be
            # sending all of it before reading, gets the answer.
            await _discard_body(req)
            raise

    async def _put_chunk(self, req: Request, chunk_id: str) -> Response:
        meta = parse_upload_headers(chunk_id, req.headers)
        # No existence check here: an lstat on the event loop costs more
        # than it saves. The first batch (at most buffer_size bytes) creates
        # the pending file, which refuses an existing chunk (409); the final
        # rename checks again, atomically.
        upload = ChunkUpload(self.store, chunk_id,
                             self.conf.checksum != "never", self.conf.compression,
                             meta.hash_algo, meta.transfer_declared)
        try:
            if req.raw:
                await req.consume_in_thread(receive_raw, upload, meta,
                                            self.conf.buffer_size)
            else:
                await receive_chunk(req, upload, meta, self.conf.buffer_size)
        finally:
            self.stats.bwritten += upload.size
        headers = {"X-Oio-Chunk-Meta-Chunk-Size": str(upload.size),
                   "X-Oio-Chunk-Meta-Oio-Version": "4.2"}
        chunk_hash = upload.chunk_hash or meta.chunk_hash
        if chunk_hash:
            headers["X-Oio-Chunk-Meta-Chunk-Hash"] = chunk_hash
        self._emit(EVENT_CHUNK_NEW, req,
                   upload_fields(meta, upload.chunk_hash, upload.size))
        return Response(201, b"", headers)

    # GET / HEAD ------------------------------------------------------------
    def _open_chunk(self, chunk_id: str) -> tuple[int, os.stat_result,
                                                   dict[str, str]]:
        fd, st = self.store.open(chunk_id)
        try:
            fields = stored_fields(chunk_id, self.store.read_xattrs(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd, st, fields

    async def get_chunk(self, req: Request, chunk_id: str) -> Response:
        fd, st, fields = self._open_chunk(chunk_id)
        try:
            if fields["compression"] not in ("", "off"):
                raise HttpStatus(500, f"compressed chunk ({fields['compression']})"
                                      " not supported")
            size = served_size(fields)
            headers = reply_headers(fields, st.st_mtime)
            try:
                span = parse_range(req.headers.get("range"), size)
            except RangeNotSatisfiable:
                raise HttpStatus(416) from None
            status, offset, length = 200, 0, size
            if span is not None:
                status, (offset, length) = 206, span
                headers["Content-Range"] = content_range(offset, length, size)
            if offset + length > st.st_size:
                raise HttpStatus(500, f"chunk {chunk_id} is shorter than its "
                                      "chunk_size xattr")
        except BaseException:
            os.close(fd)
            raise
        self.stats.bread += length
        mode = self.conf.fadvise_download
        direct = False
        if mode == "nocache" and length >= NOCACHE_MIN_SIZE:
            direct = set_direct(fd)
        elif mode != "none":
            advise(fd, st.st_size, mode, after_use=False)
        return FileResponse(status, headers, fd, offset, length, direct=direct)

    async def head_chunk(self, req: Request, chunk_id: str) -> Response:
        fd, st, fields = self._open_chunk(chunk_id)
        try:
            if not fields["chunk_hash"]:
                raise HttpStatus(500, f"chunk {chunk_id} has no chunk hash")
            if parse_bool(req.headers.get(CHECKHASH_HEADER), False):
                expected = (req.headers.get(CHUNK_HEADERS["chunk_hash"])
                            or fields["chunk_hash"])
                actual = await run_blocking(_hash_file, fd,
                                            fields.get("chunk_hash_algo"))
                if actual.upper() != expected.upper():
                    raise HttpStatus(412, f"chunk {chunk_id}: hash mismatch")
        finally:
            os.close(fd)
        headers = reply_headers(fields, st.st_mtime)
        headers["Content-Length"] = str(served_size(fields))
        headers["Accept-Ranges"] = "bytes"
        return Response(200, b"", headers)

    # DELETE ----------------------------------------------------------------
    async def delete_chunk(self, req: Request, chunk_id: str) -> Response:
        attrs = await run_blocking(self.store.delete, chunk_id)
        try:
            fields = fullpath_fields(chunk_id, attrs)
        except CorruptChunkMeta:
            # Already unlinked: report the chunk gone, but without event data.
            logger.warning("req_id=%s chunk %s had a malformed fullpath",
                           req.req_id, chunk_id)
            fields = {"chunk_id": chunk_id}
        self._emit(EVENT_CHUNK_DELETED, req, fields, DELETE_EVENT_FIELDS)
        return Response(204)

    # COPY ------------------------------------------------------------------
    async def copy_chunk(self, req: Request, chunk_id: str) -> Response:
        dest = req.headers.get("destination", "")
        # As 7.2's rawx: no Destination is a bad request (400); another
        # rawx, or the chunk itself, is forbidden (403).
        if not dest:
            raise HttpStatus(400, "missing Destination header")
        try:
            parsed = urlsplit(dest)
        except ValueError:
            raise HttpStatus(400, f"invalid Destination {dest!r}") from None
        if not parsed.netloc or parsed.netloc not in self.hosts:
            raise HttpStatus(403, f"destination {dest!r} is not on this rawx")
        try:
            dst_id = normalize_chunk_id(parsed.path.rsplit("/", 1)[-1])
        except InvalidChunkId as exc:
            raise HttpStatus(400, str(exc)) from None
        if dst_id == chunk_id:
            raise HttpStatus(403, "cannot link a chunk onto itself")
        meta = parse_upload_headers(dst_id, {
            k: v for k, v in req.headers.items()
            if k in (CHUNK_HEADERS["full_path"], CHUNK_HEADERS["container_id"],
                     CHUNK_HEADERS["content_path"],
                     CHUNK_HEADERS["content_version"],
                     CHUNK_HEADERS["content_id"])
        } | _LINK_PLACEHOLDERS)
        await run_blocking(self.store.link, chunk_id, dst_id,
                           meta.fullpath.encode("utf-8", "surrogateescape"))
        return Response(201)

    _handlers = {"PUT": put_chunk, "GET": get_chunk, "HEAD": head_chunk,
                 "DELETE": delete_chunk, "COPY": copy_chunk}


async def _discard_body(req: Request) -> None:
    if req.awaits_continue:
        return      # nothing sent yet: the reply comes first
    try:
        while await req.read(1 << 20):
            pass
    except (ClientDisconnected, BodyTimeout, OSError):
        pass


# COPY validates only the fullpath group of headers: fill the others.
_LINK_PLACEHOLDERS = {CHUNK_HEADERS["content_policy"]: "-",
                      CHUNK_HEADERS["content_chunkmethod"]: "-",
                      CHUNK_HEADERS["chunk_pos"]: "-"}


def _hash_file(fd: int, algo: str | None, block: int = 1 << 20) -> str:
    """Hex hash (MD5 unless the chunk says otherwise) of the whole file
    behind `fd` (read with pread)."""
    md5 = new_hasher(algo)
    offset = 0
    while True:
        data = os.pread(fd, block, offset)
        if not data:
            return md5.hexdigest()
        md5.update(data)
        offset += len(data)
