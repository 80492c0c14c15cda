"""Writing one metachunk to its N replicas in parallel (naming.md §6.4,
rawx.md §7.1, §10).

The caller reads the source once and hashes each block once; every block is
handed to one sender thread per rawx through a bounded queue, so memory stays
at `queue_depth` blocks per copy whatever the object size.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from urllib.parse import quote

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import CHUNK_METADATA_PREFIX, OIO_VERSION, REQID_HEADER
from oio.common.http_urllib3 import timeout
from oio.common.storage_method import StorageMethod

_END = object()     # end of the metachunk: finish the upload
_ABORT = object()   # quorum lost: cut the upload so the rawx drops it


def chunk_headers(meta: dict, account: str, container: str, cid: str,
                  chunk: dict, reqid: str) -> dict:
    """The headers of a chunk PUT, as the 7.2 client sends them."""
    path = meta["name"]
    version = str(meta["version"])
    content_id = meta["id"]
    full_path = "/".join(quote(part, safe="") for part in
                         (account, container, path, version, content_id))
    prefix = CHUNK_METADATA_PREFIX
    return {
        prefix + "content-id": content_id,
        prefix + "content-version": version,
        prefix + "content-path": quote(path, safe="/"),
        prefix + "content-chunk-method": meta["chunk_method"],
        prefix + "content-storage-policy": meta["policy"],
        prefix + "container-id": cid,
        prefix + "oio-version": OIO_VERSION,
        prefix + "full-path": full_path,
        prefix + "chunk-pos": str(chunk["pos"]),
        prefix + "chunk-id": chunk["url"].rsplit("/", 1)[-1],
        REQID_HEADER: reqid,
    }


class _Copy(threading.Thread):
    """Streams the blocks of its queue to one rawx."""

    def __init__(self, writer: ReplicatedMetachunkWriter, chunk: dict,
                 headers: dict):
        super().__init__(daemon=True, name=f"put-{chunk['url'][-8:]}")
        self.writer = writer
        self.chunk = chunk
        self.headers = headers
        self.queue: queue.Queue = queue.Queue(maxsize=writer.queue_depth)
        self.failed: str | None = None
        self.reply_hash: str | None = None
        self.reply_size: int | None = None
        self.status: int | None = None
        self._ended = False     # the end marker has been consumed

    def _blocks(self) -> Iterator[bytes]:
        while True:
            block = self.queue.get()
            if block is _END:
                self._ended = True
                return
            if block is _ABORT:
                self._ended = True
                raise exc.OioException("upload aborted")
            yield block

    def run(self) -> None:
        url = self.chunk.get("real_url") or self.chunk["url"]
        try:
            resp = self.writer.pool_manager.urlopen(
                "PUT", url, body=self._blocks(), headers=self.headers,
                chunked=self.writer.size_hint is None, retries=False,
                redirect=False,
                timeout=self.writer.timeout, preload_content=True)
            self.status = resp.status
            if resp.status != 201:
                self.failed = f"HTTP {resp.status} {resp.data[:200]!r}"
            else:
                self.reply_hash = resp.headers.get(
                    CHUNK_METADATA_PREFIX + "chunk-hash")
                size = resp.headers.get(CHUNK_METADATA_PREFIX + "chunk-size")
                self.reply_size = int(size) if size else None
        except Exception as err:  # noqa: BLE001 - any failure fails this copy
            self.failed = f"{type(err).__name__}: {err}"
        finally:
            if self.failed:
                self.writer.copy_failed()
            self._drain()

    def _drain(self) -> None:
        """After a failure, keep consuming until the end marker, so that the
        reader never blocks on a dead copy."""
        while not self._ended:
            block = self.queue.get()
            self._ended = block is _END or block is _ABORT


class ReplicatedMetachunkWriter:
    """One metachunk to N rawx: `start()`, `write(block)`*, `finish()`."""

    def __init__(self, chunks: list[dict], storage_method: StorageMethod,
                 headers_of, pool_manager: urllib3.PoolManager,
                 connection_timeout: float | None = None,
                 write_timeout: float | None = None, queue_depth: int = 4,
                 size_hint: int | None = None):
        self.chunks = chunks
        self.storage_method = storage_method
        self.quorum = max(1, storage_method.quorum)
        self.pool_manager = pool_manager
        self.timeout = timeout(connection_timeout, write_timeout)
        self.queue_depth = queue_depth
        # With a known size the body goes with a Content-Length: no chunked
        # framing, so no copy of each block per replica.
        self.size_hint = size_hint
        self.copies = []
        for chunk in chunks:
            headers = headers_of(chunk)
            if size_hint is not None:
                headers["Content-Length"] = str(size_hint)
            self.copies.append(_Copy(self, chunk, headers))
        self.md5 = hashlib.md5()
        self.size = 0
        self.written: list[dict] = []
        self._ended = False
        self._failures = 0
        self._lock = threading.Lock()

    def copy_failed(self) -> None:
        with self._lock:
            self._failures += 1

    def _live(self) -> list[_Copy]:
        return [c for c in self.copies if not c.failed]

    def start(self) -> None:
        for copy in self.copies:
            copy.start()

    def write(self, block: bytes) -> None:
        self.md5.update(block)
        self.size += len(block)
        live = self._live()
        if len(live) < self.quorum:
            self.abort()
            self._raise_quorum()
        for copy in live:
            copy.queue.put(block)

    def abort(self) -> None:
        if not self._ended:
            self._ended = True
            for copy in self.copies:
                if copy.is_alive():
                    copy.queue.put(_ABORT)
        self._close()
        # Copies that completed anyway must be known, to be deleted.
        self.written = [dict(c.chunk) for c in self.copies
                        if c.status == 201 and not c.failed]

    def _close(self) -> None:
        for copy in self.copies:
            copy.join()

    def _raise_quorum(self, ok: int | None = None) -> None:
        ok = len(self._live()) if ok is None else ok
        reasons = "; ".join(f"{c.chunk['url']}: {c.failed}" for c in self.copies
                            if c.failed)
        raise exc.ServiceBusy(message=f"RAWX write failure, quorum not reached "
                              f"({ok}/{self.quorum}): {reasons}")

    def end(self) -> None:
        """No more data: let the copies finish their uploads."""
        if self._ended:
            return
        if self.size_hint is not None and self.size != self.size_hint:
            self.abort()
            raise exc.SourceReadError(f"Expected {self.size_hint} bytes from "
                                      f"the source, got {self.size}")
        self._ended = True
        for copy in self.copies:
            copy.queue.put(_END)

    def finish(self) -> list[dict]:
        """Wait for the replies; the chunks written (size and hash set)."""
        self.end()
        self._close()
        digest = self.md5.hexdigest()
        written = []
        for copy in self.copies:
            if copy.failed:
                continue
            if copy.reply_hash and copy.reply_hash.lower() != digest:
                copy.failed = f"hash mismatch ({copy.reply_hash})"
                continue
            if copy.reply_size is not None and copy.reply_size != self.size:
                copy.failed = f"size mismatch ({copy.reply_size})"
                continue
            chunk = dict(copy.chunk, size=self.size, hash=digest)
            written.append(chunk)
        self.written = written
        if len(written) < self.quorum:
            self._raise_quorum(len(written))
        return written

    def failures(self) -> list[tuple[dict, str]]:
        return [(c.chunk, c.failed) for c in self.copies if c.failed]
