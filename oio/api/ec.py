"""Erasure-coded metachunks: writing the k + m fragments of a metachunk and
reading a range of it back from any k of them (naming.md §6.3-6.4, rawx.md
§7.1-7.2, §10).

A metachunk is cut into 1 MiB segments (the last one shorter); each segment
is encoded by pyeclib into k + m fragments, and fragment i of every segment
goes, back to back, into chunk `M.i`. Each fragment PUT ends with trailers:
its own size and hash, and the metachunk's size and MD5 (the hash meta2
records for every chunk of the metachunk).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import struct
import time

import urllib3

from oio.common import checksums
from oio.common import exceptions as exc
from oio.common import perfdata as perf
from oio.common.constants import (
    CHECKHASH_HEADER,
    CHUNK_HEADERS,
    REQID_HEADER,
    TRANSFER_HASH_ALGO,
)
from oio.common.http_urllib3 import timeout
from oio.common.storage_method import ECStorageMethod

from .io import chunk_host
from .replication import (
    ReplicatedMetachunkWriter,
    _ChunkPut,
    _Consumer,
    _End,
    _HashConsumer,
    new_chunk_hasher,
    reply_mismatch,
)

LOGGER = logging.getLogger(__name__)

_numpy_module = None


def _numpy():
    """numpy, imported on the first EC read (it costs ~0.1 s and a pool of
    BLAS threads at import, which no upload or CLI command needs); None
    when absent: segments are then checked by re-encoding."""
    global _numpy_module
    if _numpy_module is None:
        try:
            import numpy
        except ImportError:
            numpy = False
        _numpy_module = numpy
    return _numpy_module or None


TRAILERS = ", ".join((CHUNK_HEADERS["chunk_size"], CHUNK_HEADERS["chunk_hash"],
                      CHUNK_HEADERS["metachunk_size"],
                      CHUNK_HEADERS["metachunk_hash"]))
TRANSFER_TRAILERS = ", ".join((
    CHUNK_HEADERS["chunk_size"], CHUNK_HEADERS["transfer_hash"],
    CHUNK_HEADERS["metachunk_size"], CHUNK_HEADERS["metachunk_hash"]))


def fragment_index(chunk: dict) -> int:
    """i of an EC position `M.i`."""
    try:
        return int(str(chunk["pos"]).split(".", 1)[1])
    except (IndexError, ValueError):
        raise exc.OioException(f"Invalid EC chunk position {chunk['pos']!r}") \
            from None


class _Fragment:
    """A block of fragment bytes handed to one sender (nothing to give
    back: pyeclib returns fresh bytes)."""

    __slots__ = ("view",)

    def __init__(self, data: bytes):
        self.view = memoryview(data)

    def release(self) -> None:
        pass


class _FragmentPut(_ChunkPut):
    """Streams one fragment chunk, hashing what it sends (in its own
    thread: hashlib releases the GIL), and ends with its own trailers.

    With the default MD5, the fragment is hashed with xxh3_128 and sent as
    a transfer hash: the rawx checks it and computes the MD5 it stores, so
    the client does not MD5 the fragments too (docs/ec.md). Another
    algorithm is the chunk hash itself, computed here and stored."""

    def __init__(self, writer, chunk: dict, headers: dict, algo: str | None,
                 transfer: bool = False):
        super().__init__(writer, chunk, headers)
        self.transfer = transfer
        self.hasher = (new_chunk_hasher(TRANSFER_HASH_ALGO) if transfer
                       else new_chunk_hasher(algo) if algo else None)
        self.sent = 0
        self.fragment_hash: str | None = None

    def account(self, view: memoryview) -> None:
        if self.hasher is not None:
            self.hasher.update(view)
        self.sent += view.nbytes

    def last_chunk(self, end: _End) -> bytes:
        trailers = {CHUNK_HEADERS["chunk_size"]: str(self.sent)}
        if self.hasher is not None:
            digest = self.hasher.hexdigest()
            if self.transfer:
                trailers[CHUNK_HEADERS["transfer_hash"]] = digest
            else:
                self.fragment_hash = digest
                trailers[CHUNK_HEADERS["chunk_hash"]] = digest
        trailers.update(end.trailers)
        return super().last_chunk(_End(trailers))


class ECMetachunkWriter(ReplicatedMetachunkWriter):
    """One EC metachunk to its k + m rawx, in parallel; the same interface
    as the replicated writer (send / wait / abort / uploaded).

    The caller's thread takes whole segments (lent by in-memory data, or
    read into the ring's buffers), hashes
    them once for the metachunk, encodes them, and hands fragment i to
    sender i; the object-wide hash (when fed) runs in its own thread."""

    def __init__(self, sysmeta, meta_chunk, checksum,
                 storage_method: ECStorageMethod, rebuild: bool = False,
                 **kwargs):
        if rebuild:       # some fragments only, every one of them needed
            kwargs["quorum"] = len(meta_chunk)
        super().__init__(sysmeta, meta_chunk, checksum, storage_method,
                         **kwargs)
        self.rebuild = rebuild
        if self.buffer_size < storage_method.ec_segment_size:
            self.segment_size = self.buffer_size      # a small object
        else:
            self.segment_size = storage_method.ec_segment_size
        # The metachunk hash is always MD5: it is what meta2 records.
        self.chunk_checksum = hashlib.md5()
        self.fragment_algo = self.chunk_checksum_algo

    def send(self, source, size: int | None) -> int:
        method: ECStorageMethod = self.storage_method
        chunks = sorted(self.meta_chunk, key=fragment_index)
        indexes = [fragment_index(c) for c in chunks]
        if (indexes != list(range(method.expected_chunks)) and not (
                self.rebuild and len(set(indexes)) == len(indexes)
                and all(0 <= i < method.expected_chunks for i in indexes))):
            raise exc.OioException(
                f"Expected fragments 0..{method.expected_chunks - 1}, got "
                f"{[c['pos'] for c in self.meta_chunk]}")
        transfer = self.fragment_algo is not None and \
            checksums.is_default(self.fragment_algo)
        headers = dict(self.headers,
                       Trailer=TRANSFER_TRAILERS if transfer else TRAILERS)
        self._puts = [_FragmentPut(self, chunk,
                                   self.put_headers(chunk, headers),
                                   self.fragment_algo, transfer)
                      for chunk in chunks]
        left = self.inline_size(source, size)
        if left is not None and left <= self.segment_size:
            return self._send_inline(source, left)
        # Hashes run in their own threads (hashlib releases the GIL), beside
        # the encoder, which holds it.
        metachunk_hasher = _HashConsumer(self.chunk_checksum, self.queue_depth)
        hashers = [metachunk_hasher]
        if self.checksum is not None:
            hashers.append(_HashConsumer(self.checksum, self.queue_depth))
        self._consumers = list(self._puts) + hashers
        for consumer in self._consumers:
            consumer.start()
        driver = method.driver
        transferred = 0
        try:
            while size is None or transferred < size:
                want = self.segment_size if size is None else min(
                    self.segment_size, size - transferred)
                buf = self._next_block(source, want, whole=True)
                if buf is None:
                    break
                got = buf.got
                fragments = driver.encode(bytes(buf.view[:got]))
                transferred += got
                self._dispatch_fragments(fragments, buf, got, hashers)
                if got < want:
                    break
            if transferred == 0:
                # An empty metachunk: empty fragments, trailers only.
                self._dispatch_fragments(
                    [b""] * method.expected_chunks, None, 0, [])
            # The trailers need the metachunk hash: let its thread finish.
            metachunk_hasher.queue.put(_End({}))
            metachunk_hasher.join()
            if metachunk_hasher.failed:
                raise exc.OioException(
                    f"metachunk hash failed: {metachunk_hasher.failed}")
        except BaseException:
            self.abort()
            raise
        self._transferred = transferred
        self._hash = self.chunk_checksum.hexdigest()
        end = _End({CHUNK_HEADERS["metachunk_size"]: str(transferred),
                    CHUNK_HEADERS["metachunk_hash"]: self._hash})
        for consumer in self._consumers:
            if consumer is not metachunk_hasher:
                consumer.queue.put(end)
        self._join_object_hash()
        return transferred

    def _inline_requests(self, block: memoryview) -> list:
        """One segment, encoded here: each fragment to its rawx."""
        fragments = (self.storage_method.driver.encode(bytes(block))
                     if block.nbytes
                     else [b""] * self.storage_method.expected_chunks)
        end = _End({CHUNK_HEADERS["metachunk_size"]: str(block.nbytes),
                    CHUNK_HEADERS["metachunk_hash"]: self._hash})
        return [(put, memoryview(fragments[fragment_index(put.chunk)]), end)
                for put in self._puts]

    def _dispatch_fragments(self, fragments: list[bytes], buf, length: int,
                            hashers: list[_Consumer]) -> None:
        live_puts = [p for p in self._puts if not p.failed]
        if len(live_puts) < self.quorum:
            if buf is not None:
                buf.give_back()
            failures = [self._failed_chunk(p) for p in self._puts if p.failed]
            self.quorum_or_fail([p.chunk for p in live_puts], failures)
        for put in live_puts:
            put.queue.put((_Fragment(fragments[fragment_index(put.chunk)]),
                           None))
        if buf is None:
            return
        live = [h for h in hashers if not h.failed]
        if not live:
            buf.give_back()
            return
        buf.refs = len(live)
        for hasher in live:
            hasher.queue.put((buf, length))

    @staticmethod
    def _check_reply(put: _FragmentPut, transferred: int,
                     metachunk_hash: str | None
                     ) -> tuple[str | None, str | None]:
        """A fragment is checked against its own bytes; every fragment
        records the metachunk's size and hash in meta2."""
        reply = (put.reply_hash or "").lower() or None
        return reply_mismatch(put.fragment_hash, reply, put.sent,
                              put.reply_size), metachunk_hash


# -- reading ------------------------------------------------------------------

class _FragmentError(Exception):
    """One fragment could not be read (its reader moves on to another);
    `network` when the rawx itself failed (refused, timed out, cut)."""

    def __init__(self, message: str, status: int | None = None,
                 network: bool = False):
        super().__init__(message)
        self.status = status
        self.network = network


# Fragments of this many segments are received in one read per source.
READ_BATCH = 4


class _FragmentSource:
    """Reads the fragments of one chunk, segment after segment, from one
    ranged GET."""

    def __init__(self, reader: ECMetachunkReader, chunk: dict):
        self.reader = reader
        self.chunk = chunk
        self.index = fragment_index(chunk)
        self.url = chunk.get("real_url") or chunk["url"]
        self.resp = None
        self.offset = 0           # next fragment byte handed to the reader
        self.last = -1            # last byte asked for
        self.started = 0.0
        # Bytes received ahead of `offset` (fragments of the next segments).
        self.spare = memoryview(b"")
        self.open_error: _FragmentError | None = None

    def open_quietly(self, offset: int, last: int) -> None:
        """open(), its failure kept for the first read (open_at_once)."""
        try:
            self.open(offset, last)
        except _FragmentError as err:
            self.open_error = err

    def open(self, offset: int, last: int) -> None:
        reader = self.reader
        headers = {REQID_HEADER: reader.reqid,
                   "Range": f"bytes={offset}-{last}"}
        self.started = time.monotonic()
        try:
            resp = reader.pool_manager.request(
                "GET", self.url, headers=headers, preload_content=False,
                timeout=reader.timeout, retries=False)
        except urllib3.exceptions.HTTPError as err:
            raise _FragmentError(str(err), network=True) from None
        perf.add(reader.perfdata, "rawx", "connect." + self.chunk["url"],
                 time.monotonic() - self.started)
        if resp.status not in (200, 206):
            body = resp.read(200)
            resp.release_conn()
            raise _FragmentError(f"HTTP {resp.status} {body!r}", resp.status)
        stored = resp.headers.get(CHUNK_HEADERS["metachunk_hash"])
        if stored and self.chunk.get("hash") and \
                stored.lower() != str(self.chunk["hash"]).lower():
            resp.close()
            resp.release_conn()
            # A fragment of another metachunk than the one meta2 knows.
            raise _FragmentError(f"metachunk hash {stored} instead of "
                                 f"{self.chunk['hash']}")
        self.resp = resp
        self.offset = offset
        self.last = last
        if resp.status == 200 and offset:
            self._read(offset)        # a server that ignores ranges
            self.offset = offset

    def read(self, offset: int, size: int, last: int):
        """The `size` fragment bytes at `offset` (opening the GET first), as
        bytes or a read-only memoryview of them.

        Several segments' fragments are received at once (fewer calls
        through the HTTP layers), and handed out one by one."""
        if self.open_error is not None:
            err, self.open_error = self.open_error, None
            raise err
        if self.resp is None or self.offset != offset:
            self.close()
            self.open(offset, last)
        spare = self.spare
        if spare.nbytes < size:
            want = min(size * READ_BATCH, self.last + 1 - self.offset)
            if spare.nbytes:
                data = bytes(spare) + self._read(want - spare.nbytes)
            else:
                data = self._read(max(want, size))
            spare = memoryview(data)
        self.spare = spare[size:]
        self.offset += size
        return spare[:size]

    def _read(self, size: int) -> bytes:
        parts, got = [], 0
        try:
            while got < size:
                part = self.resp.read(size - got)
                if not part:
                    raise _FragmentError(
                        f"short read: {got} of {size} bytes at {self.offset}",
                        network=True)
                parts.append(part)
                got += len(part)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise _FragmentError(f"{type(err).__name__}: {err}",
                                 network=True) from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self.resp is not None:
            perf.add(self.reader.perfdata, "rawx",
                     "download." + self.chunk["url"],
                     time.monotonic() - self.started)
            # Reusable once the response has given its whole range.
            self._release(self.offset + self.spare.nbytes > self.last)

    def drop(self) -> None:
        """Forget the connection (it may be mid-body: not reusable)."""
        if self.resp is not None:
            self._release(False)

    def _release(self, reusable: bool) -> None:
        self.spare = memoryview(b"")
        if not reusable:
            self.resp.close()     # unread bytes: the socket cannot be reused
        self.resp.release_conn()
        self.resp = None


# Sends the first GETs of a metachunk's fragments side by side.
_openers = concurrent.futures.ThreadPoolExecutor(
    max_workers=16, thread_name_prefix="ec-open")


def open_at_once(sources: list[_FragmentSource], offset: int,
                 last: int) -> None:
    """Open the fragment GETs of `sources` in parallel: a read waits for
    one round trip instead of one per fragment (k + 1 of them): +30 % on
    a 64 MiB EC 4+2 GET. Failures wait for each source's first read,
    which replaces it as usual."""
    if len(sources) < 2:
        return
    for future in [_openers.submit(s.open_quietly, offset, last)
                   for s in sources]:
        future.result()


class ECMetachunkReader:
    """Bytes [start, end] of one EC metachunk, from k of its fragments.

    Data fragments are preferred (decoding them is a copy); one more
    fragment, when there is one, checks every segment: the decoded segment
    is encoded again and must give that fragment back, so a fragment
    corrupted on disk is caught before its bytes are returned. A mismatch
    makes the rawx verify their fragments' hashes; the corrupted ones are
    dropped and the segment decoded again from others. A fragment that
    fails (connection, timeout, HTTP error, short read) is replaced by the
    next one, resuming at the current segment."""

    def __init__(self, pool_manager, method: ECStorageMethod, chunks: list[dict],
                 start: int, end: int, metachunk_size: int, reqid: str,
                 connection_timeout: float | None = None,
                 read_timeout: float | None = None,
                 perfdata: dict | None = None, verify: bool = True,
                 logger=None, avoid: set[str] | None = None, report=None):
        self.pool_manager = pool_manager
        self.method = method
        self.start = start
        self.end = end
        self.size = metachunk_size
        self.reqid = reqid
        self.timeout = timeout(connection_timeout, read_timeout)
        self.perfdata = perfdata
        self.verify = verify
        self.logger = logger or LOGGER
        k = method.ec_nb_data
        unique: dict[int, dict] = {}
        for chunk in chunks:
            unique.setdefault(fragment_index(chunk), chunk)
        # Data fragments first, then parity; a zero score (a service the
        # conscience thinks down) goes last.
        # Rawx that failed earlier in this read (`avoid`, shared with the
        # other metachunks) go last too: a stalled one costs one timeout.
        self.avoid = avoid if avoid is not None else set()
        # oio.api.broken.BrokenChunks: missing or damaged fragments met.
        self.report = report
        order = sorted(unique.values(), key=lambda c: (
            (int(c.get("score") or 0) <= 0 and "score" in c)
            or chunk_host(c) in self.avoid,
            fragment_index(c) >= k, fragment_index(c)))
        self.sources = [_FragmentSource(self, c) for c in order]
        self.errors: list[tuple[str, int | None, str]] = []

    def __iter__(self):
        method = self.method
        k = method.ec_nb_data
        seg_size = method.ec_segment_size
        segments = method.segments(self.size)
        if not segments or self.start > self.end:
            return
        full = method.fragment_size(seg_size)
        first, last_seg = self.start // seg_size, self.end // seg_size
        frag_last = last_seg * full + method.fragment_size(
            segments[last_seg]) - 1
        want = k + 1 if self.verify else k
        active = self.sources[:want]
        spares = self.sources[want:]
        try:
            if last_seg > first:
                # A small read would pay more in thread hand-offs (CPU)
                # than it saves in waiting.
                open_at_once(active, first * full, frag_last)
            for index in range(first, last_seg + 1):
                length = segments[index]
                offset = index * full
                frag_len = method.fragment_size(length)
                got: dict[int, bytes] = {}
                pending = list(active)
                active = []
                while pending or (len(got) < want and spares):
                    source = pending.pop(0) if pending else spares.pop(0)
                    try:
                        got[source.index] = source.read(offset, frag_len,
                                                        frag_last)
                        active.append(source)
                    except _FragmentError as err:
                        self._broken(source, str(err), err.status,
                                     err.network)
                    if len(got) >= want and not pending:
                        break
                if len(got) < k:
                    self._fail(len(got))
                data = self._decode(got, length, active, spares, offset,
                                    frag_len, frag_last)
                seg_start = index * seg_size
                lo = max(self.start - seg_start, 0)
                hi = min(self.end - seg_start, length - 1) + 1
                yield data[lo:hi] if (lo, hi) != (0, length) else data
        finally:
            for source in self.sources:
                source.close()

    def _decode(self, got: dict[int, bytes], length: int, active: list,
                spares: list, offset: int, frag_len: int,
                frag_last: int) -> bytes:
        k = self.method.ec_nb_data
        driver = self.method.driver
        fast = self.method.ec_type in XOR_FIRST_PARITY
        while True:
            data = None
            # The copy path, when nothing is left to check or the first
            # parity can check it cheaply.
            if fast and (len(got) == k or (_numpy() is not None and k in got)):
                data = systematic_join(got, k, length)
            if data is not None:
                # Every data fragment is there: the segment is their
                # payloads; the first parity is their XOR.
                problem = None
                if k in got and not xor_parity_matches(got, k):
                    problem = "data fragments do not match the first parity"
            else:
                chosen = sorted(got)[:k]
                try:
                    data = driver.decode([bytes(got[i]) for i in chosen])
                except Exception as err:  # noqa: BLE001 - pyeclib's classes
                    data, problem = None, f"undecodable fragments: {err}"
                else:
                    problem = None
                    if len(data) != length:
                        problem = f"decoded {len(data)} bytes, expected {length}"
                extras = [i for i in got if i not in chosen]
                if problem is None and extras:
                    again = driver.encode(data)
                    if any(again[i] != got[i] for i in extras):
                        problem = "fragments disagree"
            if problem is None:
                return data
            # Find the culprits: each rawx checks its fragment's hash.
            suspects = [s for s in active if s.index in got]
            corrupt = [s for s in suspects if not self._hash_ok(s)]
            if not corrupt:
                raise exc.ServiceUnavailable(
                    f"EC fragments of metachunk at offset {offset} are "
                    f"inconsistent ({problem}) and no rawx reports damage")
            for source in corrupt:
                self._broken(source, f"corrupted ({problem})", None)
                got.pop(source.index, None)
                active.remove(source)
                source.drop()
            while len(got) < k + 1 and spares:
                source = spares.pop(0)
                try:
                    got[source.index] = source.read(offset, frag_len, frag_last)
                    active.append(source)
                except _FragmentError as err:
                    self._broken(source, str(err), err.status, err.network)
            if len(got) < k:
                self._fail(len(got))

    def _hash_ok(self, source: _FragmentSource) -> bool:
        try:
            resp = self.pool_manager.request(
                "HEAD", source.url, headers={REQID_HEADER: self.reqid,
                                             CHECKHASH_HEADER: "True"},
                timeout=self.timeout, retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return resp.status == 200

    def _broken(self, source: _FragmentSource, reason: str,
                status: int | None, network: bool = False) -> None:
        source.drop()
        if network:
            self.avoid.add(chunk_host(source.chunk))
        elif status in (None, 404, 410) and self.report is not None:
            # Missing, corrupted, or another metachunk's fragment.
            self.report.add(source.chunk, reason)
        self.errors.append((source.url, status, reason))
        self.logger.warning("EC fragment %s unusable (reqid=%s): %s",
                            source.url, self.reqid, reason)

    def _fail(self, readable: int) -> None:
        k = self.method.ec_nb_data
        detail = "; ".join(f"{url}: {reason}" for url, _, reason in self.errors)
        # Fragments nobody gave us (a rebuild reads all but the lost one;
        # meta2 may list fewer than k+m) are as gone as those answering 404.
        absent = self.method.ec_nb_data + self.method.ec_nb_parity \
            - len(self.sources)
        if self.errors and all(status == 404 for _, status, _ in self.errors) \
                and len(self.errors) + absent > self.method.ec_nb_parity:
            raise exc.UnrecoverableContent(
                f"Not enough fragments: {readable} of the {k} needed ({detail})")
        raise exc.ServiceUnavailable(
            f"Not enough readable fragments: {readable} of the {k} needed "
            f"({detail})")


# Algorithms whose first parity fragment is the XOR of the data fragments
# (checked against pyeclib's output in tests/unit/test_ec.py).
XOR_FIRST_PARITY = frozenset(("liberasurecode_rs_vand", "isa_l_rs_vand"))

# liberasurecode's fragment header (80 bytes, little-endian): index, payload
# size, backend metadata size, original data size, ..., magic at 59.
HEADER_SIZE = 80
HEADER = struct.Struct("<IIIQ")
HEADER_MAGIC = 0xB0C5ECC
MAGIC = struct.Struct("<I")


def systematic_join(fragments: dict[int, bytes], k: int,
                    length: int) -> bytes | None:
    """The segment from its k data fragments without pyeclib (a copy of
    their payloads: the Reed-Solomon codes OpenIO uses are systematic), or
    None when a data fragment is missing or its header is not as expected
    (pyeclib then decodes, checking the headers itself)."""
    views = []
    for index in range(k):
        frag = fragments.get(index)
        if frag is None or len(frag) < HEADER_SIZE:
            return None
        idx, size, backend, orig = HEADER.unpack_from(frag)
        if (idx != index or backend or orig != length
                or len(frag) != HEADER_SIZE + size
                or MAGIC.unpack_from(frag, 59)[0] != HEADER_MAGIC):
            return None
        views.append(memoryview(frag)[HEADER_SIZE:])
    # The last payload ends with padding: cut it before joining rather
    # than copying the joined segment again.
    extra = sum(view.nbytes for view in views) - length
    if extra < 0:
        return None
    while extra:
        tail = views[-1]
        if tail.nbytes <= extra:
            views.pop()
            extra -= tail.nbytes
        else:
            views[-1] = tail[:tail.nbytes - extra]
            extra = 0
    return b"".join(views)


def xor_parity_matches(fragments: dict[int, bytes], k: int) -> bool:
    """Whether the first parity fragment is the XOR of the k data ones (as
    the first row of OpenIO's Vandermonde codes makes it)."""
    parity = fragments[k]
    size = len(parity) - HEADER_SIZE
    if any(len(fragments[i]) - HEADER_SIZE != size for i in range(k)):
        return False
    numpy = _numpy()
    acc = numpy.frombuffer(fragments[0], numpy.uint8, size, HEADER_SIZE).copy()
    for index in range(1, k):
        numpy.bitwise_xor(acc, numpy.frombuffer(
            fragments[index], numpy.uint8, size, HEADER_SIZE), out=acc)
    return bool(numpy.array_equal(acc, numpy.frombuffer(
        parity, numpy.uint8, size, HEADER_SIZE)))
