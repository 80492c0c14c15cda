"""`oioproxy` stat: the `gauge <name> <value>` lines of the proxy's
`/v3.0/status`, as `stat.<name>`."""

from __future__ import annotations

from oio.conscience.stats.http import HttpStat


def gauges(lines: dict) -> dict[str, float]:
    """`stat.<name>` of every `gauge <name>` key of a lines-parsed page."""
    out: dict[str, float] = {}
    for key, value in lines.items():
        words = key.split()
        if len(words) >= 2 and words[0] == "gauge" and \
                isinstance(value, (int, float)):
            out[f"stat.{words[1]}"] = float(value)
    return out


class ProxyStat(HttpStat):
    def configure(self) -> None:
        self.stat_conf = dict(self.stat_conf, path="/v3.0/status",
                              parser="lines")
        super().configure()

    def get_stats(self) -> dict:
        return gauges(self._parse_stats_lines(self.fetch()))
