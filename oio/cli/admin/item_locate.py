"""`openio-admin account|container|object|chunk locate`."""

from __future__ import annotations

from itertools import chain

from oio.cli import Lister
from oio.cli.admin import common


class ItemLocateCommand(Lister):
    """Base of the locate commands: rows of services hosting an item."""

    columns = ("Type", "Item", "Service Id", "Addr", "Location", "Status",
               "Errors")

    def locator(self):
        from oio.admin.locate import ItemLocator

        clients = common.AdminClients(self.app)
        self._locator = ItemLocator(self.api, clients.conscience,
                                    clients.namespace, clients.meta1_digits)
        return self._locator

    def rows(self, parsed_args):
        raise NotImplementedError

    def take_action(self, parsed_args):
        def checked():
            yield from self.rows(parsed_args)
            self.success = self._locator.success
        return self.columns, checked()


class AccountLocate(ItemLocateCommand):
    """Show the account service(s) hosting accounts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_accounts(parser)
        return parser

    def rows(self, parsed_args):
        accounts = common.load_accounts(self.app, parsed_args)
        return self.locator().locate_accounts(accounts)


class ContainerLocate(ItemLocateCommand):
    """Show the services (meta0, meta1, meta2) hosting containers."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_containers(parser)
        return parser

    def rows(self, parsed_args):
        locator = self.locator()
        if parsed_args.is_cid:
            # Each container's account is known once its ID is resolved.
            return locator.locate_containers(
                (None, None, cid.upper()) for cid in parsed_args.containers)
        containers = common.resolve_containers(self.app, parsed_args)
        return chain(locator.locate_accounts([containers[0][0]]),
                     locator.locate_containers(containers,
                                               with_account=False))


class ObjectLocate(ItemLocateCommand):
    """Show the services hosting objects, down to their chunks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_objects(parser)
        return parser

    def rows(self, parsed_args):
        account, containers, objects = common.resolve_objects(self.app,
                                                              parsed_args)
        locator = self.locator()
        return chain(
            locator.locate_accounts([account]),
            locator.locate_containers(
                [(account, c, None) for c in containers], with_account=False),
            locator.locate_objects(account, objects))


class ChunkLocate(ItemLocateCommand):
    """Show the rawx and the object of chunks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_chunks(parser)
        return parser

    def rows(self, parsed_args):
        return self.locator().locate_chunks(parsed_args.chunks)
