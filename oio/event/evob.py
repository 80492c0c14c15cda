"""The event objects of OpenIO 7.2's pipelines (events.md): `Event`, the
view of an event's JSON that handlers and filters use (`event_type`,
`reqid`, `url`, `data`, `when`, `job_id`), the answers a stage gives
(`Response`, `EventOk`, `EventError`, `status_map[code]`) and the
`EventTypes` names."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

__all__ = ["Event", "EventError", "EventException", "EventOk",
           "EventTypes", "Response", "StatusMap", "is_error", "is_success",
           "status_map"]


def is_success(status: int) -> bool:
    return 200 <= status <= 299


def is_error(status: int) -> bool:
    return 500 <= status <= 599


def _field(name: str) -> property:
    def getter(self):
        return self.env.get(name)

    def setter(self, value):
        self.env[name] = value

    return property(getter, setter)


class Event:
    """Attributes read and write the decoded event dict (`env`), so that a
    filter's change is what the next filter sees."""

    job_id = _field("job_id")
    event_type = _field("event")
    data = _field("data")
    reqid = _field("request_id")
    url = _field("url")
    when = _field("when")

    def __init__(self, env: dict):
        self.env = env

    def __repr__(self) -> str:
        return f"Event [{self.job_id},{self.reqid}]({self.event_type})"


# What a stage calls when it is done with an event: cb(status, body).
Callback = Callable[[int, str], None]


class Response:
    """A stage's answer: calling it with the stage's arguments tells the
    agent (through `cb`) what became of the event: a 2xx status deletes
    the job, anything else has it tried again later."""

    def __init__(self, body: str | None = None, status: int = 200,
                 event: Event | None = None, **_kwargs):
        self.status = status
        self.event = event
        self.env = event.env if event is not None else {}
        self.body = body

    def __call__(self, env: dict, beanstalkd, cb: Callback) -> None:
        if self.event is None:
            self.event = Event(env)
        if not self.body:
            self.body = ""
        cb(self.status, self.body)


class EventException(Response, Exception):
    """A `Response` that can be raised. Our agent releases the job of a
    raised 5xx one to try it again later (7.2's buried it), and treats a
    raised 2xx one as done."""

    def __init__(self, *args, **kwargs):
        Response.__init__(self, *args, **kwargs)
        Exception.__init__(self, self.status)

    def __str__(self) -> str:
        return str(self.body) if self.body else f"status {self.status}"


class EventTypes:
    """The event type names (the `event` field)."""

    ACCOUNT_SERVICES = "account.services"
    CHUNK_DELETED = "storage.chunk.deleted"
    CHUNK_NEW = "storage.chunk.new"
    CONTAINER_DELETED = "storage.container.deleted"
    CONTAINER_NEW = "storage.container.new"
    CONTAINER_STATE = "storage.container.state"
    CONTAINER_UPDATE = "storage.container.update"
    CONTENT_APPEND = "storage.content.append"
    CONTENT_BROKEN = "storage.content.broken"
    CONTENT_DELETED = "storage.content.deleted"
    CONTENT_DRAINED = "storage.content.drained"
    CONTENT_UPDATE = "storage.content.update"
    CONTENT_NEW = "storage.content.new"
    CONTENT_PERFECTIBLE = "storage.content.perfectible"
    CONTENT_REBUILT = "storage.content.rebuilt"
    META2_DELETED = "storage.meta2.deleted"
    XCUTE_TASKS = "xcute.tasks"

    CONTAINER_EVENTS = (CONTAINER_DELETED, CONTAINER_NEW, CONTAINER_STATE,
                        CONTAINER_UPDATE)
    CONTENT_EVENTS = (CONTENT_APPEND, CONTENT_BROKEN, CONTENT_DELETED,
                      CONTENT_NEW, CONTENT_PERFECTIBLE, CONTENT_REBUILT,
                      CONTENT_UPDATE)


class StatusMap:
    """`status_map[code](event=..., body=...)`: an `EventException` of
    that status."""

    def __getitem__(self, status: int) -> Callable[..., EventException]:
        return partial(EventException, status=status)


status_map = StatusMap()
EventOk = status_map[200]
EventError = status_map[500]
