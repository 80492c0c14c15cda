"""oio-blob-auditor: re-hashes every chunk of a rawx volume at a bounded
rate and checks it against its xattrs and meta2 (healing.md §5).

    oio-blob-auditor [--daemon] CONFIG

CONFIG's `[blob-auditor]` section (OpenIO 7.2's, plus our extensions):

| option | default | |
|---|---|---|
| `volume` | (required) | the rawx volume (its root directory) |
| `namespace` | the volume's | must match the volume's `user.server.ns` |
| `report_interval` | 3600 | seconds between progress lines |
| `chunks_per_second` | 30 | at most this many chunks opened per second |
| `bytes_per_second` | 10000000 | at most this many bytes read per second |
| `interval` | 30 | seconds from a pass to the next (`--daemon`) |
| `orphan_grace_delay` | 86400 | younger orphans are kept (oio.blob.orphans) |
| `remove_orphans` | true | remove old orphans (else only count them) |
| `report_broken` | true | queue a rebuild task per corrupted/faulty chunk |
| `queue_url` | the namespace's `event-agent` | beanstalkd of the rebuild tasks |
| `rebuild_tube` | oio-rebuild | their tube |

Verdicts: *faulty* (xattrs missing, size differing, or not what meta2
says), *corrupted* (hash differing), *orphan* (no content references it).
Unlike OpenIO, which only logs them, a corrupted or faulty chunk whose
content is known is reported to the blob rebuilder: one
`storage.content.broken` event naming `http://<volume id>/<chunk id>` on
`rebuild_tube`, once per process and chunk file. Old orphans are removed
(file and rdir record).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable

from oio.blob import orphans
from oio.blob.chunk_audit import (
    ChunkFile,
    check_against_meta2,
    check_data,
    check_fields,
    find_in_content,
    read_chunk_file,
)
from oio.blob.rebuild_report import REBUILD_TUBE, RebuildReporter
from oio.blob.volume_walk import chunk_id_of, is_pending, walk_volume
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.configuration import Config, load_namespace_conf
from oio.common.crawl_stats import CrawlStats
from oio.common.pacing import Pacer
from oio.common.volume import VolumeInfo, read_volume

PROG = "oio-blob-auditor"
SECTION = "blob-auditor"
LOGGER = logging.getLogger("oio.blob.auditor")
DEFAULTS = {"report_interval": 3600, "chunks_per_second": 30,
            "bytes_per_second": 10_000_000, "interval": 30,
            "orphan_grace_delay": orphans.DEFAULT_GRACE_DELAY}
COUNTERS = ("corrupted", "faulty", "orphans", "orphans_removed", "reported",
            "errors")
# Errors of the namespace that say nothing of the chunk: retried next pass.
NOT_FOUND = (exc.NotFound, exc.NoSuchContainer, exc.NoSuchObject,
             exc.ContentNotFound)


def auditor_config(volume: str, namespace: str | None = None,
                   path: str | None = None, **options: object) -> str:
    """The `[blob-auditor]` INI text for `volume` (extra options as
    keywords, e.g. chunks_per_second=100), written to `path` if given."""
    return daemon.write_config(path, SECTION, {
        "volume": volume, "namespace": namespace, **options})


class BlobAuditor:
    """Audits one rawx volume; `run_pass` is one crawl of it."""

    def __init__(self, conf: Config, volume: VolumeInfo, container_client,
                 rdir_client, reporter: RebuildReporter | None,
                 logger: logging.Logger = LOGGER,
                 clock: Callable[[], float] | None = None):
        self.conf = conf
        self.volume = volume
        self.containers = container_client
        self.rdir = rdir_client
        self.reporter = reporter
        self.logger = logger
        self.report_interval = conf.get_float("report_interval",
                                              DEFAULTS["report_interval"])
        self.chunks_per_second = conf.get_float(
            "chunks_per_second", DEFAULTS["chunks_per_second"])
        self.bytes_per_second = conf.get_float(
            "bytes_per_second", DEFAULTS["bytes_per_second"])
        self.grace = conf.get_duration("orphan_grace_delay",
                                       DEFAULTS["orphan_grace_delay"])
        self.remove_orphans = conf.get_bool("remove_orphans", True)
        self.clock = clock
        # chunk ID → ctime of the file reported: one task per damaged file,
        # not one per pass while the rebuilder has not replaced it yet.
        self._reported: dict[str, float] = {}
        self.stats = self._new_stats()

    def _new_stats(self) -> CrawlStats:
        kwargs = {"clock": self.clock} if self.clock else {}
        return CrawlStats("chunks", COUNTERS, self.logger,
                          self.report_interval,
                          {"volume": self.volume.volume_id}, **kwargs)

    # A pass ------------------------------------------------------------------
    def run_pass(self, stop: threading.Event | None = None) -> CrawlStats:
        stop = stop or threading.Event()
        kwargs = {"clock": self.clock} if self.clock else {}
        stats = self.stats = self._new_stats()
        chunk_pacer = Pacer(self.chunks_per_second, sleep=stop.wait, **kwargs)
        byte_pacer = Pacer(self.bytes_per_second, sleep=stop.wait, **kwargs)

        def pace_bytes(amount: int) -> None:
            stats.add("bytes", amount)
            byte_pacer.wait(amount)

        stats.report("START")
        for path, name in walk_volume(self.volume.path):
            if stop.is_set():
                break
            chunk_id = chunk_id_of(name)
            if chunk_id is None:
                if not is_pending(name):
                    self.logger.warning("Not a chunk %s", path)
                continue
            chunk_pacer.wait()
            self.audit_chunk(path, chunk_id, pace_bytes)
            stats.add("chunks")
            stats.tick()
        stats.report("STOPPED" if stop.is_set() else "DONE")
        return stats

    # A chunk -----------------------------------------------------------------
    def audit_chunk(self, path: str, chunk_id: str,
                    pace_bytes: Callable[[int], None] | None = None) -> str:
        """Check one chunk file, count and act on the verdict; the verdict
        ("ok", "corrupted", "faulty", "orphan", "vanished", "error")."""
        try:
            fd, chunk = read_chunk_file(path, chunk_id)
        except FileNotFoundError:
            return "vanished"   # deleted meanwhile: not our business
        except OSError as err:
            return self._error(path, f"cannot read: {err}")
        damage: exc.ChunkException | None = None
        try:
            check_fields(chunk)
            check_data(fd, chunk.fields, pace_bytes)
        except (exc.FaultyChunk, exc.CorruptedChunk) as err:
            damage = err
        except OSError as err:
            if err.errno == errno.ENOENT:
                return "vanished"
            damage = exc.FaultyChunk(f"cannot read its data: {err}")
        finally:
            os.close(fd)
        fields = chunk.fields
        if fields.get("container_id") and fields.get("content_id"):
            try:
                entry = self._locate_chunk(chunk)
                if damage is None:
                    check_against_meta2(fields, entry)
            except exc.OrphanChunk as err:
                return self._orphan(chunk, str(err))
            except exc.FaultyChunk as err:
                damage = err
            except exc.OioException as err:
                # meta2 unreachable: nothing is known of the chunk's place,
                # but a damaged chunk is still worth a rebuild task.
                if damage is None:
                    return self._error(path, f"cannot locate its content: "
                                             f"{type(err).__name__}: {err}")
        if damage is None:
            return "ok"
        return self._damaged(chunk, damage)

    def _locate_chunk(self, chunk: ChunkFile) -> dict:
        """meta2's record of the chunk; OrphanChunk if there is none."""
        try:
            _, chunks = self.containers.content_locate(
                cid=chunk.fields["container_id"],
                content=chunk.fields["content_id"], properties=False)
        except NOT_FOUND as err:
            raise exc.OrphanChunk(f"content not found: {err}") from None
        return find_in_content(chunk.chunk_id, chunks or [])

    def _error(self, path: str, message: str) -> str:
        self.stats.add("errors")
        self.logger.error("ERROR while auditing chunk %s: %s", path, message)
        return "error"

    def _damaged(self, chunk: ChunkFile, damage: exc.ChunkException) -> str:
        verdict = "corrupted" if isinstance(damage, exc.CorruptedChunk) \
            else "faulty"
        self.stats.add(verdict)
        self.logger.error("ERROR %s chunk %s: %s", verdict, chunk.path, damage)
        self._report(chunk)
        return verdict

    def _report(self, chunk: ChunkFile) -> None:
        fields = chunk.fields
        if self.reporter is None:
            return
        if not (fields.get("container_id") and fields.get("content_id")):
            self.logger.warning("chunk %s not reported for rebuild: its "
                                "xattrs do not name its content", chunk.path)
            return
        chunk_id = chunk.chunk_id.upper()
        if self._reported.get(chunk_id) == chunk.stat.st_ctime:
            return
        url = f"http://{self.volume.volume_id}/{chunk_id}"
        if self.reporter.report(fields["container_id"], fields["content_id"],
                                url):
            self._reported[chunk_id] = chunk.stat.st_ctime
            self.stats.add("reported")
            self.logger.info("chunk %s reported for rebuild (content %s of "
                             "container %s)", url, fields["content_id"],
                             fields["container_id"])
        else:
            self.stats.add("errors")

    def _orphan(self, chunk: ChunkFile, reason: str) -> str:
        self.stats.add("orphans")
        young = not orphans.old_enough(chunk, self.grace)
        self.logger.warning("orphan chunk %s: %s%s", chunk.path, reason,
                            " (kept: younger than the grace delay)"
                            if young else "")
        if young or not self.remove_orphans:
            return "orphan"
        try:
            self._locate_chunk(chunk)   # both answers must agree
            self.logger.info("chunk %s is referenced after all: kept",
                             chunk.path)
            return "ok"
        except exc.OrphanChunk:
            pass
        except exc.OioException as err:
            self._error(chunk.path, f"orphan kept, cannot locate its content "
                                    f"again: {err}")
            return "orphan"
        try:
            orphans.remove_orphan(self.volume.path, chunk, self.rdir,
                                  self.volume.volume_id)
        except (exc.OioException, OSError) as err:
            self._error(chunk.path, f"orphan kept, cannot remove it: "
                                    f"{type(err).__name__}: {err}")
            return "orphan"
        self.stats.add("orphans_removed")
        self.logger.info("orphan chunk %s removed (file and rdir record)",
                         chunk.path)
        return "orphan"


# Command line ----------------------------------------------------------------
def build_auditor(conf: Config, logger: logging.Logger = LOGGER) -> BlobAuditor:
    """The auditor a configuration describes; ConfigurationException (or
    OioException) saying what is missing."""
    from oio.container.client import ContainerClient
    from oio.rdir.client import RdirClient

    path = conf.get_str("volume")
    if not path:
        raise exc.ConfigurationException(f"[{SECTION}] needs 'volume'")
    volume = read_volume(path, "rawx", conf.get_str("namespace"))
    namespace = volume.namespace
    ns_conf = load_namespace_conf(namespace)
    client_conf = {"namespace": namespace}
    reporter = None
    if conf.get_bool("report_broken", True):
        queue = conf.get_str("queue_url") or ns_conf.get("event-agent")
        if not queue:
            raise exc.ConfigurationException(
                f"no beanstalkd for the rebuild tasks: set queue_url in "
                f"[{SECTION}] or event-agent in the namespace configuration "
                f"(or report_broken = false)")
        try:
            reporter = RebuildReporter(
                queue.split(";")[0].strip(), namespace,
                conf.get_str("rebuild_tube") or REBUILD_TUBE, logger)
        except ValueError as err:
            raise exc.ConfigurationException(str(err)) from None
    return BlobAuditor(conf, volume, ContainerClient(client_conf, logger=logger),
                       RdirClient(client_conf, logger=logger), reporter, logger)


def parse_args(argv: list[str] | None):
    parser = daemon.base_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--daemon", action="store_true",
                        help="audit again and again (every `interval` s)")
    parser.add_argument("--namespace", "--ns", help="namespace")
    parser.add_argument("--volume", help="volume to audit")
    parser.add_argument("--report-interval", type=int,
                        help="seconds between progress lines")
    parser.add_argument("--chunks-per-second", type=int,
                        help="throttle: chunks per second")
    parser.add_argument("--bytes-per-second", type=int,
                        help="throttle: bytes per second")
    parser.add_argument("--generate-config", action="store_true",
                        help="write CONFIG from the options, then run")
    parser.add_argument("--append-config", action="store_true",
                        help="append the options to CONFIG, then run")
    return parser.parse_args(argv)


def _cli_options(args) -> dict[str, object]:
    return {k: v for k, v in (
        ("namespace", args.namespace), ("volume", args.volume),
        ("report_interval", args.report_interval),
        ("chunks_per_second", args.chunks_per_second),
        ("bytes_per_second", args.bytes_per_second)) if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = _cli_options(args)
    if args.generate_config or args.append_config:
        try:
            daemon.write_config(args.config, SECTION, options,
                                append=args.append_config)
        except OSError as err:
            return daemon.fail(PROG, err)
    return daemon.serve(PROG, SECTION, args.config, options, build_auditor,
                        LOGGER, args.daemon, DEFAULTS["interval"],
                        args.verbose, args.log_level)
