"""Where meta2 announces its state changes (events.md §3).

Every change goes through one notifier's `emit(event_type, payload)`;
`payload` is the event envelope without its transport (`event`, `when`,
`url`, `request_id`, `origin`, `data`). The default drops them: a
beanstalkd producer plugs in here later.
"""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    def emit(self, event_type: str, payload: dict) -> None:
        """Called from worker threads, after the change is committed."""


class NullNotifier:
    """Drops every event."""

    def emit(self, event_type: str, payload: dict) -> None:
        return None


class RecordingNotifier:
    """Keeps events in memory (tests, debugging)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event_type: str, payload: dict) -> None:
        self.events.append((event_type, payload))

    def types(self) -> list[str]:
        return [e[0] for e in self.events]


class FanoutNotifier:
    """Hands every event to several notifiers, in order."""

    def __init__(self, notifiers: list) -> None:
        self.notifiers = [n for n in notifiers if n is not None]

    def emit(self, event_type: str, payload: dict) -> None:
        for notifier in self.notifiers:
            notifier.emit(event_type, payload)

    def stop(self) -> None:
        for notifier in self.notifiers:
            stop = getattr(notifier, "stop", None)
            if stop is not None:
                stop()
