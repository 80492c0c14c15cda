"""`get_logger(conf)` and stdio redirection, under 7.2's names.

Our daemons log one line per event to stderr (supervisord keeps it);
syslog is used only when the configuration names it (`log_address`, or
`log_udp_host`/`log_udp_port`), as 7.2's services did."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import SYSLOG_UDP_PORT, SysLogHandler

DEFAULT_FORMAT = "%(process)d %(thread)X %(name)s %(levelname)s %(message)s"

# logger → handlers get_logger added to it, replaced by the next call.
_HANDLERS: dict[logging.Logger, list[logging.Handler]] = {}


def _syslog_handler(conf: dict) -> SysLogHandler | None:
    facility = getattr(SysLogHandler, str(conf.get("log_facility",
                                                   "LOG_LOCAL0")),
                       SysLogHandler.LOG_LOCAL0)
    if conf.get("log_udp_host"):
        address = (str(conf["log_udp_host"]),
                   int(conf.get("log_udp_port") or SYSLOG_UDP_PORT))
        return SysLogHandler(address=address, facility=facility)
    if conf.get("log_address") and os.path.exists(str(conf["log_address"])):
        return SysLogHandler(address=str(conf["log_address"]),
                             facility=facility)
    return None


def get_logger(conf: dict | None, name: str | None = None,
               verbose: bool = False,
               fmt: str = DEFAULT_FORMAT) -> logging.Logger:
    """The logger `name` (default `log`) at the configuration's
    `log_level` (INFO), to syslog if configured, to stderr otherwise or
    when `verbose`. Calling it again reconfigures the same logger."""
    conf = conf or {}
    logger = logging.getLogger(name or "log")
    logger.propagate = False
    for handler in _HANDLERS.pop(logger, ()):
        logger.removeHandler(handler)
    handlers: list[logging.Handler] = []
    syslog = _syslog_handler(conf)
    if syslog is not None:
        prefix = str(conf.get("syslog_prefix") or "")
        syslog.setFormatter(logging.Formatter(
            f"{prefix}: {fmt}" if prefix else fmt))
        handlers.append(syslog)
    if syslog is None or verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(
            "%(asctime)s.%(msecs)03d " + fmt, datefmt="%Y-%m-%d %H:%M:%S"))
        handlers.append(console)
    for handler in handlers:
        logger.addHandler(handler)
    _HANDLERS[logger] = handlers
    level = str(conf.get("log_level") or "INFO").upper()
    level = {"WARN": "WARNING"}.get(level, level)
    logger.setLevel(logging.DEBUG if verbose else
                    getattr(logging, level, logging.INFO))
    return logger


class StreamToLogger:
    """A file-like object writing each non-empty write as an error line
    (what a library prints after stdio is redirected)."""

    def __init__(self, logger: logging.Logger, log_type: str = "STDOUT"):
        self.logger = logger
        self.log_type = log_type

    def write(self, value: str) -> None:
        value = value.strip()
        if value:
            self.logger.error("%s: %s", self.log_type, value)

    def writelines(self, values) -> None:
        self.write("#012".join(values))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


LoggerFileObject = StreamToLogger


def redirect_stdio(logger: logging.Logger) -> None:
    """Uncaught exceptions and whatever is printed go to `logger`; stdin
    and stdout point to /dev/null (stderr's descriptor stays open for
    handlers that write to it)."""
    sys.excepthook = lambda *info: logger.critical("UNCAUGHT EXCEPTION",
                                                   exc_info=info)
    consoles = {h.stream.fileno() for hs in _HANDLERS.values() for h in hs
                if isinstance(h, logging.StreamHandler)
                and hasattr(h.stream, "fileno")}
    with open(os.devnull, "r+b") as null:
        for stream in (sys.stdin, sys.stdout):
            try:
                stream.flush()
                if stream.fileno() not in consoles:
                    os.dup2(null.fileno(), stream.fileno())
            except (OSError, ValueError):   # closed or not a real file
                pass
    sys.stdout = StreamToLogger(logger)
    sys.stderr = StreamToLogger(logger, "STDERR")
