"""meta1's copy of the meta0 map: which meta1 services hold each prefix
base, hence the replicas of each of its bases.

Loaded from meta0 at start, then every `interval` seconds, and sooner when
a request names replicas that differ from ours (a base was moved), at most
once a second. Until it is loaded, the replicas named by the proxy's
request stand in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from oio.common.aio_client import AsyncHttpClient
from oio.common.exceptions import OioNetworkException

logger = logging.getLogger(__name__)

FORCED_MIN_INTERVAL = 1.0


class Meta0Map:
    def __init__(self, namespace: str, digits: int, meta0: list[str],
                 conscience: list[str], interval: float = 30.0,
                 on_change=None):
        self.namespace = namespace
        self.digits = digits
        self.meta0 = list(meta0)
        self.conscience = list(conscience)
        self.interval = interval
        self.client = AsyncHttpClient(connect_timeout=1.0, read_timeout=10.0,
                                      pool_size=2)
        self.groups: dict[str, list[str]] = {}
        self._task: asyncio.Task | None = None
        self._forced_at = 0.0
        self._failing = False
        # Told (name, replicas) of each base whose replicas changed.
        self.on_change = on_change

    def name_of(self, prefix: str) -> str:
        return prefix[:self.digits].upper().ljust(4, "0")

    def peers_of(self, name: str) -> list[str] | None:
        """The replicas of the base `name` (None while unknown)."""
        return self.groups.get(name)

    async def _meta0_addresses(self) -> list[str]:
        if self.meta0:
            return self.meta0
        for addr in self.conscience:
            try:
                resp = await self.client.request(
                    "GET", addr,
                    f"/v3.0/{self.namespace}/conscience/list?type=meta0")
            except OioNetworkException:
                continue
            if resp.status == 200:
                return [s["addr"] for s in resp.json() or [] if s.get("addr")]
        return []

    async def refresh(self) -> bool:
        for addr in await self._meta0_addresses():
            try:
                resp = await self.client.request("GET", addr,
                                                 "/v1/meta0/list")
                master = resp.headers.get("x-oio-master")
                if resp.status == 303 and master:
                    # A replica of the meta0 base names its master.
                    addr = master
                    resp = await self.client.request("GET", addr,
                                                     "/v1/meta0/list")
            except OioNetworkException:
                continue
            if resp.status != 200:
                continue
            try:
                mapping = resp.json()
                groups: dict[str, list[str]] = {}
                for prefix, addrs in mapping.items():
                    groups.setdefault(self.name_of(prefix), sorted(addrs))
            except (ValueError, AttributeError, TypeError):
                continue
            old, self.groups = self.groups, groups
            if self.on_change is not None and old:
                for name, peers in groups.items():
                    if old.get(name) != peers:
                        self.on_change(name, peers)
            if self._failing:
                logger.info("meta0 map loaded from %s", addr)
            self._failing = False
            return True
        if not self._failing:
            logger.warning("cannot load the meta0 map yet")
        self._failing = True
        return False

    def disagrees(self, name: str, peers: list[str]) -> None:
        """A request names other replicas for `name`: reload soon."""
        known = self.groups.get(name)
        if peers and known != sorted(peers) and \
                time.monotonic() - self._forced_at > FORCED_MIN_INTERVAL:
            self._forced_at = time.monotonic()
            asyncio.get_running_loop().create_task(self.refresh())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(1.0 if self._failing else self.interval)
            await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()
