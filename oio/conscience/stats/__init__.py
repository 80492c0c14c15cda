"""Stat collectors of the conscience agent (conscience.md §7.4), one module
per type as in 7.2. A watch file's stat `type` names a class of entry point
group `oio.conscience.stats` (ours are registered there too), built as
`cls(agent, stat_conf, logger)` and asked `get_stats()` each round."""

from __future__ import annotations

import logging

from oio.common.entry_points import build_named, load_group
from oio.conscience.stats.base import BaseStat
from oio.conscience.stats.beanstalkd import BeanstalkdStat
from oio.conscience.stats.http import HttpStat
from oio.conscience.stats.meta import MetaStat
from oio.conscience.stats.proxy import ProxyStat
from oio.conscience.stats.rawx import RawxStat
from oio.conscience.stats.system import SystemStat
from oio.conscience.stats.volume import VolumeStat

__all__ = ["BaseStat", "BeanstalkdStat", "HttpStat", "MetaStat", "ProxyStat",
           "RawxStat", "SystemStat", "VolumeStat", "build_stat",
           "stat_classes"]

BUILTIN = {"beanstalkd": BeanstalkdStat, "http": HttpStat, "meta": MetaStat,
           "oioproxy": ProxyStat, "rawx": RawxStat, "system": SystemStat,
           "volume": VolumeStat}


def stat_classes() -> dict[str, type]:
    """Stat type → class: ours, then entry points (which may replace them)."""
    return dict(BUILTIN, **load_group("oio.conscience.stats"))


def build_stat(agent, conf: dict, host: str, port: int,
               logger: logging.Logger | None = None,
               classes: dict[str, type] | None = None) -> BaseStat:
    """A collector from a watch file's `stats` entry, with the service's
    host and port where the entry does not say (as 7.2)."""
    conf = dict(conf)
    conf.setdefault("host", host)
    conf.setdefault("port", port)
    conf.setdefault("path", "")
    classes = classes if classes is not None else stat_classes()
    return build_named(classes, "stat", conf, agent, conf, logger)
