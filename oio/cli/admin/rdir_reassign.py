"""`openio-admin rdir reassign` (oio.rdir.dispatcher.RdirDispatcher)."""

from __future__ import annotations

import logging

from oio.cli import Lister
from oio.cli.admin import common
from oio.common.exceptions import OioException

LOG = logging.getLogger(__name__)
TIMEOUTS = {"connection_timeout": 30.0, "read_timeout": 90.0}


class RdirReassign(Lister):
    """Give a new rdir service to volumes of a type (all, or one)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service_type",
                            help="Service type whose volumes get a new rdir "
                                 "(rawx or meta2)")
        parser.add_argument("--max-per-rdir", metavar="<N>", type=int,
                            help="Maximum number of volumes per rdir")
        parser.add_argument("--min-dist", metavar="<N>", type=int,
                            help="Minimum location distance between a "
                                 "volume and its rdir")
        parser.add_argument("--service-id", metavar="<service-id>",
                            help="Only reassign this service")
        parser.add_argument("--dry-run", action="store_true",
                            help="Show the new assignments without saving "
                                 "them")
        return parser

    def take_action(self, parsed_args):
        from oio.cli.rdir.rdir import format_assignments

        dispatcher = common.AdminClients(self.app).rdir_dispatcher
        try:
            services = dispatcher.assign_services(
                parsed_args.service_type, reassign=True,
                service_id=parsed_args.service_id,
                max_per_rdir=parsed_args.max_per_rdir,
                min_dist=parsed_args.min_dist, dry_run=parsed_args.dry_run,
                **TIMEOUTS)
        except OioException as err:
            self.success = False
            LOG.error("Failed to reassign all %s services: %s",
                      parsed_args.service_type, err)
            services, _ = dispatcher.get_assignments(parsed_args.service_type,
                                                     **TIMEOUTS)
        return format_assignments(services,
                                  parsed_args.service_type.capitalize())
