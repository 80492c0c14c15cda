"""`openio-admin account|container|object|chunk check` (oio.crawler.integrity)."""

from __future__ import annotations

from oio.cli import Lister
from oio.cli.admin import common
from oio.cli.progress import counted
from oio.crawler.integrity import DEFAULT_DEPTH, Checker, Target


class ItemCheckCommand(Lister):
    """Base of the check commands: one row per checked item, exit 1 when
    any is broken."""

    columns = ("Type", "Item", "Status", "Errors")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--attempts", type=int, default=1,
                            help="Attempts of each listing request "
                                 "(default: 1)")
        parser.add_argument("--checksum", action="store_true",
                            help="Have each rawx read its chunks and check "
                                 "their hash (slow)")
        parser.add_argument("--concurrency", "--workers", type=int,
                            default=30,
                            help="Checks run in parallel (default: 30)")
        parser.add_argument("-o", "--output",
                            help="Append the items in error to this file "
                                 "(one per line, fields separated by spaces)")
        parser.add_argument("--output-for-chunk-rebuild",
                            help="Append the chunks in error to this file, "
                                 "as 'cid|content|chunk' lines")
        return parser

    def make_checker(self, parsed_args) -> Checker:
        return Checker(
            self.api, rdir=common.AdminClients(self.app).rdir,
            concurrency=parsed_args.concurrency,
            check_hash=parsed_args.checksum,
            request_attempts=parsed_args.attempts,
            error_file=parsed_args.output,
            rebuild_file=parsed_args.output_for_chunk_rebuild)

    def targets(self, parsed_args) -> list[tuple[Target, int]]:
        raise NotImplementedError

    def format_results(self, checker: Checker):
        for target in checker.run():
            result = target.latest_error_result()
            if result is None:
                yield target.type, repr(target), "OK", str(None)
            else:
                self.success = False
                yield (target.type, repr(target), "error",
                       result.errors_to_str())

    def take_action(self, parsed_args):
        checker = self.make_checker(parsed_args)
        for target, depth in self.targets(parsed_args):
            checker.check(target, depth)
        return self.columns, counted(self.format_results(checker), "checked",
                                     lambda row: row[2] != "OK")


class RecursiveCheckCommand(ItemCheckCommand):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--depth", "--max-depth", type=int, default=DEFAULT_DEPTH,
            help="Levels checked below the item: 0 checks only the item; "
                 "account > container > object > chunk (default: "
                 f"{DEFAULT_DEPTH})")
        return parser


class AccountCheck(RecursiveCheckCommand):
    """Check accounts and, down to --depth, their containers, objects and
    chunks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_accounts(parser)
        return parser

    def targets(self, parsed_args):
        return [(Target(account), parsed_args.depth)
                for account in common.load_accounts(self.app, parsed_args)]


class ContainerCheck(RecursiveCheckCommand):
    """Check containers (their account quickly) and, down to --depth,
    their objects and chunks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_containers(parser)
        return parser

    def targets(self, parsed_args):
        return [(Target(account, name), parsed_args.depth)
                for account, name, _ in common.resolve_containers(
                    self.app, parsed_args)]


class ObjectCheck(RecursiveCheckCommand):
    """Check objects (their account and container quickly) and their
    chunks."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_objects(parser)
        return parser

    def targets(self, parsed_args):
        account, _, objects = common.resolve_objects(self.app, parsed_args)
        return [(Target(account, container, obj, version=version),
                 parsed_args.depth)
                for container, obj, version in objects]


class ChunkCheck(ItemCheckCommand):
    """Check chunks (their account, container and object quickly)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_chunks(parser)
        return parser

    def targets(self, parsed_args):
        return [(Target(None, chunk=url), 0) for url in parsed_args.chunks]
