"""`openio-admin xcute lock list|show`."""

from __future__ import annotations

from oio.cli import Lister, ShowOne

from .common import XcuteCommand


class LockList(XcuteCommand, Lister):
    """List the locks held by jobs."""

    columns = ("Lock", "Job ID")

    def take_action(self, parsed_args):
        return self.columns, [(lock["lock"], lock["job_id"])
                              for lock in self.xcute.lock_list()]


class LockShow(XcuteCommand, ShowOne):
    """Which job holds a lock."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("lock", metavar="<lock>", help="Lock to show")
        return parser

    def take_action(self, parsed_args):
        info = self.xcute.lock_show(parsed_args.lock)
        return ("lock", "job_id"), (info["lock"], info["job_id"])
