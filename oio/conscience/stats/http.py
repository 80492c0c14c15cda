"""`http` stat: a service's status page, one stat per line (`lines`
parser, 7.2's default) or a JSON object (`json`: each key as `stat.<key>`,
`uuid` as `tag.uuid`)."""

from __future__ import annotations

import json

import urllib3

from oio.common.constants import REQID_HEADER
from oio.common.easy_value import float_value
from oio.common.exceptions import ConfigurationException
from oio.common.utils import request_id
from oio.conscience.stats.base import BaseStat


def _scalar(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class HttpStat(BaseStat):
    default_path = ""
    default_parser = "lines"

    def configure(self) -> None:
        self.parser = self.stat_conf.get("parser") or self.default_parser
        if self.parser not in ("json", "lines"):
            raise ConfigurationException(
                f"unknown http stat parser {self.parser!r}")
        self.host = str(self.stat_conf["host"])
        self.port = int(self.stat_conf["port"])
        self.path = str(self.stat_conf.get("path") or self.default_path)
        self.url = f"http://{self.host}:{self.port}/{self.path.lstrip('/')}"
        timeout = float_value(self.stat_conf.get("timeout"), 10.0)
        self.timeout = urllib3.Timeout(connect=min(1.0, timeout), read=timeout)

    @staticmethod
    def _parse_stats_lines(body: bytes | str) -> dict:
        """Each line split at its last blank into a key (kept verbatim)
        and a number (or text)."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        out: dict = {}
        for line in body.splitlines():
            parts = line.rsplit(None, 1)
            if len(parts) == 2:
                out[parts[0].strip()] = _scalar(parts[1])
            elif parts:
                out[parts[0]] = None
        return out

    @staticmethod
    def _parse_stats_json(body: bytes | str) -> dict:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        out: dict = {}
        for key, value in data.items():
            if key == "uuid":
                out["tag.uuid"] = value
            elif isinstance(value, (int, float, str, bool)):
                out[f"stat.{key}"] = value
        return out

    def fetch(self) -> bytes:
        """The status page's body (the connection is closed after: a
        kept one may have been dropped by the service meanwhile)."""
        resp = self.agent.pool_manager.request_whole(
            "GET", self.url, timeout=self.timeout,
            headers={"Connection": "close", REQID_HEADER: request_id("stat-")})
        if resp.status != 200:
            raise OSError(f"{self.url}: HTTP {resp.status}")
        return resp.data

    def get_stats(self) -> dict:
        body = self.fetch()
        if self.parser == "json":
            return self._parse_stats_json(body)
        return self._parse_stats_lines(body)
