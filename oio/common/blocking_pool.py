"""A lean thread pool for the blocking work of asyncio services.

Services hand every disk operation (open, write, fsync, rename, SQLite) to
worker threads so that the event loop never waits on a disk. A small chunk
PUT is one such hop, so the hop itself must be cheap: the standard
`run_in_executor` path builds a concurrent Future with its own Condition,
chains it to an asyncio Future and adjusts the pool size under a semaphore,
which cost a rawx about a sixth of its Python time on 4 KiB PUTs. Here a
job is a tuple on a SimpleQueue (a C queue), and its result goes straight
to the caller's asyncio Future through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

_STOP = None


def _set_result(future: asyncio.Future, result: Any) -> None:
    if not future.done():          # the awaiting task may have been cancelled
        future.set_result(result)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class BlockingPool:
    """Worker threads, started on demand up to `max_workers`, shared by
    every event loop of the process."""

    def __init__(self, max_workers: int = 64, name: str = "blocking"):
        self.max_workers = max_workers
        self.name = name
        self._jobs: SimpleQueue = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0

    def submit(self, loop: asyncio.AbstractEventLoop,
               func: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run `func(*args)` in a worker; the returned Future (of `loop`)
        gets its result or exception."""
        future = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self.max_workers:
                self._start_worker()
            # else: every worker is busy; the job waits for the first free.
        self._jobs.put((loop, future, func, args))
        return future

    def _start_worker(self) -> None:
        thread = threading.Thread(target=self._work, daemon=True,
                                  name=f"{self.name}-{len(self._threads)}")
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            loop, future, func, args = job
            result = None
            try:
                result = func(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                callback, value = _set_exception, exc
            else:
                callback, value = _set_result, result
            # Drop the references before sleeping on the queue again.
            del job, func, args, result
            # Idle before the caller learns the result: its next job must
            # not start another thread while this one is free.
            with self._lock:
                self._idle += 1
            try:
                loop.call_soon_threadsafe(callback, future, value)
            except RuntimeError:
                pass                # the loop is closed: nobody is waiting
            del loop, future, value

    def shutdown(self) -> None:
        """Stop the workers once the queued jobs are done (tests)."""
        with self._lock:
            threads, self._threads, self._idle = self._threads, [], 0
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            thread.join()
