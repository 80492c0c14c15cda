"""`replicate`: a `notify` of container and content events only (to the
external replicator's tube, `oio-repli` by default); with
`check_replication_enabled`, only for containers whose account record says
`replication_enabled` (cached `cache_duration` seconds)."""

from __future__ import annotations

import time

from oio.common import exceptions as exc
from oio.common.easy_value import boolean_value
from oio.event.evob import EventError
from oio.event.filters.notify import NotifyFilter

CACHE_DURATION = 30.0
CACHE_SIZE = 10000


class ReplicateFilter(NotifyFilter):
    DEFAULT_TUBE = "oio-repli"

    def init(self) -> None:
        super().init()
        conf = self.conf
        self.check = boolean_value(conf.get("check_replication_enabled"),
                                   False)
        self.cache_duration = float(conf.get("cache_duration",
                                             CACHE_DURATION))
        self.cache_size = int(conf.get("cache_size", CACHE_SIZE))
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._account = None
        if self.check:
            from oio.account.client import AccountClient

            self._account = AccountClient(
                {"namespace": conf["namespace"]},
                connection_timeout=float(conf.get("connection_timeout", 2.0)),
                read_timeout=float(conf.get("read_timeout", 10.0)))

    def _enabled(self, account: str, container: str) -> bool:
        now = time.monotonic()
        cached = self._cache.get((account, container))
        if cached is not None and now - cached[0] < self.cache_duration:
            return cached[1]
        try:
            info = self._account.container_show(account, container)
            enabled = bool((info or {}).get("replication_enabled"))
        except exc.NotFound:
            enabled = False
        except exc.OioException as err:
            raise EventError(f"replication check of {account}/{container}: "
                             f"{err}") from None
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[(account, container)] = (now, enabled)
        return enabled

    def on_event(self, event: dict) -> None:
        kind = event.get("event", "")
        if not kind.startswith(("storage.container.", "storage.content.")):
            return
        url = event.get("url") or {}
        if self.check and not self._enabled(url.get("account"),
                                            url.get("user")):
            return
        super().on_event(event)


filter_factory = ReplicateFilter.factory()
