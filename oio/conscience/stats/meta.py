"""`meta` stat: a meta service's gauges. 7.2 asks the proxy to forward
`stats` to the service over its binary protocol; ours speak HTTP, so the
collector reads their status page (`path`, default `/status`, JSON)."""

from __future__ import annotations

from oio.conscience.stats.http import HttpStat
from oio.conscience.stats.proxy import gauges


class MetaStat(HttpStat):
    default_path = "/status"
    default_parser = "json"

    def get_stats(self) -> dict:
        body = self.fetch()
        if self.parser == "json":
            return self._parse_stats_json(body)
        return gauges(self._parse_stats_lines(body))
