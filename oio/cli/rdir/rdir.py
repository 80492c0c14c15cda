"""`openio rdir ...`: which rdir service indexes each rawx (or meta2)
volume, and the assignment of an rdir to the volumes without one
(oio.rdir.dispatcher.RdirDispatcher holds the logic)."""

from __future__ import annotations

import logging

from oio.cli import Lister, clients
from oio.common.exceptions import OioException

LOG = logging.getLogger(__name__)
TIMEOUTS = {"connection_timeout": 30.0, "read_timeout": 90.0}


def _id(service: dict) -> str:
    return (service.get("tags") or {}).get("tag.service_id") or service["addr"]


def format_assignments(services: list[dict], title: str = "Rawx"
                       ) -> tuple[tuple, list[tuple]]:
    """One row per service: its rdir, itself, and both locations."""
    rows = []
    for srv in services:
        rdir = srv.get("rdir") or {"addr": "n/a", "tags": {}}
        rows.append((_id(rdir), _id(srv),
                     (rdir.get("tags") or {}).get("tag.loc"),
                     (srv.get("tags") or {}).get("tag.loc")))
    rows.sort(key=lambda r: tuple(str(x) for x in r))
    return ("Rdir", title, "Rdir location", f"{title} location"), rows


def aggregate_assignments(services: list[dict], all_rdir: list[dict]
                          ) -> tuple[tuple, list[tuple]]:
    """One row per rdir: how many volumes it indexes, and which."""
    managed: dict[str, list[str]] = {_id(r): [] for r in all_rdir}
    for srv in services:
        rdir = srv.get("rdir")
        managed.setdefault(_id(rdir) if rdir else "n/a", []).append(_id(srv))
    rows = sorted((rdir, len(ids), " ".join(ids))
                  for rdir, ids in managed.items())
    return ("Rdir", "Number of bases", "Bases"), rows


class RdirBootstrap(Lister):
    """Assign an rdir service to every volume of a type that has none."""

    reassign = False        # RdirReassign (openio-admin): a new rdir for all

    def get_parser(self, prog_name):
        verb = "reassign" if self.reassign else "assign"
        parser = super().get_parser(prog_name)
        parser.add_argument("service_type",
                            help=f"Service type whose volumes get "
                                 f"{'a new' if self.reassign else 'an'} rdir "
                                 "(rawx or meta2)")
        parser.add_argument("--max-per-rdir", metavar="<N>", type=int,
                            help="Maximum number of volumes per rdir")
        parser.add_argument("--min-dist", metavar="<N>", type=int,
                            help="Minimum location distance between a "
                                 "volume and its rdir")
        parser.add_argument("--service-id", metavar="<service-id>",
                            help=f"Only {verb} this service")
        parser.add_argument("--dry-run", action="store_true",
                            help="Show the assignments without saving them")
        return parser

    def take_action(self, parsed_args):
        dispatcher = clients.rdir_dispatcher(self.app.client_manager)
        try:
            services = dispatcher.assign_services(
                parsed_args.service_type, reassign=self.reassign,
                max_per_rdir=parsed_args.max_per_rdir,
                min_dist=parsed_args.min_dist,
                service_id=parsed_args.service_id,
                dry_run=parsed_args.dry_run, **TIMEOUTS)
        except OioException as err:
            self.success = False
            LOG.error("Failed to %s all %s services: %s",
                      "reassign" if self.reassign else "assign",
                      parsed_args.service_type, err)
            services, _ = dispatcher.get_assignments(parsed_args.service_type,
                                                     **TIMEOUTS)
        return format_assignments(services,
                                  parsed_args.service_type.capitalize())


class RdirAssignments(Lister):
    """Show which rdir service indexes each volume of a type."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service_type",
                            help="Service type whose assignments to show "
                                 "(rawx or meta2)")
        parser.add_argument("--aggregated", action="store_true",
                            help="One line per rdir with its volumes")
        return parser

    def take_action(self, parsed_args):
        dispatcher = clients.rdir_dispatcher(self.app.client_manager)
        services, all_rdir = dispatcher.get_assignments(
            parsed_args.service_type, **TIMEOUTS)
        if parsed_args.aggregated:
            return aggregate_assignments(services, all_rdir)
        return format_assignments(services,
                                  parsed_args.service_type.capitalize())
