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
import re
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


def config_text(section: str, values: dict[str, object],
                header: bool = True) -> str:
    """INI lines of `values` (None left out), under `[section]`."""
    body = "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)
    return f"[{section}]\n{body}" if header else body


def write_config(path: str | None, section: str, values: dict[str, object],
                 append: bool = False) -> str:
    """The `[section]` text of `values`, written to `path` when given, or
    appended to it (no second header: the section is the file's last)."""
    text = config_text(section, values, header=not append)
    if path:
        with open(path, "a" if append else "w") as out:
            out.write(text)
    return text


def serve(prog: str, section: str, config: str, options: dict[str, object],
          build: Callable[[Config], object], logger: logging.Logger,
          repeat: bool, interval: float, verbose: bool = False,
          log_level: str | None = None,
          first_delay: Callable[[float], float] | None = None) -> int:
    """Load `[section]` of `config` (`options` from the command line
    override it), set up the logs, `build(conf)` the crawler (one with a
    `run_pass(stop)`), and run its passes: once, or every `interval`
    seconds (the section's `interval` wins) until a signal when `repeat`.
    `first_delay(interval)` spreads the first pass of daemons started
    together. The exit status."""
    try:
        conf = load_section(config, section)
        conf = Config({**conf.to_dict(), **options})
        setup_logging(prog, conf, verbose, log_level)
        crawler = build(conf)
    except (ConfigurationException, OSError) as err:
        return fail(prog, err)
    except Exception as err:  # noqa: BLE001 - any OioException of build
        from oio.common.exceptions import OioException

        if not isinstance(err, OioException):
            raise
        return fail(prog, err)
    interval = conf.get_float("interval", interval)
    delay = first_delay(interval) if first_delay and repeat else 0.0
    return run_passes(crawler.run_pass, stop_on_signals(), repeat, interval,
                      logger, first_delay=delay)


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


class Daemon:
    """7.2's daemon base, for daemons written against it: `run()` does
    the work (until `stop()`), `start()` runs it with SIGTERM, SIGINT and
    SIGQUIT calling `stop()`. Ours stay in the foreground (supervisord
    watches them): no privilege drop, no stdio redirection."""

    def __init__(self, conf: dict):
        from oio.common.logger import get_logger

        self.conf = conf
        self.logger = get_logger(conf)

    def run(self, *args, **kwargs):
        raise NotImplementedError("run not implemented")

    def stop(self) -> None:
        """Ask `run()` to return (set a flag it checks)."""

    def start(self, **kwargs) -> None:
        def on_signal(*_args):
            self.logger.info("signal received, stopping")
            self.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, on_signal)
        self.run(**kwargs)


def run_daemon(klass: type[Daemon], conf_file: str,
               section_name: str | None = None, **kwargs) -> None:
    """Build `klass` on `[section_name]` of `conf_file` (default: the
    class name in kebab case, `BlobMover` → `blob-mover`) and start it."""
    from oio.common.logger import get_logger

    if section_name is None:
        section_name = re.sub(r"([a-z])([A-Z])", r"\1-\2",
                              klass.__name__).lower()
    kwargs.pop("use_yaml", None)
    conf = read_conf(conf_file, section_name)
    logger = get_logger(conf, section_name,
                        verbose=kwargs.pop("verbose", False))
    try:
        klass(conf).start(**kwargs)
    except KeyboardInterrupt:
        logger.info("User interrupt")
    logger.info("Daemon exited")


__all__ = ["ConfigurationException", "Daemon", "base_parser", "config_text",
           "fail", "load_section", "run_daemon", "run_passes", "serve",
           "setup_logging", "stop_on_signals", "write_config"]
