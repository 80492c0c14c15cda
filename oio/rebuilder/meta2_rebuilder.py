"""Meta2Rebuilder: the container bases a meta2 service should hold, rebuilt
(`openio-admin meta2 rebuild <service_id>`, spec replication.md §7.6).

The containers come from the meta2 volume index of rdir (fed by the
`account.services` events of meta1). For each: replicas that lack the base
get a copy (oio.rebuilder.meta_rebuilder), then the slaves are asked to
`sync` from the master; a replica answering other than 200 (slave) or 301
(master) is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from oio.common import exceptions as exc

from .meta_rebuilder import rebuild_base
from .sqlx_admin import NOT_SLAVE, OK, SqlxAdminClient, message_of, status_of

DEFAULT_RDIR_FETCH_LIMIT = 100
TYPE = "meta2"


class NoIndex(Exception):
    """rdir cannot list the containers of the meta2 volume."""


class Meta2Rebuilder:
    def __init__(self, admin: SqlxAdminClient, rdir, service_id: str,
                 namespace: str, rdir_fetch_limit: int | None = None,
                 logger: logging.Logger | None = None):
        self.admin = admin
        self.rdir = rdir
        self.service_id = service_id
        self.namespace = namespace
        self.rdir_fetch_limit = rdir_fetch_limit or DEFAULT_RDIR_FETCH_LIMIT
        self.logger = logger or logging.getLogger(__name__)

    def reference(self, cid: str) -> str:
        """How an item is shown: `<NS>|<CID>`."""
        return f"{self.namespace}|{cid}"

    def items(self) -> Iterator[str]:
        """The CIDs of the containers rdir indexes on the volume, page by
        page (`rdir_fetch_limit` records each)."""
        try:
            records = self.rdir.meta2_index_fetch_all(
                self.service_id, limit=self.rdir_fetch_limit)
            first = next(records, None)
        except exc.BadRequest as err:
            # rdir creates a volume's index on its first container.
            if "not found" in str(err).lower():
                return
            raise NoIndex(f"rdir cannot list the containers of "
                          f"{self.service_id}: {err}") from None
        except exc.OioException as err:
            raise NoIndex(f"rdir cannot list the containers of "
                          f"{self.service_id}: {err}") from None
        if first is None:
            return
        yield first["container_id"]
        for record in records:
            yield record["container_id"]

    def rebuild(self, cid: str) -> list[str]:
        """The errors of the rebuild of one container's base."""
        errors = rebuild_base(self.admin, TYPE, cid, logger=self.logger)
        if errors:
            return errors
        synced = self.admin.sync(TYPE, cid)
        return [f"{peer} ({status_of(e)}): {message_of(e)}"
                for peer, e in sorted(synced.items())
                if status_of(e) not in (OK, NOT_SLAVE)]
