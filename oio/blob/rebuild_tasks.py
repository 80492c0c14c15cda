"""Rebuild tasks through beanstalkd (spec healing.md §2.2): the workers
that `oio-blob-rebuilder --beanstalkd` runs, and the dispatcher of the
`distributed-rebuild` commands.

A task is a `storage.content.broken` event naming the missing chunks of
one content (meta2 emits them for objects created incomplete, the blob
auditor for damaged chunks, the dispatcher for each chunk of a lost
volume). With a `beanstalkd_reply`, the worker answers a
`storage.content.rebuilt` event there; without one, a chunk that failed
for a reason that may pass (a service down) is queued again after
`retry_delay` seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from oio.blob.rebuild_report import REBUILD_TUBE, broken_chunk_event
from oio.blob.rebuilder import RebuildItem, RebuildResult
from oio.common.pacing import Pacer
from oio.event.beanstalk import Beanstalk, BeanstalkError
from oio.event.tube_worker import TubeWorker
from oio.event.tube_worker import endpoint as _endpoint

DEFAULT_TUBE = REBUILD_TUBE
DEFAULT_RETRY_DELAY = 3600
REBUILT_EVENT = "storage.content.rebuilt"
REPLY_TIMEOUT = 300.0
# A task may wait behind others on its worker: time to rebuild it.
TASK_TTR = 600

LOGGER = logging.getLogger(__name__)


def task_items(event: dict, namespace: str) -> list[RebuildItem]:
    """The chunks a task names; ValueError when it is not one of ours."""
    url = event.get("url") or {}
    if url.get("ns") != namespace:
        raise ValueError(f"task of namespace {url.get('ns')!r}, "
                         f"not {namespace!r}")
    cid, content = url.get("id"), url.get("content")
    chunks = (event.get("data") or {}).get("missing_chunks")
    if not cid or not content or not isinstance(chunks, list):
        raise ValueError("task without url.id, url.content or "
                         "data.missing_chunks")
    return [RebuildItem(cid, content, str(chunk)) for chunk in chunks]


def rebuilt_event(event: dict, results: list[RebuildResult],
                  worker: dict) -> dict:
    return {"when": time.time(), "event": REBUILT_EVENT,
            "url": event.get("url"),
            "data": {"chunks_rebuilt": [
                {"chunk_id_or_pos": r.item.chunk, "bytes_processed": r.bytes,
                 "error": r.error} for r in results]},
            "beanstalkd_worker": worker}


def _dumps(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


class RebuildWorker(TubeWorker):
    """Reserves tasks from `tube` and rebuilds them with `rebuilder` (a
    BlobRebuilder), one at a time; several run side by side."""

    def __init__(self, rebuilder, namespace: str, beanstalkd: str,
                 tube: str = DEFAULT_TUBE,
                 retry_delay: int = DEFAULT_RETRY_DELAY,
                 stop: threading.Event | None = None, logger=None):
        super().__init__(beanstalkd, tube, stop, logger or LOGGER)
        self.rebuilder = rebuilder
        self.namespace = namespace
        self.retry_delay = retry_delay

    def handle(self, job_id: int, body: bytes) -> None:
        try:
            event = json.loads(body)
            items = task_items(event, self.namespace)
        except ValueError as err:
            self.logger.error("task %d buried: %s", job_id, err)
            self._queue().bury(job_id)
            return
        results = self.rebuilder.rebuild_group(items)
        for result in results:
            self.rebuilder.stats.add(result)
        reply = event.get("beanstalkd_reply")
        if reply:
            self._reply(reply, rebuilt_event(
                event, results, {"addr": self.addr, "tube": self.tube}))
        else:
            self._retry_later(event, results)
        self._queue().delete(job_id)
        self.rebuilder.report("RUN")

    def _reply(self, reply: dict, answer: dict) -> None:
        """Until it is sent: the dispatcher waits for every answer."""
        while not self.stopping.is_set():
            try:
                client = Beanstalk.from_url(_endpoint(str(reply["addr"])))
                try:
                    client.use(str(reply["tube"]))
                    client.put(_dumps(answer))
                    return
                finally:
                    client.close()
            except (OSError, BeanstalkError, KeyError) as err:
                self.logger.warning("reply to %s not sent: %s", reply, err)
                self.stopping.wait(1.0)

    def _retry_later(self, event: dict, results: list[RebuildResult]) -> None:
        for result in results:
            if not result.retryable:
                continue
            task = broken_chunk_event(
                self.namespace, result.item.container_id,
                result.item.content_id, result.item.chunk)
            client = self._queue()
            client.use(self.tube)
            client.put(_dumps(task), delay=self.retry_delay)
            self.logger.info("chunk %s queued again in %ds", result.item.chunk,
                             self.retry_delay)


class DistributedDispatcher:
    """Spreads items over the beanstalkd whose workers listen to `tube`
    (`beanstalkds`: their `IP:PORT`), at most `items_per_second`, and
    yields each result from the workers' replies, which come on a private
    tube of the first beanstalkd."""

    def __init__(self, namespace: str, beanstalkds: list[str],
                 tube: str = DEFAULT_TUBE, items_per_second: float = 30,
                 reply_timeout: float = REPLY_TIMEOUT, logger=None):
        if not beanstalkds:
            raise ValueError(f"No beanstalkd with rebuild workers (tube "
                             f"{tube}): start oio-blob-rebuilder --beanstalkd")
        self.namespace = namespace
        self.addrs = [_endpoint(a) for a in beanstalkds]
        self.tube = tube
        self.pacer = Pacer(items_per_second)
        self.reply_timeout = reply_timeout
        self.logger = logger or LOGGER
        # Enough in flight to keep every worker busy, not the whole volume.
        per_queue = int(items_per_second * 2 / len(self.addrs)) \
            if items_per_second > 0 else 64
        self.window = max(per_queue, 8) * len(self.addrs)
        self.reply_tube = f"{tube}.reply.{time.time():.6f}"

    def run(self, items: Iterable[RebuildItem]) -> Iterator[RebuildResult]:
        reply_addr = self.addrs[0]
        replies = Beanstalk.from_url(reply_addr)
        replies.watch(self.reply_tube)
        replies.ignore("default")
        senders = [Beanstalk.from_url(a) for a in self.addrs]
        for sender in senders:
            sender.use(self.tube)
        pending: dict[tuple[str, str, str], RebuildItem] = {}
        try:
            for index, item in enumerate(items):
                while len(pending) >= self.window:
                    yield from self._collect(replies, pending)
                self.pacer.wait()
                task = broken_chunk_event(self.namespace, item.container_id,
                                          item.content_id, item.chunk)
                task["beanstalkd_reply"] = {"addr": f"beanstalk://{reply_addr}",
                                            "tube": self.reply_tube}
                senders[index % len(senders)].put(_dumps(task), ttr=TASK_TTR)
                pending[(item.container_id, item.content_id, item.chunk)] = item
            while pending:
                yield from self._collect(replies, pending)
        finally:
            for client in senders + [replies]:
                client.close()

    def _collect(self, replies: Beanstalk, pending: dict
                 ) -> Iterator[RebuildResult]:
        job = replies.poll(timeout=self.reply_timeout)
        if job is None:
            for item in list(pending.values()):
                yield RebuildResult(item, error="no reply from the workers in "
                                    f"{self.reply_timeout:.0f}s")
            pending.clear()
            return
        job_id, body = job
        replies.delete(job_id)
        try:
            event = json.loads(body)
            url = event["url"]
            done = event["data"]["chunks_rebuilt"]
        except (ValueError, KeyError, TypeError):
            self.logger.error("reply %d ignored: %r", job_id, body[:200])
            return
        for entry in done:
            key = (url.get("id"), url.get("content"),
                   str(entry.get("chunk_id_or_pos")))
            item = pending.pop(key, None)
            if item is None:
                continue        # a duplicate reply
            error = entry.get("error")
            yield RebuildResult(item, bytes=int(entry.get("bytes_processed")
                                                or 0),
                                error=error, orphan=bool(
                                    error and error.startswith("OrphanChunk")))
