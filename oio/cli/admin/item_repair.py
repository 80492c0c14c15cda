"""`openio-admin account|container|object repair` (oio.admin.repair)."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin import common
from oio.cli.progress import counted


class ItemRepairCommand(Lister):
    """Base of the repair commands: one row per repaired item, exit 1 when
    one could not be repaired."""

    columns: tuple[str, ...] = ()

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # Accepted as in 7.2; items are repaired one at a time here.
        parser.add_argument("--report-interval", type=int,
                            help="Seconds between progress reports "
                                 "(ignored: a terminal shows a live count)")
        parser.add_argument("--items-per-second", type=int,
                            help="Maximum items repaired per second "
                                 "(ignored)")
        parser.add_argument("--concurrency", type=int,
                            help="Items repaired in parallel (ignored: one "
                                 "at a time)")
        return parser

    def repairer(self):
        from oio.admin.repair import Repairer

        return Repairer(self.api, common.AdminClients(self.app).conscience)

    def counted(self, rows):
        """Rows counted live on a terminal while the work goes on."""
        return self.columns, counted(rows, "repaired",
                                     lambda row: row[1] != "OK")

    def row(self, entry: str, errors: list[str]) -> tuple:
        if errors:
            self.success = False
            return entry, "error", "\n".join(errors)
        return entry, "OK", None


class AccountRepair(ItemRepairCommand):
    """Repair accounts: recompute their counters, and have each of their
    containers report its statistics again."""

    columns = ("Entry", "Status", "Errors")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_accounts(parser)
        return parser

    def take_action(self, parsed_args):
        accounts = common.load_accounts(self.app, parsed_args)
        repairer = self.repairer()
        namespace = self.app.client_manager.namespace

        def rows():
            for account in accounts:
                for container, errors in repairer.repair_account(account):
                    entry = "|".join(x for x in (namespace, account, container)
                                     if x is not None)
                    yield self.row(entry, errors)
        return self.counted(rows())


class ContainerRepair(ItemRepairCommand):
    """Repair containers: recount them and update their account. (Their
    bases are not replicated in this version: nothing to rebuild or
    synchronize.)"""

    columns = ("Container", "Status", "Errors")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_containers(parser)
        parser.add_argument("--no-rebuild-bases", action="store_false",
                            dest="rebuild_bases",
                            help="Do not rebuild lost copies of the bases "
                                 "(nothing to do: bases have one copy)")
        parser.add_argument("--no-sync-bases", action="store_false",
                            dest="sync_bases",
                            help="Do not synchronize the copies of the bases "
                                 "(nothing to do: bases have one copy)")
        parser.add_argument("--no-update-account", action="store_false",
                            dest="update_account",
                            help="Do not recount the container for its "
                                 "account")
        return parser

    def take_action(self, parsed_args):
        containers = common.resolve_containers(self.app, parsed_args)
        repairer = self.repairer()
        namespace = self.app.client_manager.namespace

        def rows():
            for account, name, _ in containers:
                errors = repairer.repair_container(
                    account, name, update_account=parsed_args.update_account)
                yield self.row(f"{namespace}|{account}|{name}", errors)
        return self.counted(rows())


class ObjectRepair(ItemRepairCommand):
    """Repair objects: rebuild their lost or corrupted chunks from the
    other copies or fragments."""

    columns = ("Object", "Status", "Errors")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_objects(parser)
        return parser

    def take_action(self, parsed_args):
        account, _, objects = common.resolve_objects(self.app, parsed_args)
        repairer = self.repairer()
        namespace = self.app.client_manager.namespace

        def rows():
            for container, obj, version in objects:
                errors = repairer.repair_object(account, container, obj,
                                                version)
                yield self.row(
                    f"{namespace}|{account}|{container}|{obj}|{version}",
                    errors)
        return self.counted(rows())
