"""Counters of one crawling pass and its progress log lines.

    RUN volume=127.0.0.1:6010 chunks=1200 29.98/s bytes=125829120 3.14MB/s
    corrupted=1 faulty=0 orphans=2 ... elapsed=40.02s

A line every `report_interval` seconds while the pass runs (RUN), and one
at its end (DONE, or STOPPED when a signal cut it short). Rates are
averages since the start of the pass; MB are 10^6 bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class CrawlStats:
    def __init__(self, item: str, counters: tuple[str, ...],
                 logger: logging.Logger, report_interval: float,
                 labels: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.item = item
        self.counts = {item: 0, "bytes": 0, **{name: 0 for name in counters}}
        self.logger = logger
        self.report_interval = report_interval
        self.labels = labels or {}
        self.clock = clock
        self.start = self._last = clock()

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)

    @property
    def elapsed(self) -> float:
        return max(self.clock() - self.start, 1e-6)

    def rate(self, key: str) -> float:
        return self.counts[key] / self.elapsed

    def tick(self) -> None:
        """Log a RUN line if `report_interval` passed since the last one."""
        if self.clock() - self._last >= self.report_interval:
            self.report("RUN")

    def line(self, status: str) -> str:
        parts = [status] + [f"{k}={v}" for k, v in self.labels.items()]
        parts.append(f"{self.item}={self.counts[self.item]} "
                     f"{self.rate(self.item):.2f}/s")
        if self.counts["bytes"]:
            parts.append(f"bytes={self.counts['bytes']} "
                         f"{self.rate('bytes') / 1e6:.2f}MB/s")
        parts += [f"{k}={v}" for k, v in self.counts.items()
                  if k not in (self.item, "bytes")]
        parts.append(f"elapsed={self.elapsed:.2f}s")
        return " ".join(parts)

    def report(self, status: str) -> None:
        self.logger.info("%s", self.line(status))
        self._last = self.clock()
