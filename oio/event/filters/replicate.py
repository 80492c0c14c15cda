"""`replicate`: a `notify` of container and content events only (to the
external replicator's tube, `oio-repli` by default); with
`check_replication_enabled`, only for containers whose account record says
`replication_enabled` (cached `cache_duration` seconds)."""

from __future__ import annotations

import time

from oio.common import exceptions as exc
from oio.common.constants import BUCKET_PROP_REPLI_ENABLED
from oio.common.easy_value import boolean_value
from oio.event.evob import Event, EventError, EventTypes
from oio.event.filters.notify import NotifyFilter

CACHE_DURATION = 30.0
CACHE_SIZE = 10000


class ReplicateFilter(NotifyFilter):
    DEFAULT_TUBE = "oio-repli"
    ALLOWED_EVENT_TYPES = EventTypes.CONTAINER_EVENTS + \
        EventTypes.CONTENT_EVENTS + (EventTypes.CONTENT_DRAINED,)

    def init(self) -> None:
        super().init()
        conf = self.conf
        self.check_account = boolean_value(
            conf.get("check_replication_enabled"), False)
        self.cache_duration = float(conf.get("cache_duration",
                                             CACHE_DURATION))
        self.cache_size = int(conf.get("cache_size", CACHE_SIZE))
        self.cache: dict[tuple[str, str], tuple[float, bool]] = {}
        # The agent's shared client when there is one (7.2's app_env).
        self.account = self.app_env.get("account_client")
        if self.account is None and self.check_account:
            from oio.account.client import AccountClient

            self.account = AccountClient(
                {"namespace": conf["namespace"]},
                connection_timeout=float(conf.get("connection_timeout", 2.0)),
                read_timeout=float(conf.get("read_timeout", 10.0)))

    def _enabled(self, account: str, container: str) -> bool:
        now = time.monotonic()
        cached = self.cache.get((account, container))
        if cached is not None and now - cached[0] < self.cache_duration:
            return cached[1]
        try:
            info = self.account.container_show(account, container)
            enabled = boolean_value((info or {}).get(BUCKET_PROP_REPLI_ENABLED),
                                    False)
        except exc.NotFound:
            enabled = False
        except exc.OioException as err:
            raise EventError(f"replication check of {account}/{container}: "
                             f"{err}") from None
        if len(self.cache) >= self.cache_size:
            self.cache.clear()
        self.cache[(account, container)] = (now, enabled)
        return enabled

    def _should_notify(self, account: str | None,
                       container: str | None) -> bool:
        if not super()._should_notify(account, container):
            return False
        return not self.check_account or self._enabled(account, container)

    def should_notify(self, event: Event) -> bool:
        return event.event_type in self.ALLOWED_EVENT_TYPES and \
            super().should_notify(event)


filter_factory = ReplicateFilter.factory()
