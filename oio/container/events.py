"""Where meta2 announces its state changes (events.md §3).

Every change goes through one notifier's `emit(event_type, payload)`;
`payload` is the event envelope without its transport (`event`, `when`,
`url`, `request_id`, `origin`, `data`). The default drops them: a
beanstalkd producer plugs in here later.
"""

from __future__ import annotations

import threading
import time
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


class CoalescingNotifier:
    """Holds `storage.container.state` events for up to `delay` seconds and
    sends only the latest of each container (7.2's "overwritable" events):
    a busy container does not flood the queue. Other events go through at
    once; a container-level one (deletion...) after the held state of its
    container, so that the account sees them in order. Content events
    leave the state held: otherwise each object written would send one.
    """

    COALESCED = frozenset(("storage.container.state",))
    # Events that must come after the container's held state.
    ORDERED_PREFIXES = ("storage.container.", "account.")

    def __init__(self, next_notifier, delay: float = 1.0) -> None:
        self.next = next_notifier
        self.delay = delay
        self._held: dict[str, tuple[float, str, dict]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="state-events")
        self._thread.start()

    @staticmethod
    def _key(payload: dict) -> str:
        url = payload.get("url") or {}
        return str(url.get("id") or (url.get("account"), url.get("user")))

    def emit(self, event_type: str, payload: dict) -> None:
        key = self._key(payload)
        if event_type in self.COALESCED:
            with self._lock:
                since = self._held.get(key, (time.monotonic(),))[0]
                self._held[key] = (since, event_type, payload)
            return
        if event_type.startswith(self.ORDERED_PREFIXES):
            with self._lock:
                held = self._held.pop(key, None)
            if held is not None:
                self.next.emit(held[1], held[2])
        self.next.emit(event_type, payload)

    def _run(self) -> None:
        while not self._stop.wait(min(0.1, self.delay)):
            self._flush(time.monotonic() - self.delay)
        self._flush(float("inf"))

    def _flush(self, older_than: float) -> None:
        with self._lock:
            due = [(k, v) for k, v in self._held.items() if v[0] <= older_than]
            for key, _ in due:
                del self._held[key]
        for _, (_, event_type, payload) in due:
            self.next.emit(event_type, payload)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        stop = getattr(self.next, "stop", None)
        if stop is not None:
            stop()
