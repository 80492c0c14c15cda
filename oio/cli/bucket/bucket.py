"""`openio bucket list|show|set|refresh` (options, arguments and columns
as OpenIO 7.2's, which keeps them in its container module).

A bucket lives in the account service: containers join it through the
`sys.m2.bucket.name` property (`openio container create --bucket-name`),
see docs/account.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from oio.cli import Command, Lister, ShowOne
from oio.cli.container.container import boolean_value, depaginate, iso_time
from oio.cli.utils import ValueFormatStoreTrueAction, convert_size
from oio.common import exceptions as exc
from oio.common.constants import BUCKET_PROP_REPLI_ENABLED, M2_PROP_VERSIONING_POLICY
from oio.common.exceptions import CommandError
from oio.common.utils import request_id

LOG = logging.getLogger(__name__)


def _reqid() -> str:
    return request_id("CLI-BUCKET-")


class _BucketMixin:
    """Names the bucket a "not found" is about."""

    def run(self, parsed_args):
        try:
            return super().run(parsed_args)
        except exc.NotFound as err:
            raise CommandError(
                f"Bucket '{getattr(parsed_args, 'bucket', '')}' not found "
                f"({err})") from None

    @staticmethod
    def add_bucket_arg(parser, what: str) -> None:
        parser.add_argument("bucket", metavar="<bucket>",
                            help=f"Name of the bucket to {what}")

    @staticmethod
    def rows(parsed_args, data: dict) -> tuple:
        if parsed_args.formatter == "table":
            data["bytes"] = convert_size(int(data.get("bytes", 0)))
            data["mtime"] = iso_time(data.get("mtime") or 0.0)
        return tuple(zip(*sorted(data.items()), strict=True))


class ShowBucket(_BucketMixin, ShowOne):
    """Display information about a bucket."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.add_bucket_arg(parser, "show")
        return parser

    def take_action(self, parsed_args):
        data = self.api.account.bucket_show(parsed_args.bucket, reqid=_reqid())
        return self.rows(parsed_args, data)


class SetBucket(_BucketMixin, ShowOne):
    """Set metadata on a bucket (today: its replication flag)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.add_bucket_arg(parser, "update")
        parser.add_argument("--replicate", "--replication", metavar="yes/no",
                            type=boolean_value,
                            help="Enable or disable bucket replication")
        return parser

    def take_action(self, parsed_args):
        metadata = {}
        if parsed_args.replicate is not None:
            metadata[BUCKET_PROP_REPLI_ENABLED] = str(parsed_args.replicate)
        data = self.api.account.bucket_update(
            parsed_args.bucket, metadata=metadata, to_delete=None,
            reqid=_reqid())
        return self.rows(parsed_args, data)


class RefreshBucket(_BucketMixin, Command):
    """Refresh the counters of a bucket.

    Reset its statistics and recompute them as the sums of the counters of
    every container (shard) attached to it.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.add_bucket_arg(parser, "refresh")
        return parser

    def take_action(self, parsed_args):
        try:
            self.api.account.bucket_refresh(parsed_args.bucket, reqid=_reqid())
        except exc.Conflict as err:
            raise CommandError(f"Bucket '{parsed_args.bucket}': {err} (try "
                               "again later)") from None


class ListBuckets(Lister):
    """Get the list of buckets owned by an account."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--prefix", metavar="<prefix>",
                            help="Filter the list using <prefix>")
        parser.add_argument("--marker", metavar="<marker>",
                            help="Marker for paging")
        parser.add_argument("--limit", metavar="<limit>", type=int,
                            help="Limit the number of buckets returned")
        parser.add_argument("--no-paging", "--full", dest="full_listing",
                            default=False, action=ValueFormatStoreTrueAction,
                            help="List all buckets without paging (and set "
                                 "output format to 'value')")
        parser.add_argument("--versioning", action="store_true",
                            help="Display the versioning state of each bucket")
        return parser

    def take_action(self, parsed_args):
        account = self.app.client_manager.account
        reqid = _reqid()
        kwargs = {key: getattr(parsed_args, key) for key in ("prefix", "limit")
                  if getattr(parsed_args, key)}

        def page(marker):
            try:
                body = self.api.account.bucket_list(
                    account, marker=marker or parsed_args.marker or None,
                    reqid=reqid, **kwargs)
            except exc.NotFound as err:
                raise CommandError(f"Account '{account}' not found ({err})"
                                   ) from None
            return body["listing"], (body.get("next_marker")
                                     if body.get("truncated") else None)

        if parsed_args.full_listing:
            listing: Iterable[dict] = depaginate(page)
        else:
            listing = page(None)[0]
        columns = ("Name", "Bytes", "Objects", "Mtime")
        if parsed_args.versioning:
            columns += ("Versioning",)
            listing = (dict(b, versioning=self._versioning(account, b["name"],
                                                           reqid))
                       for b in listing)
        return columns, ([b[c.lower()] for c in columns] for b in listing)

    def _versioning(self, account: str, bucket: str, reqid: str) -> str:
        """The versioning state of a bucket's root container (not the
        namespace's default, as 7.2)."""
        try:
            props = self.api.container_get_properties(account, bucket,
                                                      reqid=reqid)
        except exc.NoSuchContainer:
            LOG.info("Bucket %s does not exist", bucket)
            return "Error"
        status = props["system"].get(M2_PROP_VERSIONING_POLICY)
        return "Suspended" if status is None or int(status) == 0 else "Enabled"
