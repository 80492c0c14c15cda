"""`account_update`: container creations, states and deletions, and
references linked to meta2 services, to the account service."""

from __future__ import annotations

from oio.common import exceptions as exc
from oio.event.evob import EventError
from oio.event.filters.base import BuryEvent, EventFilter


class AccountUpdateFilter(EventFilter):
    """Container creations, states and deletions → the account service
    (`container/update`, account.md §5)."""

    def init(self) -> None:
        from oio.account.client import AccountClient

        conf = self.conf
        self.client = AccountClient(
            {"namespace": conf["namespace"]},
            connection_timeout=float(conf.get("connection_timeout", 2.0)),
            read_timeout=float(conf.get("read_timeout", 30.0)))

    def on_event(self, event: dict) -> None:
        from oio.container.account_updater import account_update_of

        if event.get("event") == "account.services":
            update = self._services_update(event)
        else:
            update = account_update_of(event.get("event", ""), event)
        if update is None:
            return
        account, name, body = update
        try:
            self.client.container_update(account, name, body)
        except exc.Conflict as err:
            self.logger.info("account update of %s/%s not needed: %s",
                             account, name, err)
        except exc.OioException as err:
            raise EventError(f"account update of {account}/{name}: {err}") \
                from None

    def _services_update(self, event: dict) -> tuple | None:
        """A reference linked to a meta2 makes sure its account exists (no
        container update); one with no meta2 left is a deleted container
        (account.md §5)."""
        from oio.container.account_updater import HIDDEN_ACCOUNTS

        url = event.get("url") or {}
        account, name = url.get("account"), url.get("user")
        if not account or not name or account in HIDDEN_ACCOUNTS:
            return None
        if not any(srv.get("type") == "meta2" for srv in service_list(event)):
            return account, name, {"dtime": event.get("when", 0) / 1e6}
        try:
            self.client.account_create(account)
        except exc.OioTimeout as err:
            self.logger.warning("account %s not created: %s", account, err)
        except exc.OioException as err:
            raise EventError(f"account creation of {account}: {err}") \
                from None
        return None


def service_list(event: dict) -> list[dict]:
    """The links of an `account.services` event (a list, or the newer
    {"services": [...]} shape)."""
    data = event.get("data")
    if isinstance(data, dict):
        data = data.get("services")
    if not isinstance(data, list):
        raise BuryEvent("account.services event without a service list")
    return [srv for srv in data if isinstance(srv, dict)]


filter_factory = AccountUpdateFilter.factory()
