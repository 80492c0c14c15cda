"""The proxy's consciences: every write to each of them, reads from one.

A namespace may run several consciences. None talks to another: each holds
the whole registry because the proxies send every registration, lock,
unlock, deregistration and flush to each of them (`write`). Reads
(`conscience/list|info|resolve|score`, `lb/choose|poll`, the dump of the
local load balancer) go to the first healthy one and fail over to the next
on network errors (`read`); one that failed is tried last for
`penalty` seconds.

What registrations alone cannot rebuild on a conscience that restarted is
the lock state (locks are operator decisions, or first-registration locks
whose `tag.1` was sent once) and services that no agent registers any more.
`sync` restores them from a peer: every `SYNC_EVERY` refreshes, and at each
refresh while a conscience is suspect (it came back after failures, or its
dump shrank), the dumps of all consciences are compared with the one that
holds the most locks, then the most services (the same choice in every
proxy, so that proxies never undo each other's repairs), and the others
get what they miss: locks (at the same score), unlocks, and the services
they do not know. A difference is acted upon when two passes in a row see
it, so that a write still under way to some consciences is never taken
for a divergence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from oio.common.aio_client import AsyncHttpClient, AsyncResponse
from oio.common.exceptions import OioNetworkException
from oio.common.failover import FailoverOrder

from .errors import network_error
from .forward import BackendUnavailable

logger = logging.getLogger(__name__)

# Seconds a conscience that failed is tried last by reads.
PENALTY = 5.0
# Sync passes run every SYNC_EVERY view refreshes (every refresh while a
# conscience is suspect or a difference waits for confirmation).
SYNC_EVERY = 5
# Refusals (error replies while another conscience accepted) logged once
# per conscience and message during this many seconds.
REFUSAL_LOG_PERIOD = 600.0


def dump_weight(dump: dict) -> tuple[int, int]:
    """(locked services, services) of a `conscience/dump`."""
    locked = total = 0
    for descs in (dump.get("services") or {}).values():
        for desc in descs or ():
            total += 1
            if (desc.get("tags") or {}).get("tag.lock"):
                locked += 1
    return locked, total


def repairs(ref: dict, other: dict) -> dict[str, list[dict]]:
    """What `other` needs to hold the registry of `ref`, as bodies of
    `conscience/{register,lock,unlock}`: services it does not know
    (registered with `ref`'s tags), locks it misses or holds at another
    score, locks `ref` does not have. Only the types both manage."""
    out: dict[str, list[dict]] = {"register": [], "lock": [], "unlock": []}
    theirs_all = other.get("services") or {}
    for kind, descs in (ref.get("services") or {}).items():
        if kind not in theirs_all:
            continue
        theirs = {d.get("addr"): d for d in theirs_all[kind] or ()}
        for desc in descs or ():
            addr = desc.get("addr")
            tags = {k: v for k, v in (desc.get("tags") or {}).items()
                    if k != "tag.lock"}
            mine_locked = bool((desc.get("tags") or {}).get("tag.lock"))
            their = theirs.get(addr)
            their_locked = their is not None and bool(
                (their.get("tags") or {}).get("tag.lock"))
            item = {"type": kind, "addr": addr, "tags": tags}
            if mine_locked:
                if not their_locked or their.get("score") != desc.get("score"):
                    out["lock"].append(dict(item, score=desc.get("score", 0)))
            elif their is None:
                out["register"].append(item)
            elif their_locked:
                out["unlock"].append({"type": kind, "addr": addr})
    return out


class Consciences:
    """The configured consciences of a proxy (`addresses()`, in order of
    preference) and what it knows of their health."""

    def __init__(self, client: AsyncHttpClient,
                 addresses: Callable[[], list[str]], namespace: str,
                 penalty: float = PENALTY,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.addresses = addresses
        self.namespace = namespace
        self.health = FailoverOrder(penalty, clock)
        self._clock = clock
        # Consciences suspected to miss part of the registry: read last,
        # never the reference of a sync, until a sync finds them whole.
        self.suspect: set[str] = set()
        # (conscience, action, type, addr) differences seen by the last sync
        self._seen: set[tuple[str, str, str, str]] = set()
        self._refusals: dict[tuple[str, str], float] = {}
        self._background: set[asyncio.Task] = set()
        self._passes = 0

    @property
    def several(self) -> bool:
        return len(self.addresses()) > 1

    # Health --------------------------------------------------------------
    def _ok(self, addr: str) -> None:
        if self.health.succeeded(addr):
            logger.info("conscience %s answers again", addr)
            if self.several:
                # It may have restarted empty: resync before reading it.
                self.suspect.add(addr)

    def _down(self, addr: str, exc: Exception) -> None:
        if self.health.failed(addr):
            logger.warning("conscience %s unreachable: %s (logged once "
                           "until it is back)", addr, exc)

    def _refused(self, addr: str, resp: AsyncResponse) -> None:
        text = resp.body[:200].decode("utf-8", "replace")
        key = (addr, f"{resp.status} {text}")
        now = self._clock()
        if now - self._refusals.get(key, -REFUSAL_LOG_PERIOD) < \
                REFUSAL_LOG_PERIOD:
            return
        if len(self._refusals) > 1000:
            self._refusals.clear()
        self._refusals[key] = now
        logger.warning("conscience %s refused what another accepted: HTTP "
                       "%d %s (logged once)", addr, resp.status, text)

    def read_order(self) -> list[str]:
        """Healthy consciences first (in configured order), then suspect
        ones, then those that failed lately."""
        order = self.health.order(self.addresses())
        failed = [a for a in order if self.health.penalized(a)]
        live = [a for a in order if a not in failed]
        return ([a for a in live if a not in self.suspect]
                + [a for a in live if a in self.suspect] + failed)

    # Calls ---------------------------------------------------------------
    async def _call(self, addr: str, method: str, path: str,
                    kwargs: dict[str, Any]) -> AsyncResponse | Exception:
        try:
            resp = await self.client.request(method, addr, path, **kwargs)
        except OioNetworkException as exc:
            self._down(addr, exc)
            return exc
        self._ok(addr)
        return resp

    async def read_from(self, method: str, path: str, *,
                        headers: dict[str, str] | None = None,
                        body: bytes | None = None, json_body: Any = None,
                        timeout: float | None = None
                        ) -> tuple[str, AsyncResponse]:
        """(address, reply) of the first conscience that answers, tried
        in `read_order`; BackendUnavailable when none does."""
        kwargs = {"headers": headers, "body": body, "json": json_body,
                  "timeout": timeout}
        last: Exception | None = None
        for addr in self.read_order():
            result = await self._call(addr, method, path, kwargs)
            if not isinstance(result, Exception):
                return addr, result
            last = result
        raise self._unavailable(last)

    async def read(self, method: str, path: str, **kwargs: Any
                   ) -> AsyncResponse:
        """The reply of the first conscience that answers (`read_from`)."""
        return (await self.read_from(method, path, **kwargs))[1]

    async def write(self, method: str, path: str, *,
                    headers: dict[str, str] | None = None,
                    body: bytes | None = None, json_body: Any = None,
                    timeout: float | None = None) -> AsyncResponse:
        """Send to every conscience at once. The reply is the first success
        in configured order, else the first error reply, else 503.

        Consciences that failed lately get the request too (that is how one
        that comes back fills up again) but are not waited for, unless no
        other answered: a dead one costs no time per registration."""
        if json_body is not None:   # serialized once for all of them
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers = {k: v for k, v in (headers or {}).items()
                       if k.lower() != "content-type"}
            headers["Content-Type"] = "application/json"
        kwargs = {"headers": headers, "body": body, "timeout": timeout}
        addrs = self.addresses()
        if not addrs:
            raise self._unavailable(None)
        tasks = {addr: asyncio.ensure_future(
            self._call(addr, method, path, kwargs)) for addr in addrs}
        first = [t for a, t in tasks.items() if not self.health.penalized(a)]
        try:
            await asyncio.wait(first or list(tasks.values()))
            if not any(isinstance(t.result(), AsyncResponse) for t in first):
                # No healthy one answered: the others are all that is left.
                await asyncio.wait(list(tasks.values()))
        finally:
            for task in tasks.values():
                if not task.done():   # a lagging one: its outcome counts
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
        results = {a: t.result() for a, t in tasks.items() if t.done()}
        return self._reply(addrs, results)

    def _reply(self, addrs: list[str],
               results: dict[str, AsyncResponse | Exception]
               ) -> AsyncResponse:
        replies = [(a, results[a]) for a in addrs
                   if isinstance(results.get(a), AsyncResponse)]
        ok = [r for _, r in replies if r.status < 300]
        if ok:
            for addr, resp in replies:
                if resp.status >= 300:
                    self._refused(addr, resp)
            return ok[0]
        if replies:
            return replies[0][1]
        errors = [r for r in results.values() if isinstance(r, Exception)]
        raise self._unavailable(errors[0] if errors else None)

    @staticmethod
    def _unavailable(exc: Exception | None) -> BackendUnavailable:
        if exc is None:
            return BackendUnavailable(503, "No conscience available",
                                      status=503,
                                      headers={"Retry-After": "1"})
        err = network_error(exc, "No conscience answered")
        return BackendUnavailable(err.http_status, err.message,
                                  status=err.status, headers=err.headers)

    async def close(self) -> None:
        """Cancel the calls still running in the background."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        self._background.clear()

    # Repairs -------------------------------------------------------------
    def note_dump(self, addr: str, before: tuple[int, int],
                  after: tuple[int, int]) -> bool:
        """Called with the weights of the view before and after loading
        `addr`'s dump: True (and `addr` suspect) when it holds fewer locks
        or services than the view had, as a conscience that restarted
        does. A deregistration looks the same; the sync then finds every
        conscience alike and clears the suspicion."""
        if not self.several or (after[0] >= before[0] and after[1] >= before[1]):
            return False
        if addr not in self.suspect:
            logger.info("conscience %s knows fewer locks or services than "
                        "before (%d/%d, was %d/%d): read elsewhere until "
                        "checked", addr, after[0], after[1], *before)
            self.suspect.add(addr)
        return True

    def sync_due(self) -> bool:
        """Whether this refresh should run a sync pass."""
        if not self.several:
            return False
        self._passes += 1
        return bool(self.suspect or self._seen) or \
            self._passes % SYNC_EVERY == 0

    async def sync(self, timeout: float = 5.0) -> dict[str, dict[str, int]]:
        """One pass: compare the dumps of every conscience with the
        reference, repair the differences seen twice in a row. Returns
        {conscience: {action: count}} of what was sent."""
        addrs = self.addresses()
        if len(addrs) < 2:
            return {}
        path = f"/v3.0/{self.namespace}/conscience/dump"
        results = await asyncio.gather(*(
            self._call(a, "GET", path, {"timeout": timeout}) for a in addrs))
        dumps = {}
        for addr, resp in zip(addrs, results, strict=True):
            if isinstance(resp, AsyncResponse) and resp.status == 200:
                with contextlib.suppress(ValueError):
                    dumps[addr] = resp.json()
        candidates = [a for a in addrs if a in dumps and a not in self.suspect] \
            or [a for a in addrs if a in dumps]
        if not candidates:
            return {}
        # The address breaks ties: whatever their configured order, all
        # proxies pick the same reference and never undo each other.
        ref = max(candidates, key=lambda a: (*dump_weight(dumps[a]), a))
        seen: set[tuple[str, str, str, str]] = set()
        sent: dict[str, dict[str, int]] = {}
        for addr, dump in dumps.items():
            if addr == ref:
                self.suspect.discard(addr)
                continue
            todo = repairs(dumps[ref], dump)
            keys = {(addr, action, i["type"], i["addr"])
                    for action, items in todo.items() for i in items}
            seen |= keys
            if not keys:
                self.suspect.discard(addr)
                continue
            confirmed = await self._repair(addr, ref, todo, keys & self._seen)
            if confirmed:
                sent[addr] = confirmed
        self._seen = seen
        return sent

    async def _repair(self, addr: str, ref: str, todo: dict[str, list[dict]],
                      confirmed: set[tuple[str, str, str, str]]
                      ) -> dict[str, int]:
        sent: dict[str, int] = {}
        for action in ("register", "lock", "unlock"):
            items = [i for i in todo[action]
                     if (addr, action, i["type"], i["addr"]) in confirmed]
            if not items:
                continue
            path = f"/v3.0/{self.namespace}/conscience/{action}"
            result = await self._call(addr, "POST", path, {"json": items})
            if isinstance(result, AsyncResponse) and result.status < 300:
                sent[action] = len(items)
            elif isinstance(result, AsyncResponse):
                self._refused(addr, result)
        if sent:
            logger.info("conscience %s resynced from %s: %s", addr, ref,
                        ", ".join(f"{n} {a}" for a, n in sent.items()))
        return sent
