"""`xcute`: runs the tasks of `xcute.tasks` events (xcute workers)."""

from __future__ import annotations

import json
import threading

from oio.event.beanstalk import Beanstalk
from oio.event.evob import EventError
from oio.event.filters.base import BuryEvent, EventFilter


class XcuteFilter(EventFilter):
    """Runs the tasks of `xcute.tasks` events and replies to the xcute
    orchestrator (spec healing.md §4.7). When the reply cannot be sent,
    the event goes back on this agent's tube `retry_delay_to_reply`
    seconds later, marked processed with its results: only the reply is
    tried again, the tasks are not run twice."""

    def init(self) -> None:
        from oio.xcute.common.worker import XcuteWorker

        conf = self.conf
        self.retry_delay = int(conf.get("retry_delay_to_reply") or 60)
        self.queue_url = (conf.get("queue_url") or "").split(";")[0].strip()
        self.tube = conf.get("tube") or "oio-xcute"
        self.worker = XcuteWorker(conf, logger=self.logger)
        self._local = threading.local()

    def on_event(self, event: dict) -> None:
        if event.get("event") != "xcute.tasks":
            return
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(
                data.get("tasks"), dict) or not data.get("beanstalkd_reply"):
            raise BuryEvent("xcute.tasks event without tasks or reply "
                            "address")
        reply = data.get("reply") if data.get("processed") else None
        if reply is None:
            reply = self.worker.process(data)
        try:
            self.worker.reply(data, reply)
        except Exception as err:  # noqa: BLE001 - the reply is retried
            self.logger.warning(
                "xcute job %s: reply not sent (%s), retried in %d s",
                data.get("job_id"), err, self.retry_delay)
            self._retry_reply(event, data, reply)

    def _retry_reply(self, event: dict, data: dict, reply: dict) -> None:
        retry = {k: v for k, v in event.items() if k != "job_id"}
        retry["data"] = dict(data, processed=True, reply=reply)
        body = json.dumps(retry, separators=(",", ":")).encode("utf-8")
        client = getattr(self._local, "client", None)
        try:
            if client is None:
                client = self._local.client = Beanstalk.from_url(
                    self.queue_url)
                client.use(self.tube)
            client.put(body, delay=self.retry_delay)
        except OSError as err:
            self._local.client = None
            raise EventError(f"xcute reply kept for later: {err}") from None


filter_factory = XcuteFilter.factory()
