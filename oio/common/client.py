"""ProxyClient: the base of every client talking to oio-proxy."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import urllib3

from oio.common import exceptions as exc
from oio.common.configuration import load_namespace_conf
from oio.common.constants import (
    ACTION_MODE_HEADER,
    ADMIN_HEADER,
    REQID_HEADER,
    TIMEOUT_HEADER,
)
from oio.common.http_urllib3 import get_pool_manager, oio_exception, timeout
from oio.common.utils import monotonic_time, request_id


class ProxyClient:
    """Requests to `http://<proxy>/v3.0/<ns>/<request_prefix>/<action>`,
    errors raised as oio.common.exceptions."""

    def __init__(self, conf: dict | None = None, request_prefix: str = "",
                 pool_manager: urllib3.PoolManager | None = None,
                 endpoint: str | None = None, request_attempts: int = 1,
                 logger=None, **kwargs: Any):
        conf = dict(conf or {})
        self.ns = conf.get("namespace")
        if endpoint is None:
            endpoint = conf.get("proxyd_url") or load_namespace_conf(
                self.ns)["proxy"]
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
        self.proxy_netloc = endpoint.rstrip("/")
        self.endpoint = (f"{self.proxy_netloc}/v3.0/{self.ns}/"
                         f"{request_prefix}").rstrip("/")
        self.pool_manager = pool_manager or get_pool_manager()
        self.request_attempts = max(1, int(request_attempts))
        self.logger = logger
        self.admin_mode = bool(kwargs.get("admin_mode"))
        self.connection_timeout = kwargs.get("connection_timeout")
        self.read_timeout = kwargs.get("read_timeout")

    def _headers(self, kwargs: dict) -> dict:
        headers = dict(kwargs.get("headers") or {})
        headers.setdefault(REQID_HEADER, kwargs.get("reqid") or request_id())
        if kwargs.get("autocreate"):
            headers[ACTION_MODE_HEADER] = "autocreate"
        if self.admin_mode or kwargs.get("admin_mode"):
            headers[ADMIN_HEADER] = "1"
        deadline = kwargs.get("deadline")
        if deadline is not None:
            left = deadline - monotonic_time()
            if left <= 0:
                raise exc.DeadlineReached()
            headers[TIMEOUT_HEADER] = str(int(left * 0.99 * 1_000_000))
        return headers

    def _direct_request(self, method: str, url: str, params: dict | None = None,
                        data: bytes | None = None, json_body: Any = None,
                        **kwargs: Any) -> tuple[urllib3.BaseHTTPResponse, Any]:
        """One request; (response, decoded body) or an exception."""
        headers = self._headers(kwargs)
        if params:
            url += "?" + urlencode({k: v for k, v in params.items()
                                    if v is not None})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        tmo = timeout(kwargs.get("connection_timeout", self.connection_timeout),
                      kwargs.get("read_timeout", self.read_timeout))
        try:
            resp = self.pool_manager.request(method, url, body=data,
                                             headers=headers, timeout=tmo)
        except urllib3.exceptions.HTTPError as err:
            raise oio_exception(err, f"proxy {self.proxy_netloc}") from None
        raw = resp.data
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        if resp.status >= 400:
            raise exc.from_response(resp, raw)
        return resp, body

    def _request(self, method: str, action: str, **kwargs: Any):
        url = f"{self.endpoint}/{action.lstrip('/')}" if action else self.endpoint
        for attempt in range(self.request_attempts):
            try:
                return self._direct_request(method, url, **kwargs)
            except exc.ServiceBusy:
                if attempt + 1 >= self.request_attempts:
                    raise
                time.sleep(0.5 * (1 << attempt) * 0.5)
        raise AssertionError("not reached")
