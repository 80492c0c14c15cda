"""`openio-admin meta1|meta2|oioproxy decache`."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin import common
from oio.common.exceptions import OioException


class DecacheCommand(Lister):
    """Base of decache: one (Id, Status, Errors) row per service."""

    columns = ("Id", "Status", "Errors")
    service_type = ""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_services(parser)
        return parser

    def flush(self, admin, service: str, parsed_args) -> None:
        raise NotImplementedError

    def take_action(self, parsed_args):
        clients = common.AdminClients(self.app)
        services = common.load_services(clients, parsed_args,
                                        self.service_type)

        def rows():
            for service in services:
                try:
                    self.flush(clients.admin, service, parsed_args)
                    yield service, "OK", None
                except OioException as err:
                    self.success = False
                    yield service, "error", str(err)
        return self.columns, rows()


class ProxyDecache(DecacheCommand):
    """Flush the caches of proxies (both, unless --high or --low)."""

    service_type = "oioproxy"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--high", action="store_false", dest="low",
                            help="Flush only the 'high' cache (meta0 "
                                 "services and prefix → meta1 mapping)")
        parser.add_argument("--low", action="store_false", dest="high",
                            help="Flush only the 'low' cache (reference → "
                                 "services, from meta1)")
        return parser

    def flush(self, admin, service, parsed_args):
        admin.proxy_flush_cache(admin.resolve("oioproxy", service),
                                high=parsed_args.high, low=parsed_args.low)


class SqliterepoDecacheCommand(DecacheCommand):
    def flush(self, admin, service, parsed_args):
        admin.service_flush_cache(self.service_type, service)


class Meta1Decache(SqliterepoDecacheCommand):
    """Flush the caches of meta1 services."""

    service_type = "meta1"


class Meta2Decache(SqliterepoDecacheCommand):
    """Flush the caches of meta2 services."""

    service_type = "meta2"
