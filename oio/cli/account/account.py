"""`openio account ...`"""

from __future__ import annotations

import argparse

from oio.cli import Command, Lister, ShowOne
from oio.cli.utils import KeyValueAction, ValueFormatStoreTrueAction, convert_size


class ShowAccount(ShowOne):
    """Show an account's statistics and properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("account", metavar="<account>",
                            help="Account to show")
        return parser

    def take_action(self, parsed_args):
        data = self.api.account_show(account=parsed_args.account)
        data["account"] = data.pop("id")
        if parsed_args.formatter == "table":
            data["ctime"] = int(float(data.get("ctime", 0)))
            data["bytes"] = convert_size(int(data.get("bytes", 0)), unit="B")
            data["objects"] = convert_size(int(data.get("objects", 0)))
        return tuple(zip(*sorted(data.items()), strict=True))


class DeleteAccount(Command):
    """Delete accounts (they must hold no container)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("accounts", metavar="<account>", nargs="+",
                            help="Account(s) to delete")
        return parser

    def take_action(self, parsed_args):
        for account in parsed_args.accounts:
            self.api.account_delete(account=account)


class CreateAccount(Lister):
    """Create accounts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("accounts", metavar="<account>", nargs="+",
                            help="Account(s) to create")
        return parser

    def take_action(self, parsed_args):
        results = [(account, self.api.account_create(account=account))
                   for account in parsed_args.accounts]
        return ("Name", "Created"), results


class SetAccount(Command):
    """Set account properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("account", metavar="<account>",
                            help="Account to modify")
        parser.add_argument("-p", "--property", metavar="<key=value>",
                            action=KeyValueAction, required=True,
                            help="Property to add or update (repeatable)")
        return parser

    def take_action(self, parsed_args):
        self.api.account_set_properties(account=parsed_args.account,
                                        properties=parsed_args.property)


class UnsetAccount(Command):
    """Delete account properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("account", metavar="<account>",
                            help="Account to modify")
        parser.add_argument("-p", "--property", metavar="<key>",
                            action="append", default=[], required=True,
                            help="Property to delete (repeatable)")
        return parser

    def take_action(self, parsed_args):
        self.api.account_del_properties(account=parsed_args.account,
                                        properties=parsed_args.property)


class ListAccounts(Lister):
    """List the accounts of the namespace."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--stats", "--long", dest="long_listing", default=False,
            action=ValueFormatStoreTrueAction,
            help="Show each account's statistics (output format 'value')")
        return parser

    def take_action(self, parsed_args):
        accounts = self.api.account_list()
        if not parsed_args.long_listing:
            return ("Name",), ((name,) for name in accounts)

        def stats():
            for name in accounts:
                data = self.api.account_show(account=name)
                yield (data["id"], data["bytes"], data["containers"],
                       data["objects"], data["ctime"], data["metadata"])

        return ("Name", "bytes", "containers", "objects", "ctime",
                "metadata"), stats()


class RefreshAccount(Command):
    """Recompute the counters of an account (or all) from its containers."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("account", nargs="?", metavar="<account>",
                            help="Account to refresh")
        parser.add_argument("--all", dest="all_accounts", action="store_true",
                            help="Refresh every account (<account> ignored)")
        return parser

    def take_action(self, parsed_args):
        if parsed_args.all_accounts:
            self.api.account_refresh()
        elif parsed_args.account is not None:
            self.api.account_refresh(account=parsed_args.account)
        else:
            raise argparse.ArgumentError(None,
                                         "Missing value for account or --all")


class FlushAccount(Command):
    """Forget the account's container records (not the containers)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("account", metavar="<account>",
                            help="Account to flush")
        return parser

    def take_action(self, parsed_args):
        self.api.account_flush(account=parsed_args.account)
