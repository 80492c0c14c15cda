"""Request counters of the proxy, served by `GET /v3.0/status`."""

from __future__ import annotations

from collections import defaultdict


class ProxyStats:
    """Hit counts and cumulated durations (µs), overall and per route."""

    def __init__(self):
        self.hits = 0
        self.time_us = 0
        self.route_hits: dict[str, int] = defaultdict(int)
        self.route_time: dict[str, int] = defaultdict(int)
        self.status_hits: dict[int, int] = defaultdict(int)

    def record(self, route: str, status: int, duration_us: int) -> None:
        self.hits += 1
        self.time_us += duration_us
        self.route_hits[route] += 1
        self.route_time[route] += duration_us
        self.status_hits[status] += 1

    def lines(self, gauges: dict[str, int]) -> list[str]:
        """`counter <name> <int>` and `gauge <name> <int>` lines."""
        out = [f"counter req.hits {self.hits}",
               f"counter req.time {self.time_us}"]
        for route in sorted(self.route_hits):
            out.append(f"counter req.hits.{route} {self.route_hits[route]}")
            out.append(f"counter req.time.{route} {self.route_time[route]}")
        for status in sorted(self.status_hits):
            out.append(f"counter rep.hits.{status} {self.status_hits[status]}")
        out.extend(f"gauge {name} {value}" for name, value in gauges.items())
        return out
