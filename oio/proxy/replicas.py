"""Calls to a replicated base: find its master among its replicas.

A replicated base (meta0, a meta1 prefix, a meta2 container) is served by
its master; the other replicas answer 303 with the master's address. The
proxy remembers the master of each base it talked to, sends there first,
follows redirections (at most 4 in a row), skips replicas it cannot reach
and, while no master is elected (a replica answers 503 "Election ...", or
the one named master is dead), waits and tries again until the deadline,
then answers 503 with Retry-After (spec replication.md §6).

A write whose request left for a replica that then failed (reset, closed,
timed out) is not sent elsewhere: it may have been applied, so the caller
gets 503 rather than a second application.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from oio.common.aio_client import (
    AsyncHttpClient,
    AsyncResponse,
    request_may_have_run,
)
from oio.common.exceptions import OioNetworkException
from oio.common.failover import FailoverOrder

from .cache import TtlCache
from .errors import network_error, oio_error

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 4
# A replica that failed is tried last for this long (seconds), as 7.2's
# proxy.ttl.services.down.
DOWN_TTL = 5.0
# Between two rounds over the replicas while no master answers (seconds).
ROUND_PAUSE = 0.1
ROUND_PAUSE_MAX = 0.5


def _message(resp: AsyncResponse) -> str:
    """The `message` of a JSON error body, or ""."""
    try:
        body = json.loads(resp.body)
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


def redirect_target(resp: AsyncResponse) -> str | None:
    """The master named by a replica's 303, or None."""
    if resp.status != 303:
        return None
    return resp.headers.get("x-oio-master") or _message(resp) or None


def election_pending(resp: AsyncResponse) -> bool:
    """A replica waited for an election that did not end in time."""
    return resp.status == 503 and _message(resp).startswith(
        ("Election failed", "Not master"))


def not_a_replica(resp: AsyncResponse) -> bool:
    """The service is not (any more) one of the base's replicas."""
    return resp.status in (404, 500) and \
        "Base not managed" in _message(resp)


class ReplicaCaller:
    """Sends requests to the master of replicated bases."""

    def __init__(self, client: AsyncHttpClient, master_ttl: float = 1800.0,
                 retry_window: float = 15.0):
        self.client = client
        self.masters = TtlCache(master_ttl, 100_000)
        self.retry_window = retry_window
        # Replicas that failed lately are tried last (a host cut off costs
        # one timeout, not one per request).
        self.down = FailoverOrder(penalty=DOWN_TTL)

    def forget(self, key) -> None:
        self.masters.pop(key)

    async def call(self, key, peers: list[str], method: str, path: str, *,
                   headers: dict | None = None, body: bytes | None = None,
                   json_body=None, timeout: float | None = None,
                   idempotent: bool = False, what: str = "meta2"
                   ) -> AsyncResponse:
        """The master's reply to `method path`, `peers` being the base's
        replicas and `key` its name in the master memory."""
        if not peers:
            raise oio_error(503, f"No {what} available")
        timeout = timeout or getattr(self.client, "read_timeout", 30.0)
        start = time.monotonic()
        end = start + timeout
        deadline = start + min(timeout, self.retry_window)
        pause = ROUND_PAUSE
        pending: AsyncResponse | None = None
        last_error: OioNetworkException | None = None

        async def send(target: str) -> AsyncResponse:
            return await self.client.request(
                method, target, path, headers=headers, body=body,
                json=json_body, timeout=max(0.1, end - time.monotonic()))

        while True:
            master = self.masters.get(key)
            if master not in peers:
                master = None   # the base moved since
            order = self.down.order(([master] if master else []) + [
                p for p in peers if p != master])
            # Waiting makes sense only while a master is being replaced:
            # a replica said so, or sent us to one that is gone.
            electing = False
            for first in order:
                try:
                    resp, target = await self._follow(send, first)
                except _Redirected as redirected:
                    exc = redirected.error
                    electing = True
                except OioNetworkException as direct:
                    exc = direct
                else:
                    if election_pending(resp):
                        pending, electing = resp, True
                        continue
                    if not_a_replica(resp):
                        # A replica we were told of no longer holds the
                        # base (moved meanwhile): ask the others.
                        if self.masters.get(key) == target:
                            self.masters.pop(key)
                        pending = pending or resp
                        continue
                    if resp.status < 400:
                        self.masters.put(key, target)
                    self.down.succeeded(target)
                    return resp
                last_error = exc
                self.down.failed(getattr(exc, "addr", None) or first)
                if self.masters.get(key) is not None:
                    self.masters.pop(key)
                if request_may_have_run(exc) and not idempotent:
                    raise network_error(
                        exc, f"{what} failed during the request") from None
            if not electing or time.monotonic() + pause >= deadline:
                if pending is not None:
                    return pending
                if last_error is None:
                    raise oio_error(503, f"No {what} answered")
                err = network_error(last_error, f"No {what} answered")
                raise oio_error(err.status, err.message, http_status=503)
            await asyncio.sleep(pause)
            pause = min(pause * 2, ROUND_PAUSE_MAX)

    async def _follow(self, send, first: str) -> tuple[AsyncResponse, str]:
        """The reply at the end of the redirections from `first`, and who
        gave it. Network errors propagate (the master named is unreachable:
        try another replica, or wait for a new one)."""
        target = first
        for hop in range(MAX_REDIRECTS + 1):
            try:
                resp = await send(target)
            except OioNetworkException as exc:
                exc.addr = target
                if hop:
                    raise _Redirected(exc) from None
                raise
            nxt = redirect_target(resp)
            if nxt is None:
                return resp, target
            target = nxt
        raise oio_error(305, "Too many redirections")


class _Redirected(Exception):
    """The master a replica named cannot be reached."""

    def __init__(self, error: OioNetworkException):
        super().__init__(str(error))
        self.error = error
