"""`openio-admin meta0|meta1|meta2|sqlx info`."""

from __future__ import annotations

from oio.cli import ShowOne, flat_dict_from_dict
from oio.cli.admin import common


class ServiceInfo(ShowOne):
    """Show what a meta service says of itself."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_service(parser)
        return parser

    def take_action(self, parsed_args):
        kind = self.cmd_name.split()[0]
        info = common.AdminClients(self.app).admin.service_get_info(
            kind, parsed_args.service)
        return tuple(zip(*sorted(flat_dict_from_dict(parsed_args,
                                                     info).items()),
                         strict=True))
