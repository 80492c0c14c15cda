"""`noop`: lets every event go on (a pipeline that only acknowledges)."""

from __future__ import annotations

from oio.event.filters.base import EventFilter


class NoopFilter(EventFilter):
    """Does nothing with the event."""


filter_factory = NoopFilter.factory()
