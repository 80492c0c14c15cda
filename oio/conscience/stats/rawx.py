"""`rawx` stat: request rate and mean time from the rawx `/stat`
counters, and its service id."""

from __future__ import annotations

import time

from oio.conscience.stats.http import HttpStat


class RawxStat(HttpStat):
    default_path = "/stat"

    def configure(self) -> None:
        super().configure()
        self.last: tuple[float, int, int] | None = None

    def get_stats(self) -> dict:
        lines = self._parse_stats_lines(self.fetch())
        now = time.monotonic()
        hits = int(lines.get("counter req.hits") or 0)
        spent = int(lines.get("counter req.time") or 0)
        out: dict = {"stat.total_reqpersec": 0.0, "stat.total_avreqtime": 1}
        if lines.get("config service_id") is not None:
            out["tag.service_id"] = str(lines["config service_id"])
        if self.last is not None and now > self.last[0]:
            d_hits = hits - self.last[1]
            out["stat.total_reqpersec"] = round(d_hits / (now - self.last[0]), 6)
            if d_hits > 0:
                out["stat.total_avreqtime"] = (spent - self.last[2]) // d_hits
        self.last = (now, hits, spent)
        return out
