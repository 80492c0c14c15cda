"""`openio-admin <service> get-config|set-config`, `oioproxy ...-config`."""

from __future__ import annotations

from oio.cli import Lister, ShowOne
from oio.cli.admin import common
from oio.cli.utils import KeyValueAction


def _proxy_argument(parser) -> None:
    parser.add_argument("service", metavar="<service_id>", nargs="?",
                        help="Address of the proxy (default: the local one)")


class ServiceGetConfig(ShowOne):
    """Show the live configuration of a service (meta0, meta1, meta2,
    sqlx, conscience)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_service(parser)
        return parser

    def take_action(self, parsed_args):
        kind = self.cmd_name.split()[0]
        conf = common.AdminClients(self.app).admin.service_get_live_config(
            kind, parsed_args.service)
        return tuple(zip(*sorted(conf.items()), strict=True))


class ProxyGetConfig(ShowOne):
    """Show the live configuration of a proxy."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _proxy_argument(parser)
        return parser

    def take_action(self, parsed_args):
        conf = common.AdminClients(self.app).admin.proxy_get_live_config(
            parsed_args.service)
        return tuple(zip(*sorted(conf.items()), strict=True))


class SetConfigCommand(Lister):
    """Base of set-config: one (Name, Modified) row per parameter, exit 1
    when one was refused."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("-p", "--param", dest="params",
                            metavar="<key=value>", action=KeyValueAction,
                            help="Parameter to set (repeatable)")
        return parser

    def set_config(self, parsed_args) -> dict:
        raise NotImplementedError

    def take_action(self, parsed_args):
        results = self.set_config(parsed_args)
        self.success = all(results.values())
        return ("Name", "Modified"), sorted(results.items())


class ServiceSetConfig(SetConfigCommand):
    """Change the live configuration of a service (meta0, meta1, meta2,
    sqlx)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_service(parser)
        return parser

    def set_config(self, parsed_args):
        kind = self.cmd_name.split()[0]
        return common.AdminClients(self.app).admin.service_set_live_config(
            kind, parsed_args.service, parsed_args.params or {})


class ProxySetConfig(SetConfigCommand):
    """Change the live configuration of a proxy."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _proxy_argument(parser)
        return parser

    def set_config(self, parsed_args):
        return common.AdminClients(self.app).admin.proxy_set_live_config(
            parsed_args.service, parsed_args.params or {})
