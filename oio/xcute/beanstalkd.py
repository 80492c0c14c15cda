"""Which beanstalkd the orchestrator puts tasks on (spec healing.md
§4.6): those the conscience scores above 0 whose workers tube is watched,
not stuck (ready jobs nobody reserves) nor full, weighted by score and
free room."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable

from oio.event.beanstalk import Beanstalk, BeanstalkError


def weight(score: float, ready: int, max_jobs: int) -> int:
    """Entries of a beanstalkd in the shuffled choice list."""
    return max(1, math.ceil((score / 2 + 50 - 50 * ready / max_jobs) / 10))


class BeanstalkdPool:
    """Refreshed every `refresh` seconds from `list_services()` (dicts with
    `addr`, `score`); `put` tries them in a weighted random order."""

    def __init__(self, list_services: Callable[[], list[dict]], tube: str,
                 max_jobs: int = 1024, refresh: float = 30.0,
                 logger: logging.Logger | None = None):
        self.list_services = list_services
        self.tube = tube
        self.max_jobs = max_jobs
        self.refresh = refresh
        self.logger = logger or logging.getLogger(__name__)
        self._choices: list[str] = []
        self._refreshed = 0.0
        self._broken: set[str] = set()
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stats(self, addr: str) -> dict | None:
        client = Beanstalk.from_url(addr, timeout=2.0)
        try:
            return client.stats_tube(self.tube)
        except BeanstalkError:
            return None     # NOT_FOUND: nobody watches the tube
        finally:
            client.close()

    def _refresh(self) -> None:
        choices = []
        for srv in self.list_services():
            addr, score = srv.get("addr"), float(srv.get("score") or 0)
            if not addr or score <= 0:
                continue
            try:
                stats = self._stats(addr)
            except OSError as err:
                self.logger.warning("beanstalkd %s: %s", addr, err)
                continue
            if not stats:
                continue
            ready = int(stats.get("current-jobs-ready", 0))
            reserved = int(stats.get("current-jobs-reserved", 0))
            if (ready and not reserved) or ready >= self.max_jobs:
                continue
            choices += [addr] * weight(score, ready, self.max_jobs)
        random.shuffle(choices)
        with self._lock:
            self._choices = choices
            self._broken.clear()
            self._refreshed = time.monotonic()

    def candidates(self) -> list[str]:
        """Distinct beanstalkd in a weighted random order, broken ones
        left out."""
        if not self._choices or time.monotonic() - self._refreshed \
                > self.refresh:
            self._refresh()
        with self._lock:
            choices = [a for a in self._choices if a not in self._broken]
        start = random.randrange(len(choices)) if choices else 0
        ordered = choices[start:] + choices[:start]
        return list(dict.fromkeys(ordered))

    def _client(self, addr: str) -> Beanstalk:
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if addr not in clients:
            client = Beanstalk.from_url(addr)
            client.use(self.tube)
            clients[addr] = client
        return clients[addr]

    def put(self, body: bytes, ttr: int) -> str:
        """The address it went to; OSError when no beanstalkd took it."""
        for addr in self.candidates():
            try:
                self._client(addr).put(body, ttr=ttr)
                return addr
            except (OSError, BeanstalkError) as err:
                self.logger.warning("beanstalkd %s refused a batch: %s",
                                    addr, err)
                self._local.clients.pop(addr, None)
                with self._lock:
                    self._broken.add(addr)
        raise OSError(f"no beanstalkd takes tube {self.tube} jobs")
