"""`bury`: buries every event (kept in beanstalkd for an operator)."""

from __future__ import annotations

from oio.event.filters.base import BuryEvent, EventFilter


class BuryFilter(EventFilter):
    def on_event(self, event: dict) -> None:
        raise BuryEvent(f"buried by the pipeline: {event.get('event')}")


filter_factory = BuryFilter.factory()
