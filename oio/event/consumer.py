"""The consuming side of the event agent: `EventWorker`, one beanstalkd
connection taking jobs by batches and running each through the pipeline
of its event type (docs/events.md), and `AgentApp`, what pipelines see
as the agent (7.2's `app`: `conf`, `logger`, `app_env`).

A job's fate: undecodable → buried (logged); no handler → deleted
(logged); the pipeline answered 2xx (or not at all) → deleted; it
answered anything else, or raised a 5xx `EventException` (`raise
EventError(...)`) → released, retried in 15 s (buried after 20
releases: never lost, never retried forever); any other exception
(`ExplicitBury` among them) → buried (logged).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from .beanstalk import Beanstalk, BeanstalkError
from .evob import EventException, is_success
from .loader import Pipeline

__all__ = ["AgentApp", "AppEnv", "DEFAULT_TUBE", "EventWorker", "StopServe"]

LOGGER = logging.getLogger("oio.event.agent")
DEFAULT_TUBE = "oio"
RETRY_DELAY = 15
RELEASE_DELAY = RETRY_DELAY     # 7.2's name
# A job failing that many times is buried (kept for `openio events exhume`).
MAX_RELEASES = 20
RECONNECT_DELAY = 2.0
# Most jobs taken in one batch, and how long the first job of a batch
# waits for others: events are asynchronous, and a bigger batch means
# fewer rdir transactions (each one fsynced). 256 per 100 ms per collector
# is five times what a busy 2-core namespace produces.
MAX_BATCH = 256
COALESCE = 0.1
MIN_EXTRA = 3
BUSY_EXTRA = 64


class StopServe(Exception):
    """The agent is stopping: the job is left for later."""


class AppEnv(dict):
    """7.2's `app_env`: the clients the stages share (`account_client`,
    `rdir_client`), each created on first use."""

    def __init__(self, conf: dict[str, Any]):
        super().__init__()
        self._conf = conf
        self._lock = threading.Lock()

    def _make(self, key: str) -> Any:
        conf = {"namespace": self._conf.get("namespace")}
        if key == "account_client":
            from oio.account.client import AccountClient

            return AccountClient(conf)
        if key == "rdir_client":
            from oio.rdir.client import RdirClient

            return RdirClient(conf)
        raise KeyError(key)

    def __missing__(self, key: str) -> Any:
        with self._lock:
            if not dict.__contains__(self, key):
                self[key] = self._make(key)
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class AgentApp:
    """What handlers and filters see as the agent (their `app`)."""

    def __init__(self, conf: dict[str, Any],
                 logger: logging.Logger | None = None):
        self.conf = conf
        self.logger = logger or LOGGER
        self.app_env = AppEnv(conf)


class EventWorker(threading.Thread):
    """One beanstalkd connection reserving and handling jobs."""

    def __init__(self, url: str, tube: str, pipelines: dict[str, Pipeline],
                 stop: threading.Event,
                 reserve_lock: threading.Lock | None = None):
        super().__init__(daemon=True, name=f"event-worker-{url}")
        # One worker of a beanstalkd collects a batch at a time; the others
        # handle theirs meanwhile. Without it, idle workers would take the
        # jobs one by one as they come.
        self.reserve_lock = reserve_lock or threading.Lock()
        self.url = url
        self.tube = tube
        self.pipelines = pipelines
        self.stop_event = stop
        self.handled = 0
        # Each filter once (ours serve several pipelines), for the flush
        # after a batch.
        self.filters = list({id(f): f for f in (
            getattr(stage, "filter", stage) for pipeline in pipelines.values()
            for stage in pipeline.stages) if callable(
                getattr(f, "flush", None))}.values())
        self.extra = MIN_EXTRA      # ready jobs asked for after the first

    def run(self) -> None:
        client = Beanstalk.from_url(self.url)
        while not self.stop_event.is_set():
            try:
                client.connect()
                client.watch(self.tube)
                while not self.stop_event.is_set():
                    with self.reserve_lock:
                        jobs = self.collect(client)
                    if jobs:
                        self.handle_batch(client, jobs)
            except (OSError, BeanstalkError) as err:
                LOGGER.warning("beanstalkd %s: %s (reconnecting)", self.url, err)
                client.close()
                self.stop_event.wait(RECONNECT_DELAY)
        client.close()

    @staticmethod
    def _releases(client: Beanstalk, job_id: int) -> int:
        try:
            return int(client.stats_job(job_id).get("releases", 0))
        except BeanstalkError:
            return 0

    def collect(self, client: Beanstalk) -> list[tuple[int, bytes]]:
        """A batch: the first job (waited for at most a second), then the
        jobs ready a moment later."""
        first = client.poll(timeout=1)
        if first is None:
            return []
        if self.extra > BUSY_EXTRA:
            # Busy (the last batch held dozens of jobs): wait for the batch
            # to fill. Otherwise the few events of a request (an object's
            # content and chunk events) are handled at once: clients
            # waiting for their effect (OpenIO's tests among them) see it
            # without the delay.
            self.stop_event.wait(COALESCE)
        jobs = [first] + client.reserve_ready(self.extra)
        # Ask for twice what came next time, within [MIN_EXTRA, MAX_BATCH).
        self.extra = max(MIN_EXTRA, min(MAX_BATCH - 1, 2 * (len(jobs) - 1)))
        return jobs

    def handle_batch(self, client: Beanstalk,
                     jobs: list[tuple[int, bytes]]) -> None:
        done = [job_id for job_id, body in jobs
                if self.handle(client, job_id, body)]
        for stage in self.filters:
            try:
                stage.flush()
            except Exception as err:  # noqa: BLE001 - never crash
                LOGGER.error("filter %s: deferred work failed: %s: %s",
                             type(stage).__name__, type(err).__name__, err)
        if done:
            client.delete_many(done)
            self.handled += len(done)

    def handle(self, client: Beanstalk, job_id: int, body: bytes) -> bool:
        """Run the job's pipeline; True when the job is to be deleted
        (buried and released jobs are dealt with here)."""
        try:
            event = json.loads(body)
            if not isinstance(event, dict) or not isinstance(
                    event.get("event"), str):
                raise ValueError("not an event object")
        except ValueError as err:
            LOGGER.error("job %d buried: malformed event (%s): %r", job_id,
                         err, body[:200])
            client.bury(job_id)
            return False
        event["job_id"] = job_id
        pipeline = self.pipelines.get(event["event"])
        if pipeline is None:
            LOGGER.warning("job %d deleted: no handler for %s", job_id,
                           event["event"])
            return True
        answers: list[tuple[int, str]] = []
        try:
            pipeline.entry(event, client,
                           lambda status, body="": answers.append(
                               (status, body)))
        except EventException as err:
            answers.append((err.status, str(err)))
        except Exception as err:  # noqa: BLE001 - never crash
            LOGGER.error("job %d (%s) buried: %s: %s", job_id, event["event"],
                         type(err).__name__, err)
            client.bury(job_id)
            return False
        # A pipeline that ended without answering is done with the event.
        if not answers or is_success(answers[0][0]):
            return True
        status, body = answers[0]
        if self._releases(client, job_id) >= MAX_RELEASES:
            LOGGER.error("job %d (%s) buried after %d attempts: %s %s",
                         job_id, event["event"], MAX_RELEASES + 1, status,
                         body)
            client.bury(job_id)
            return False
        LOGGER.warning("job %d (%s) retried in %ds: %s %s", job_id,
                       event["event"], RETRY_DELAY, status, body)
        client.release(job_id, delay=RETRY_DELAY)
        return False
