"""ProxyClient: the base of every client talking to oio-proxy."""

from __future__ import annotations

import json as jsonlib
import logging
import random
import time
from typing import Any
from urllib.parse import urlencode

import urllib3

from oio.common import exceptions as exc
from oio.common import perfdata as perf
from oio.common.configuration import load_namespace_conf
from oio.common.constants import (
    ACTION_MODE_HEADER,
    ADMIN_HEADER,
    FORCEMASTER_HEADER,
    PERFDATA_HEADER,
    REQID_HEADER,
    STRLEN_REQID,
    TIMEOUT_HEADER,
    UPGRADE_TLS_HEADER,
)
from oio.common.failover import FailoverOrder, never_sent, split_addresses
from oio.common.http_urllib3 import (
    get_pool_manager,
    oio_exception_from_httperror,
    request_whole,
    timeout,
)
from oio.common.utils import (
    monotonic_time,
    pop_request_id,
    request_id,
    true_value,
)

REQUEST_ATTEMPTS = 1


def _decode_body(raw: bytes):
    """JSON when it parses, the raw bytes otherwise."""
    if not raw:
        return None
    try:
        return jsonlib.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return raw


class ProxyClient:
    """Requests to `<scheme>://<proxy>/v3.0/<ns>/<request_prefix>/<url>`,
    errors raised as oio.common.exceptions (`from_response`).

    The proxy is `endpoint`, else `conf["proxyd_url"]`, else the `proxy` key
    of the namespace configuration (sds.conf). Any of them may list several
    proxies (`10.0.0.1:6000,10.0.0.2:6000`, the local one first): a request
    that cannot connect to one goes to the next (idempotent ones, GET and
    HEAD, after any network error), and one that failed is tried last for
    `proxy_penalty` seconds. `proxy_netloc` keeps the whole list, so that
    clients made from it fail over alike."""

    _slot_time = 0.5
    # Seconds a proxy that failed is tried last (several proxies).
    proxy_penalty = 5.0
    # The key of this client's figures in a `perfdata` dict.
    service_type = "proxy"

    def __init__(self, conf: dict, request_prefix: str = "",
                 no_ns_in_url: bool = False, endpoint: str | None = None,
                 request_attempts: int = REQUEST_ATTEMPTS, logger=None,
                 pool_manager: urllib3.PoolManager | None = None,
                 connection: str = "keep-alive", **kwargs: Any):
        if not conf or not conf.get("namespace"):
            raise exc.ConfigurationException("No namespace in the configuration")
        if int(request_attempts) <= 0:
            raise exc.OioException(f"Invalid request attempts: {request_attempts}")
        self.conf = conf
        self.ns = conf["namespace"]
        self.logger = logger or logging.getLogger(type(self).__name__)
        endpoint = (endpoint or conf.get("proxyd_url")
                    or load_namespace_conf(self.ns).get("proxy"))
        if not endpoint:
            raise exc.ConfigurationException(
                f"No proxy address for namespace {self.ns}")
        self.proxy_scheme, self.proxy_netlocs = split_addresses(endpoint)
        if not self.proxy_netlocs:
            raise exc.ConfigurationException(
                f"No proxy address for namespace {self.ns}")
        self.proxy_netloc = ",".join(self.proxy_netlocs)
        self._proxy_base = f"{self.proxy_scheme}://{self.proxy_netloc}/"
        self._proxy_order = FailoverOrder(self.proxy_penalty)
        parts = [f"{self.proxy_scheme}://{self.proxy_netloc}", "v3.0"]
        if not no_ns_in_url:
            parts.append(self.ns)
        if request_prefix.strip("/"):
            parts.append(request_prefix.strip("/"))
        self.endpoint = "/".join(parts)
        self.pool_manager = pool_manager or get_pool_manager(**kwargs)
        self._request_attempts = int(request_attempts)
        self.admin_mode = true_value(kwargs.get("admin_mode", False))
        self.force_master = true_value(kwargs.get("force_master", False))
        self.connection = connection
        self.connection_timeout = kwargs.get("connection_timeout")
        self.read_timeout = kwargs.get("read_timeout")
        # Every request of this client carries it when set (a CLI run's
        # --request-id), else each gets its own.
        self.default_reqid = kwargs.get("reqid")

    def _make_uri(self, target: str) -> str:
        """A URL under the namespace, outside of this client's prefix."""
        return (f"{self.proxy_scheme}://{self.proxy_netloc}/v3.0/{self.ns}/"
                f"{target.lstrip('/')}")

    def _headers(self, headers: dict | None, kwargs: dict,
                 tmo: urllib3.Timeout) -> dict:
        out, given_reqid = pop_request_id(headers)
        out = {k: str(v) for k, v in out.items()}
        if self.admin_mode or kwargs.get("admin_mode"):
            out[ADMIN_HEADER] = "1"
        if self.force_master or kwargs.get("force_master"):
            out[FORCEMASTER_HEADER] = "1"
        if kwargs.get("autocreate"):
            out[ACTION_MODE_HEADER] = "autocreate"
        if kwargs.get("tls"):
            out[UPGRADE_TLS_HEADER] = str(kwargs["tls"])
        if kwargs.get("perfdata") is not None:
            out[PERFDATA_HEADER] = "enabled"
        # The proxy gives up when the client would: 99 % of what is left.
        out.setdefault(TIMEOUT_HEADER, str(int(tmo.read_timeout * 990_000)))
        reqid = str(kwargs.get("reqid") or given_reqid or self.default_reqid
                    or request_id())
        out[REQID_HEADER] = reqid[:STRLEN_REQID]
        out.setdefault("Connection", self.connection)
        return out

    def _timeout(self, kwargs: dict) -> urllib3.Timeout:
        connect = kwargs.get("connection_timeout", self.connection_timeout)
        read = kwargs.get("read_timeout", self.read_timeout)
        deadline = kwargs.get("deadline")
        if deadline is not None:
            left = deadline - monotonic_time()
            if left <= 0:
                raise exc.DeadlineReached()
            read = min(left, read) if read else left
        return timeout(connect, read)

    def _direct_request(self, method: str, url: str, headers: dict | None = None,
                        data: bytes | str | None = None, json: Any = None,
                        params: dict | None = None,
                        request_attempts: int | None = None,
                        **kwargs: Any) -> tuple[Any, Any]:
        """One request (retried on 503 up to `request_attempts` times):
        (urllib3 response, body decoded from JSON when it is JSON).

        `json=` (or `json_body=`) is serialized as the body."""
        if json is None:
            json = kwargs.pop("json_body", None)
        attempts = self._request_attempts if request_attempts is None \
            else int(request_attempts)
        if attempts <= 0:
            # As 7.2: a caller's mistake, not a request never sent.
            raise exc.OioException(f"Invalid request attempts: {attempts}")
        for attempt in range(attempts):
            try:
                return self._one_request(method, url, headers, data, json,
                                         params, kwargs)
            except exc.ServiceBusy:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(random.randrange(2 ** (attempt + 1)) * self._slot_time)
            except exc.Conflict:
                # A retried POST that conflicts most probably succeeded the
                # first time, after we stopped waiting (7.2.0 behaviour).
                if attempt > 0 and method == "POST":
                    return None, None
                raise
        raise AssertionError("not reached")

    def _one_request(self, method, url, headers, data, json, params, kwargs):
        tmo = self._timeout(kwargs)
        out_headers = self._headers(headers, kwargs, tmo)
        if json is not None:
            data = jsonlib.dumps(json, separators=(",", ":"))
            out_headers["Content-Type"] = "application/json"
        if isinstance(data, str):
            data = data.encode("utf-8")
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None])
            if query:
                url += "?" + query
        perfdata = kwargs.get("perfdata")
        started = monotonic_time()
        resp = self._send(method, url, data, out_headers, tmo)
        if perfdata is not None:
            service = self.service_type
            perf.add(perfdata, service, "overall", monotonic_time() - started)
            perf.add_header(perfdata, service, resp.headers.get(PERFDATA_HEADER))
        body = _decode_body(resp.data)
        if resp.status >= 400:
            raise exc.from_response(resp, body)
        return resp, body

    def _send(self, method: str, url: str, data: bytes | None,
              headers: dict, tmo: urllib3.Timeout):
        """The reply to one request; with several proxies, a request to
        them goes to the next one when it could not reach one."""
        if len(self.proxy_netlocs) < 2 or not url.startswith(self._proxy_base):
            try:
                return request_whole(self.pool_manager, method, url, data,
                                     headers, tmo)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                oio_exception_from_httperror(err, headers[REQID_HEADER], url)
        target = url[len(self._proxy_base) - 1:]
        idempotent = method in ("GET", "HEAD")
        order = self._proxy_order.order(self.proxy_netlocs)
        for index, netloc in enumerate(order):
            one = f"{self.proxy_scheme}://{netloc}{target}"
            try:
                resp = request_whole(self.pool_manager, method, one, data,
                                     headers, tmo)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                if self._proxy_order.failed(netloc):
                    self.logger.warning("proxy %s failed: %s", netloc, err)
                if index + 1 == len(order) or not (
                        idempotent or never_sent(err)):
                    oio_exception_from_httperror(
                        err, headers[REQID_HEADER], one)
                continue
            if self._proxy_order.succeeded(netloc):
                self.logger.info("proxy %s answers again", netloc)
            return resp
        raise AssertionError("not reached")

    def _request(self, method: str, url: str, endpoint: str | None = None,
                 **kwargs: Any) -> tuple[Any, Any]:
        """A request to `url` relative to this client's endpoint."""
        base = (endpoint or self.endpoint).rstrip("/")
        full = f"{base}/{url.lstrip('/')}" if url else base
        return self._direct_request(method, full, **kwargs)
