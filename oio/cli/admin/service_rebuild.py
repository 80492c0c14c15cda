"""`openio-admin meta1 rebuild` and `openio-admin meta2 rebuild`
(oio.rebuilder)."""

from __future__ import annotations

import logging

from oio.cli import Lister, clients
from oio.cli.admin.item_move import sqlx_admin
from oio.common.exceptions import CommandError
from oio.rebuilder import runner

LOG = logging.getLogger(__name__)


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

    def take_action(self, parsed_args):
        from oio.rebuilder.meta1_rebuilder import Meta1Rebuilder

        manager = self.app.client_manager
        rebuilder = Meta1Rebuilder(sqlx_admin(manager),
                                   clients.meta0(manager),
                                   clients.meta1_digits(manager), logger=LOG)
        work = self.runner(rebuilder.rebuild, parsed_args)
        for base, errors in work.run(rebuilder.items()):
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
