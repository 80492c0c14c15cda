"""The default handler, ending every pipeline: the event went through all
its filters, so it is done (status 200)."""

from __future__ import annotations

import logging
from typing import Any

from oio.event.consumer import StopServe
from oio.event.evob import Callback, Event, EventError, EventOk, Response


class Handler:
    """`process(event)` returns the `Response` that tells the agent what
    became of the event; this one acknowledges every event."""

    def __init__(self, app: Any, conf: dict[str, Any]):
        self.app = app
        self.app_env = getattr(app, "app_env", {})
        self.conf = conf
        self.logger = getattr(app, "logger", None) or logging.getLogger(
            __name__)

    def process(self, event: Event) -> Response:
        return EventOk(event=event)

    def __call__(self, env: dict, beanstalkd: Any, cb: Callback) -> Any:
        event = Event(env)
        try:
            response = self.process(event)
        except StopServe:
            self.logger.info("job %s not handled: the agent is stopping",
                             event.job_id)
            response = EventError(event=event, body="the agent is stopping")
        except Exception as err:  # noqa: BLE001 - answered as a failure
            self.logger.exception("job %s not handled: %s", event.job_id, err)
            response = EventError(event=event, body=f"handler failed: {err}")
        return response(env, beanstalkd, cb)


def handler_factory(app: Any, global_conf: dict, **local_conf) -> Handler:
    return Handler(app, {**global_conf, **local_conf})
