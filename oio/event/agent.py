"""oio-event-agent: consumes the events of a beanstalkd tube and runs each
through the pipeline of filters its type is configured with (events.md §4).

    oio-event-agent CONF

CONF's `[event-agent]` section: `namespace`, `queue_url` (one or several
`;`-separated beanstalkd URLs), `tube` (default `oio`), `concurrency`
(connections per URL, default 4), `handlers_conf` (the handlers file:
`[handler:<event type>] pipeline = <filter> ...` and
`[filter:<name>] use = egg:oio#<factory>` sections).

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
                 stop: threading.Event):
        super().__init__(daemon=True, name=f"event-worker-{url}")
        self.url = url
        self.tube = tube
        self.handlers = handlers
        self.stop_event = stop
        self.handled = 0

    def run(self) -> None:
        client = Beanstalk.from_url(self.url)
        while not self.stop_event.is_set():
            try:
                client.connect()
                client.watch(self.tube)
                while not self.stop_event.is_set():
                    job = client.reserve(timeout=1)
                    if job is not None:
                        self.handle(client, *job)
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

    def handle(self, client: Beanstalk, job_id: int, body: bytes) -> None:
        try:
            event = json.loads(body)
            if not isinstance(event, dict) or not isinstance(
                    event.get("event"), str):
                raise ValueError("not an event object")
        except ValueError as err:
            LOGGER.error("job %d buried: malformed event (%s): %r", job_id,
                         err, body[:200])
            client.bury(job_id)
            return
        event["job_id"] = job_id
        pipeline = self.handlers.get(event["event"])
        if pipeline is None:
            LOGGER.warning("job %d deleted: no handler for %s", job_id,
                           event["event"])
            client.delete(job_id)
            return
        try:
            for stage in pipeline:
                stage.process(event)
        except EventError as err:
            if self._releases(client, job_id) >= MAX_RELEASES:
                LOGGER.error("job %d (%s) buried after %d attempts: %s",
                             job_id, event["event"], MAX_RELEASES + 1, err)
                client.bury(job_id)
                return
            LOGGER.warning("job %d (%s) retried in %ds: %s", job_id,
                           event["event"], RETRY_DELAY, err)
            client.release(job_id, delay=RETRY_DELAY)
            return
        except (BuryEvent, Exception) as err:  # noqa: BLE001 - never crash
            LOGGER.error("job %d (%s) buried: %s: %s", job_id, event["event"],
                         type(err).__name__, err)
            client.bury(job_id)
            return
        client.delete(job_id)
        self.handled += 1


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
        self.workers = [EventWorker(url, self.tube, self.handlers,
                                    self.stop_event)
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
