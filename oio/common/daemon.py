"""What the crawling daemons share (auditor, indexers): their config
section, their logs, their stop on a signal and their passes.

A daemon is a `run_pass(stop)` function: one crawl of its volume(s),
returning early once `stop` is set. `run_passes` repeats it (or runs it
once), sleeping `interval` seconds between passes; SIGTERM, SIGINT and
SIGQUIT set `stop`, so that the pass in progress ends at its next item
and its final report is still logged.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException

LOG_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"


def load_section(path: str, section: str) -> Config:
    """The `[section]` of the INI file at `path`; ConfigurationException
    with the file and the section when either is missing."""
    return Config(read_conf(path, section))


def setup_logging(prog: str, conf: Config | None = None,
                  verbose: bool = False, level: str | None = None) -> None:
    """One line per event on stderr, at `level`, else the section's
    `log_level` (INFO; DEBUG with `verbose`)."""
    name = level or (conf.get_str("log_level") if conf else None) or "INFO"
    if verbose:
        name = "DEBUG"
    name = {"WARN": "WARNING"}.get(name.upper(), name.upper())
    logging.basicConfig(level=getattr(logging, name, logging.INFO),
                        format=LOG_FORMAT.replace("%(name)s", prog))


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM, SIGINT or SIGQUIT (call from the main
    thread)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def run_passes(run_pass: Callable[[threading.Event], object],
               stop: threading.Event, repeat: bool, interval: float,
               logger: logging.Logger, first_delay: float = 0.0) -> int:
    """Run `run_pass(stop)` once, or until `stop` when `repeat`, waiting
    `interval` seconds from the start of a pass to the next one (at least
    1 s between them). A failing pass is logged and, when repeating,
    tried again after the interval. Exit status: 0, or 1 if the last
    pass failed or counted errors (a CrawlStats with `errors`)."""
    if first_delay > 0 and stop.wait(first_delay):
        return 0
    status = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = run_pass(stop)
            errors = getattr(result, "counts", {}).get("errors", 0)
            status = 1 if errors else 0
        except Exception as err:  # noqa: BLE001 - a daemon survives a pass
            logger.error("pass failed: %s: %s", type(err).__name__, err)
            status = 1
        if not repeat:
            break
        stop.wait(max(1.0, interval - (time.monotonic() - started)))
    return status


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """CONFIG, -v/--verbose and --log-level, as every daemon takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("config", help="configuration file (INI)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="more verbose output")
    parser.add_argument("--log-level",
                        choices=("DEBUG", "INFO", "WARN", "ERROR"),
                        help="log level (default: the section's log_level)")
    return parser


def fail(prog: str, message: object, code: int = 2) -> int:
    """Print `prog: message` on stderr; the exit status to return."""
    print(f"{prog}: {message}", file=sys.stderr)
    return code


__all__ = ["ConfigurationException", "base_parser", "fail", "load_section",
           "run_passes", "setup_logging", "stop_on_signals"]
