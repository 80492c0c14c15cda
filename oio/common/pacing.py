"""Pacer: keeps a loop under a rate (items or bytes per second)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Spaces out work so that at most `rate` units are consumed per second
    (no limit if `rate` <= 0).

    `wait(amount)` returns once the previous amounts are paid for, then
    books `amount`: a loop that calls it before each piece of work never
    exceeds the rate, and a long pause earns no burst afterwards. `sleep`
    may be a stop event's `wait`, so that a stopping daemon is not held.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep):
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self, amount: float = 1.0) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + amount / self.rate
