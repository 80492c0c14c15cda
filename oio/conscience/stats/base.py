"""The base of the conscience agent's stat collectors, with 7.2's
interface: `cls(agent, stat_conf, logger)`, `configure()`, `get_stats()`
returning the tags to register (`stat.*`, `tag.*`)."""

from __future__ import annotations

import logging

import urllib3

HTTP_TIMEOUT = urllib3.Timeout(connect=1.0, read=10.0)


class BaseStat:
    def __init__(self, agent, stat_conf: dict,
                 logger: logging.Logger | None = None):
        self.agent = agent
        self.stat_conf = stat_conf
        self.logger = logger or logging.getLogger("oio.conscience.stats")
        self.configure()

    def configure(self) -> None:
        """Read the collector's settings from `stat_conf`."""

    def get_stats(self) -> dict:
        """The tags of one sample; an exception marks the service down."""
        raise NotImplementedError()
