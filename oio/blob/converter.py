"""oio-blob-converter: chunk xattrs of older versions rewritten as 4.2's
`oio.content.fullpath:<CHUNKID>` (healing.md §5, rawx.md §4).

    oio-blob-converter NS VOLUME [--input-file F] [--dry-run] ...

What a chunk file may carry, and what becomes of it:

* a fullpath for its ID and `oio_version` 4.2: already converted, untouched;
* a fullpath but an older `oio_version`: the version is raised;
* the separate keys `grid.chunk.id` (= the file's ID), `grid.content.
  container|path|version|id`: names resolved from the CID, content ID from
  path and version when it is absent;
* `oio:<CHUNKID>` keys (fullpaths without or with the content ID), for
  the file's ID or for the IDs of its hard links (a link must be the same
  inode);
* none of those: the rdir of the volume tells its container and content.

Every fullpath is checked against meta2 before it is written: the content
must list `http://<volume id>/<chunk id>` (else the chunk is an orphan and
left as it is). The old keys are removed, and `oio_version` set to 4.2,
only when everything about the chunk succeeded; before any change, its
xattrs are saved in getfattr's text format under
`<backup dir>/backup_<volume id>_<time>/<3 hex>/<chunk id>` (not with
`--no-backup`). Exit status 1 when a chunk could not be converted, 2 on bad
usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from oio.blob import chunk_meta as cm
from oio.blob.chunk_store import ChunkStore
from oio.blob.registrator import open_volume
from oio.blob.volume_walk import chunk_files, chunk_id_of
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.constants import OIO_VERSION
from oio.common.crawl_stats import CrawlStats
from oio.common.fullpath import decode_fullpath, encode_fullpath
from oio.common.fullpath import decode_old_fullpath as decode_4_parts
from oio.common.pacing import Pacer
from oio.common.utils import cid_from_name
from oio.common.volume import VolumeInfo

PROG = "oio-blob-converter"
LOGGER = logging.getLogger(PROG)
DEFAULT_CHUNKS_PER_SECOND = 30
DEFAULT_REPORT_INTERVAL = 3600
OLD_FULLPATH = "user.oio:"
LEGACY_KEYS = (cm.X_LEGACY_CHUNK_ID, cm.X_LEGACY_CONTAINER, cm.X_LEGACY_PATH,
               cm.X_LEGACY_VERSION, cm.X_LEGACY_CONTENT_ID)


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "surrogateescape") if raw else ""


def decode_old_fullpath(value: str) -> tuple[str, str, str, str, str | None]:
    """(account, container, path, version, content ID or None) of an
    `oio:` xattr: 4 parts (before content IDs were added, quoted with
    `+` for spaces) or 5; ValueError otherwise."""
    if value.count("/") == 3:
        return (*decode_4_parts(value), None)
    return decode_fullpath(value)


class Resolver:
    """Names and contents from the proxy, cached: a volume holds many
    chunks of each container. `client` is a ContainerClient, `rdir` an
    RdirClient (only used for chunks without any usable xattr)."""

    def __init__(self, client, rdir, volume_id: str):
        self.client = client
        self.rdir = rdir
        self.volume_id = volume_id
        self._names: dict[str, tuple[str, str]] = {}
        self._rdir_index: dict[str, tuple[str, str]] | None = None

    def names(self, cid: str) -> tuple[str, str]:
        cid = cid.upper()
        if cid not in self._names:
            system = self.client.container_get_properties(cid=cid)["system"]
            self._names[cid] = (system["sys.account"], system["sys.user.name"])
        return self._names[cid]

    def fullpath(self, chunk_id: str, cid: str, path: str | None = None,
                 version: str | None = None, content_id: str | None = None
                 ) -> str:
        """The fullpath of the chunk, once meta2 confirms that the content
        (by ID, else by path and version) lists it; OrphanChunk if not."""
        account, container = self.names(cid)
        try:
            if content_id:
                meta, chunks = self.client.content_locate(
                    cid=cid, content=content_id, properties=False)
            else:
                meta, chunks = self.client.content_locate(
                    cid=cid, path=path, version=version, properties=False)
        except exc.NotFound as err:
            raise exc.OrphanChunk(f"content not found: {err}") from None
        if version and str(meta.get("version")) != str(version):
            raise exc.OrphanChunk(f"content {meta.get('id')} is version "
                                  f"{meta.get('version')}, not {version}")
        wanted = f"{self.volume_id}/{chunk_id}".upper()
        if not any(str(c.get("url", "")).split("://", 1)[-1].upper() == wanted
                   for c in chunks):
            raise exc.OrphanChunk(f"chunk not listed by content "
                                  f"{meta.get('id')}")
        return encode_fullpath(account, container, meta["name"],
                               meta["version"], str(meta["id"]).upper())

    def from_rdir(self, chunk_id: str) -> tuple[str, str]:
        """(CID, content ID) the volume's rdir records for the chunk;
        KeyError if none. The index is read once, on first need."""
        if self._rdir_index is None:
            self._rdir_index = {
                found.upper(): (cid, content) for cid, content, found, _
                in self.rdir.chunk_fetch(self.volume_id)}
        return self._rdir_index[chunk_id.upper()]


class BlobConverter:
    def __init__(self, volume: VolumeInfo, resolver: Resolver,
                 backup_dir: str | None = None, no_backup: bool = False,
                 dry_run: bool = False,
                 chunks_per_second: float = DEFAULT_CHUNKS_PER_SECOND,
                 report_interval: float = DEFAULT_REPORT_INTERVAL,
                 logger: logging.Logger = LOGGER,
                 sleep: Callable[[float], object] = time.sleep):
        self.volume = volume
        self.resolver = resolver
        self.no_backup = no_backup
        self.dry_run = dry_run
        self.backup_root = os.path.join(
            backup_dir or tempfile.gettempdir(),
            f"backup_{volume.volume_id}_{time.time():f}")
        self.logger = logger
        # The rate really applies (7.2 read it under another key).
        self.pacer = Pacer(chunks_per_second, sleep=sleep)
        self.stats = CrawlStats("chunks", ("converted", "skipped", "errors"),
                                logger, report_interval,
                                {"volume": volume.volume_id})

    def run(self, input_file: str | None = None,
            stop: threading.Event | None = None) -> CrawlStats:
        stop = stop or threading.Event()
        self.stats.report("START")
        for path, chunk_id in chunk_files(self.volume.path, self.logger,
                                          input_file):
            if stop.is_set():
                break
            self.pacer.wait()
            self.stats.add("chunks")
            try:
                converted = self.convert(path, chunk_id.upper())
                self.stats.add("converted" if converted else "skipped")
            except (OSError, ValueError, KeyError, exc.OioException) as err:
                self.stats.add("errors")
                self.logger.error("ERROR while converting %s: %s", path, err)
            self.stats.tick()
        self.stats.report("STOPPED" if stop.is_set() else "DONE")
        return self.stats

    def convert(self, path: str, chunk_id: str) -> bool:
        """Whether the chunk was (or, dry, would be) converted; False when
        already converted. An error once anything failed (then the old
        keys stay, next to what could be converted)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            attrs = ChunkStore.read_xattrs(fd)
            fullpath = attrs.get(cm.XATTR_FULLPATH + chunk_id)
            if fullpath is not None and \
                    _text(attrs.get(cm.X_OIO_VERSION)) == OIO_VERSION:
                return False
            new, doomed, errors = self._plan(fd, path, chunk_id, attrs)
            if self.dry_run:
                self.logger.info("[dryrun] Converting chunk %s: success=%s "
                                 "new_fullpaths=%s xattr_to_remove=%s",
                                 chunk_id, not errors, new, doomed)
            else:
                self._backup(path, chunk_id, attrs)
                self._apply(fd, new, doomed if not errors else [],
                            done=not errors)
        finally:
            os.close(fd)
        if errors:
            raise exc.FaultyChunk("; ".join(errors))
        return True

    def _plan(self, fd: int, path: str, chunk_id: str,
              attrs: dict[str, bytes]
              ) -> tuple[dict[str, str], list[str], list[str]]:
        """({chunk ID: fullpath} to set, xattrs to remove, errors)."""
        new: dict[str, str] = {}
        errors: list[str] = []
        doomed = [key for key in LEGACY_KEYS if key in attrs]
        if cm.XATTR_FULLPATH + chunk_id not in attrs:
            try:
                new[chunk_id] = self._own_fullpath(chunk_id, attrs)
            except (ValueError, KeyError, exc.OioException) as err:
                errors.append(f"{chunk_id}: {err}")
        for key, raw in attrs.items():
            if not key.startswith(OLD_FULLPATH):
                continue
            doomed.append(key)
            other = key[len(OLD_FULLPATH):].upper()
            if other == chunk_id or chunk_id_of(other) is None:
                continue            # handled above / not a chunk's key
            try:
                self._same_inode(fd, path, other)
                account, container, obj, version, content = \
                    decode_old_fullpath(_text(raw))
                new[other] = self.resolver.fullpath(
                    other, cid_from_name(account, container), obj, version,
                    content)
            except (ValueError, KeyError, exc.OioException) as err:
                errors.append(f"link {other}: {err}")
        return new, doomed, errors

    def _own_fullpath(self, chunk_id: str, attrs: dict[str, bytes]) -> str:
        """The fullpath of the file's own ID, from the legacy keys, an
        `oio:` key, else rdir."""
        old = attrs.get(OLD_FULLPATH + chunk_id) or attrs.get(
            OLD_FULLPATH + chunk_id.lower())
        if _text(attrs.get(cm.X_LEGACY_CHUNK_ID)).upper() == chunk_id and \
                attrs.get(cm.X_LEGACY_CONTAINER):
            return self.resolver.fullpath(
                chunk_id, _text(attrs[cm.X_LEGACY_CONTAINER]),
                _text(attrs.get(cm.X_LEGACY_PATH)) or None,
                _text(attrs.get(cm.X_LEGACY_VERSION)) or None,
                _text(attrs.get(cm.X_LEGACY_CONTENT_ID)) or None)
        if old is not None:
            account, container, obj, version, content = \
                decode_old_fullpath(_text(old))
            return self.resolver.fullpath(
                chunk_id, cid_from_name(account, container), obj, version,
                content)
        self.logger.warning("chunk %s: no usable xattr, recovering its "
                            "fullpath from rdir", chunk_id)
        cid, content = self.resolver.from_rdir(chunk_id)
        return self.resolver.fullpath(chunk_id, cid, content_id=content)

    def _same_inode(self, fd: int, path: str, other: str) -> None:
        """The hard link named by an `oio:` key must be this very file."""
        link = os.path.join(os.path.dirname(path), other)
        if not os.path.exists(link):
            link = os.path.join(self.volume.path, other[:3], other)
        try:
            same = os.stat(link).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise exc.OrphanChunk("no hard link of this file under that ID")

    def _backup(self, path: str, chunk_id: str,
                attrs: dict[str, bytes]) -> None:
        if self.no_backup:
            return
        folder = os.path.join(self.backup_root, chunk_id[:3])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, chunk_id), "w",
                  encoding="utf-8", errors="surrogateescape") as out:
            out.write(f"# file: {path}\n")
            for key, value in sorted(attrs.items()):
                escaped = _text(value).replace("\\", "\\\\").replace('"', '\\"')
                out.write(f'{key}="{escaped}"\n')

    @staticmethod
    def _apply(fd: int, new: dict[str, str], doomed: list[str],
               done: bool) -> None:
        for chunk_id, fullpath in new.items():
            os.setxattr(fd, cm.XATTR_FULLPATH + chunk_id,
                        fullpath.encode("utf-8", "surrogateescape"))
        if not done:
            return
        os.setxattr(fd, cm.X_OIO_VERSION, OIO_VERSION.encode())
        for key in doomed:
            try:
                os.removexattr(fd, key)
            except OSError:
                pass            # gone meanwhile: what we wanted


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("volume", help="Path of the rawx volume to convert")
    p.add_argument("--input-file",
                   help="Convert only the chunks this file lists (one path "
                        "relative to the volume a line)")
    p.add_argument("--no-backup", action="store_true",
                   help="Do not save the old xattrs")
    p.add_argument("--backup-dir",
                   help="Where to save the old xattrs (default: the "
                        "temporary directory)")
    p.add_argument("--dry-run", action="store_true",
                   help="Log what would change, change nothing")
    p.add_argument("--chunks-per-second", type=float,
                   default=DEFAULT_CHUNKS_PER_SECOND,
                   help="Chunks converted per second, 0 for no limit "
                        f"(default {DEFAULT_CHUNKS_PER_SECOND})")
    p.add_argument("--report-interval", type=float,
                   default=DEFAULT_REPORT_INTERVAL,
                   help="Seconds between progress lines "
                        f"(default {DEFAULT_REPORT_INTERVAL})")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    p.add_argument("-q", "--quiet", action="store_true",
                   help="Log errors only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    daemon.setup_logging(PROG, level="ERROR" if args.quiet
                         else args.log_level)
    try:
        volume = open_volume(args.volume, args.namespace)
        if args.input_file and not os.path.isfile(args.input_file):
            raise exc.ConfigurationException(
                f"input file {args.input_file} not found")
    except (exc.OioException, OSError) as err:
        return daemon.fail(PROG, err)
    from oio.container.client import ContainerClient
    from oio.rdir.client import RdirClient

    conf = {"namespace": args.namespace}
    converter = BlobConverter(
        volume, Resolver(ContainerClient(conf), RdirClient(conf),
                         volume.volume_id),
        backup_dir=args.backup_dir, no_backup=args.no_backup,
        dry_run=args.dry_run, chunks_per_second=args.chunks_per_second,
        report_interval=args.report_interval)
    stats = converter.run(args.input_file, daemon.stop_on_signals())
    return 1 if stats["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
