"""Reading objects back from their chunks: metachunk grouping, ranges and
failover between replicas (proxy-api.md §8.2, rawx.md §10)."""

from __future__ import annotations

import io
import logging
import os
import random
import stat
import time
from collections.abc import Iterator

import urllib3

from oio.common import exceptions as exc
from oio.common import perfdata as perf
from oio.common.constants import CHUNK_HEADERS, REQID_HEADER
from oio.common.http_urllib3 import timeout

LOGGER = logging.getLogger(__name__)
READ_BLOCK = 1024 * 1024
CHUNK_HASH_HEADER = CHUNK_HEADERS["chunk_hash"]


def metachunk_pos(chunk: dict) -> int:
    return int(str(chunk["pos"]).split(".", 1)[0])


def group_metachunks(chunks: list[dict]) -> list[dict]:
    """[{"pos", "offset", "size", "chunks": [replicas best first]}]."""
    groups: dict[int, list[dict]] = {}
    for chunk in chunks:
        groups.setdefault(metachunk_pos(chunk), []).append(chunk)
    out, offset = [], 0
    for pos in sorted(groups):
        replicas = sorted(
            groups[pos], reverse=True,
            key=lambda c: (int(c.get("score") or 0) > 0,
                           int(c.get("score") or 0) + random.randint(0, 9)))
        size = int(replicas[0].get("size") or 0)
        out.append({"pos": pos, "offset": offset, "size": size,
                    "chunks": replicas})
        offset += size
    return out


def resolve_ranges(ranges, size: int) -> list[tuple[int, int]]:
    """Closed absolute ranges from (start, end) pairs where either side may
    be None; UnsatisfiableRange when none of them overlaps the object."""
    out = []
    for start, end in ranges:
        if start is None and end is None:
            raise exc.BadRequest(message="Invalid range (None, None)")
        if start is None:              # suffix: the last `end` bytes
            if end <= 0:
                continue
            start, end = max(0, size - end), size - 1
        if start < 0 or (end is not None and end < start):
            raise exc.BadRequest(message=f"Invalid range ({start}, {end})")
        if start >= size:
            continue
        out.append((start, size - 1 if end is None else min(end, size - 1)))
    if not out:
        raise exc.UnsatisfiableRange(
            416, None, f"Requested range not satisfiable (object size {size})")
    return out


def plan_reads(metachunks: list[dict], ranges) -> list[tuple[dict, int, int]]:
    """(metachunk, first byte, last byte) in chunk coordinates, in order."""
    total = sum(m["size"] for m in metachunks)
    wanted = [(0, total - 1)] if ranges is None else resolve_ranges(ranges, total)
    plan = []
    for start, end in wanted:
        for meta in metachunks:
            first, last = meta["offset"], meta["offset"] + meta["size"] - 1
            if meta["size"] == 0 or last < start or first > end:
                continue
            plan.append((meta, max(start, first) - first, min(end, last) - first))
    return plan


def chunk_url(chunk: dict) -> str:
    """Where `chunk` is read and written (its real URL when it has one)."""
    return str(chunk.get("real_url") or chunk["url"])


def chunk_host(chunk: dict) -> str:
    """host:port of the rawx holding `chunk`."""
    return chunk_url(chunk).split("/")[2]


def avoided_last(chunks: list[dict], avoid: set[str] | None) -> list[dict]:
    """`chunks` in the same order, those on an avoided rawx moved last."""
    if not avoid:
        return list(chunks)
    return sorted(chunks, key=lambda c: chunk_host(c) in avoid)


class ChunkReader:
    """Reads bytes [start, end] of a metachunk from the first replica that
    answers, resuming on the next one after a failure mid-stream.

    `avoid` is shared by the metachunks of one read: a rawx that failed at
    the network level (refused, timed out, cut) is added to it and tried
    last by the next metachunks, so a stalled rawx costs one timeout per
    object rather than one per metachunk."""

    def __init__(self, pool_manager: urllib3.PoolManager, replicas: list[dict],
                 start: int, end: int, reqid: str,
                 connection_timeout: float | None = None,
                 read_timeout: float | None = None,
                 perfdata: dict | None = None, avoid: set[str] | None = None,
                 report=None):
        self.perfdata = perfdata
        self.pool_manager = pool_manager
        self.avoid = avoid if avoid is not None else set()
        # oio.api.broken.BrokenChunks: missing or damaged chunks met.
        self.report = report
        self.replicas = avoided_last(replicas, self.avoid)
        self.start = start
        self.end = end
        self.reqid = reqid
        self.timeout = timeout(connection_timeout, read_timeout)

    def __iter__(self) -> Iterator[bytes]:
        offset = self.start
        errors = _BrokenChunks(self.reqid)
        for chunk in self.replicas:
            url = chunk.get("real_url") or chunk["url"]
            headers = {"Range": f"bytes={offset}-{self.end}",
                       REQID_HEADER: self.reqid}
            started = time.monotonic()
            try:
                resp = self.pool_manager.request(
                    "GET", url, headers=headers, preload_content=False,
                    timeout=self.timeout, retries=False)
            except urllib3.exceptions.HTTPError as err:
                errors.append((url, None, str(err)))
                self.avoid.add(chunk_host(chunk))
                continue
            answered = time.monotonic()
            perf.add(self.perfdata, "rawx", "connect." + chunk["url"],
                     answered - started)
            try:
                if resp.status not in (200, 206):
                    errors.append((url, resp.status, resp.read(200)))
                    if resp.status in (404, 410) and self.report is not None:
                        self.report.add(chunk, f"HTTP {resp.status}")
                    continue
                stored = resp.headers.get(CHUNK_HASH_HEADER)
                if stored and chunk.get("hash") and \
                        stored.lower() != str(chunk["hash"]).lower():
                    # Not the chunk meta2 knows (an old or foreign one).
                    reason = f"chunk hash {stored} instead of {chunk['hash']}"
                    errors.append((url, None, reason))
                    if self.report is not None:
                        self.report.add(chunk, reason)
                    resp.close()
                    continue
                if resp.status == 200 and offset:
                    resp.read(offset)          # a server without ranges
                for block in resp.stream(READ_BLOCK):
                    offset += len(block)
                    yield block
                if offset > self.end:
                    return
                errors.append((url, None, "short read"))
                self.avoid.add(chunk_host(chunk))
            except (urllib3.exceptions.HTTPError, OSError) as err:
                errors.append((url, None, str(err)))
                self.avoid.add(chunk_host(chunk))
            finally:
                resp.release_conn()
                perf.add(self.perfdata, "rawx", "download." + chunk["url"],
                         time.monotonic() - answered)
        if errors and all(status == 404 for _, status, _ in errors):
            raise exc.UnrecoverableContent(
                f"All replicas of the chunk are missing: {errors}")
        raise exc.ServiceUnavailable(f"No replica of the chunk readable: {errors}")


class _BrokenChunks(list):
    """(url, status, reason) of the replicas that failed, each reported in
    the log as it happens (the read goes on with another replica)."""

    def __init__(self, reqid: str):
        super().__init__()
        self.reqid = reqid

    def append(self, item: tuple) -> None:
        url, status, reason = item
        LOGGER.warning("chunk %s unusable (reqid=%s): %s", url, self.reqid,
                       f"HTTP {status}" if status else reason)
        super().append(item)


def object_stream(pool_manager: urllib3.PoolManager, plan, reqid: str,
                  method=None, **kwargs) -> Iterator[bytes]:
    """The bytes of a read plan; EC metachunks are decoded from their
    fragments when `method` is erasure coding. The rawx that fail at the
    network level are tried last by the following metachunks."""
    kwargs.setdefault("avoid", set())
    for meta, start, end in plan:
        if method is not None and method.ec:
            from oio.api.ec import ECMetachunkReader
            yield from ECMetachunkReader(pool_manager, method, meta["chunks"],
                                         start, end, meta["size"], reqid,
                                         **kwargs)
        else:
            yield from ChunkReader(pool_manager, meta["chunks"], start, end,
                                   reqid, **kwargs)


class Source:
    """What an upload reads: a path, a binary or text file object, bytes,
    str, or an iterable of bytes/str, behind one `readinto()` that fills the
    writer's reused buffers. `at_eof()` tells whether anything is left
    (the 7.2 client peeks the same way between metachunks)."""

    def __init__(self, file_or_path=None, data=None):
        self._close = None
        self._iter = None
        self._read = None
        self._pending = memoryview(b"")
        # In-memory data, lent to the writers by slices (no copy).
        self._memory: memoryview | None = None
        self._offset = 0
        if file_or_path is not None:
            if isinstance(file_or_path, (str, os.PathLike)):
                src = open(file_or_path, "rb")  # noqa: SIM115 - closed by close()
                self._close = src.close
            else:
                src = file_or_path
        elif isinstance(data, str):
            src = io.BytesIO(data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            src = None
            self._memory = memoryview(data)
            if self._memory.format != "B" or self._memory.ndim != 1:
                self._memory = memoryview(self._memory.tobytes())
        elif data is not None:
            src, self._iter = None, iter(data)
        else:
            raise exc.MissingData("No data to upload")
        if src is not None:
            if isinstance(src, io.TextIOBase) or not hasattr(src, "readinto"):
                self._read = src.read
            else:
                self._readinto = src.readinto

    def borrow(self, size: int) -> memoryview | None:
        """Up to `size` next bytes of in-memory data, as a view of it (empty
        at the end); None for other sources, which are read with
        `readinto`. The view is valid as long as the caller's data."""
        memory = self._memory
        if memory is None:
            return None
        start = self._offset
        self._offset = min(start + size, memory.nbytes)
        return memory[start:self._offset]

    def _next_piece(self, size: int) -> memoryview:
        """Up to `size` bytes from a read()-only source or an iterable."""
        if self._read is not None:
            piece = self._read(size)
        else:
            piece = next(self._iter, None)
            if piece is None:
                return memoryview(b"")
            if not piece:
                return self._next_piece(size)
        if isinstance(piece, str):
            piece = piece.encode("utf-8")
        return memoryview(piece).cast("B")

    def readinto(self, view: memoryview) -> int:
        if self._memory is not None:
            piece = self.borrow(len(view))
            view[:piece.nbytes] = piece
            return piece.nbytes
        want = len(view)
        got = 0
        while got < want:
            if not self._pending:
                if self._read is None and self._iter is None:
                    n = self._readinto(view[got:])
                    if not n:
                        break
                    got += n
                    continue
                self._pending = self._next_piece(want - got)
                if not self._pending:
                    break
            n = min(len(self._pending), want - got)
            view[got:got + n] = self._pending[:n]
            self._pending = self._pending[n:]
            got += n
        return got

    def remaining(self) -> int | None:
        """Bytes left when the source knows it (bytes, regular files)."""
        if self._memory is not None:
            return self._memory.nbytes - self._offset
        if self._read is not None or self._iter is not None:
            return None
        src = self._readinto.__self__
        try:
            if isinstance(src, io.BytesIO):
                left = src.getbuffer().nbytes - src.tell()
            else:
                st = os.fstat(src.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return None
                left = st.st_size - src.tell()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        return left + len(self._pending)

    def at_eof(self) -> bool:
        """Peek one byte, kept for the next readinto()."""
        if self._pending:
            return False
        if self._memory is not None:
            return self._offset >= self._memory.nbytes
        if self._read is None and self._iter is None:
            one = bytearray(1)
            n = self._readinto(memoryview(one))
            self._pending = memoryview(bytes(one[:n]))
        else:
            self._pending = self._next_piece(1024 * 1024)
        return not self._pending

    def close(self) -> None:
        if self._close:
            self._close()
