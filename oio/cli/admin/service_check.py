"""`openio-admin directory|meta0|meta1|rdir|rawx check`."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin import common
from oio.cli.admin.item_check import ItemCheckCommand
from oio.crawler.integrity import Checker, Target


class BaseCheckCommand(Lister):
    """Base of the service checks: (Status, Errors) rows, exit 1 unless
    every check passed."""

    columns = ("Status", "Errors")
    check = ""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--catalog", type=str,
                            help="File of the expected services, one "
                                 "'type host port' a line (default: the "
                                 "services registered in the conscience)")
        return parser

    def take_action(self, parsed_args):
        from oio.admin.services import ServiceChecker, load_catalog

        clients = common.AdminClients(self.app)
        catalog = load_catalog(parsed_args.catalog) \
            if parsed_args.catalog else None
        checker = ServiceChecker(clients.admin, clients.rdir_dispatcher,
                                 catalog)

        def rows():
            yield from getattr(checker, f"check_{self.check}")()
            self.success = checker.success
        return self.columns, rows()


class Meta0Check(BaseCheckCommand):
    """Check the meta0 services: registered, up, and serving prefixes."""

    check = "meta0"


class Meta1Check(BaseCheckCommand):
    """Check the meta1 services: every expected one registered, scored."""

    check = "meta1"


class DirectoryCheck(BaseCheckCommand):
    """Check the directory is bootstrapped: every prefix assigned, every
    meta0 with the same mapping, every meta1 used."""

    check = "directory"


class RdirCheck(BaseCheckCommand):
    """Check every rawx and meta2 volume has an rdir, and the rdir are up."""

    check = "rdir"


class RawxCheck(ItemCheckCommand):
    """Check every chunk a rawx holds (as listed by its rdir), and quickly
    the object, container and account of each. Output format: value."""

    columns = ("Chunk", "Status", "Errors")

    @property
    def formatter_default(self):
        return "value"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_services(parser)
        return parser

    def targets(self, parsed_args):
        clients = common.AdminClients(self.app)
        services = common.load_services(clients, parsed_args, "rawx")
        out = []
        for service in services:
            addr = clients.admin.resolve("rawx", service)
            for cid, content_id, chunk_id, _ in clients.rdir.chunk_fetch(
                    service):
                out.append((Target(None, chunk=f"http://{addr}/{chunk_id}",
                                   content_id=content_id, cid=cid), 0))
        return out

    def format_results(self, checker: Checker):
        for target in checker.run():
            if target.type != "chunk":
                continue
            result = target.latest_error_result()
            if result is None:
                yield target.chunk, "OK", None
            else:
                self.success = False
                yield target.chunk, "error", result.errors_to_str()
