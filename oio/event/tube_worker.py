"""A thread that reserves the jobs of one beanstalkd tube and hands each to
`handle` (the blob rebuilder's and the blob improver's daemons).

Its connection is opened on first use and dropped on any socket or
protocol error, then opened again a second later: a restarted beanstalkd
costs a warning, not the daemon.
"""

from __future__ import annotations

import logging
import threading

from oio.event.beanstalk import Beanstalk, BeanstalkError

LOGGER = logging.getLogger(__name__)


def endpoint(addr: str) -> str:
    """`IP:PORT`, with or without `beanstalk://`."""
    return addr.split("://", 1)[-1]


class TubeWorker(threading.Thread):
    """Reserves jobs of `tube` on `beanstalkd` until `stopping` is set;
    a subclass's `handle(job_id, body)` deletes, buries or releases each."""

    def __init__(self, beanstalkd: str, tube: str,
                 stop: threading.Event | None = None, logger=None):
        super().__init__(daemon=True)
        self.addr = endpoint(beanstalkd)
        self.tube = tube
        self.stopping = stop or threading.Event()
        self.logger = logger or LOGGER
        self._client: Beanstalk | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                # Short reserves: a stop is seen within a second.
                job = self._queue().poll(timeout=1)
            except (OSError, BeanstalkError) as err:
                self.logger.warning("beanstalkd %s: %s", self.addr, err)
                self._reset()
                self.stopping.wait(1.0)
                continue
            if job is not None:
                self.handle(*job)
        self._reset()

    def handle(self, job_id: int, body: bytes) -> None:
        raise NotImplementedError

    def _queue(self) -> Beanstalk:
        if self._client is None:
            self._client = Beanstalk.from_url(self.addr)
            self._client.watch(self.tube)
            self._client.ignore("default")
        return self._client

    def _reset(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["TubeWorker", "endpoint"]
