"""7.2's object read helpers (`fetch_stream`...) for code that reads an
object from chunks it already located: mapped onto the API's own read
path (`oio.api.io`: metachunk grouping, read plans, replicated and EC
readers), so there is one way objects are read."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from oio.api.io import group_metachunks, object_stream, plan_reads
from oio.common.constants import OBJECT_METADATA_PREFIX, REQID_HEADER
from oio.common.http_urllib3 import get_pool_manager
from oio.common.storage_method import STORAGE_METHODS, StorageMethod
from oio.common.utils import request_id

__all__ = ["fetch_stream", "fetch_stream_ec", "get_meta_ranges",
           "obj_range_to_meta_chunk_range", "wrand_choice_index"]


def obj_range_to_meta_chunk_range(obj_start: int | None, obj_end: int | None,
                                  meta_sizes: list[int]
                                  ) -> dict[int, tuple[int, int]]:
    """Metachunk position → (first, last) byte inside it, for the object
    range `obj_start`-`obj_end` (start None: the last `obj_end` bytes;
    end None: up to the end). `meta_sizes` in metachunk order."""
    total = sum(meta_sizes)
    if obj_start is None and obj_end is not None:
        obj_start, obj_end = total - min(total, obj_end), total - 1
    start = obj_start or 0
    end = total - 1 if obj_end is None else obj_end
    out, offset = {}, 0
    for pos, size in enumerate(meta_sizes):
        first, last = offset, offset + size - 1
        offset += size
        if size <= 0 or last < start:
            continue
        if first > end:
            break
        out[pos] = (max(start, first) - first, min(end, last) - first)
    return out


def _flat(chunks) -> list[dict]:
    """Chunks as a list, from a list or 7.2's {position: [chunks]}."""
    if isinstance(chunks, dict):
        return [c for group in chunks.values() for c in group]
    return list(chunks)


def get_meta_ranges(ranges, chunks) -> list[dict[int, tuple[int, int]]]:
    """For each object range, its metachunk ranges."""
    sizes = [m["size"] for m in group_metachunks(_flat(chunks))]
    return [obj_range_to_meta_chunk_range(start, end, sizes)
            for start, end in ranges]


def wrand_choice_index(scores: Iterable[float]) -> int:
    """An index drawn at random, weighted by `scores`."""
    scores = list(scores)
    return random.choices(range(len(scores)), weights=scores)[0] \
        if sum(scores) > 0 else random.randrange(len(scores))


def _weighted_score(chunk: dict) -> int:
    """A chunk's score with a little noise, so that close scores do not
    always pick the same rawx first (0 stays 0: down services go last)."""
    score = int(chunk.get("score") or 0)
    return score + random.randrange(10) if score else 0


def _sort_chunks(raw_chunks: Iterable[dict], ec_security: bool,
                 logger=None) -> dict[int, list[dict]]:
    """Metachunk position → its chunks, best first, each with `offset`
    (of its metachunk in the object) and, for EC, `num` (its fragment
    index; a duplicated index is dropped). Replicas that disagree on the
    hash: the largest group that agrees is kept."""
    chunks: dict[int, list[dict]] = {}
    for chunk in raw_chunks:
        head, _, tail = str(chunk["pos"]).partition(".")
        group = chunks.setdefault(int(head), [])
        if ec_security:
            chunk["num"] = int(tail)
            if any(c["num"] == chunk["num"] for c in group):
                if logger is not None:
                    logger.warning("Duplicated position (%s) for %s",
                                   chunk["pos"], chunk.get("real_url")
                                   or chunk.get("url"))
                continue
        group.append(chunk)
    if not ec_security:
        for pos, group in chunks.items():
            by_hash: dict = {}
            for chunk in group:
                by_hash.setdefault(chunk.get("hash"), []).append(chunk)
            chunks[pos] = max(by_hash.values(), key=len)
    offset = 0
    for pos in sorted(chunks):
        group = chunks[pos]
        group.sort(key=_weighted_score, reverse=True)
        for chunk in group:
            chunk["offset"] = offset
        offset += int(group[0].get("size") or 0)
    return chunks


def _make_object_metadata(headers: dict[str, str]) -> dict:
    """Object metadata from the `x-oio-content-meta-*` headers."""
    meta: dict = {"properties": {}}
    for key, value in headers.items():
        key = key.lower()
        if key.startswith(OBJECT_METADATA_PREFIX):
            meta[key[len(OBJECT_METADATA_PREFIX):].replace("-", "_")] = value
    return meta


def fetch_stream(chunks, ranges, storage_method: StorageMethod | str,
                 headers: dict | None = None, **kwargs) -> Iterator[bytes]:
    """The bytes of an object (or of `ranges`, (start, end) pairs) read
    from its located `chunks` (a list, or 7.2's {position: [chunks]}),
    replicated or EC as `storage_method` says. Keywords: `pool_manager`,
    `connection_timeout`, `read_timeout` (seconds), `perfdata`."""
    if isinstance(storage_method, str):
        storage_method = STORAGE_METHODS.load(storage_method)
    headers = headers or {}
    reqid = headers.get(REQID_HEADER) or kwargs.get("reqid") or \
        request_id("fetch-")
    pool = kwargs.get("pool_manager") or get_pool_manager()
    plan = plan_reads(group_metachunks(_flat(chunks)), ranges)
    yield from object_stream(
        pool, plan, reqid, method=storage_method,
        connection_timeout=kwargs.get("connection_timeout"),
        read_timeout=kwargs.get("read_timeout"),
        perfdata=kwargs.get("perfdata"))


fetch_stream_ec = fetch_stream
