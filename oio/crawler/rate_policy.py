"""Rates that change with the hour of the day (`oio-crawler-integrity -r`).

A policy is `"0h30:10;6h45:2;20h00:8"`: from 00:30 on, 10 items per second;
from 06:45, 2; from 20:00, 8; before 00:30 the day's last rate (20:00's)
still applies. A bare number is a constant rate; 0 means no limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from oio.common.pacing import Pacer

DAY_MINUTES = 24 * 60


def parse_policy(text: str) -> list[tuple[int, float]]:
    """[(minute of the day it starts, rate)], sorted; ValueError saying
    which part is wrong."""
    text = text.strip()
    if ";" not in text and "h" not in text:
        try:
            rate = float(text)
        except ValueError:
            raise ValueError(f"unparseable rate {text!r}") from None
        if rate < 0:
            raise ValueError("a rate cannot be negative")
        return [(0, rate)]
    policy = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            when, rate_text = part.split(":", 1)
            hours, minutes = when.split("h", 1)
            start = int(hours) * 60 + int(minutes)
            rate = float(rate_text)
        except ValueError:
            raise ValueError(f"unparseable rate change {part!r}: expected "
                             "<hours>h<minutes>:<rate>") from None
        if not 0 <= start < DAY_MINUTES or not 0 <= int(minutes) < 60:
            raise ValueError(f"{part!r}: not a time of the day")
        if rate < 0:
            raise ValueError(f"{part!r}: a rate cannot be negative")
        policy.append((start, rate))
    if not policy:
        raise ValueError("empty rate policy")
    return sorted(policy)


def rate_at(policy: list[tuple[int, float]], when: datetime) -> float:
    """The rate of `policy` at local time `when`."""
    minute = when.hour * 60 + when.minute
    current = policy[-1][1]          # before the first change: yesterday's last
    for start, rate in policy:
        if start > minute:
            break
        current = rate
    return current


class PolicyPacer:
    """A thread-safe pace function following a policy: each call waits for
    its turn at the rate of the moment."""

    def __init__(self, policy: list[tuple[int, float]],
                 now: Callable[[], datetime] = datetime.now,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep):
        self.policy = policy
        self.now = now
        self.pacer = Pacer(rate_at(policy, now()), clock, sleep)
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            # Sleeping with the lock held is what queues the callers.
            self.pacer.rate = rate_at(self.policy, self.now())
            self.pacer.wait()
