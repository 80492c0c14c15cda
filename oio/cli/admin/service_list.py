"""`openio-admin meta2|rawx list containers` (from the rdir indexes)."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin import common
from oio.cli.utils import ValueFormatStoreTrueAction
from oio.common.exceptions import ClientException


class ServiceListCommand(Lister):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_service(parser)
        parser.add_argument("--no-paging", dest="no_paging", default=False,
                            action=ValueFormatStoreTrueAction,
                            help="List every element, without paging "
                                 "(output format 'value')")
        return parser


class RawxListContainers(ServiceListCommand):
    """List the containers having chunks on a rawx, with their chunk
    counts (from the rdir of the rawx)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--no-translation", action="store_true",
                            help="Show container IDs instead of "
                                 "account/container names")
        return parser

    def take_action(self, parsed_args):
        clients = common.AdminClients(self.app)
        status = clients.rdir.status(parsed_args.service)
        names: dict[str, str] = {}

        def name(cid: str) -> str:
            if parsed_args.no_translation:
                return cid
            if cid not in names:
                try:
                    account, container = self.api.resolve_cid(cid)
                    names[cid] = f"{account}/{container}"
                except ClientException:
                    names[cid] = cid     # deleted: show its ID
            return names[cid]

        def rows():
            for cid, info in sorted((status.get("container") or {}).items()):
                yield name(cid), info.get("total", 0)
            yield "Total", (status.get("chunk") or {}).get("total", 0)
        return ("Name", "Chunks"), rows()


class Meta2ListContainers(ServiceListCommand):
    """List the containers hosted by a meta2 service (from its rdir)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--limit", metavar="<limit>", type=int,
                            default=1000,
                            help="Maximum number of results (default: 1000)")
        parser.add_argument("--marker", metavar="<marker>",
                            help="List after this container path")
        parser.add_argument("--prefix", metavar="<prefix>",
                            help="Only containers whose path starts so")
        return parser

    def take_action(self, parsed_args):
        rdir = common.AdminClients(self.app).rdir
        if parsed_args.no_paging:
            records = rdir.meta2_index_fetch_all(parsed_args.service,
                                                 prefix=parsed_args.prefix)
            return ("Name",), ((r["container_url"],) for r in records)
        page = rdir.meta2_index_fetch(
            parsed_args.service, prefix=parsed_args.prefix,
            marker=parsed_args.marker, limit=parsed_args.limit)
        # A page shows paths without the namespace, as 7.2 does.
        return ("Name",), ((r["container_url"].split("/", 1)[-1],)
                           for r in page.get("records") or ())
