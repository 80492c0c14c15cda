"""The base of the conscience agent's health checks (conscience.md §7.3),
with 7.2's interface: a checker is built as `cls(agent, checker_conf,
logger)` and asked `service_status()` once per round; subclasses write
`_configure()` and `_check()`."""

from __future__ import annotations

import logging
from collections import deque

from oio.common.easy_value import float_value, int_value
from oio.common.exceptions import ConfigurationException

CHECK_TIMEOUT = 5.0


class BaseChecker:
    """A check with its rise/fall history: the first result fills the
    history; the service goes down after `fall` failures in a row and up
    again after `rise` successes in a row."""

    checker_type = "checker"

    def __init__(self, agent, checker_conf: dict,
                 logger: logging.Logger | None = None):
        self.agent = agent
        self.checker_conf = checker_conf
        self.logger = logger or logging.getLogger("oio.conscience.checker")
        self.timeout = float_value(checker_conf.get("timeout"), CHECK_TIMEOUT)
        self.rise = max(1, int_value(checker_conf.get("rise"), 1))
        self.fall = max(1, int_value(checker_conf.get("fall"), 1))
        self.results: deque[bool] = deque(maxlen=max(self.rise, self.fall))
        for key in ("host", "port"):
            if key not in checker_conf:
                raise ConfigurationException(
                    f'Missing field "{key}" in configuration')
        self.host = str(checker_conf["host"])
        self.port = int(checker_conf["port"])
        srv_type = getattr(agent, "service", {}).get("type", "?") \
            if agent is not None else "?"
        self.srv_type = srv_type
        self.name = f"{srv_type}|{self.checker_type}|{self.host}|{self.port}"
        self.last_result: bool | None = None
        self.last_check_success = True
        self._configure()

    def _configure(self) -> None:
        """Read the subclass's own settings from `checker_conf`."""

    def _check(self) -> bool:
        """One probe of the service: True when it answers well."""
        return False

    def record(self, ok: bool) -> bool:
        """Add one result to the history; the service's state."""
        if self.last_result is None:
            self.results.extend([ok] * self.results.maxlen)
            self.last_result = ok
            return ok
        self.results.append(ok)
        recent = list(self.results)
        if self.last_result and not any(recent[-self.fall:]):
            self.logger.info("%s is down after %d failures", self.name,
                             self.fall)
            self.last_result = False
        elif not self.last_result and all(recent[-self.rise:]):
            self.logger.info("%s is up after %d successes", self.name,
                             self.rise)
            self.last_result = True
        return self.last_result

    def service_status(self) -> bool:
        """Run the check once (any error counts as a failure) and return
        the state the history says."""
        try:
            ok = bool(self._check())
        except Exception as exc:  # noqa: BLE001 - a check that breaks fails
            self.logger.warning("%s: check failed: %s", self.name, exc)
            ok = False
        return self.record(ok)
