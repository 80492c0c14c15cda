"""`openio object ...` (options, arguments and columns as OpenIO 7.2's)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any
from xml.sax.saxutils import escape

from oio.cli import Command, Lister, ShowOne
from oio.cli.container.container import (
    TargetMixin,
    depaginate,
    describe_error,
    iso_time,
    safe_local_path,
    save_stream,
)
from oio.cli.progress import Progress, ProgressReader, tracked
from oio.cli.utils import KeyValueAction, ValueFormatStoreTrueAction
from oio.common import exceptions as exc
from oio.common.autocontainer import HashedContainerBuilder
from oio.common.exceptions import CommandError
from oio.container.lifecycle import TAGGING_KEY

LOG = logging.getLogger(__name__)


def parse_ranges(text: str) -> list[tuple[int | None, int | None]]:
    """OpenIO's (HTTP) byte ranges, "bytes=" optional: "0-99", "100-",
    "-500" (the last 500 bytes), several separated by commas. Bounds are
    inclusive."""
    from oio.common.http import ranges_from_http_header

    spec = text.strip()
    if not spec.startswith("bytes="):
        spec = "bytes=" + spec
    try:
        return ranges_from_http_header(spec)
    except ValueError:
        raise CommandError(
            f"Invalid range '{text}': expected [bytes=]START-END, "
            "START- or -SUFFIX_LENGTH, comma-separated (e.g. "
            "bytes=0-99,200-)") from None


def _range_length(ranges, size: int) -> int:
    """Bytes a set of ranges selects in an object of `size` bytes."""
    total = 0
    for start, end in ranges:
        if start is None:
            total += min(end or 0, size)
        elif start < size:
            total += (size - 1 if end is None else min(end, size - 1)) \
                - start + 1
    return total


# Argument mixins ----------------------------------------------------------

class ContainerArgMixin(TargetMixin):
    """A <container> (name, or CID with --cid), optional with --auto."""

    def patch_parser(self, parser) -> None:
        parser.add_argument(
            "container", metavar="<container>", nargs="?",
            help="Name or CID of the container (optional with --auto)")
        parser.add_argument(
            "--auto", action="store_true",
            help="Compute the container from the object name with the "
                 "namespace's 'flat_*' settings (<container> is ignored)")
        parser.add_argument("--flat-bits", type=int,
                            help="Bits of the flat namespace computation")
        parser.add_argument("--cid", dest="is_cid", default=False,
                            action="store_true",
                            help="Interpret <container> as a container ID")

    def check_container(self, parsed_args) -> None:
        if not parsed_args.container and not parsed_args.auto:
            raise argparse.ArgumentError(
                None, "Missing value for container or --auto")

    @cached_property
    def ns_info(self) -> dict:
        from oio.conscience.client import ConscienceClient

        api = self.api
        return ConscienceClient(
            {"namespace": api.namespace}, pool_manager=api.pool_manager,
            endpoint=f"{api.container.proxy_scheme}://"
                     f"{api.container.proxy_netloc}").info()

    @cached_property
    def flatns(self) -> HashedContainerBuilder:
        from oio.cli.clients import flatns

        return flatns(self.app.client_manager, self.parsed_flat_bits,
                      info=self.ns_info)

    parsed_flat_bits: int | None = None

    def container_of(self, parsed_args, obj: str | None) -> tuple[str, str]:
        """(account, container) where `obj` lives."""
        self.check_container(parsed_args)
        self.parsed_flat_bits = parsed_args.flat_bits
        if parsed_args.auto:
            account = self.app.client_manager.account
            self.set_target(account, self.flatns(obj or ""), obj)
            return account, self.target_container
        account, container = self.resolve(parsed_args.container,
                                          parsed_args.is_cid)
        self.set_target(account, container, obj)
        return account, container


class ObjectArgMixin(ContainerArgMixin):
    """<container> <object> and --object-version."""

    def patch_parser(self, parser) -> None:
        super().patch_parser(parser)
        parser.add_argument("object", metavar="<object>",
                            help="Name of the object")
        parser.add_argument("--object-version", type=int, default=None,
                            metavar="version", help="Version of the object")


def _add_version(parser) -> None:
    parser.add_argument("--object-version", type=int, default=None,
                        metavar="version", help="Version of the object")


# Writes -------------------------------------------------------------------

class CreateObject(ContainerArgMixin, Lister):
    """Upload files as objects."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--no-autocreate", action="store_false",
                            dest="autocreate", default=True,
                            help="Fail if the container does not exist")
        parser.add_argument("objects", metavar="<filename>", nargs="+",
                            help="Local file(s) to upload")
        parser.add_argument(
            "--name", metavar="<key>", default=[], action="append",
            help="Object name, one per file in order (default: the file's "
                 "base name)")
        parser.add_argument("--policy", metavar="<policy>",
                            help="Storage policy")
        parser.add_argument("--property", metavar="<key=value>",
                            action=KeyValueAction,
                            help="Property of the object(s) (repeatable)")
        parser.add_argument("--key-file", metavar="<key_file>",
                            help="File of application keys (accepted, no "
                                 "effect: no Backblaze backend here)")
        parser.add_argument("--mime-type", metavar="<type>", default=None,
                            help="MIME type of the object(s)")
        parser.add_argument("--tls", action="store_true", default=False,
                            help="Upgrade rawx connections to TLS")
        return parser

    def check_policy(self, policy: str | None) -> None:
        if policy is None:
            return
        known = sorted(self.ns_info.get("storage_policy", {}))
        if known and policy not in known:
            raise CommandError(f"Unknown storage policy '{policy}' "
                               f"(known: {', '.join(known)})")

    def upload(self, account: str, container: str, path: str, name: str,
               parsed_args) -> tuple:
        extra: dict[str, Any] = {}
        if parsed_args.tls:
            extra["tls"] = True
        with open(path, "rb") as raw:
            info = os.fstat(raw.fileno())
            total = info.st_size if stat.S_ISREG(info.st_mode) else None
            with Progress(total, label=name) as progress:
                _, size, md5 = self.api.object_create(
                    account, container, file_or_path=ProgressReader(
                        raw, progress),
                    obj_name=name, policy=parsed_args.policy,
                    properties=parsed_args.property,
                    mime_type=parsed_args.mime_type,
                    key_file=parsed_args.key_file,
                    autocreate=parsed_args.autocreate, **extra)
        return name, size, md5.upper(), "Ok"

    def take_action(self, parsed_args):
        self.check_container(parsed_args)
        self.check_policy(parsed_args.policy)
        names = list(parsed_args.name)
        results = []
        for path in parsed_args.objects:
            name = names.pop(0) if names else os.path.basename(path)
            try:
                account, container = self.container_of(parsed_args, name)
                results.append(self.upload(account, container, path, name,
                                           parsed_args))
            except KeyboardInterrupt:
                results.append((name, 0, None, "Interrupted"))
                self.success = False
                break
            except (exc.OioException, OSError) as err:
                self.success = False
                LOG.error("Failed to upload %s: %s", path, describe_error(
                    err, self.target_account, self.target_container))
                results.append((name, 0, None, "Failed"))
        return ("Name", "Size", "Hash", "Status"), results


class TouchObject(ContainerArgMixin, Command):
    """Touch objects: meta2 emits their events again."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("objects", metavar="<object>", nargs="+",
                            help="Object(s) to touch")
        _add_version(parser)
        return parser

    def take_action(self, parsed_args):
        self.check_container(parsed_args)
        if len(parsed_args.objects) > 1 and parsed_args.object_version:
            raise CommandError("Cannot specify a version for several objects")

        def touch(obj):
            account, container = self.container_of(parsed_args, obj)
            self.api.object_touch(account, container, obj,
                                  version=parsed_args.object_version)
        self.each(parsed_args.objects, touch, "touch")


class DeleteObject(ContainerArgMixin, Lister):
    """Delete objects (a delete marker when versioning is on)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("objects", metavar="<object>", nargs="+",
                            help="Object(s) to delete")
        _add_version(parser)
        return parser

    def take_action(self, parsed_args):
        objects = parsed_args.objects
        self.check_container(parsed_args)
        if len(objects) == 1:
            account, container = self.container_of(parsed_args, objects[0])
            results = [(objects[0], self.api.object_delete(
                account, container, objects[0],
                version=parsed_args.object_version))]
        else:
            if parsed_args.object_version:
                raise CommandError(
                    "Cannot specify a version for several objects")
            by_container: dict[tuple[str, str], list[str]] = {}
            for obj in objects:
                by_container.setdefault(self.container_of(parsed_args, obj),
                                        []).append(obj)
            results = []
            for (account, container), names in by_container.items():
                self.set_target(account, container)
                results += self.api.object_delete_many(account, container,
                                                       names)
            # As 7.2: the Deleted column tells; the exit code stays 0.
        return ("Name", "Deleted"), results


class SetObject(ObjectArgMixin, Command):
    """Set object properties (or S3 tags)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--property", metavar="<key=value>",
                            action=KeyValueAction,
                            help="Property to add or update (repeatable)")
        parser.add_argument("--tagging", metavar="<JSON object>",
                            help="Replace the object's S3 tags")
        parser.add_argument("--clear", default=False, action="store_true",
                            help="Clear the previous properties")
        return parser

    def take_action(self, parsed_args):
        account, container = self.container_of(parsed_args,
                                               parsed_args.object)
        properties = dict(parsed_args.property or {})
        if parsed_args.tagging:
            try:
                tags = json.loads(parsed_args.tagging)
                if not isinstance(tags, dict):
                    raise ValueError
            except ValueError:
                raise CommandError("--tagging: not a JSON object") from None
            properties[TAGGING_KEY] = "<Tagging><TagSet>" + "".join(
                f"<Tag><Key>{escape(str(k))}</Key><Value>{escape(str(v))}"
                "</Value></Tag>" for k, v in tags.items()) + \
                "</TagSet></Tagging>"
        self.api.object_set_properties(
            account, container, parsed_args.object, properties,
            version=parsed_args.object_version, clear=parsed_args.clear)


class UnsetObject(ObjectArgMixin, Command):
    """Delete object properties (or its S3 tags)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--property", metavar="<key>", default=[],
                            action="append",
                            help="Property to remove (repeatable)")
        parser.add_argument("--tagging", default=False, action="store_true",
                            help="Remove the S3 tags")
        return parser

    def take_action(self, parsed_args):
        account, container = self.container_of(parsed_args,
                                               parsed_args.object)
        properties = list(parsed_args.property)
        if parsed_args.tagging:
            properties.append(TAGGING_KEY)
        self.api.object_del_properties(
            account, container, parsed_args.object, properties,
            version=parsed_args.object_version)


class DrainObject(ContainerArgMixin, Command):
    """Remove the chunks of objects but keep their metadata: the data can
    be replaced, nothing can read it meanwhile."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("objects", metavar="<object>", nargs="+",
                            help="Object(s) to drain")
        return parser

    def take_action(self, parsed_args):
        self.check_container(parsed_args)

        def drain(obj):
            account, container = self.container_of(parsed_args, obj)
            try:
                self.api.object_drain(account, container, obj)
            except exc.NotFound as err:
                raise exc.NoSuchObject(str(err)) from None
        self.each(parsed_args.objects, drain, "drain")


class LinkObject(ObjectArgMixin, Command):
    """Make a shallow copy of an object (its chunks hard-linked)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--dest-account", "--link-account",
                            metavar="<destination account>",
                            help="Account of the link (default: the "
                                 "source's)")
        parser.add_argument(
            "--dest-container", "--link-container",
            metavar="<destination container>",
            help="Container of the link (default: the source's, or computed "
                 "from the destination name with --auto)")
        parser.add_argument("dest_object", metavar="<destination object>",
                            help="Name of the link")
        parser.add_argument("--content-id", metavar="<content ID>",
                            help="Content ID of the source")
        parser.add_argument("--dest-content-id", "--link-content-id",
                            metavar="<destination content ID>",
                            help="Content ID of the link")
        parser.add_argument("--property", metavar="<key=value>",
                            action=KeyValueAction,
                            help="Property of the link (replaces the "
                                 "source's; repeatable)")
        return parser

    def take_action(self, parsed_args):
        account, container = self.container_of(parsed_args,
                                               parsed_args.object)
        dest_container = parsed_args.dest_container or (
            self.flatns(parsed_args.dest_object) if parsed_args.auto
            else container)
        kwargs: dict[str, Any] = {}
        directive = "COPY"
        if parsed_args.property:
            directive = "REPLACE"
            kwargs["properties"] = parsed_args.property
        self.api.object_link(
            account, container, parsed_args.object,
            parsed_args.dest_account or account, dest_container,
            parsed_args.dest_object,
            target_version=parsed_args.object_version,
            target_content_id=parsed_args.content_id,
            link_content_id=parsed_args.dest_content_id,
            properties_directive=directive, **kwargs)


class PurgeObject(ObjectArgMixin, Command):
    """Delete the versions of an object beyond the maximum."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument(
            "--max-versions", metavar="<n>", type=int,
            help="Versions to keep (overrides the container's setting): "
                 "n<0 all, 0 one, n>0 n")
        return parser

    def max_versions(self, account: str, container: str) -> int:
        system = self.api.container_get_properties(account,
                                                   container)["system"]
        value = system.get("sys.m2.policy.version")
        if value is None:
            _, config = self.api.proxy_client._request("GET", "config")
            value = (config or {}).get("meta2.max_versions", 1)
        return int(value)

    def take_action(self, parsed_args):
        obj = parsed_args.object
        account, container = self.container_of(parsed_args, obj)
        keep = parsed_args.max_versions
        if keep is None:
            keep = self.max_versions(account, container)
        if keep < 0:
            return
        # 7.2's content/purge has no route here: list and delete.
        def page(marker):
            listing = self.api.object_list(account, container, prefix=obj,
                                           marker=marker, versions=True)
            return listing["objects"], (listing.get("next_marker")
                                        if listing.get("truncated") else None)
        versions = sorted((int(entry["version"]) for entry in depaginate(page)
                           if entry["name"] == obj and not entry["deleted"]),
                          reverse=True)
        if not versions:
            raise exc.NoSuchObject("no live version")
        for version in versions[max(keep, 1):]:
            self.api.object_delete(account, container, obj, version=version)


# Reads --------------------------------------------------------------------

class ShowObject(ObjectArgMixin, ShowOne):
    """Show an object's metadata and properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        return parser

    def take_action(self, parsed_args):
        obj = parsed_args.object
        account, container = self.container_of(parsed_args, obj)
        data = self.api.object_get_properties(
            account, container, obj, version=parsed_args.object_version)
        info = {"account": account, "container": container, "object": obj}
        for column, key in (("id", "id"), ("version", "version"),
                            ("mime-type", "mime_type"), ("size", "length"),
                            ("hash", "hash"), ("ctime", "ctime"),
                            ("mtime", "mtime"), ("policy", "policy")):
            info[column] = data.get(key, "n/a")
        for key, value in data.get("properties", {}).items():
            info["meta." + key] = value
        return tuple(zip(*sorted(info.items()), strict=True))


class LocateObject(ObjectArgMixin, Lister):
    """Locate the chunks of an object."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument(
            "--chunk-info", action="store_true", default=False,
            help="Add each chunk's size and hash as its rawx stores them "
                 "(one request per chunk)")
        return parser

    def take_action(self, parsed_args):
        account, container = self.container_of(parsed_args,
                                               parsed_args.object)
        _, chunks = self.api.object_locate(
            account, container, parsed_args.object,
            version=parsed_args.object_version,
            chunk_info=parsed_args.chunk_info)
        columns: tuple[str, ...] = ("Pos", "Id", "Metachunk size",
                                    "Metachunk hash")
        if not parsed_args.chunk_info:
            return columns, ((c["pos"], c["url"], c["size"], c["hash"])
                             for c in chunks)
        return columns + ("Chunk size", "Chunk hash"), (
            (c["pos"], c["url"], c["size"], c["hash"],
             c.get("chunk_size") or "n/a", c.get("chunk_hash") or "n/a")
            for c in chunks)


class SaveObject(ObjectArgMixin, Command):
    """Download an object to a local file (written under a temporary name
    and renamed once complete)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--file", metavar="<filename>",
                            help="Destination file (default: the object "
                                 "name, under the current directory)")
        parser.add_argument("--range", metavar="<range>", type=str,
                            help="Only these bytes: [bytes=]START-END, "
                                 "START-, -SUFFIX, comma-separated")
        parser.add_argument("--key-file", metavar="<key_file>",
                            help="File of application keys (accepted, no "
                                 "effect: no Backblaze backend here)")
        parser.add_argument("--tls", action="store_true", default=False,
                            help="Upgrade rawx connections to TLS")
        return parser

    def take_action(self, parsed_args):
        obj = parsed_args.object
        ranges = parse_ranges(parsed_args.range) if parsed_args.range \
            else None
        path = parsed_args.file or safe_local_path(obj)
        account, container = self.container_of(parsed_args, obj)
        extra: dict[str, Any] = {"tls": True} if parsed_args.tls else {}
        try:
            meta, stream = self.api.object_fetch(
                account, container, obj, version=parsed_args.object_version,
                ranges=ranges, key_file=parsed_args.key_file,
                properties=False, **extra)
        except exc.UnsatisfiableRange as err:
            raise CommandError(f"Range '{parsed_args.range}' is outside "
                               f"object '{obj}': {err}") from None
        size = int(meta.get("length") or meta.get("size") or 0)
        total = _range_length(ranges, size) if ranges else size
        with Progress(total, label=obj) as progress:
            save_stream(path, tracked(stream, progress))


class ListObject(ContainerArgMixin, Lister):
    """List the objects of a container."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self.patch_parser(parser)
        parser.add_argument("--prefix", metavar="<prefix>",
                            help="Filter the list using <prefix>")
        parser.add_argument("--delimiter", metavar="<delimiter>",
                            help="Filter the list using <delimiter>")
        parser.add_argument("--marker", metavar="<marker>",
                            help="Marker for paging")
        parser.add_argument("--end-marker", metavar="<end-marker>",
                            help="End marker for paging")
        parser.add_argument("--concurrency", metavar="<concurrency>",
                            type=int, default=100,
                            help="Containers listed at once with --auto "
                                 "(default 100)")
        parser.add_argument("--attempts", dest="attempts", type=int,
                            default=0,
                            help="Attempts of each listing request (accepted;"
                                 " the client already retries)")
        parser.add_argument("--limit", metavar="<limit>", type=int,
                            default=1000,
                            help="Limit the number of objects returned "
                                 "(1000 by default)")
        parser.add_argument("--no-paging", "--full", dest="full_listing",
                            default=False, action=ValueFormatStoreTrueAction,
                            help="List every object without paging (and set "
                                 "the output format to 'value')")
        parser.add_argument("--properties", "--long", dest="long_listing",
                            default=False, action="store_true",
                            help="List the objects' properties too")
        parser.add_argument("--versions", "--all-versions", dest="versions",
                            default=False, action="store_true",
                            help="List every version, not only the latest")
        parser.add_argument("--local", dest="local", default=False,
                            action="store_true",
                            help="Read the local meta2 base (every read is "
                                 "local here: accepted, no effect)")
        return parser

    def _pages(self, account: str, container: str, kwargs: dict,
               marker: str | None, full: bool) -> Iterator[dict]:
        def page(next_marker):
            listing = self.api.object_list(
                account, container, marker=next_marker or marker, **kwargs)
            if listing.get("truncated") and not full:
                LOG.info("Object listing truncated, next marker: %s",
                         listing.get("next_marker"))
            return listing["objects"], (listing.get("next_marker")
                                        if full and listing.get("truncated")
                                        else None)
        return depaginate(page)

    def _auto_listing(self, parsed_args, account: str, kwargs: dict,
                      limit: int | None) -> Iterator[dict]:
        """Objects of every autocontainer of the account, in container
        order, starting in the container of --marker."""
        builder = self.flatns
        first = builder(parsed_args.marker) if parsed_args.marker else None

        def containers():
            def page(marker):
                items = self.api.container_list(account, marker=marker)
                return items, (items[-1][0] if items else None)
            for entry in depaginate(page):
                name = entry[0]
                if not builder.verify(name) or (first and name < first):
                    continue
                yield name

        def listing(container):
            try:
                marker = parsed_args.marker if container == first else None
                return list(self._pages(account, container, kwargs, marker,
                                        True))
            except exc.OioException as err:
                self.success = False
                LOG.warning("Listing may be incomplete: container %s: %s",
                            container, err)
                return []

        count = 0
        workers = max(1, min(parsed_args.concurrency, 16))
        with ThreadPoolExecutor(workers) as pool:
            for objects in pool.map(listing, containers()):
                for obj in objects:
                    yield obj
                    count += 1
                    if limit and count >= limit:
                        return

    def take_action(self, parsed_args):
        self.check_container(parsed_args)
        self.parsed_flat_bits = parsed_args.flat_bits
        kwargs: dict[str, Any] = {key: getattr(parsed_args, key) for key in (
            "prefix", "delimiter", "end_marker") if getattr(parsed_args, key)}
        limit = None if parsed_args.full_listing else parsed_args.limit
        if limit:
            kwargs["limit"] = limit
        if parsed_args.long_listing:
            kwargs["properties"] = True
        if parsed_args.versions:
            kwargs["versions"] = True
        if parsed_args.auto:
            account = self.app.client_manager.account
            self.set_target(account, None)
            objects: Iterable[dict] = self._auto_listing(parsed_args, account,
                                                         kwargs, limit)
        else:
            account, container = self.resolve(parsed_args.container,
                                              parsed_args.is_cid)
            # The first page here, so that a missing container fails
            # before cliff starts printing.
            pages = self._pages(account, container, kwargs,
                                parsed_args.marker, parsed_args.full_listing)
            first = next(pages, None)
            objects = [] if first is None else _chain_first(first, pages)
        if parsed_args.long_listing:
            return ("Name", "Size", "Hash", "Version", "Deleted",
                    "Content-Type", "Last-Modified", "Policy",
                    "Properties"), self._long_rows(objects,
                                                   parsed_args.formatter)
        return ("Name", "Size", "Hash", "Version"), (
            (o["name"], "deleted" if o["deleted"] else o["size"], o["hash"],
             o["version"]) for o in objects)

    @staticmethod
    def _long_rows(objects: Iterable[dict], formatter: str) -> Iterator[tuple]:
        for obj in objects:
            props = obj.get("properties") or {}
            pairs = [f"{k}={v}" for k, v in props.items()]
            if formatter == "table":
                shown: Any = "\n".join(pairs)
            elif formatter in ("value", "csv"):
                shown = " ".join(pairs)
            else:
                shown = props
            yield (obj["name"], obj["size"], obj["hash"], obj["version"],
                   obj["deleted"], obj.get("mime_type"),
                   iso_time(obj["mtime"]), obj["policy"], shown)


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
