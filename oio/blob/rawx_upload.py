"""Receiving a chunk: body → reused buffers → md5 + pending file (rawx.md §7.1).

The body is read into preallocated buffers (a fresh buffer per read halves
upload throughput). Each full buffer is hashed and written in a worker
thread while the event loop fills the other buffer: md5 and write() release
the GIL on big buffers, so receiving, hashing and writing overlap. The end
of the upload (last bytes, xattrs, fsync, rename) is one more thread hop,
so that a small chunk costs a single hop in all.
"""

from __future__ import annotations

import asyncio
import hashlib

from oio.blob.chunk_meta import UploadMeta, apply_trailers, upload_xattrs
from oio.blob.chunk_store import ChunkStore, PendingChunk
from oio.common.http_server import Request, run_blocking


class BufferPool:
    """Reusable upload buffers of `size` bytes; keeps at most `keep` idle."""

    def __init__(self, size: int, keep: int = 32):
        self.size = size
        self.keep = keep
        self._free: list[bytearray] = []

    def get(self) -> bytearray:
        return self._free.pop() if self._free else bytearray(self.size)

    def put(self, buf: bytearray) -> None:
        if len(self._free) < self.keep:
            self._free.append(buf)


class ChunkUpload:
    """The blocking half of one upload: hash once, write, commit or abort.

    The file is created on the first write, so a small chunk is created,
    written, synced and published in one call to `finish`.
    """

    def __init__(self, store: ChunkStore, chunk_id: str, checksum: bool,
                 compression: str = ""):
        self.store = store
        self.chunk_id = chunk_id
        self.md5 = hashlib.md5() if checksum else None
        self.compression = compression
        self.pending: PendingChunk | None = None
        self.size = 0
        self.chunk_hash = ""

    def write(self, data: memoryview) -> None:
        """Hash and append `data` (bytes); creates the pending file first."""
        if self.pending is None:
            self.pending = self.store.create(self.chunk_id)
        if self.md5 is not None:
            self.md5.update(data)
        self.pending.write(data)
        self.size += len(data)

    def finish(self, data: memoryview, meta: UploadMeta,
               trailers: dict[str, str]) -> None:
        """Write the last bytes, check them against `meta` and `trailers`,
        set the xattrs and publish the chunk. Aborts on any error."""
        try:
            self.write(data)
            if trailers:
                apply_trailers(meta, trailers)
            if self.md5 is not None:
                self.chunk_hash = self.md5.hexdigest().upper()
            attrs = upload_xattrs(meta, self.chunk_hash, self.size,
                                  self.compression)
            self.pending.commit(attrs)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self.pending is not None:
            self.pending.abort()


async def receive_chunk(req: Request, upload: ChunkUpload, meta: UploadMeta,
                        pool: BufferPool) -> None:
    """Stream the body of `req` into `upload` and commit it.

    Raises what the body read raises (client gone, timeout) or what the
    commit raises (BadChunkMeta, ChunkExists, OSError); the pending file is
    removed in every failure case.
    """
    buf = pool.get()
    spare: bytearray | None = None
    inflight: asyncio.Future | None = None
    try:
        view = memoryview(buf)
        size = len(view)
        filled = 0
        while True:
            n = await req.readinto(view[filled:])
            if not n:
                break
            filled += n
            if filled == size:
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(run_blocking(upload.write, view))
                if spare is None:
                    spare = pool.get()
                buf, spare = spare, buf
                view = memoryview(buf)
                filled = 0
        if inflight is not None:
            await inflight
            inflight = None
        await run_blocking(upload.finish, view[:filled], meta, req.trailers)
    except BaseException:
        if inflight is not None:
            # The worker may still be writing: wait before closing the file.
            await asyncio.wait([inflight])
        upload.abort()
        raise
    finally:
        pool.put(buf)
        if spare is not None:
            pool.put(spare)
