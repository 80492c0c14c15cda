"""Names OpenIO's tools import from `oio.common.green`. Upstream wraps
eventlet there; our clients run on threads (no eventlet), so these are
the standard library's, or small thread-based equivalents.

What cannot be equivalent: eventlet's `Timeout` interrupts the block it
guards; a thread cannot be interrupted, so ours raises when the block
ends after its deadline (enforce timeouts on the I/O itself: socket and
urllib3 timeouts)."""

from __future__ import annotations

import queue as _queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from queue import Empty, LifoQueue, Queue
from threading import Event, Semaphore
from time import sleep

from oio.common import exceptions as exc
from oio.common.ratelimit import (
    ratelimit,
    ratelimit_function_build,
    ratelimit_function_curr_rate,
    ratelimit_function_next_rate,
    ratelimit_policy_from_string,
    ratelimit_validate_policy,
)

__all__ = ["ChunkReadTimeout", "ChunkWriteTimeout", "ConnectionTimeout",
           "ContextPool", "Empty", "Event", "GreenPile", "GreenPool",
           "LifoQueue", "LightQueue", "OioTimeout", "Queue", "Semaphore",
           "SourceReadTimeout", "Timeout", "datetime", "eventlet_yield",
           "ratelimit", "ratelimit_function_build",
           "ratelimit_function_curr_rate", "ratelimit_function_next_rate",
           "ratelimit_policy_from_string", "ratelimit_validate_policy",
           "sleep", "socket", "threading", "time", "timedelta"]

LightQueue = _queue.Queue


class Timeout(exc.OioTimeout):
    """An exception, and a context manager that raises it (or
    `exception`) when its block lasted more than `seconds`."""

    msg_prefix = ""

    def __init__(self, seconds: float | None = None,
                 exception: BaseException | type | None = None):
        super().__init__(seconds)
        self.seconds = seconds
        self.exception = exception
        self._deadline: float | None = None

    def __str__(self) -> str:
        return f"{self.msg_prefix}timeout {self.seconds} seconds"

    def __enter__(self) -> Timeout:
        if self.seconds is not None:
            self._deadline = time.monotonic() + self.seconds
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None and self._deadline is not None and \
                time.monotonic() > self._deadline:
            raise self.exception or self
        return False

    def cancel(self) -> None:
        self._deadline = None


OioTimeout = Timeout


class ConnectionTimeout(Timeout):
    msg_prefix = "Connection "


class SourceReadTimeout(Timeout):
    msg_prefix = "Source read "


class ChunkWriteTimeout(Timeout):
    msg_prefix = "Chunk write "


class ChunkReadTimeout(Timeout):
    msg_prefix = "Chunk read "


def eventlet_yield() -> None:
    """Let other threads run."""
    time.sleep(0)


class GreenThread:
    """A spawned call: `wait()` returns its result or raises its error."""

    def __init__(self, future: Future):
        self.future = future

    def wait(self):
        return self.future.result()

    def dead(self) -> bool:
        return self.future.done()

    def kill(self) -> None:
        self.future.cancel()   # a running thread finishes on its own


class GreenPool:
    """At most `size` calls running at once, on threads."""

    def __init__(self, size: int = 1000):
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size)
        self._running: set[Future] = set()

    @property
    def coroutines_running(self) -> set[GreenThread]:
        return {GreenThread(f) for f in self._running if not f.done()}

    def spawn(self, func: Callable, *args, **kwargs) -> GreenThread:
        future = self._executor.submit(func, *args, **kwargs)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return GreenThread(future)

    def spawn_n(self, func: Callable, *args, **kwargs) -> None:
        self.spawn(func, *args, **kwargs)

    def waitall(self) -> None:
        for future in list(self._running):
            try:
                future.result()
            except Exception:  # noqa: BLE001 - spawn_n drops errors too
                pass

    def imap(self, func: Callable, *iterables) -> Iterator:
        return self._executor.map(func, *iterables)

    def running(self) -> int:
        return sum(1 for f in self._running if not f.done())

    def free(self) -> int:
        return self.size - self.running()


class ContextPool(GreenPool):
    """A pool that, on leaving its block, drops the calls not started and
    waits for the running ones."""

    def __enter__(self) -> ContextPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class GreenPile:
    """Spawn calls; iterating yields their results in spawn order."""

    def __init__(self, size_or_pool: int | GreenPool = 1000):
        self.pool = size_or_pool if isinstance(size_or_pool, GreenPool) \
            else GreenPool(size_or_pool)
        self._waiting: list[GreenThread] = []

    def spawn(self, func: Callable, *args, **kwargs) -> None:
        self._waiting.append(self.pool.spawn(func, *args, **kwargs))

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if not self._waiting:
            raise StopIteration
        return self._waiting.pop(0).wait()
