"""`logger`: logs each event (info level) and lets it go on."""

from __future__ import annotations

import json

from oio.event.filters.base import EventFilter


class LoggerFilter(EventFilter):
    def on_event(self, event: dict) -> None:
        self.logger.info("event %s: %s", event.get("event"),
                         json.dumps(event, separators=(",", ":"))[:4096])


filter_factory = LoggerFilter.factory()
