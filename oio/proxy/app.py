"""The oio-proxy application: shared state, middleware and route table.

Routes live in small modules by group (`routes_*.py`); each exposes
`register(router, proxy)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from oio.common.aio_client import AsyncHttpClient
from oio.common.exceptions import OioNetworkException
from oio.common.http_server import HttpError, Request, Response, Router

from . import routes_conscience, routes_meta2, routes_reference, routes_service
from .cache import TtlCache
from .config import ProxyConfig
from .conscience_view import ConscienceView
from .consciences import Consciences, dump_weight
from .errors import network_error, oio_error
from .forward import Backend, UpstreamError, forward_headers, request_timeout
from .params import check_namespace
from .replicas import ReplicaCaller
from .resolver import Resolver
from .stats import ProxyStats

logger = logging.getLogger(__name__)


class Proxy:
    """State shared by the routes: clients, caches, conscience view."""

    def __init__(self, config: ProxyConfig,
                 client: AsyncHttpClient | None = None):
        self.config = config
        self.namespace = config.namespace
        self.client = client or AsyncHttpClient(
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout, pool_size=64)
        self.backend = Backend(self.client)
        self.view = ConscienceView(config.namespace, config.known_services_ttl)
        # Read at each call: the list is the configuration's.
        self.consciences = Consciences(self.client, lambda: config.conscience,
                                       config.namespace)
        self.replicas = ReplicaCaller(
            self.client, master_ttl=config.master_ttl,
            retry_window=config.election_retry)
        self.resolver = Resolver(
            self.backend, self.meta0_addresses, replicas=self.replicas,
            dir_ttl=config.cache_dir_ttl,
            dir_max=config.cache_dir_max,
            negative_ttl=config.cache_dir_negative_ttl)
        self.cs_cache = TtlCache(config.cache_conscience_ttl, 1000)
        # service key → (monotonic time, description) registered through us
        self.local_services: dict[str, tuple[float, dict]] = {}
        self.stats = ProxyStats()
        self.live_config: dict[str, str] = {}
        self._refresher: asyncio.Task | None = None
        self._syncer: asyncio.Task | None = None
        self._refresh_failed = False
        self.router = Router()
        for module in (routes_service, routes_conscience, routes_reference,
                       routes_meta2):
            module.register(self.router, self)

    # Helpers for routes -----------------------------------------------------
    def check_ns(self, req: Request, http_status: int = 400) -> None:
        check_namespace(req, self.namespace, http_status)

    def headers(self, req: Request) -> dict[str, str]:
        return forward_headers(req)

    def timeout(self, req: Request) -> float:
        return request_timeout(req, self.config.read_timeout)

    def meta0_addresses(self) -> list[str]:
        return list(self.config.meta0) or self.view.addresses("meta0")

    def require_view(self):
        """The conscience view, or 503 while it was never loaded."""
        if not self.view.ready:
            raise oio_error(503, "Service types not yet loaded")
        return self.view

    # Conscience view refresh -------------------------------------------------
    async def refresh_view(self) -> bool:
        """Reload the view from a conscience's dump; False on failure.

        The dump comes from the first conscience that answers. One that
        knows fewer services or locks than the view did may have restarted
        empty: it is set aside (read last) and the next one is read."""
        path = f"/v3.0/{self.namespace}/conscience/dump"
        timeout = max(self.config.lb_refresh_interval * 5, 2.0)
        got = await self._read_dump(path, timeout)
        if got is not None and self.consciences.note_dump(
                got[0], self.view.weight(), dump_weight(got[1])):
            # got[0] is now read last: the next one, if any answers.
            got = await self._read_dump(path, timeout)
        if got is None:
            return False
        dump = got[1]
        try:
            self.view.load_dump(dump)
        except Exception:  # a bad dump must not kill the refresh loop
            logger.exception("cannot load the conscience dump")
            return False
        return True

    async def _read_dump(self, path: str, timeout: float
                         ) -> tuple[str, dict] | None:
        """(conscience, dump) of the first conscience that answers."""
        try:
            addr, resp = await self.consciences.read_from(
                "GET", path, timeout=timeout)
        except HttpError as exc:
            logger.warning("conscience dump failed: %s", exc.message)
            return None
        if resp.status != 200:
            logger.warning("conscience dump: HTTP %d %s", resp.status,
                           resp.body[:200])
            return None
        try:
            return addr, resp.json()
        except ValueError:
            logger.warning("conscience %s: bad dump", addr)
            return None

    async def _refresh_loop(self) -> None:
        while True:
            # Log a failing conscience once, not every second.
            level = logger.level
            if self._refresh_failed:
                logger.setLevel(logging.ERROR)
            try:
                self._refresh_failed = not await self.refresh_view()
            finally:
                logger.setLevel(level)
            # Beside the refresh: a pass waits for the slowest conscience.
            if self.consciences.sync_due() and (
                    self._syncer is None or self._syncer.done()):
                self._syncer = asyncio.get_running_loop().create_task(
                    self._sync())
            await asyncio.sleep(self.config.lb_refresh_interval)

    async def _sync(self) -> None:
        try:
            await self.consciences.sync()
        except Exception:  # the next pass tries again
            logger.exception("conscience sync pass failed")

    async def start(self) -> None:
        """Load the conscience view once, then keep it fresh."""
        await self.refresh_view()
        self._refresher = asyncio.get_running_loop().create_task(
            self._refresh_loop())

    async def stop(self) -> None:
        for task in (self._refresher, self._syncer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._syncer = None
        await self.consciences.close()
        await self.client.close()

    # Middleware --------------------------------------------------------------
    async def __call__(self, req: Request) -> Response:
        start = time.monotonic()
        try:
            resp = await self.router(req)
        except HttpError as exc:
            resp = exc.to_response()
        except UpstreamError as exc:
            resp = exc.to_response(exc.http_status)
        except OioNetworkException as exc:
            resp = network_error(exc).to_response()
        self.stats.record(_route_name(req.path), resp.status,
                          int((time.monotonic() - start) * 1e6))
        return resp


def _route_name(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4:
        return f"{parts[2]}.{parts[3]}"
    return ".".join(parts[1:]) or "root"


def build_proxy(config: ProxyConfig) -> Proxy:
    return Proxy(config)
