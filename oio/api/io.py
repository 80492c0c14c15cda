"""Reading objects back from their chunks: metachunk grouping, ranges and
failover between replicas (proxy-api.md §8.2, rawx.md §10)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import REQID_HEADER
from oio.common.http_urllib3 import timeout

READ_BLOCK = 1024 * 1024


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


class ChunkReader:
    """Reads bytes [start, end] of a metachunk from the first replica that
    answers, resuming on the next one after a failure mid-stream."""

    def __init__(self, pool_manager: urllib3.PoolManager, replicas: list[dict],
                 start: int, end: int, reqid: str,
                 connection_timeout: float | None = None,
                 read_timeout: float | None = None):
        self.pool_manager = pool_manager
        self.replicas = replicas
        self.start = start
        self.end = end
        self.reqid = reqid
        self.timeout = timeout(connection_timeout, read_timeout)

    def __iter__(self) -> Iterator[bytes]:
        offset = self.start
        errors = []
        for chunk in self.replicas:
            url = chunk.get("real_url") or chunk["url"]
            headers = {"Range": f"bytes={offset}-{self.end}",
                       REQID_HEADER: self.reqid}
            try:
                resp = self.pool_manager.request(
                    "GET", url, headers=headers, preload_content=False,
                    timeout=self.timeout, retries=False)
            except urllib3.exceptions.HTTPError as err:
                errors.append((url, None, str(err)))
                continue
            try:
                if resp.status not in (200, 206):
                    errors.append((url, resp.status, resp.read(200)))
                    continue
                if resp.status == 200 and offset:
                    resp.read(offset)          # a server without ranges
                for block in resp.stream(READ_BLOCK):
                    offset += len(block)
                    yield block
                if offset > self.end:
                    return
                errors.append((url, None, "short read"))
            except (urllib3.exceptions.HTTPError, OSError) as err:
                errors.append((url, None, str(err)))
            finally:
                resp.release_conn()
        if errors and all(status == 404 for _, status, _ in errors):
            raise exc.UnrecoverableContent(
                f"All replicas of the chunk are missing: {errors}")
        raise exc.ServiceUnavailable(f"No replica of the chunk readable: {errors}")


def object_stream(pool_manager: urllib3.PoolManager, plan, reqid: str,
                  **kwargs) -> Iterator[bytes]:
    for meta, start, end in plan:
        yield from ChunkReader(pool_manager, meta["chunks"], start, end, reqid,
                               **kwargs)
