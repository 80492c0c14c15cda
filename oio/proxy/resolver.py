"""Directory resolution: CID → meta1 (through meta0) → linked services.

The whole meta0 map (65,536 prefixes) is cached and reloaded when a prefix
is missing or its meta1 services do not answer. The services linked to a
reference are cached per (CID, type) for `cache_dir_ttl` seconds; callers
invalidate an entry when the service it names answers "no such base" or
cannot be reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlencode

from oio.common.aio_client import AsyncResponse
from oio.common.http_server import HttpError

from .cache import TtlCache
from .errors import oio_error
from .forward import Backend, UpstreamError, error_of
from .replicas import ReplicaCaller

# Do not reload the meta0 map more often than this (seconds).
META0_RELOAD_MIN_INTERVAL = 1.0


class Resolver:
    """Finds meta1 and the services linked to references, with caches."""

    def __init__(self, backend: Backend,
                 meta0_addresses: Callable[[], list[str]],
                 dir_ttl: float = 60.0, dir_max: int = 100_000,
                 negative_ttl: float = 1.0,
                 replicas: ReplicaCaller | None = None):
        self.backend = backend
        self.replicas = replicas or ReplicaCaller(backend.client)
        self._meta0_addresses = meta0_addresses
        self.meta0_map: dict[str, list[str]] | None = None
        self._meta0_forced_at = 0.0
        self._meta0_lock = asyncio.Lock()
        self.services_cache = TtlCache(dir_ttl, dir_max)
        self.negative_ttl = negative_ttl

    # meta0 -----------------------------------------------------------------
    async def load_meta0(self, force: bool = False,
                         headers: dict | None = None) -> dict[str, list[str]]:
        """The prefix → meta1 map, loaded once and reloaded on demand."""
        if self.meta0_map is not None and not force:
            return self.meta0_map
        async with self._meta0_lock:
            if self.meta0_map is not None:
                # Forced reloads are rate-limited: a missing prefix must not
                # turn every request into a full map download.
                recent = (time.monotonic() - self._meta0_forced_at
                          < META0_RELOAD_MIN_INTERVAL)
                if not force or recent:
                    return self.meta0_map
                self._meta0_forced_at = time.monotonic()
            # From the master of the meta0 base (a replica may lag).
            resp = await self.replicas.call(
                ("", "meta0"), sorted(self._meta0_addresses()), "GET",
                "/v1/meta0/list", headers=headers, idempotent=True,
                what="meta0")
            if resp.status >= 300:
                raise UpstreamError(resp)
            mapping = resp.json()
            if not isinstance(mapping, dict):
                raise oio_error(502, "meta0 answered an invalid map")
            self.meta0_map = {k.upper(): v for k, v in mapping.items()}
            return self.meta0_map

    def flush_meta0(self) -> None:
        self.meta0_map = None

    async def meta1_of(self, cid: str, headers: dict | None = None,
                       refresh: bool = False) -> list[str]:
        """meta1 addresses in charge of the CID's prefix."""
        mapping = await self.load_meta0(force=refresh, headers=headers)
        addrs = mapping.get(cid[:4])
        if not addrs and not refresh:
            return await self.meta1_of(cid, headers, refresh=True)
        if not addrs:
            raise oio_error(503, f"No meta1 known for prefix {cid[:4]}")
        return list(addrs)

    # meta1 -----------------------------------------------------------------
    async def meta1(self, method: str, cid: str, action: str,
                    params: dict | None = None, *, headers: dict | None = None,
                    body: bytes | None = None, json_body=None,
                    timeout: float | None = None) -> AsyncResponse:
        """Send `/v1/reference/<action>?cid=...` to the CID's meta1."""
        query = urlencode({"cid": cid, **{k: v for k, v in (params or {}).items()
                                          if v is not None}})
        for attempt in range(2):
            addrs = await self.meta1_of(cid, headers, refresh=bool(attempt))
            path = f"/v1/reference/{action}?{query}"
            if len(addrs) > 1:
                # The replicas of the prefix's base, for a meta1 that does
                # not know the map yet.
                path += "&peers=" + ",".join(addrs)
            try:
                resp = await self.replicas.call(
                    (cid[:4], "meta1"), addrs, method, path, headers=headers,
                    body=body, json_body=json_body,
                    timeout=timeout,
                    idempotent=method == "GET", what="meta1")
            except HttpError as exc:
                # The map may be stale: reload it once.
                if attempt or exc.http_status != 503:
                    raise
                continue
            if resp.status >= 400 and not attempt and \
                    error_of(resp)[0] in (431, 450):
                continue    # a meta1 that no longer holds the prefix
            return resp
        raise AssertionError("not reached")

    async def linked(self, cid: str, kind: str, headers: dict | None = None,
                     use_cache: bool = True) -> list[dict]:
        """The `srv` entries of `kind` linked to the reference (cached).

        Raises UpstreamError (404/406) when the reference does not exist.
        """
        key = (cid, kind)
        if use_cache:
            # A reference known to be missing is cached under (cid, "").
            missing = self.services_cache.get((cid, ""))
            if missing is not None:
                raise missing
            cached = self.services_cache.get(key)
            if cached is not None:
                return cached
        resp = await self.meta1("GET", cid, "show", {"type": kind},
                                headers=headers)
        if resp.status >= 300:
            err = UpstreamError(resp)
            if resp.status == 404:
                self.services_cache.put((cid, ""), err, ttl=self.negative_ttl)
            raise err
        srv = [s for s in (resp.json() or {}).get("srv") or []
               if s.get("type") == kind]
        if srv:
            self.services_cache.put(key, srv)
        return srv

    def remember(self, cid: str, kind: str, srv: list[dict]) -> None:
        if srv:
            self.services_cache.put((cid, kind), srv)
        else:
            self.services_cache.pop((cid, kind))

    def invalidate(self, cid: str, kind: str = "meta2") -> None:
        self.services_cache.pop((cid, kind))
        self.services_cache.pop((cid, ""))
