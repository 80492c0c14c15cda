"""oio-event-agent: consumes the events of a beanstalkd tube and runs each
through the pipeline of filters its type is configured with (events.md §4).

    oio-event-agent CONF

CONF's `[event-agent]` section: `namespace`, `queue_url` (one or several
`;`-separated beanstalkd URLs), `tube` (default `oio`), `concurrency`
(connections per URL, default 4), `handlers_conf` (the handlers file,
OpenIO 7.2's format: oio.event.loader).

Workers (oio.event.consumer) take jobs by batches, one worker of a
beanstalkd at a time: one blocking reserve, 100 ms for others to come,
then as many ready jobs as the last batch suggests in one pipelined round
trip. Each job goes through its pipeline, then the filters finish what
they deferred (the rdir index pushes, grouped by volume), then the
batch's done jobs are deleted in one write. `openio events` can exhume
buried jobs (kick).
"""

from __future__ import annotations

import argparse
import configparser
import logging
import signal
import sys
import threading

from .beanstalk import parse_endpoint
from .consumer import DEFAULT_TUBE, AgentApp, EventWorker
from .loader import load_pipelines

LOGGER = logging.getLogger("oio.event.agent")


class EventAgent:
    def __init__(self, conf: dict[str, str]):
        for key in ("namespace", "handlers_conf"):
            if not conf.get(key):
                raise ValueError(f"[event-agent] {key} is required")
        self.urls = [u.strip() for u in conf.get(
            "queue_url", "beanstalk://127.0.0.1:11300").split(";") if u.strip()]
        for url in self.urls:
            parse_endpoint(url)
        self.tube = conf.get("tube") or DEFAULT_TUBE
        self.concurrency = max(1, int(conf.get("concurrency", 4)))
        self.app = AgentApp(conf, LOGGER)
        self.pipelines = load_pipelines(conf["handlers_conf"], conf, self.app)
        self.stop_event = threading.Event()
        locks = {url: threading.Lock() for url in self.urls}
        self.workers = [EventWorker(url, self.tube, self.pipelines,
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
