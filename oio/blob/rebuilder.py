"""The blob rebuilder: every chunk a lost rawx volume held, rebuilt on
other rawx (spec healing.md §2).

Items are `(container_id, content_id, chunk)` where chunk is an ID, a URL
or a position; they come from a file, from the rdir of the lost volume
(records older than its incident date) or from beanstalkd events. Items of
one object are rebuilt by one worker in a row, from one `content/locate`:
rdir lists a volume's records object by object, so consecutive items
sharing a content are grouped. Workers run `concurrency` at once, no more
than `items_per_second` chunks started per second; a progress line is
logged every `report_interval` seconds, with the total when it is known.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from oio.blob.rebuild_report import REBUILD_TUBE
from oio.common import exceptions as exc
from oio.common.pacing import Pacer

DEFAULT_CONCURRENCY = 1
DEFAULT_ITEMS_PER_SECOND = 30
DEFAULT_REPORT_INTERVAL = 3600
DEFAULT_RDIR_FETCH_LIMIT = 100


@dataclass(frozen=True)
class RebuildItem:
    container_id: str
    content_id: str
    chunk: str          # chunk ID, chunk URL or position

    def describe(self, namespace: str) -> str:
        return f"{namespace}|{self.container_id}|{self.content_id}|" \
               f"{self.chunk}"


@dataclass
class RebuildResult:
    item: RebuildItem
    bytes: int = 0
    error: str | None = None
    orphan: bool = False
    # Worth another try later (a service down...), unlike an orphan.
    retryable: bool = False


def items_from_file(path: str) -> Iterator[RebuildItem]:
    """`cid|content_id|chunk` lines; blank lines, `#` comments (and so
    the crawler's `#IRREPARABLE|...` lines) and extra fields are skipped."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split("|")
            if len(fields) < 3 or not all(fields[:3]):
                raise ValueError(f"{path}:{number}: expected "
                                 f"cid|content_id|chunk, got {line!r}")
            yield RebuildItem(fields[0], fields[1], fields[2])


def items_from_rdir(rdir, volume: str, limit: int = DEFAULT_RDIR_FETCH_LIMIT,
                    shuffle: bool = False, **kwargs) -> Iterator[RebuildItem]:
    """The chunks of `volume` to rebuild (older than its incident date), as
    URLs naming the volume."""
    for cid, content, chunk, _ in rdir.chunk_fetch(
            volume, limit=limit, rebuild=True, shuffle=shuffle,
            full_urls=True, **kwargs):
        yield RebuildItem(cid, content, chunk)


def group_by_content(items: Iterable[RebuildItem]
                     ) -> Iterator[list[RebuildItem]]:
    """Consecutive items of the same content, together."""
    group: list[RebuildItem] = []
    for item in items:
        if group and (item.container_id, item.content_id) != (
                group[0].container_id, group[0].content_id):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


class RebuildStats:
    """Counters of a run and its progress line (thread-safe)."""

    def __init__(self, total: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.clock = clock
        self.chunks = self.bytes = self.errors = self.orphans = 0
        self._last = {"chunks": 0, "bytes": 0, "errors": 0}
        self.start = self.last_report = clock()
        self.started_at = time.time()
        self._lock = threading.Lock()

    def add(self, result: RebuildResult) -> None:
        with self._lock:
            self.chunks += 1
            self.bytes += result.bytes
            if result.orphan:
                self.orphans += 1
            elif result.error:
                self.errors += 1

    def eta(self, now: float) -> float | None:
        """Seconds left at the average rate so far, when the total is known."""
        if not self.total or not self.chunks:
            return None
        rate = self.chunks / max(now - self.start, 1e-6)
        return max(self.total - self.chunks, 0) / rate

    def line(self, status: str) -> str:
        now = self.clock()
        since = max(now - self.last_report, 1e-6)
        elapsed = max(now - self.start, 1e-6)
        last = self._last
        chunks = self.chunks - last["chunks"]
        errors = self.errors - last["errors"]
        last_report = datetime.fromtimestamp(time.time() - since)
        parts = [
            status,
            f"last_report={last_report.isoformat(timespec='seconds')}",
            f"chunks={chunks} {chunks / since:.2f}/s",
            f"bytes={self.bytes - last['bytes']} "
            f"{(self.bytes - last['bytes']) / since / 1e6:.2f}MB/s",
            f"errors={errors} {100.0 * errors / (chunks or 1):.2f}%",
            f"start_time={datetime.fromtimestamp(int(self.started_at)).isoformat()}",
            f"total_chunks={self.chunks} {self.chunks / elapsed:.2f}/s",
            f"total_bytes={self.bytes} {self.bytes / elapsed / 1e6:.2f}MB/s",
            f"total_errors={self.errors} "
            f"{100.0 * self.errors / (self.chunks or 1):.2f}%",
            f"orphans={self.orphans}",
        ]
        if self.total:
            parts.append(f"progress={self.chunks}/{self.total} "
                         f"{100.0 * self.chunks / self.total:.2f}%")
            eta = self.eta(now)
            if eta is not None:
                parts.append(f"eta={eta:.0f}s")
        self._last = {"chunks": self.chunks, "bytes": self.bytes,
                      "errors": self.errors}
        self.last_report = now
        return " ".join(parts)


class BlobRebuilder:
    """Rebuilds items with a `ChunkOperator` (see the module's docstring).
    `rawx_id`: the lost volume, when items are bare chunk IDs."""

    # 7.2's name of the tube of rebuild tasks (`--beanstalkd` mode).
    DEFAULT_BEANSTALKD_WORKER_TUBE = REBUILD_TUBE

    def __init__(self, operator, rawx_id: str | None = None,
                 dry_run: bool = False, try_chunk_delete: bool = False,
                 allow_frozen_container: bool = False,
                 allow_same_rawx: bool = True,
                 concurrency: int | None = None,
                 items_per_second: float | None = None,
                 report_interval: float | None = None,
                 total: int | None = None, logger=None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.operator = operator
        self.rawx_id = rawx_id
        self.dry_run = dry_run
        self.try_chunk_delete = try_chunk_delete
        self.allow_frozen_container = allow_frozen_container
        self.allow_same_rawx = allow_same_rawx
        self.concurrency = max(1, concurrency or DEFAULT_CONCURRENCY)
        self.pacer = Pacer(DEFAULT_ITEMS_PER_SECOND if items_per_second is None
                           else items_per_second, clock, sleep)
        self.report_interval = DEFAULT_REPORT_INTERVAL \
            if report_interval is None else report_interval
        self.logger = logger or logging.getLogger(__name__)
        self.stats = RebuildStats(total, clock)

    @property
    def success(self) -> bool:
        return self.stats.errors == 0

    # One object ----------------------------------------------------------------
    def rebuild_group(self, group: list[RebuildItem]) -> list[RebuildResult]:
        """Rebuild the items of one content, in a row, from one locate."""
        if self.dry_run:
            for item in group:
                self.logger.info("[dry run] would rebuild %s", item.chunk)
            return [RebuildResult(item) for item in group]
        first = group[0]
        try:
            content = self.operator.content(first.container_id,
                                            first.content_id)
        except exc.OioException as err:
            return [self._failure(item, err) for item in group]
        results = []
        for item in group:
            try:
                written = self.operator.rebuild(
                    item.container_id, item.content_id, item.chunk,
                    rawx_id=self.rawx_id,
                    try_chunk_delete=self.try_chunk_delete,
                    allow_frozen_container=self.allow_frozen_container,
                    allow_same_rawx=self.allow_same_rawx, content=content)
                self.logger.info("Successful rebuilding for chunk %s",
                                 item.chunk)
                results.append(RebuildResult(item, bytes=written))
            except (exc.OioException, ValueError) as err:
                results.append(self._failure(item, err))
        return results

    def _failure(self, item: RebuildItem, err: Exception) -> RebuildResult:
        orphan = isinstance(err, exc.OrphanChunk)
        (self.logger.warning if orphan else self.logger.error)(
            "ERROR while rebuilding chunk %s: %s", item.chunk, err)
        return RebuildResult(item, error=f"{type(err).__name__}: {err}",
                             orphan=orphan,
                             retryable=not orphan and not isinstance(
                                 err, (exc.UnrecoverableContent, ValueError)))

    # Many ----------------------------------------------------------------------
    def run(self, items: Iterable[RebuildItem]) -> Iterator[RebuildResult]:
        """Each item's result, as groups end (see the module's docstring)."""
        self.report("START", force=True)
        pending: dict[Future, list[RebuildItem]] = {}
        with ThreadPoolExecutor(self.concurrency) as pool:
            try:
                for group in group_by_content(items):
                    while len(pending) >= self.concurrency:
                        yield from self._collect(pending)
                    self.pacer.wait(len(group))
                    pending[pool.submit(self.rebuild_group, group)] = group
                while pending:
                    yield from self._collect(pending)
            finally:
                for future in pending:
                    future.cancel()
        self.report("DONE", force=True)

    def _collect(self, pending: dict[Future, list[RebuildItem]]
                 ) -> Iterator[RebuildResult]:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in done:
            pending.pop(future)
            for result in future.result():
                self.stats.add(result)
                yield result
        self.report("RUN")

    def report(self, status: str, force: bool = False) -> None:
        if not force and self.stats.clock() - self.stats.last_report \
                < self.report_interval:
            return
        self.logger.info("%s", self.stats.line(status))
