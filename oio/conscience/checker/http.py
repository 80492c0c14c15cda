"""`http` check: GET `uri` answers 200."""

from __future__ import annotations

import urllib3

from oio.common.constants import REQID_HEADER
from oio.common.exceptions import ConfigurationException
from oio.common.utils import request_id
from oio.conscience.checker.base import BaseChecker


class HttpChecker(BaseChecker):
    checker_type = "http"

    def _configure(self) -> None:
        if not self.checker_conf.get("uri"):
            raise ConfigurationException(
                'Missing field "uri" in configuration')
        self.path = str(self.checker_conf["uri"]).lstrip("/")
        self.name = f"{self.name}|{self.path}"
        self.url = f"http://{self.host}:{self.port}/{self.path}"
        self.http_timeout = urllib3.Timeout(connect=min(self.timeout, 1.0),
                                            read=self.timeout)

    def _check(self) -> bool:
        http = self.agent.pool_manager
        try:
            resp = http.request_whole(
                "GET", self.url, timeout=self.http_timeout,
                headers={REQID_HEADER: request_id("chk-")})
            ok = resp.status == 200
            error = f"HTTP {resp.status}"
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            ok, error = False, str(exc) or type(exc).__name__
        if not ok and self.last_check_success:   # once, not every round
            self.logger.warning("http check of %s failed: %s", self.url,
                                error)
        self.last_check_success = ok
        return ok
