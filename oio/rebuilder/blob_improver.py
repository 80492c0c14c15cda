"""`oio-blob-improver NAMESPACE --beanstalkd IP:PORT`: move the chunks of
objects meta2 found placed below their pool's quality (healing.md §5).

meta2 emits `storage.content.perfectible` when a chunk landed in a
fallback slot or too close to its copies (a rawx slot or location was
unavailable at upload); the event agent keeps these events in tube
`oio-improve`. Each worker takes one, reloads the object (it may have
changed since), and moves every chunk with imperfections to a spare that
the load balancer says is better (`move_chunk(check_quality=True)`).
When no chunk could be moved (the better rawx are still missing), the
event goes back to the tube, delayed by `--retry-delay` seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from dataclasses import dataclass, field

from oio.common import exceptions as exc
from oio.common.chunk_quality import PERFECTIBLE_EVENT
from oio.common.daemon import fail, setup_logging, stop_on_signals
from oio.common.utils import request_id
from oio.event.tube_worker import TubeWorker

PROG = "oio-blob-improver"
LOG = logging.getLogger(PROG)
DEFAULT_IMPROVER_TUBE = "oio-improve"
DEFAULT_RETRY_DELAY = 30
DEFAULT_MOVE_ATTEMPTS = 3


@dataclass
class Outcome:
    """What one event led to: (old chunk URL, new chunk URL) moves, and the
    errors of the chunks that could not be moved."""

    moves: list[tuple[str, str]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    @property
    def retry(self) -> bool:
        """Worth another try later: nothing improved, something failed."""
        return bool(self.errors) and not self.moves


def describe(event: dict) -> str:
    url = event.get("url") or {}
    return (f"{url.get('account')}/{url.get('user')}/{url.get('path')}"
            f"@{url.get('version')} (content {url.get('content')})")


class BlobImprover:
    """Moves the perfectible chunks of one event's object."""

    def __init__(self, content_factory, dry_run: bool = False,
                 max_attempts: int = DEFAULT_MOVE_ATTEMPTS, logger=None):
        self.content_factory = content_factory
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.logger = logger or LOG

    def improve(self, event: dict) -> Outcome:
        """Move what can be moved; ContentNotFound or PreconditionFailed
        when the object or one of the event's chunks is gone."""
        url = event["url"]
        reqid = request_id("blob-impr-")
        content = self.content_factory.get(
            url["id"], url["content"], account=url.get("account"),
            container_name=url.get("user"), reqid=reqid)
        for described in (event.get("data") or {}).get("chunks") or ():
            chunk = content.chunks.filter(url=described["id"]).one()
            if chunk is None:
                raise exc.PreconditionFailed(
                    f"chunk {described['id']} no longer in {describe(event)}")
            # meta2 keeps no quality records: the event carries them.
            chunk.quality = described.get("quality") or {}
        # The worst placed first: each move changes the others' distances.
        movable = sorted((c for c in content.chunks if c.imperfections),
                         key=lambda c: len(c.imperfections), reverse=True)
        outcome = Outcome()
        for chunk in movable:
            source = chunk.url
            try:
                moved = content.move_chunk(
                    chunk, check_quality=True, dry_run=self.dry_run,
                    max_attempts=self.max_attempts, reqid=reqid)
            except exc.OioException as err:
                self.logger.warning("could not improve %s (%s): %s", source,
                                    ", ".join(chunk.imperfections), err)
                outcome.errors.append(err)
                continue
            target = moved["url"] if moved else "(dry run)"
            self.logger.info("%s: %s moved to %s (reqid=%s)",
                             describe(event), source, target, reqid)
            outcome.moves.append((source, target))
        return outcome


class EventBudget:
    """How many events the daemon handles before it stops (0: forever);
    shared by the workers."""

    def __init__(self, limit: int, stop: threading.Event):
        self.limit = limit
        self.stop = stop
        self.done = 0
        self._lock = threading.Lock()

    def spend(self) -> None:
        with self._lock:
            self.done += 1
            if self.limit > 0 and self.done >= self.limit:
                LOG.info("%d events handled, exiting", self.done)
                self.stop.set()


class ImproveWorker(TubeWorker):
    """Takes perfectible events from the tube and improves their objects;
    other events are buried (they have no business here)."""

    def __init__(self, improver: BlobImprover, beanstalkd: str,
                 tube: str = DEFAULT_IMPROVER_TUBE,
                 retry_delay: int = DEFAULT_RETRY_DELAY,
                 budget: EventBudget | None = None,
                 stop: threading.Event | None = None, logger=None):
        super().__init__(beanstalkd, tube, stop, logger or LOG)
        self.improver = improver
        self.retry_delay = retry_delay
        self.budget = budget

    def handle(self, job_id: int, body: bytes) -> None:
        try:
            event = json.loads(body)
            if event.get("event") != PERFECTIBLE_EVENT:
                raise ValueError(f"not a {PERFECTIBLE_EVENT} event: "
                                 f"{event.get('event')}")
        except (ValueError, AttributeError) as err:
            self.logger.error("job %d buried: %s", job_id, err)
            self._queue().bury(job_id)
            return
        try:
            outcome = self.improver.improve(event)
        except (exc.NotFound, exc.ContentNotFound,
                exc.PreconditionFailed) as err:
            # The object changed: its new chunks got an event of their own.
            self.logger.info("%s dropped: %s", describe(event), err)
            outcome = Outcome()
        except exc.OioException as err:
            outcome = Outcome(errors=[err])
        if outcome.retry or self.improver.dry_run:
            self._retry_later(event)
        self._queue().delete(job_id)
        if self.budget is not None:
            self.budget.spend()

    def _retry_later(self, event: dict) -> None:
        event["attempts"] = int(event.get("attempts", 0)) + 1
        client = self._queue()
        client.use(self.tube)
        client.put(json.dumps(event, separators=(",", ":")).encode(),
                   delay=self.retry_delay)
        self.logger.info("%s queued again in %ds (attempt %d)",
                         describe(event), self.retry_delay, event["attempts"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("--beanstalkd", metavar="IP:PORT", required=True,
                   help="The beanstalkd whose perfectible events to handle")
    p.add_argument("--beanstalkd-tube", default=DEFAULT_IMPROVER_TUBE,
                   help=f"Tube of the events (default {DEFAULT_IMPROVER_TUBE})")
    p.add_argument("--retry-delay", type=int, default=DEFAULT_RETRY_DELAY,
                   help="Seconds before an object nothing could improve is "
                        f"tried again (default {DEFAULT_RETRY_DELAY})")
    p.add_argument("--max-move-attempts", type=int,
                   default=DEFAULT_MOVE_ATTEMPTS,
                   help="Spare chunk requests per chunk before giving up "
                        f"(default {DEFAULT_MOVE_ATTEMPTS})")
    p.add_argument("--stop-after-events", type=int, default=0,
                   help="Exit after this many events (tests; 0: never)")
    p.add_argument("--concurrency", "--workers", type=int, default=1,
                   help="Events handled at once (default 1)")
    p.add_argument("--dry-run", action="store_true",
                   help="Log the moves without doing them; events go back "
                        "to the tube")
    p.add_argument("--chunks-per-second", type=int,
                   help="Accepted for 7.2's command line; not enforced")
    p.add_argument("--report-interval", type=int,
                   help="Accepted for 7.2's command line; each move is "
                        "logged")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def run(args, improver: BlobImprover, stop: threading.Event) -> int:
    budget = EventBudget(args.stop_after_events, stop)
    workers = [ImproveWorker(improver, args.beanstalkd,
                             tube=args.beanstalkd_tube,
                             retry_delay=args.retry_delay, budget=budget,
                             stop=stop)
               for _ in range(max(1, args.concurrency))]
    LOG.info("listening to tube %s of %s with %d workers",
             args.beanstalkd_tube, args.beanstalkd, len(workers))
    for worker in workers:
        worker.start()
    while not stop.wait(1.0):
        pass
    for worker in workers:
        worker.join(30)
    LOG.info("exiting after %d events", budget.done)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(PROG, verbose=args.verbose, level=args.log_level)
    from oio.content.factory import ContentFactory

    try:
        factory = ContentFactory({"namespace": args.namespace}, logger=LOG)
        improver = BlobImprover(factory, dry_run=args.dry_run,
                                max_attempts=args.max_move_attempts)
        return run(args, improver, stop_on_signals())
    except (exc.OioException, ValueError, OSError) as err:
        return fail(PROG, err, 1)


if __name__ == "__main__":
    sys.exit(main())
