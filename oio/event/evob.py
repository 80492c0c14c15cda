"""`Event`: the view of an event's JSON (events.md) that OpenIO's handlers
and tests use: `event_type`, `reqid`, `url`, `data`, `when`, `job_id`."""

from __future__ import annotations

__all__ = ["Event", "is_error", "is_success"]


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
