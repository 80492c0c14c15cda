"""RdirDispatcher: which rdir indexes each rawx (or meta2) volume, and the
assignment of an rdir to the volumes that have none (7.2's method names).

An assignment is the reference `_RDIR/<volume>` in the directory, linked to
one service of type `rdir`; the volume ID is the service's
`tag.service_id`, else its address. The rdir is chosen by the load
balancer through the `__rawx_rdir` pool (any known service + one rdir,
`min_dist` apart), avoiding rdir services above their share.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from oio.common import exceptions as exc
from oio.conscience.client import ConscienceClient
from oio.directory.client import DirectoryClient
from oio.rdir.client import RDIR_ACCT, RdirClient

RDIR_POOL = "__rawx_rdir"
ANY_SLOT = "__any_slot"


def service_key(ns: str, service_type: str, service_id: str) -> str:
    return f"{ns}|{service_type}|{service_id}"


def volume_id(service: dict) -> str:
    """The ID under which a service's volume is indexed."""
    return (service.get("tags") or {}).get("tag.service_id") or service["addr"]


class RdirDispatcher:
    """Assignments of rdir services to the volumes of a service type."""

    def __init__(self, conf: dict, logger: logging.Logger | None = None,
                 **kwargs: Any):
        self.ns = conf["namespace"]
        self.logger = logger or logging.getLogger(__name__)
        self.cs = ConscienceClient(conf, logger=self.logger, **kwargs)
        kwargs["pool_manager"] = self.cs.pool_manager
        self.directory = DirectoryClient(conf, logger=self.logger, **kwargs)
        self.rdir = RdirClient(conf, logger=self.logger, **kwargs)
        self._pool_options: dict | None = None

    def _linked_rdir(self, vol: str, **kwargs) -> str:
        """The address of the rdir linked to `vol` (NotFound if none)."""
        listing = self.directory.list(RDIR_ACCT, vol, service_type="rdir",
                                      **kwargs)
        for srv in listing.get("srv") or ():
            if srv.get("type") == "rdir":
                return srv["host"]
        raise exc.NotFound(message=f"No rdir linked to {vol}")

    def get_assignments(self, service_type: str, **kwargs
                        ) -> tuple[list[dict], list[dict]]:
        """(every service of the type, each with an `rdir` key holding its
        rdir's description when it has one; every rdir service)."""
        services = self.cs.all_services(service_type, **kwargs)
        all_rdir = self.cs.all_services("rdir", True, **kwargs)
        by_addr = {r["addr"]: r for r in all_rdir}
        for srv in services:
            try:
                host = self._linked_rdir(volume_id(srv), **kwargs)
            except exc.NotFound:
                self.logger.info("no rdir linked to %s", volume_id(srv))
                continue
            except exc.OioException as err:
                self.logger.warning("cannot tell the rdir of %s: %s",
                                    volume_id(srv), err)
                continue
            if host not in by_addr:
                # Linked to an rdir the conscience does not know (down).
                self.logger.warning("rdir %s of %s seems down", host,
                                    volume_id(srv))
                by_addr[host] = {"addr": host, "score": 0, "tags": {}}
            srv["rdir"] = by_addr[host]
        return services, all_rdir

    def assign_services(self, service_type: str,
                        max_per_rdir: int | None = None,
                        min_dist: int | None = None,
                        service_id: str | None = None,
                        reassign: bool = False, dry_run: bool = False,
                        **kwargs) -> list[dict]:
        """Give an rdir to every volume of `service_type` without one (or to
        `service_id` only; with `reassign`, a new rdir even if it has one).
        Returns the services, each with its `rdir`; raises after trying
        every volume if some could not be assigned."""
        services, all_rdir = self.get_assignments(service_type, **kwargs)
        if service_id:
            services = [s for s in services if volume_id(s) == service_id]
            if not services:
                raise exc.NotFound(
                    message=f"{service_id} is not a {service_type} service")
        if not all_rdir:
            raise exc.ServiceUnavailable(f"No rdir service in {self.ns}")
        by_addr = {r["addr"]: r for r in all_rdir}
        load = dict.fromkeys(by_addr, 0)
        for srv in services:
            if "rdir" in srv:
                load[srv["rdir"]["addr"]] = load.get(srv["rdir"]["addr"], 0) + 1
        errors: list[str] = []
        for srv in services:
            if "rdir" in srv and not reassign:
                continue
            vol = volume_id(srv)
            try:
                chosen = self._choose_rdir(service_type, vol, all_rdir, load,
                                           max_per_rdir, min_dist, **kwargs)
                if not dry_run:
                    self._link(service_type, vol, chosen, replace=reassign,
                               **kwargs)
            except exc.OioException as err:
                self.logger.warning("cannot assign an rdir to %s %s: %s",
                                    service_type, vol, err)
                errors.append(f"{vol}: {err}")
                continue
            if "rdir" in srv:
                load[srv["rdir"]["addr"]] -= 1
            load[chosen] = load.get(chosen, 0) + 1
            srv["rdir"] = by_addr.get(chosen) or {"addr": chosen, "tags": {}}
        if errors:
            raise exc.OioException(
                f"{len(errors)} {service_type} volume(s) without rdir: "
                + "; ".join(errors))
        return services

    def assign_all_rawx(self, max_per_rdir: int | None = None,
                        **kwargs) -> list[dict]:
        """7.2's name: assign_services("rawx", ...)."""
        return self.assign_services("rawx", max_per_rdir, **kwargs)

    def assign_all_meta2(self, max_per_rdir: int | None = None,
                         **kwargs) -> list[dict]:
        """7.2's name: assign_services("meta2", ...)."""
        return self.assign_services("meta2", max_per_rdir, **kwargs)

    def _choose_rdir(self, service_type: str, vol: str, all_rdir: list[dict],
                     load: dict[str, int], max_per_rdir: int | None,
                     min_dist: int | None, **kwargs) -> str:
        scored = [r for r in all_rdir if r.get("score", 0) > 0]
        if not scored:
            raise exc.ServiceUnavailable(
                f"No rdir service with a score > 0 in {self.ns}")
        if max_per_rdir:
            limit = max_per_rdir - 1
        else:
            limit = sum(load.get(r["addr"], 0) for r in scored) / len(scored)
        avoid = [service_key(self.ns, "rdir", r["addr"]) for r in scored
                 if load.get(r["addr"], 0) > limit]
        known = [service_key(self.ns, service_type, vol)]
        try:
            polled = self._poll(avoid, known, min_dist, **kwargs)
        except exc.ClientException as err:
            # Every rdir above the average: take any, a later run evens out.
            if max_per_rdir or err.status != 481:
                raise
            polled = self._poll([], known, min_dist, **kwargs)
        return polled["addr"]

    def _poll(self, avoid: list[str], known: list[str],
              min_dist: int | None, **kwargs) -> dict:
        options = {} if min_dist is None else {"min_dist": min_dist}
        if options != self._pool_options:
            self.cs.lb.create_pool(RDIR_POOL, ((1, ANY_SLOT), (1, "rdir")),
                                   options=options, force=True, **kwargs)
            self._pool_options = options
        try:
            polled = self.cs.poll(RDIR_POOL, avoid=avoid, known=known, **kwargs)
        except exc.BadRequest:
            # The conscience restarted and forgot the pool.
            self.cs.lb.create_pool(RDIR_POOL, ((1, ANY_SLOT), (1, "rdir")),
                                   options=options, force=True, **kwargs)
            polled = self.cs.poll(RDIR_POOL, avoid=avoid, known=known, **kwargs)
        for srv in polled:
            if "|rdir|" in srv.get("id", ""):
                return srv
        raise exc.ServerException(f"The load balancer gave no rdir: {polled}")

    def _link(self, service_type: str, vol: str, rdir_addr: str,
              replace: bool = False, attempts: int = 5, **kwargs) -> None:
        entry = {"host": rdir_addr, "type": "rdir", "seq": 1, "args": ""}
        for attempt in range(attempts):
            try:
                self.directory.force(RDIR_ACCT, vol, "rdir", entry,
                                     autocreate=True, replace=replace,
                                     **kwargs)
                break
            except exc.Forbidden as err:
                # Status 455: a concurrent run linked one first.
                if err.status == 455:
                    break
                raise
            except (exc.ServiceBusy, exc.OioNetworkException):
                if attempt + 1 >= attempts:
                    raise
                time.sleep(attempt + 1)
        try:
            self.rdir.create(vol, service_type=service_type, **kwargs)
        except exc.OioException as err:
            # The rdir creates the index on the first push anyway.
            self.logger.warning("cannot create the index of %s on %s: %s",
                                vol, rdir_addr, err)
