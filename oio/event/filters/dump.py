"""`dump`: writes each event to a file, for debugging."""

from __future__ import annotations

import json
import os

from oio.event.filters.base import EventFilter


class DumpFilter(EventFilter):
    """Each event, pretty-printed, to `<directory>/event_<job id>`
    (`directory`: /tmp unless configured)."""

    def on_event(self, event: dict) -> None:
        directory = self.conf.get("directory") or "/tmp"
        name = f"event_{int(event.get('job_id') or 0)}"
        with open(os.path.join(directory, name), "w") as out:
            json.dump(event, out, indent=2, sort_keys=True)


filter_factory = DumpFilter.factory()
