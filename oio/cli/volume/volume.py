"""`openio volume ...`: a rawx volume as its rdir indexes it (chunk counts
per container, admin lock, incident date), and the rdir assignments
(deprecated upstream in favour of `openio rdir ...`)."""

from __future__ import annotations

import json
import logging
import time

from oio.cli import Lister, ShowOne, clients
from oio.cli.rdir.rdir import (
    TIMEOUTS,
    aggregate_assignments,
    format_assignments,
)
from oio.common.exceptions import OioException

LOG = logging.getLogger(__name__)


class _RdirMixin:
    @property
    def rdir(self):
        if getattr(self, "_rdir", None) is None:
            self._rdir = clients.rdir(self.app.client_manager)
        return self._rdir


def _volumes(parser, nargs: str = "+") -> None:
    parser.add_argument("volumes", metavar="<volumes>", nargs=nargs,
                        help="IDs of the rawx services")


class ShowAdminVolume(_RdirMixin, ShowOne):
    """Show a volume's lock and incident date (only the volume when it has
    neither)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>",
                            help="ID of the rawx service")
        return parser

    def take_action(self, parsed_args):
        data = self.rdir.admin_show(parsed_args.volume) or {}
        rows = [("volume", parsed_args.volume), *sorted(data.items())]
        return tuple(zip(*rows, strict=True))


class ClearAdminVolume(_RdirMixin, Lister):
    """Clear a volume's incident date (and chunk records, on demand)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _volumes(parser)
        parser.add_argument("--all", dest="clear_all", action="store_true",
                            default=False, help="Clear every chunk record")
        parser.add_argument("--before-incident", action="store_true",
                            default=False,
                            help="Clear the chunk records older than the "
                                 "incident date")
        parser.add_argument("--repair", action="store_true", default=False,
                            help="Repair the chunk records")
        return parser

    def take_action(self, parsed_args):
        rows = []
        for volume in parsed_args.volumes:
            try:
                body = self.rdir.admin_clear(
                    volume, clear_all=parsed_args.clear_all,
                    before_incident=parsed_args.before_incident,
                    repair=parsed_args.repair)
                rows.append((volume, True, body))
            except OioException as err:
                self.success = False
                rows.append((volume, False, str(err)))
        return ("Volume", "Success", "Message"), rows


class ShowVolume(_RdirMixin, ShowOne):
    """Show how many chunks the rdir indexes for a volume, per container."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>",
                            help="ID of the rawx service")
        return parser

    def take_action(self, parsed_args):
        info = self.rdir.status(parsed_args.volume, read_timeout=60.0)
        data = {"chunk": info.get("chunk")}
        for cid, stats in (info.get("container") or {}).items():
            data[f"container.{cid}"] = json.dumps(stats)
        return tuple(zip(*sorted(data.items()), strict=True))


class IncidentAdminVolume(_RdirMixin, Lister):
    """Declare an incident on volumes (chunks older than it are to be
    rebuilt)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _volumes(parser)
        parser.add_argument("--date", metavar="<key>", default=[], type=int,
                            action="append",
                            help="Incident date, seconds since the Epoch "
                                 "(one per volume, default now)")
        return parser

    def take_action(self, parsed_args):
        dates = list(parsed_args.date)
        rows = []
        for volume in parsed_args.volumes:
            date = dates.pop(0) if dates else int(time.time())
            self.rdir.admin_incident_set(volume, date)
            rows.append((volume, date))
        return ("Volume", "Date"), rows


class LockAdminVolume(_RdirMixin, Lister):
    """Lock volumes, so that two rebuilders do not work on the same one."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _volumes(parser)
        parser.add_argument("--key", metavar="<key>", required=True,
                            help="Who locks the volume")
        return parser

    def take_action(self, parsed_args):
        rows = []
        for volume in parsed_args.volumes:
            self.rdir.admin_lock(volume, parsed_args.key)
            rows.append((volume, True))
        return ("Volume", "Success"), rows


class UnlockAdminVolume(_RdirMixin, Lister):
    """Unlock volumes."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _volumes(parser)
        return parser

    def take_action(self, parsed_args):
        rows = []
        for volume in parsed_args.volumes:
            self.rdir.admin_unlock(volume)
            rows.append((volume, True))
        return ("Volume", "Success"), rows


class BootstrapVolume(Lister):
    """Assign an rdir to every rawx without one (deprecated: prefer
    'openio rdir bootstrap rawx')."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--max-per-rdir", metavar="<N>", type=int,
                            help="Maximum number of volumes per rdir")
        return parser

    def take_action(self, parsed_args):
        LOG.warning("Deprecated, prefer 'openio rdir bootstrap rawx'")
        dispatcher = clients.rdir_dispatcher(self.app.client_manager)
        try:
            services = dispatcher.assign_services(
                "rawx", max_per_rdir=parsed_args.max_per_rdir, **TIMEOUTS)
        except OioException as err:
            self.success = False
            LOG.error("Failed to assign all rawx: %s", err)
            services, _ = dispatcher.get_assignments("rawx", **TIMEOUTS)
        return format_assignments(services, "Rawx")


class DisplayVolumeAssignation(Lister):
    """Show which rdir indexes each rawx (deprecated: prefer
    'openio rdir assignments rawx')."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--aggregated", action="store_true",
                            help="One line per rdir with its volumes")
        return parser

    def take_action(self, parsed_args):
        LOG.warning("Deprecated, prefer 'openio rdir assignments rawx'")
        dispatcher = clients.rdir_dispatcher(self.app.client_manager)
        services, all_rdir = dispatcher.get_assignments("rawx", **TIMEOUTS)
        if parsed_args.aggregated:
            return aggregate_assignments(services, all_rdir)
        return format_assignments(services, "Rawx")
