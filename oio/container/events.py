"""Where meta2 announces its state changes (events.md §3).

Every change goes through one notifier's `emit(event_type, payload)`;
`payload` is the event envelope without its transport (`event`, `when`,
`url`, `request_id`, `origin`, `data`). `emit` may only queue the event
(in order): meta2 calls `sync()` before it answers, once the container
lock is released, so that the wait for the disk holds no container. The
default drops them.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Notifier(Protocol):
    def emit(self, event_type: str, payload: dict) -> None:
        """Called from worker threads, after the change is committed."""

    def sync(self) -> None:
        """Return once every event emitted so far is kept durably."""


class NullNotifier:
    """Drops every event."""

    def emit(self, event_type: str, payload: dict) -> None:
        return None

    def sync(self) -> None:
        return None


class RecordingNotifier:
    """Keeps events in memory (tests, debugging)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event_type: str, payload: dict) -> None:
        self.events.append((event_type, payload))

    def sync(self) -> None:
        return None

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

    def sync(self) -> None:
        # Held state events are not waited for: the next one replaces them.
        sync = getattr(self.next, "sync", None)
        if sync is not None:
            sync()

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
