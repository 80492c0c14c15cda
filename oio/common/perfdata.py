"""Performance figures a caller collects by passing a `perfdata` dict.

The dict has the shape the 7.2 client fills (seconds, floats):
`{"proxy": {"overall", "resolve", "meta2", ...}, "rawx": {"connect.<url>",
"upload.<url>" or "download.<url>", "overall", "<prefix>AVG", "SD", "RSD"},
"ttfb", "ttlb", "data_size"}`. The proxy's own timings come from its
`x-oio-perfdata` reply header (`name=microseconds,...`).
"""

from __future__ import annotations

import math


def add(perfdata: dict | None, service: str, key: str, seconds: float) -> None:
    """Add `seconds` to `perfdata[service][key]`."""
    if perfdata is None:
        return
    figures = perfdata.setdefault(service, {})
    figures[key] = figures.get(key, 0.0) + seconds


def add_header(perfdata: dict | None, service: str, header: str | None) -> None:
    """Add the `name=microseconds` pairs of a perfdata reply header."""
    if perfdata is None or not header:
        return
    for item in header.split(","):
        name, sep, value = item.partition("=")
        try:
            micros = float(value)
        except ValueError:
            continue
        if sep and name.strip():
            add(perfdata, service, name.strip(), micros / 1e6)


def compute_stats(perfdata: dict | None, prefix: str) -> None:
    """Mean, standard deviation and relative deviation of the rawx figures
    whose key starts with `prefix` (`upload.`, `download.`, `connect.`)."""
    rawx = (perfdata or {}).get("rawx")
    if not rawx:
        return
    values = [v for k, v in rawx.items() if k.startswith(prefix)
              and k[len(prefix):] not in ("AVG", "SD", "RSD")]
    if not values:
        return
    mean = sum(values) / len(values)
    sdev = math.sqrt(max(0.0, sum(v * v for v in values) / len(values)
                         - mean * mean))
    rawx[prefix + "AVG"] = mean
    rawx[prefix + "SD"] = sdev
    rawx[prefix + "RSD"] = sdev / mean if mean else 0.0
