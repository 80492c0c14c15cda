"""`Timestamp`: seconds since the epoch with 7.2's text forms (`normal`,
16 characters with 5 decimals, sortable as text; `isoformat`)."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone

TIMESTAMP_FORMAT = "%016.05f"


def cmp(x, y) -> int:
    """-1, 0 or 1 as x is lower, equal or greater (Python 2's cmp)."""
    return (x > y) - (x < y)


@functools.total_ordering
class Timestamp:
    def __init__(self, timestamp: float | str | Timestamp | None = None):
        if timestamp is None:
            timestamp = time.time()
        self.timestamp = float(timestamp)
        if self.timestamp < 0:
            raise ValueError("timestamp cannot be negative")

    @property
    def normal(self) -> str:
        return TIMESTAMP_FORMAT % self.timestamp

    @property
    def isoformat(self) -> str:
        """UTC, microseconds, no offset suffix (as 7.2)."""
        moment = datetime.fromtimestamp(self.timestamp, timezone.utc)
        return moment.replace(tzinfo=None).isoformat()

    def __repr__(self) -> str:
        return self.normal

    __str__ = __repr__

    def __float__(self) -> float:
        return self.timestamp

    def __int__(self) -> int:
        return int(self.timestamp)

    def __bool__(self) -> bool:
        return bool(self.timestamp)

    def __hash__(self) -> int:
        return hash(self.normal)

    @staticmethod
    def _other(other) -> float:
        return other.timestamp if isinstance(other, Timestamp) \
            else float(Timestamp(other))

    def __eq__(self, other) -> bool:
        if other is None:
            return False
        return self.normal == TIMESTAMP_FORMAT % self._other(other)

    def __lt__(self, other) -> bool:
        return self.timestamp < self._other(other)
