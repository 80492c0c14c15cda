"""`openio-admin meta1 rebuild` and `openio-admin meta2 rebuild`
(oio.rebuilder)."""

from __future__ import annotations

import logging

from oio.cli import Lister, clients
from oio.cli.admin.blob_rebuild import RawxDistributedRebuild, RawxRebuild
from oio.cli.admin.item_move import sqlx_admin
from oio.common.exceptions import CommandError
from oio.rebuilder import runner

LOG = logging.getLogger(__name__)

# 7.2 defines the rawx rebuild commands here; ours live with the chunk
# ones (oio.cli.admin.blob_rebuild) and are named here too.
RawxRebuildCommand = RawxRebuild
__all__ = ["AccountServiceRebuild", "Meta1Rebuild", "Meta2Rebuild",
           "RawxDistributedRebuild", "RawxRebuild", "RawxRebuildCommand",
           "ServiceRebuildCommand"]


class ServiceRebuildCommand(Lister):
    """Options of the rebuild tools; progress reports are logged (stderr)
    at the start, every --report-interval seconds and at the end."""

    columns: tuple[str, ...] = ()
    what = "items"

    @property
    def formatter_default(self):
        return "value"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--report-interval", type=int,
            help="Seconds between progress reports (default "
                 f"{runner.DEFAULT_REPORT_INTERVAL})")
        parser.add_argument(
            "--items-per-second", type=int,
            help="Maximum items started per second, 0 for no limit "
                 f"(default {runner.DEFAULT_ITEMS_PER_SECOND})")
        parser.add_argument(
            "--concurrency", type=int,
            help="Items handled at once (default "
                 f"{runner.DEFAULT_CONCURRENCY})")
        return parser

    def runner(self, process, parsed_args) -> runner.Runner:
        # The reports are what this command shows while it works.
        LOG.setLevel(logging.INFO)
        return runner.Runner(process, what=self.what,
                             concurrency=parsed_args.concurrency,
                             items_per_second=parsed_args.items_per_second,
                             report_interval=parsed_args.report_interval,
                             logger=LOG)


class Meta1Rebuild(ServiceRebuildCommand):
    """Rebuild the meta1 bases: each replica the meta0 map gives a base
    and that lacks its file gets a copy from the master. The CIDs of the
    bases that could not be rebuilt are printed; exit 1 if there are."""

    columns = ("Prefix", "Status", "Errors")
    what = "prefixes"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--input-file",
            help="Rebuild only the bases of the container IDs this file "
                 "lists, one a line (default: every base of the meta0 map)")
        return parser

    def take_action(self, parsed_args):
        from oio.rebuilder.meta1_rebuilder import Meta1Rebuilder

        manager = self.app.client_manager
        rebuilder = Meta1Rebuilder(sqlx_admin(manager),
                                   clients.meta0(manager),
                                   clients.meta1_digits(manager), logger=LOG)
        if parsed_args.input_file:
            try:
                items = rebuilder.items_from_file(parsed_args.input_file)
            except (OSError, ValueError) as err:
                raise CommandError(str(err)) from None
        else:
            items = rebuilder.items()
        work = self.runner(rebuilder.rebuild, parsed_args)
        for base, errors in work.run(items):
            if errors:
                LOG.error("ERROR while rebuilding %s: %s", base,
                          "; ".join(errors))
                self.app.stdout.write(rebuilder.cid(base) + "\n")
        self.success = work.success
        return self.columns, []


class Meta2Rebuild(ServiceRebuildCommand):
    """Rebuild the container bases of a meta2 service (those its rdir
    index lists): each replica lacking a base gets a copy from the master,
    then the slaves synchronize. One row per container."""

    columns = ("Reference", "Status", "Errors")
    what = "references"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service", metavar="<service_id>",
                            help="ID of the meta2 service to rebuild")
        parser.add_argument(
            "--rdir-fetch-limit", type=int,
            help="Maximum entries of each rdir answer (default 100)")
        return parser

    def take_action(self, parsed_args):
        from oio.rebuilder.meta2_rebuilder import Meta2Rebuilder, NoIndex

        manager = self.app.client_manager
        known = {key for srv in clients.conscience(manager).all_services(
            "meta2") for key in (srv["addr"], srv["id"])}
        if parsed_args.service not in known:
            raise CommandError(f"{parsed_args.service} is not a meta2 "
                               "service of the namespace")
        rebuilder = Meta2Rebuilder(
            sqlx_admin(manager), clients.rdir(manager), parsed_args.service,
            manager.namespace, rdir_fetch_limit=parsed_args.rdir_fetch_limit,
            logger=LOG)
        work = self.runner(rebuilder.rebuild, parsed_args)

        def rows():
            try:
                for cid, errors in work.run(rebuilder.items()):
                    yield (rebuilder.reference(cid),
                           "error" if errors else "OK",
                           "\n".join(errors) or None)
            except NoIndex as err:
                self.success = False
                LOG.error("%s", err)
                return
            self.success = work.success
        return self.columns, rows()


class AccountServiceRebuild(ServiceRebuildCommand):
    """Rebuild the account service from the meta2 bases: recompute the
    counters of every account, have every one of their containers report
    its statistics again, then announce the containers the meta2 services
    hold that the account service lacks. One row per entry."""

    columns = ("Entry", "Status", "Errors")
    what = "entries"

    def take_action(self, parsed_args):
        from oio.admin.account_rebuild import AccountServiceRebuilder
        from oio.admin.repair import Repairer
        from oio.cli.admin.common import AdminClients
        from oio.common.crawl_stats import CrawlStats
        from oio.common.pacing import Pacer

        LOG.setLevel(logging.INFO)
        admin = AdminClients(self.app)
        api = self.app.client_manager.storage
        rebuilder = AccountServiceRebuilder(
            api, Repairer(api, admin.conscience), admin.namespace,
            admin.conscience, admin.rdir, logger=LOG)
        # Entries are refreshed one at a time, as they are listed.
        pacer = Pacer(runner.DEFAULT_ITEMS_PER_SECOND
                      if parsed_args.items_per_second is None
                      else parsed_args.items_per_second)
        stats = CrawlStats("entries", ("errors",), LOG,
                           runner.DEFAULT_REPORT_INTERVAL
                           if parsed_args.report_interval is None
                           else parsed_args.report_interval)

        def rows():
            stats.report("START")
            for entry, errors in rebuilder.run():
                stats.add("entries")
                if errors:
                    stats.add("errors")
                    self.success = False
                yield entry, "error" if errors else "OK", \
                    "\n".join(errors) or None
                stats.tick()
                pacer.wait()
            stats.report("DONE")
        return self.columns, rows()
