"""Receiving a chunk: body → md5 + pending file (rawx.md §7.1).

The HTTP core already holds the body as the bytes objects it received from
the socket: we take them as they are (no copy into another buffer) and hand
batches of about `batch` bytes to a worker thread that hashes them and
writes them with one writev, while the event loop collects the next batch.
md5 and writev release the GIL, so receiving, hashing and writing overlap
on two cores. With fsync on, each batch's writeback is started at once
(sync_file_range), so the final fdatasync finds little left to flush. The
end of the upload (last bytes, xattrs, fsync, rename) is one more thread
hop, so that a small chunk costs a single hop in all.
"""

from __future__ import annotations

import asyncio
import mmap
import threading

from oio.blob.chunk_meta import (
    BadChunkMeta,
    UploadMeta,
    apply_trailers,
    upload_xattrs,
)
from oio.blob.chunk_store import DIRECT_ALIGN, ChunkStore, PendingChunk
from oio.common.checksums import new_hasher
from oio.common.constants import TRANSFER_HASH_ALGO
from oio.common.http_server import Request, run_blocking


class ChunkUpload:
    """The blocking half of one upload: hash once, write, commit or abort.

    The file is created on the first write, so a small chunk is created,
    written, synced and published in one call to `finish`.
    """

    def __init__(self, store: ChunkStore, chunk_id: str, checksum: bool,
                 compression: str = "", algo: str = "",
                 transfer: bool = False):
        self.store = store
        self.chunk_id = chunk_id
        # MD5 unless the client declared another algorithm.
        self.md5 = new_hasher(algo) if checksum else None
        # The client's transfer hash to check (chunk_meta.UploadMeta).
        self.transfer = new_hasher(TRANSFER_HASH_ALGO) if transfer else None
        self.compression = compression
        self.pending: PendingChunk | None = None
        self.size = 0
        self.chunk_hash = ""

    def hash(self, pieces: list[bytes]) -> None:
        """Feed `pieces` to the checksums (may run beside `store`)."""
        for hasher in (self.md5, self.transfer):
            if hasher is not None:
                for piece in pieces:
                    hasher.update(piece)

    def store_data(self, pieces: list[bytes], last: bool = False) -> None:
        """Append `pieces` to the pending file, creating it first; `last`
        when the commit follows at once."""
        if self.pending is None:
            self.pending = self.store.create(self.chunk_id, check_exists=not last)
        self.size += self.pending.writev(pieces, last)

    def write(self, pieces: list[bytes], last: bool = False) -> None:
        """Hash and append `pieces`."""
        self.hash(pieces)
        self.store_data(pieces, last)

    def store_aligned(self, view: memoryview) -> int:
        """Append what `view` (aligned in memory) holds in whole blocks,
        bypassing the page cache when the store does; bytes written (0:
        use store_data)."""
        if self.pending is None:
            self.pending = self.store.create(self.chunk_id)
        written = self.pending.write_aligned(view)
        self.size += written
        return written

    def finish(self, pieces: list[bytes], meta: UploadMeta,
               trailers: dict[str, str], hashed: bool = False) -> None:
        """Write the last bytes (already `hashed` or not), check them
        against `meta` and `trailers`, set the xattrs and publish the
        chunk. Aborts on any error."""
        try:
            if hashed:
                self.store_data(pieces, last=True)
            else:
                self.write(pieces, last=True)
            if trailers:
                apply_trailers(meta, trailers)
            self._check_transfer(meta)
            if self.md5 is not None:
                self.chunk_hash = self.md5.hexdigest().upper()
            attrs = upload_xattrs(meta, self.chunk_hash, self.size,
                                  self.compression)
            self.pending.commit(attrs)
        except BaseException:
            self.abort()
            raise

    def _check_transfer(self, meta: UploadMeta) -> None:
        """BadChunkMeta when the body is not the one the client hashed."""
        if not meta.transfer_hash:
            return
        if self.transfer is None:
            raise BadChunkMeta("transfer hash sent without being announced "
                               "(header or Trailer)")
        computed = self.transfer.hexdigest().upper()
        if computed != meta.transfer_hash:
            raise BadChunkMeta(f"transfer hash mismatch: declared "
                               f"{meta.transfer_hash}, computed {computed}")

    def abort(self) -> None:
        if self.pending is not None:
            self.pending.abort()


async def receive_chunk(req: Request, upload: ChunkUpload, meta: UploadMeta,
                        batch: int) -> None:
    """Stream the body of `req` into `upload` and commit it; `batch` is the
    number of bytes (about) handed to the worker thread at once.

    Raises what the body read raises (client gone, timeout) or what the
    commit raises (BadChunkMeta, ChunkExists, OSError); the pending file is
    removed in every failure case.
    """
    inflight: list[asyncio.Future] = []
    pieces: list[bytes] = []
    collected = 0
    try:
        while True:
            data = await req.read(batch)
            if not data:
                break
            pieces.append(data)
            collected += len(data)
            if collected >= batch:
                if inflight:
                    await asyncio.gather(*inflight)
                # Hashing and writing the same batch in two threads: a batch
                # then costs max(md5, write) instead of their sum.
                inflight = [asyncio.ensure_future(run_blocking(upload.hash, pieces)),
                            asyncio.ensure_future(
                                run_blocking(upload.store_data, pieces))]
                pieces = []
                collected = 0
        if inflight:
            await asyncio.gather(*inflight)
            inflight = []
        await run_blocking(upload.finish, pieces, meta, req.trailers)
    except BaseException:
        if inflight:
            # Workers may still be writing: wait before closing the file.
            await asyncio.wait(inflight)
        upload.abort()
        raise


_batches = threading.local()


def _batch_buffer(size: int) -> memoryview:
    """This thread's receiving buffer (an mmap: aligned for O_DIRECT),
    reused from upload to upload: memory kept warm costs nothing to touch
    again, fresh memory does."""
    view = getattr(_batches, "view", None)
    if view is None or view.nbytes != size:
        view = _batches.view = memoryview(mmap.mmap(-1, size))
    return view


def receive_raw(reader, upload: ChunkUpload, meta: UploadMeta,
                batch: int) -> None:
    """The body of a raw request (HttpServer `raw_body`), in a worker
    thread: received straight into a reused buffer, about `batch` bytes at
    a time, hashed there, and written from there (whole blocks with
    O_DIRECT when the store bypasses the page cache; the few bytes of a
    last partial block wait for the next batch), then committed. The
    pending file is removed on any failure."""
    view = _batch_buffer(batch + DIRECT_ALIGN)
    held = 0        # received bytes at the start of `view`, not written
    try:
        while True:
            got = reader.fill(view[held:held + batch])
            upload.hash([view[held:held + got]])
            held += got
            if reader.done:
                upload.finish([view[:held]], meta, reader.trailers,
                              hashed=True)
                return
            written = upload.store_aligned(view[:held])
            if not written:
                upload.store_data([view[:held]])
                written = held
            view[:held - written] = view[written:held]
            held -= written
    except BaseException:
        upload.abort()
        raise
