"""`openio-admin container vacuum <container>... [--cid]`, as OpenIO 7.2's
(spec replication.md §7.5): defragment each container's base (SQLite
VACUUM) on its master, which then has its slaves do the same."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin.common import add_containers
from oio.cli.election import admin_client
from oio.common.exceptions import OioException


class ContainerVacuum(Lister):
    """Vacuum (defragment) the base of containers: on the master, then on
    the slaves. Status is OK or the error; exit code 1 if any failed."""

    columns = ("Container", "Status")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_containers(parser)
        return parser

    def take_action(self, parsed_args):
        manager = self.app.client_manager
        # The account is needed only for names, and then before anything.
        account = None if parsed_args.is_cid else manager.account
        admin = admin_client(manager)
        rows = []
        for container in parsed_args.containers:
            where = ({"cid": container.upper()} if parsed_args.is_cid
                     else {"account": account, "reference": container})
            try:
                admin.vacuum_base("meta2", **where)
                rows.append((container, "OK"))
            except OioException as err:
                self.success = False
                rows.append((container, str(err)))
        return self.columns, rows
