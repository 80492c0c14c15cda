"""`openio-admin rawx rebuild`, `chunk rebuild` (oio.blob.rebuilder), and
their distributed forms."""

from __future__ import annotations

import logging
import socket

from oio.blob import rebuilder as blob
from oio.cli import Lister, clients
from oio.cli.progress import counted
from oio.common import exceptions as exc
from oio.common.exceptions import CommandError

LOG = logging.getLogger(__name__)


class ChunkRebuildCommand(Lister):
    """Rebuild chunks: one row per chunk (`Chunk`, `Status`, `Errors`),
    exit 1 when one could not be rebuilt. A chunk no content references
    any more (deleted meanwhile) is an `orphan`, not an error. Progress is
    logged every --report-interval seconds, and counted live (done/total,
    rate, ETA) on a terminal."""

    columns = ("Chunk", "Status", "Errors")
    distributed = False

    @property
    def formatter_default(self):
        return "value"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--report-interval", type=int,
            help="Seconds between progress reports in the log (default "
                 f"{blob.DEFAULT_REPORT_INTERVAL})")
        parser.add_argument(
            "--items-per-second", type=int,
            help="Maximum chunks rebuilt per second, 0 for no limit "
                 f"(default {blob.DEFAULT_ITEMS_PER_SECOND})")
        if self.distributed:
            parser.add_argument(
                "--distributed-tube", default="oio-rebuild",
                help="Tube of the oio-blob-rebuilder workers "
                     "(default oio-rebuild)")
        else:
            parser.add_argument(
                "--concurrency", type=int,
                help="Objects rebuilt at once (default "
                     f"{blob.DEFAULT_CONCURRENCY})")
            parser.add_argument("--dry-run", action="store_true",
                                help="Show what would be rebuilt, do nothing")
            parser.add_argument(
                "--delete-faulty-chunks", action="store_true",
                help="Delete the lost chunk where it still is (a corrupted "
                     "copy on a live rawx)")
        return parser

    def rebuild(self, parsed_args, items, rawx_id=None, total=None):
        """The results of rebuilding `items`, here or by the workers."""
        if self.distributed:
            return self.dispatch(parsed_args, items, total)
        operator = clients.chunk_operator(self.app.client_manager, LOG)
        return blob.BlobRebuilder(
            operator, rawx_id=rawx_id, dry_run=parsed_args.dry_run,
            try_chunk_delete=parsed_args.delete_faulty_chunks,
            concurrency=parsed_args.concurrency,
            items_per_second=parsed_args.items_per_second,
            report_interval=parsed_args.report_interval, total=total,
            logger=LOG).run(items)

    def dispatch(self, parsed_args, items, total=None):
        from oio.blob.rebuild_tasks import DistributedDispatcher
        from oio.blob.rebuilder_cmd import worker_queues

        manager = self.app.client_manager
        tube = parsed_args.distributed_tube
        queues = worker_queues({"namespace": manager.namespace}, tube)
        if not queues:
            raise CommandError(f"No beanstalkd has rebuild workers on tube "
                               f"{tube} (oio-blob-rebuilder --beanstalkd)")
        rate = blob.DEFAULT_ITEMS_PER_SECOND \
            if parsed_args.items_per_second is None \
            else parsed_args.items_per_second
        dispatcher = DistributedDispatcher(manager.namespace, queues, tube,
                                           items_per_second=rate, logger=LOG)
        stats = blob.RebuildStats(total)
        interval = parsed_args.report_interval or blob.DEFAULT_REPORT_INTERVAL
        LOG.info("%s", stats.line("START"))
        for result in dispatcher.run(items):
            stats.add(result)
            if stats.clock() - stats.last_report >= interval:
                LOG.info("%s", stats.line("RUN"))
            yield result
        LOG.info("%s", stats.line("DONE"))

    def rows(self, results, total=None):
        # The progress lines are what this command shows while it works.
        LOG.setLevel(logging.INFO)
        namespace = self.app.client_manager.namespace

        def out():
            for result in results:
                if result.orphan:
                    status = "orphan"
                elif result.error:
                    status = "error"
                    self.success = False
                else:
                    status = "OK"
                yield result.item.describe(namespace), status, result.error
        return self.columns, counted(out(), "rebuilt",
                                     lambda row: row[1] == "error", total)


class RawxRebuild(ChunkRebuildCommand):
    """Rebuild the chunks of a lost rawx volume: those its rdir lists
    with a date before the volume's incident date (`openio volume admin
    incident`). The volume's rdir is locked while the rebuild runs."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service_id", metavar="<service_id>",
                            help="ID of the rawx service to rebuild")
        parser.add_argument(
            "--rdir-fetch-limit", type=int,
            default=blob.DEFAULT_RDIR_FETCH_LIMIT,
            help="Records of each rdir answer (default "
                 f"{blob.DEFAULT_RDIR_FETCH_LIMIT})")
        return parser

    def take_action(self, parsed_args):
        manager = self.app.client_manager
        rdir = clients.rdir(manager)
        volume = parsed_args.service_id
        incident = self.incident(rdir, volume)
        total = None
        if incident:
            total = rdir.status(volume).get("chunk", {}).get("to_rebuild")

        def results():
            if not incident:
                LOG.warning("No item to process: volume %s has no incident "
                            "date (openio volume admin incident %s)",
                            volume, volume)
                return
            with RdirLock(rdir, volume, f"rebuilder on {socket.gethostname()}"):
                yield from self.rebuild(parsed_args, blob.items_from_rdir(
                    rdir, volume, limit=parsed_args.rdir_fetch_limit),
                    rawx_id=volume, total=total)
        return self.rows(results(), total)

    def incident(self, rdir, volume: str) -> int | None:
        try:
            return rdir.admin_incident_get(volume)
        except exc.VolumeException as err:
            raise CommandError(str(err)) from None
        except exc.NotFound:
            # No index: a rawx that never held a chunk has nothing to lose.
            known = {key for srv in clients.conscience(
                self.app.client_manager).all_services("rawx")
                for key in (srv.get("addr"), srv.get("id"),
                            (srv.get("tags") or {}).get("tag.service_id"))}
            if volume in known:
                return None
            raise CommandError(f"{volume} is not a rawx service of the "
                               "namespace") from None


class ChunkRebuild(ChunkRebuildCommand):
    """Rebuild the chunks listed in a file: `cid|content_id|chunk` lines,
    chunk being an ID, a URL or a position (`#` lines are skipped)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--input-file", metavar="<filename>",
                            help="File of chunks to rebuild")
        return parser

    def take_action(self, parsed_args):
        if not parsed_args.input_file:
            raise CommandError("Missing input file")
        try:
            with open(parsed_args.input_file, encoding="utf-8"):
                pass
        except OSError as err:
            raise CommandError(f"Cannot read {parsed_args.input_file}: "
                               f"{err.strerror}") from None

        def results():
            try:
                yield from self.rebuild(
                    parsed_args, blob.items_from_file(parsed_args.input_file))
            except ValueError as err:
                LOG.error("%s", err)
                self.success = False
        return self.rows(results())


class RawxDistributedRebuild(RawxRebuild):
    """Rebuild the chunks of a lost rawx volume (as `rawx rebuild`) with
    the oio-blob-rebuilder daemons of every host, through beanstalkd."""

    distributed = True


class ChunkDistributedRebuild(ChunkRebuild):
    """Rebuild the chunks listed in a file (as `chunk rebuild`) with the
    oio-blob-rebuilder daemons of every host, through beanstalkd."""

    distributed = True


class RdirLock:
    """The rdir admin lock of a volume, held for a whole run (403 when
    another tool holds it)."""

    def __init__(self, rdir, volume: str, who: str):
        self.rdir, self.volume, self.who = rdir, volume, who

    def __enter__(self) -> RdirLock:
        try:
            self.rdir.admin_lock(self.volume, self.who)
        except exc.Forbidden as err:
            raise CommandError(f"Volume {self.volume} is locked: "
                               f"{err}") from None
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.rdir.admin_unlock(self.volume)
        except exc.OioException as err:
            LOG.warning("Could not unlock volume %s: %s", self.volume, err)
