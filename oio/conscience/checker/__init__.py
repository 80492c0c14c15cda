"""Health checks of the conscience agent (conscience.md §7.3), one module
per check type as in 7.2: `tcp`, `http`, `asn1`. A watch file's check
`type` names a class of entry point group `oio.conscience.checker` (ours
are registered there too), so a checker written for 7.2 is named the same
way."""

from __future__ import annotations

import logging

from oio.common.entry_points import build_named, load_group
from oio.conscience.checker.asn1 import ASN1_PING, Asn1PingChecker
from oio.conscience.checker.base import CHECK_TIMEOUT, BaseChecker
from oio.conscience.checker.http import HttpChecker
from oio.conscience.checker.tcp import TcpChecker

__all__ = ["ASN1_PING", "CHECK_TIMEOUT", "Asn1PingChecker", "BaseChecker",
           "HttpChecker", "TcpChecker", "build_check", "checker_classes"]

BUILTIN = {"asn1": Asn1PingChecker, "http": HttpChecker, "tcp": TcpChecker}


def checker_classes() -> dict[str, type]:
    """Check type → class: ours, then entry points (which may replace them)."""
    return dict(BUILTIN, **load_group("oio.conscience.checker"))


def build_check(agent, conf: dict, host: str, port: int, rise: int = 1,
                fall: int = 1, logger: logging.Logger | None = None,
                classes: dict[str, type] | None = None) -> BaseChecker:
    """A checker from a watch file's `checks` entry, with the service's
    host, port, rise and fall where the entry does not say (as 7.2)."""
    conf = dict(conf)
    conf["host"] = conf.get("host") or host
    conf["port"] = conf.get("port") or port
    conf["rise"] = conf.get("rise") or rise
    conf["fall"] = conf.get("fall") or fall
    classes = classes if classes is not None else checker_classes()
    return build_named(classes, "check", conf, agent, conf, logger)
