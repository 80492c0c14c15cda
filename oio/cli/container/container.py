"""`openio container ...` (options, arguments and
columns as OpenIO 7.2's)."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from oio.cli import Command, Lister, ShowOne
from oio.cli.progress import Progress, tracked
from oio.cli.utils import KeyValueAction, ValueFormatStoreTrueAction, convert_size
from oio.common import exceptions as exc
from oio.common.constants import (
    M2_PROP_BUCKET_NAME,
    M2_PROP_CTIME,
    M2_PROP_DAMAGED_OBJECTS,
    M2_PROP_DEL_EXC_VERSIONS,
    M2_PROP_MISSING_CHUNKS,
    M2_PROP_OBJECTS,
    M2_PROP_QUOTA,
    M2_PROP_STORAGE_POLICY,
    M2_PROP_USAGE,
    M2_PROP_VERSIONING_POLICY,
    OIO_DB_DISABLED,
    OIO_DB_ENABLED,
    OIO_DB_FROZEN,
    OIO_DB_STATUS_NAME,
)
from oio.common.exceptions import CommandError
from oio.common.utils import cid_from_name

LOG = logging.getLogger(__name__)

M2_PROP_STATUS = "sys.status"
DB_STATUS_VALUE = {"enabled": str(OIO_DB_ENABLED),
                   "disabled": str(OIO_DB_DISABLED),
                   "frozen": str(OIO_DB_FROZEN)}


# Shared by the container and object groups -------------------------------

def boolean_value(text: str) -> bool:
    """yes/no, true/false, on/off, 1/0 (argparse type)."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "yes", "true", "on", "y"):
        return True
    if lowered in ("0", "no", "false", "off", "n"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def describe_error(err: Exception, account: str | None,
                   container: str | None, obj: str | None = None) -> str:
    """A one-line message naming what was missing, when we know it."""
    if isinstance(err, exc.NoSuchContainer) and container is not None:
        return (f"Container '{container}' not found in account "
                f"'{account}' ({err})")
    if isinstance(err, exc.NoSuchObject) and obj is not None:
        return (f"Object '{obj}' not found in container '{container}' of "
                f"account '{account}' ({err})")
    if isinstance(err, exc.NoSuchAccount) and account is not None:
        return f"Account '{account}' not found ({err})"
    return str(err)


class TargetMixin:
    """Remembers the account/container/object a command is working on, so
    that a "not found" names it instead of a bare container ID."""

    target_account: str | None = None
    target_container: str | None = None
    target_obj: str | None = None

    def run(self, parsed_args):
        try:
            return super().run(parsed_args)
        except (exc.NoSuchAccount, exc.NoSuchContainer,
                exc.NoSuchObject) as err:
            raise CommandError(describe_error(
                err, self.target_account, self.target_container,
                self.target_obj)) from None

    def set_target(self, account: str | None, container: str | None,
                   obj: str | None = None) -> None:
        self.target_account = account
        self.target_container = container
        self.target_obj = obj

    def resolve(self, container: str, is_cid: bool) -> tuple[str, str]:
        """(account, container name): --cid is looked up in the directory
        (so no --oio-account is needed), else the global account."""
        if is_cid:
            try:
                account, name = self.app.client_manager.storage.resolve_cid(
                    container)
            except exc.NotFound:
                raise CommandError(
                    f"No container with CID {container}") from None
        else:
            account, name = self.app.client_manager.account, container
        self.set_target(account, name)
        return account, name

    def each(self, items: Iterable[str], action: Callable[[str], Any],
             what: str) -> None:
        """`action` on every item; a failure is logged and the command
        goes on with the next one (and exits 1 at the end)."""
        for item in items:
            try:
                action(item)
            except exc.OioException as err:
                self.success = False
                LOG.error("Failed to %s %s: %s", what, item, describe_error(
                    err, self.target_account, self.target_container,
                    self.target_obj))


def add_container_arg(parser, plural: bool = False) -> None:
    parser.add_argument(
        "--cid", dest="is_cid", default=False, action="store_true",
        help="Interpret the container argument(s) as container ID(s)")
    if plural:
        parser.add_argument("containers", metavar="<containers>", nargs="+",
                            help="Names or CIDs of the containers")
    else:
        parser.add_argument("container", metavar="<container>",
                            help="Name or CID of the container")


def safe_local_path(name: str) -> str:
    """An object name as a path under the current directory; refuse the
    names that would write elsewhere ("/etc/x", "../x")."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or not name or name.endswith("/"):
        raise CommandError(f"Refusing to save '{name}' as a local file "
                           "(absolute, '..' or empty path): use --file")
    return name


def save_stream(path: str, stream: Iterable[bytes]) -> int:
    """Write a download to `path` through a temporary file of the same
    directory renamed at the end: a failed download leaves nothing.
    Bytes written."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                               suffix=".part", dir=directory)
    written = 0
    try:
        # mkstemp makes 0600 files; a saved object gets what open() gives.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as out:
            for block in stream:
                out.write(block)
                written += len(block)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return written


def depaginate(fetch: Callable[[str | None], tuple[list, str | None]]
               ) -> Iterator[Any]:
    """Items of every page; `fetch(marker)` gives (items, next marker or
    None when it was the last page)."""
    marker = None
    while True:
        items, marker = fetch(marker)
        yield from items
        if not items or marker is None:
            return


def iso_time(seconds: float) -> str:
    """7.2's Timestamp(...).isoformat: UTC, without the zone."""
    return datetime.fromtimestamp(float(seconds), timezone.utc).replace(
        tzinfo=None).isoformat()


# Containers ---------------------------------------------------------------

def add_settable_options(parser) -> None:
    """Options that set system properties, at creation or later."""
    parser.add_argument("--property", metavar="<key=value>",
                        action=KeyValueAction,
                        help="Property to add or update (repeatable)")
    parser.add_argument("--quota", metavar="<bytes>", type=int,
                        help="Quota of the container, in bytes")
    parser.add_argument("--storage-policy", "--stgpol",
                        metavar="<storage_policy>",
                        help="Storage policy of the container")
    parser.add_argument(
        "--max-versions", "--versioning", metavar="<n>", type=int,
        help="Versioning: n<0 unlimited versions, 0 disabled (no "
             "overwrite), 1 suspended (overwrite), n>1 at most n versions")
    parser.add_argument(
        "--delete-exceeding-versions", metavar="<bool>", type=boolean_value,
        help="Delete the versions beyond --max-versions when a new one "
             "is added (only with versioning)")
    parser.add_argument("--bucket-name",
                        help="Declare the container part of this bucket")


def system_from_args(parsed_args) -> dict[str, str]:
    system: dict[str, str] = {}
    if parsed_args.bucket_name:
        system[M2_PROP_BUCKET_NAME] = parsed_args.bucket_name
    if parsed_args.quota is not None:
        system[M2_PROP_QUOTA] = str(parsed_args.quota)
    if parsed_args.storage_policy is not None:
        system[M2_PROP_STORAGE_POLICY] = parsed_args.storage_policy
    if parsed_args.max_versions is not None:
        system[M2_PROP_VERSIONING_POLICY] = str(parsed_args.max_versions)
    if parsed_args.delete_exceeding_versions is not None:
        system[M2_PROP_DEL_EXC_VERSIONS] = str(
            int(parsed_args.delete_exceeding_versions))
    return system


class CreateContainer(TargetMixin, Lister):
    """Create object containers."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_settable_options(parser)
        parser.add_argument("containers", metavar="<container-name>",
                            nargs="+", help="New container name(s)")
        return parser

    def take_action(self, parsed_args):
        account = self.app.client_manager.account
        system = system_from_args(parsed_args)
        names = parsed_args.containers
        if len(names) > 1:
            results = self.api.container_create_many(
                account, names, properties=parsed_args.property, system=system)
        else:
            self.set_target(account, names[0])
            results = [(names[0], self.api.container_create(
                account, names[0], properties=parsed_args.property,
                system=system))]
        return ("Name", "Created"), results


class SetContainer(TargetMixin, Command):
    """Set container properties, quota, storage policy, status or
    versioning."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_settable_options(parser)
        add_container_arg(parser)
        parser.add_argument("--clear", default=False, action="store_true",
                            help="Clear the previous properties")
        parser.add_argument("--status", metavar="<status>",
                            choices=tuple(DB_STATUS_VALUE),
                            help="Container status: enabled, disabled or "
                                 "frozen")
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        system = system_from_args(parsed_args)
        if parsed_args.status is not None:
            system[M2_PROP_STATUS] = DB_STATUS_VALUE[parsed_args.status]
        self.api.container_set_properties(
            account, container, parsed_args.property, clear=parsed_args.clear,
            system=system)


class UnsetContainer(TargetMixin, Command):
    """Unset container properties (or reset system settings to the
    namespace's defaults)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        parser.add_argument("--bucket-name", action="store_true",
                            help="The container no longer belongs to a "
                                 "bucket")
        parser.add_argument("--property", metavar="<key>", action="append",
                            default=[], help="Property to remove (repeatable)")
        parser.add_argument("--storage-policy", "--stgpol",
                            action="store_true",
                            help="Reset the storage policy")
        parser.add_argument("--max-versions", "--versioning",
                            action="store_true",
                            help="Reset the versioning policy")
        parser.add_argument("--quota", action="store_true",
                            help="Reset the quota")
        parser.add_argument("--delete-exceeding-versions",
                            action="store_true",
                            help="Reset the deletion of exceeding versions")
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        resets = {M2_PROP_BUCKET_NAME: parsed_args.bucket_name,
                  M2_PROP_STORAGE_POLICY: parsed_args.storage_policy,
                  M2_PROP_VERSIONING_POLICY: parsed_args.max_versions,
                  M2_PROP_QUOTA: parsed_args.quota,
                  M2_PROP_DEL_EXC_VERSIONS:
                      parsed_args.delete_exceeding_versions}
        # An empty value removes a system property (as 7.2).
        system = {key: "" for key, wanted in resets.items() if wanted}
        if parsed_args.property or not system:
            self.api.container_del_properties(account, container,
                                              parsed_args.property)
        if system:
            self.api.container_set_properties(account, container,
                                              system=system)


class TouchContainer(TargetMixin, Command):
    """Touch containers: meta2 announces their statistics again."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser, plural=True)
        parser.add_argument("--recompute", default=False, action="store_true",
                            help="Recompute the statistics first")
        return parser

    def take_action(self, parsed_args):
        def touch(name):
            account, container = self.resolve(name, parsed_args.is_cid)
            self.api.container_touch(account, container,
                                     recompute=parsed_args.recompute)
        self.each(parsed_args.containers, touch, "touch")


class DeleteContainer(TargetMixin, Command):
    """Delete object containers (they must be empty)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser, plural=True)
        return parser

    def take_action(self, parsed_args):
        def delete(name):
            account, container = self.resolve(name, parsed_args.is_cid)
            self.api.container_delete(account, container)
        self.each(parsed_args.containers, delete, "delete")


class FlushContainer(TargetMixin, Command):
    """Delete every object of a container."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        parser.add_argument("--quickly", action="store_true", dest="quick",
                            help="Let meta2 drop objects by batches (more "
                                 "pressure on the event system)")
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        self.api.container_flush(account, container, fast=parsed_args.quick)


def _space_wasted(system: dict) -> str | None:
    """7.2's SQLite free-page estimate, when meta2 reports page stats."""
    pages = system.get("stats.page_count")
    if pages is None:
        return None
    free = int(system.get("stats.freelist_count") or 0)
    ratio = free / max(float(pages), 1.0)
    wasted = free * int(system.get("stats.page_size") or 0)
    return f"{ratio * 100:5.2f}% (est. {convert_size(wasted)})"


class ShowContainer(TargetMixin, ShowOne):
    """Display information about an object container."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        # Not container_show: it lacks the system properties.
        data = self.api.container_get_properties(account, container,
                                                 admin_mode=True)
        system = data["system"]
        ctime: float = float(system.get(M2_PROP_CTIME, 0)) / 1e6
        usage: Any = int(system.get(M2_PROP_USAGE, 0))
        objects: Any = int(system.get(M2_PROP_OBJECTS, 0))
        if parsed_args.formatter == "table":
            ctime = int(ctime)
            usage = convert_size(usage, unit="B")
            objects = convert_size(objects)
        info = {
            "account": system.get("sys.account", account),
            "base_name": system.get("sys.name"),
            "container": system.get("sys.user.name", container),
            "ctime": ctime,
            "bytes_usage": usage,
            "quota": system.get(M2_PROP_QUOTA, "Namespace default"),
            "objects": objects,
            "damaged_objects": int(system.get(M2_PROP_DAMAGED_OBJECTS, 0)),
            "missing_chunks": int(system.get(M2_PROP_MISSING_CHUNKS, 0)),
            "storage_policy": system.get(M2_PROP_STORAGE_POLICY,
                                         "Namespace default"),
            "max_versions": system.get(M2_PROP_VERSIONING_POLICY,
                                       "Namespace default"),
            "status": OIO_DB_STATUS_NAME.get(system.get(M2_PROP_STATUS),
                                         "Unknown"),
        }
        for key in ("stats.page_count", "stats.freelist_count",
                    "stats.page_size"):
            info[key] = system.get(key)
        info["stats.space_wasted"] = _space_wasted(system)
        if M2_PROP_BUCKET_NAME in system:
            info["bucket"] = system[M2_PROP_BUCKET_NAME]
        if M2_PROP_DEL_EXC_VERSIONS in system:
            info["delete_exceeding_versions"] = \
                system[M2_PROP_DEL_EXC_VERSIONS] != "0"
        for key, value in data.get("properties", {}).items():
            info["meta." + key] = value
        return tuple(zip(*sorted(info.items()), strict=True))


class ListContainer(TargetMixin, Lister):
    """List the containers of the account."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--prefix", metavar="<prefix>",
                            help="Filter the list using <prefix>")
        parser.add_argument("--delimiter", metavar="<delimiter>",
                            help="Delimiter")
        parser.add_argument("--marker", metavar="<marker>",
                            help="Marker for paging")
        parser.add_argument("--end-marker", metavar="<end-marker>",
                            help="End marker for paging")
        parser.add_argument("--limit", metavar="<limit>", type=int,
                            help="Limit the number of containers returned")
        parser.add_argument("--no-paging", "--full", dest="full_listing",
                            default=False, action=ValueFormatStoreTrueAction,
                            help="List every container without paging (and "
                                 "set the output format to 'value')")
        return parser

    def take_action(self, parsed_args):
        account = self.app.client_manager.account
        self.set_target(account, None)
        kwargs = {key: getattr(parsed_args, key) for key in (
            "prefix", "delimiter", "end_marker", "limit")
            if getattr(parsed_args, key)}

        def page(marker):
            items = self.api.container_list(
                account, marker=marker or parsed_args.marker or None,
                **kwargs)
            return items, (items[-1][0] if items else None)

        if parsed_args.full_listing:
            listing: Iterable = depaginate(page)
        else:
            listing = page(None)[0]
        return ("Name", "Bytes", "Count", "Mtime", "CID"), (
            (v[0], v[2], v[1], v[4], cid_from_name(account, v[0]))
            for v in listing)


class SaveContainer(TargetMixin, Command):
    """Save every object of a container under the current directory."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)

        def page(marker):
            listing = self.api.object_list(account, container, marker=marker)
            return listing["objects"], (listing.get("next_marker")
                                        if listing.get("truncated") else None)

        objects = list(depaginate(page))
        total = sum(int(obj.get("size") or 0) for obj in objects)
        with Progress(total, label=container) as progress:
            for obj in objects:
                name = obj["name"]
                try:
                    path = safe_local_path(name)
                    _, stream = self.api.object_fetch(
                        account, container, name, properties=False)
                    save_stream(path, tracked(stream, progress))
                except (exc.OioException, CommandError, OSError) as err:
                    self.success = False
                    LOG.error("Failed to save %s: %s", name, describe_error(
                        err, account, container, name))


class LocateContainer(TargetMixin, ShowOne):
    """Locate the services in charge of a container."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        system = self.api.container_get_properties(account, container)[
            "system"]
        try:
            services = self.api.directory.list(account, container)
        except exc.NotFound as err:
            raise exc.NoSuchContainer(str(err)) from None

        def hosts(entries, kind):
            return ", ".join(e["host"] for e in entries if e["type"] == kind)

        info = {
            "account": system.get("sys.account", account),
            "base_name": system.get("sys.name"),
            "name": system.get("sys.user.name", container),
            "meta0": hosts(services.get("dir", []), "meta0"),
            "meta1": hosts(services.get("dir", []), "meta1"),
            "meta2": hosts(services.get("srv", []), "meta2"),
            "meta2.sys.peers": ", ".join(
                system.get("sys.peers", "Unknown").split(",")),
            "status": OIO_DB_STATUS_NAME.get(system.get(M2_PROP_STATUS),
                                         "Unknown"),
        }
        return tuple(zip(*sorted(info.items()), strict=True))


class PurgeContainer(TargetMixin, Command):
    """Delete the object versions beyond the container's maximum."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        parser.add_argument(
            "--max-versions", metavar="<n>", type=int,
            help="Versions to keep (overrides the container's setting): "
                 "n<0 all (only deleted aliases go), 0 one, n>0 n")
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        self.api.container_purge(account, container,
                                 maxvers=parsed_args.max_versions)


class RefreshContainer(TargetMixin, Command):
    """Reset a container's counters in the account service, then have
    meta2 report them again."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        self.api.container_refresh(account=account, container=container)


class SnapshotContainer(TargetMixin, Lister):
    """Take a snapshot of a container: a frozen copy of its base whose
    chunks are hard links of the originals. The source is frozen while the
    snapshot is taken."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_container_arg(parser)
        parser.add_argument("--dst-account", metavar="<account>",
                            help="Account of the snapshot (default: the "
                                 "source's)")
        parser.add_argument("--dst-container", metavar="<container>",
                            help="Name of the snapshot (default: the "
                                 "source's name, '-' and a timestamp)")
        parser.add_argument("--chunk-batch-size", metavar="<size>", type=int,
                            default=100,
                            help="Chunks updated at once (default 100)")
        parser.add_argument("--timeout", default=60.0, type=float,
                            help="Timeout of the operation (default 60.0 s)")
        return parser

    def take_action(self, parsed_args):
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        dst_account = parsed_args.dst_account or account
        dst_container = (parsed_args.dst_container
                         or f"{container}-{time.time():016.05f}")
        self.api.container_snapshot(
            account, container, dst_account, dst_container,
            batch_size=parsed_args.chunk_batch_size,
            deadline=time.monotonic() + parsed_args.timeout)
        return ("Account", "Container", "Status"), [
            (dst_account, dst_container, "OK")]
