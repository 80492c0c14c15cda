"""Runner: a rebuilder's loop over its items, paced and reported.

Items go through `process(item)` (which returns the item's errors, an
empty list when it went well), `concurrency` at once, no more than
`items_per_second` started per second, and a progress line is logged
every `report_interval` seconds (plus one at the start and one at the
end), as OpenIO's tools do:

    RUN references=120 4.00/s errors=1 0.83% elapsed=30.00s
    total_references=240 4.00/s total_errors=1 0.42% start_time=...
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

from oio.common.pacing import Pacer

DEFAULT_REPORT_INTERVAL = 3600
DEFAULT_ITEMS_PER_SECOND = 30
DEFAULT_CONCURRENCY = 1


class Runner:
    """Runs `process` over items (see the module's docstring)."""

    def __init__(self, process: Callable[[Any], list[str]], what: str = "items",
                 concurrency: int | None = None,
                 items_per_second: float | None = None,
                 report_interval: float | None = None,
                 logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.process = process
        self.what = what
        self.concurrency = max(1, concurrency or DEFAULT_CONCURRENCY)
        self.pacer = Pacer(DEFAULT_ITEMS_PER_SECOND if items_per_second is None
                           else items_per_second, clock, sleep)
        self.report_interval = DEFAULT_REPORT_INTERVAL \
            if report_interval is None else report_interval
        self.logger = logger or logging.getLogger(__name__)
        self.clock = clock
        self.total = self.errors = 0
        self._since = self._errors_since = 0
        self._start = self._last_report = clock()
        self._started_at = time.time()
        self._lock = threading.Lock()

    @property
    def success(self) -> bool:
        return self.errors == 0

    def _one(self, item: Any) -> list[str]:
        try:
            return list(self.process(item) or ())
        except Exception as err:  # noqa: BLE001 - reported as the item's error
            return [f"{type(err).__name__}: {err}"]

    def run(self, items: Iterable[Any]) -> Iterator[tuple[Any, list[str]]]:
        """(item, errors) of each item, as they are done."""
        self._start = self._last_report = self.clock()
        self._started_at = time.time()
        self.report("START", force=True)
        pending: dict[Future, Any] = {}
        with ThreadPoolExecutor(self.concurrency) as pool:
            try:
                for item in items:
                    while len(pending) >= self.concurrency:
                        yield from self._collect(pending, FIRST_COMPLETED)
                    self.pacer.wait()
                    pending[pool.submit(self._one, item)] = item
                while pending:
                    yield from self._collect(pending, FIRST_COMPLETED)
            finally:
                for future in pending:
                    future.cancel()
        self.report("DONE", force=True)

    def _collect(self, pending: dict[Future, Any], mode
                 ) -> Iterator[tuple[Any, list[str]]]:
        done, _ = wait(list(pending), return_when=mode)
        for future in done:
            item = pending.pop(future)
            errors = future.result()
            self._count(errors)
            yield item, errors
        self.report("RUN")

    def _count(self, errors: list[str]) -> None:
        with self._lock:
            self.total += 1
            self._since += 1
            if errors:
                self.errors += 1
                self._errors_since += 1

    def report(self, status: str, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_report < self.report_interval:
            return
        since = max(now - self._last_report, 1e-6)
        elapsed = max(now - self._start, 1e-6)
        what = self.what
        self.logger.info(
            "%s %s=%d %.2f/s errors=%d %.2f%% elapsed=%.2fs total_%s=%d "
            "%.2f/s total_errors=%d %.2f%% start_time=%s", status, what,
            self._since, self._since / since, self._errors_since,
            100.0 * self._errors_since / (self._since or 1), elapsed, what,
            self.total, self.total / elapsed, self.errors,
            100.0 * self.errors / (self.total or 1),
            datetime.fromtimestamp(int(self._started_at)).isoformat())
        self._last_report = now
        self._since = self._errors_since = 0
