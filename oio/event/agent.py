"""oio-event-agent: consumes the events of a beanstalkd tube and runs each
through the pipeline of filters its type is configured with (events.md §4).

    oio-event-agent CONF

CONF's `[event-agent]` section: `namespace`, `queue_url` (one or several
`;`-separated beanstalkd URLs), `tube` (default `oio`), `concurrency`
(connections per URL, default 4), `handlers_conf` (the handlers file:
`[handler:<event type>] pipeline = <filter> ...` and
`[filter:<name>] use = egg:oio#<factory>` sections).

Jobs are taken by batches, by one worker of a beanstalkd at a time: one
blocking reserve, 100 ms for others to come, then as many
ready jobs as the last batch suggests in one pipelined round trip. Each job goes
through its pipeline, then the filters finish what they deferred (the
rdir index pushes, grouped by volume), then the batch's done jobs are
deleted in one write.

Job lifecycle: undecodable → buried (logged); no handler → deleted
(logged); pipeline done → deleted; EventError → released, retried in 15 s
(buried after 20 releases: never lost, never retried forever); any other
failure → buried (logged). `openio events` can exhume buried
jobs (kick).
"""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import signal
import sys
import threading

from .beanstalk import Beanstalk, BeanstalkError, parse_endpoint
from .filters import FACTORIES, BuryEvent, EventError, Filter

LOGGER = logging.getLogger("oio.event.agent")
RETRY_DELAY = 15
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


def load_handlers(path: str, global_conf: dict[str, str]
                  ) -> dict[str, list[Filter]]:
    """Event type → the filters of its pipeline, from a handlers file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str          # keys are case-sensitive
    if not parser.read(path):
        raise ValueError(f"cannot read the handlers file {path}")
    filters: dict[str, Filter] = {}

    def build(name: str) -> Filter:
        if name not in filters:
            section = f"filter:{name}"
            if not parser.has_section(section):
                raise ValueError(f"{path}: no [{section}] section")
            conf = dict(global_conf)
            conf.update(parser.items(section))
            use = conf.get("use", "")
            factory = FACTORIES.get(use.rpartition("#")[2])
            if not use.startswith("egg:oio#") or factory is None:
                raise ValueError(f"{path}: [{section}] unknown use={use!r}")
            filters[name] = factory(conf)
        return filters[name]

    handlers = {}
    for section in parser.sections():
        if section.startswith("handler:"):
            names = parser.get(section, "pipeline", fallback="").split()
            handlers[section[len("handler:"):]] = [build(n) for n in names]
    return handlers


class EventWorker(threading.Thread):
    """One beanstalkd connection reserving and handling jobs."""

    def __init__(self, url: str, tube: str, handlers: dict[str, list[Filter]],
                 stop: threading.Event,
                 reserve_lock: threading.Lock | None = None):
        super().__init__(daemon=True, name=f"event-worker-{url}")
        # One worker of a beanstalkd collects a batch at a time; the others
        # handle theirs meanwhile. Without it, idle workers would take the
        # jobs one by one as they come.
        self.reserve_lock = reserve_lock or threading.Lock()
        self.url = url
        self.tube = tube
        self.handlers = handlers
        self.stop_event = stop
        self.handled = 0
        # Each filter once, for the flush after a batch.
        self.filters = list({id(f): f for pipeline in handlers.values()
                             for f in pipeline}.values())
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
        pipeline = self.handlers.get(event["event"])
        if pipeline is None:
            LOGGER.warning("job %d deleted: no handler for %s", job_id,
                           event["event"])
            return True
        try:
            for stage in pipeline:
                stage.process(event)
        except EventError as err:
            if self._releases(client, job_id) >= MAX_RELEASES:
                LOGGER.error("job %d (%s) buried after %d attempts: %s",
                             job_id, event["event"], MAX_RELEASES + 1, err)
                client.bury(job_id)
                return False
            LOGGER.warning("job %d (%s) retried in %ds: %s", job_id,
                           event["event"], RETRY_DELAY, err)
            client.release(job_id, delay=RETRY_DELAY)
            return False
        except (BuryEvent, Exception) as err:  # noqa: BLE001 - never crash
            LOGGER.error("job %d (%s) buried: %s: %s", job_id, event["event"],
                         type(err).__name__, err)
            client.bury(job_id)
            return False
        return True


class EventAgent:
    def __init__(self, conf: dict[str, str]):
        for key in ("namespace", "handlers_conf"):
            if not conf.get(key):
                raise ValueError(f"[event-agent] {key} is required")
        self.urls = [u.strip() for u in conf.get(
            "queue_url", "beanstalk://127.0.0.1:11300").split(";") if u.strip()]
        for url in self.urls:
            parse_endpoint(url)
        self.tube = conf.get("tube") or "oio"
        self.concurrency = max(1, int(conf.get("concurrency", 4)))
        self.handlers = load_handlers(conf["handlers_conf"], conf)
        self.stop_event = threading.Event()
        locks = {url: threading.Lock() for url in self.urls}
        self.workers = [EventWorker(url, self.tube, self.handlers,
                                    self.stop_event, locks[url])
                        for url in self.urls for _ in range(self.concurrency)]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        self.stop_event.set()
        for worker in self.workers:
            worker.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oio-event-agent",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("conf")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s[%(process)d] "
                               "%(levelname)s %(message)s")
    ini = configparser.ConfigParser(interpolation=None)
    if not ini.read(args.conf) or not ini.has_section("event-agent"):
        print(f"oio-event-agent: no [event-agent] section in {args.conf}",
              file=sys.stderr)
        return 2
    try:
        agent = EventAgent(dict(ini.items("event-agent")))
    except (ValueError, OSError) as err:
        print(f"oio-event-agent: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    agent.start()
    LOGGER.info("watching tube %s on %s", agent.tube, ", ".join(agent.urls))
    done.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
