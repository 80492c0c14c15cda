"""Calls from the proxy to its back-ends, and relaying of their replies."""

from __future__ import annotations

import json
import logging

from oio.common.aio_client import AsyncHttpClient, AsyncResponse
from oio.common.constants import REQID_HEADER, TIMEOUT_HEADER
from oio.common.exceptions import OioNetworkException
from oio.common.http_server import HttpError, Request, Response

from .errors import network_error, oio_error

logger = logging.getLogger(__name__)

# Never relayed: they describe one hop, not the message.
HOP_HEADERS = frozenset((
    "connection", "content-length", "transfer-encoding", "keep-alive", "host",
    "expect", "te", "trailer", "upgrade", "proxy-connection", "date",
    "server"))


class BackendUnavailable(HttpError):
    """No back-end of a set could be reached (HTTP 503)."""


class UpstreamError(Exception):
    """A back-end answered an error: relayed as is unless a route overrides
    its HTTP status."""

    def __init__(self, resp: AsyncResponse):
        self.resp = resp
        self.http_status = resp.status
        self.status, self.message = error_of(resp)
        super().__init__(f"{self.message} (HTTP {self.http_status}, "
                         f"status {self.status})")

    def to_response(self, http_status: int | None = None) -> Response:
        if http_status is None or http_status == self.resp.status:
            return relay(self.resp)
        return oio_error(self.status, self.message,
                         http_status=http_status).to_response()

    def override(self, http_status: int) -> UpstreamError:
        """The same error answered with another HTTP status."""
        err = UpstreamError(self.resp)
        err.http_status = http_status
        return err


def error_of(resp: AsyncResponse) -> tuple[int, str]:
    """(oio status, message) of an error reply."""
    try:
        body = json.loads(resp.body) if resp.body else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        status = body.get("status")
        message = body.get("message")
        return (status if isinstance(status, int) else resp.status,
                str(message) if message is not None else resp.reason)
    text = resp.body.decode("utf-8", "replace") if resp.body else resp.reason
    return resp.status, text


def relay(resp: AsyncResponse, extra: dict | None = None) -> Response:
    """The back-end reply as the client's reply (status, headers, body)."""
    headers = {k: v for k, v in resp.original_headers().items()
               if k.lower() not in HOP_HEADERS}
    if extra:
        headers.update(extra)
    return Response(resp.status, resp.body, headers, reason=resp.reason or None)


def forward_headers(req: Request) -> dict[str, str]:
    """Request headers passed on to a back-end (request ID always set)."""
    headers = {k: v for k, v in req.headers.items() if k not in HOP_HEADERS}
    headers[REQID_HEADER] = req.req_id
    return headers


def request_timeout(req: Request, default: float) -> float:
    """Seconds left for back-end calls, from x-oio-timeout (µs)."""
    raw = req.headers.get(TIMEOUT_HEADER)
    if raw:
        try:
            left = int(raw) / 1e6
        except ValueError:
            return default
        if left > 0:
            return min(left, default)
    return default


class Backend:
    """Sends requests to one of a set of equivalent back-end addresses."""

    def __init__(self, client: AsyncHttpClient):
        self.client = client

    async def call(self, method: str, addrs: list[str], path: str, *,
                   headers: dict[str, str] | None = None,
                   body: bytes | None = None, json_body=None,
                   timeout: float | None = None, what: str = "back-end"
                   ) -> AsyncResponse:
        """The first reply of `addrs` tried in order; network errors move to
        the next one. BackendUnavailable when none answered."""
        if not addrs:
            raise BackendUnavailable(503, f"No {what} available", status=503,
                                     headers={"Retry-After": "1"})
        last: OioNetworkException | None = None
        for addr in addrs:
            try:
                return await self.client.request(
                    method, addr, path, headers=headers, body=body,
                    json=json_body, timeout=timeout)
            except OioNetworkException as exc:
                logger.info("%s %s unreachable: %s", what, addr, exc)
                last = exc
        err = network_error(last, f"No {what} answered")
        raise BackendUnavailable(err.http_status, err.message,
                                 status=err.status, headers=err.headers)

    async def call_ok(self, method: str, addrs: list[str], path: str,
                      **kwargs) -> AsyncResponse:
        """Like `call`, raising UpstreamError on an error reply."""
        resp = await self.call(method, addrs, path, **kwargs)
        if resp.status >= 300:
            raise UpstreamError(resp)
        return resp
