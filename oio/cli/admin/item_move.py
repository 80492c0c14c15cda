"""`openio-admin container move` (oio.directory.meta2_mover)."""

from __future__ import annotations

import logging

from oio.cli import Lister, clients
from oio.cli.admin import common
from oio.common.utils import cid_from_name

LOG = logging.getLogger(__name__)


def sqlx_admin(manager):
    """The client of the proxy's admin routes on replicated bases, sharing
    the run's settings (proxy, request ID, connection pool)."""
    from oio.rebuilder.sqlx_admin import SqlxAdminClient

    return SqlxAdminClient({"namespace": manager.namespace},
                           **clients._kwargs(manager))


class ContainerMove(Lister):
    """Move the base of containers from one meta2 service to another
    (chosen by the load balancer when --dst is not given). One row per
    base; exit 1 if one could not be moved."""

    columns = ("Container", "Base", "Source", "Destination", "Status",
               "Errors")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_containers(parser)
        parser.add_argument("--src", metavar="<service_id>", required=True,
                            help="ID of the source service")
        parser.add_argument("--dst", metavar="<service_id>",
                            help="ID of the destination service (default: "
                                 "one from the load balancer)")
        return parser

    def mover(self):
        from oio.directory.meta2_mover import Meta2Mover

        manager = self.app.client_manager
        return Meta2Mover(sqlx_admin(manager), self.api.directory,
                          clients.conscience(manager), clients.rdir(manager),
                          namespace=manager.namespace, logger=LOG)

    def take_action(self, parsed_args):
        mover = self.mover()
        manager = self.app.client_manager

        def rows():
            for container in parsed_args.containers:
                cid = container if parsed_args.is_cid else \
                    cid_from_name(manager.account, container)
                res = mover.move(cid, parsed_args.src, parsed_args.dst)
                if res.error:
                    self.success = False
                errors = [res.error] if res.error else []
                errors += res.warnings
                yield (container, res.base, res.src, res.dst,
                       "error" if res.error else "OK",
                       "\n".join(errors) or None)
        return self.columns, rows()
