"""The account service rebuilt from the meta2 bases (`openio-admin
account-service rebuild`, healing.md §5).

1. Every account the service knows is refreshed, then every one of its
   containers (all pages of the listing: 7.2 stopped after the first
   1000) reports its statistics again (oio.admin.repair.repair_account).
2. Then the containers the meta2 services hold (their rdir indexes) that
   the account service did not list are touched: meta2 announces them,
   and the account service learns them back (an account service that lost
   containers, or whole accounts, gets them again).

Entries are `NS|account` and `NS|account|container`, each with its errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from oio.admin.repair import Repairer
from oio.common import exceptions as exc
from oio.common.constants import CODE_CONTAINER_NOTFOUND, CODE_USER_NOTFOUND

LOGGER = logging.getLogger(__name__)
CONTAINER_GONE = (CODE_USER_NOTFOUND, CODE_CONTAINER_NOTFOUND)


class AccountServiceRebuilder:
    """`api` an ObjectStorageApi, `repairer` an oio.admin.repair.Repairer,
    `conscience` and `rdir` clients (step 2; None skips it)."""

    def __init__(self, api, repairer: Repairer, namespace: str,
                 conscience=None, rdir=None,
                 logger: logging.Logger = LOGGER):
        self.api = api
        self.repairer = repairer
        self.namespace = namespace
        self.conscience = conscience
        self.rdir = rdir
        self.logger = logger

    def entry(self, account: str, container: str | None = None) -> str:
        return "|".join(x for x in (self.namespace, account, container)
                        if x is not None)

    def run(self) -> Iterator[tuple[str, list[str]]]:
        """(entry, errors) of each account and container, as done."""
        seen: set[tuple[str, str]] = set()
        try:
            accounts = list(self.api.account_list())
        except exc.OioException as err:
            yield self.namespace, [f"Cannot list the accounts: {err}"]
            accounts = []
        for account in accounts:
            for container, errors in self.repairer.repair_account(account):
                if container is not None:
                    seen.add((account, container))
                yield self.entry(account, container), errors
        yield from self._unlisted(seen)

    def _unlisted(self, seen: set[tuple[str, str]]
                  ) -> Iterator[tuple[str, list[str]]]:
        if self.conscience is None or self.rdir is None:
            return
        for account, container in self._meta2_containers():
            if (account, container) in seen:
                continue
            seen.add((account, container))
            try:
                self.api.container_touch(account, container)
                yield self.entry(account, container), []
            except exc.NoSuchContainer:
                continue        # deleted since it was indexed
            except exc.OioException as err:
                # A touch of a reference without meta2 is a 403 of status
                # 431 (as 7.2): deleted too.
                if getattr(err, "status", None) in CONTAINER_GONE:
                    continue
                yield self.entry(account, container), [str(err)]

    def _meta2_containers(self) -> Iterator[tuple[str, str]]:
        """(account, container) of every base a meta2 service's rdir index
        lists; a service without an index is skipped with a warning."""
        for service in self.conscience.all_services("meta2"):
            volume = service.get("id") or service["addr"]
            try:
                for record in self.rdir.meta2_index_fetch_all(volume):
                    parts = str(record.get("container_url", "")).split("/", 2)
                    if len(parts) == 3 and parts[0] == self.namespace:
                        yield parts[1], parts[2]
            except exc.OioException as err:
                self.logger.warning("containers of meta2 %s not listed "
                                    "(rdir: %s)", volume, err)
