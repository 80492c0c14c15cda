"""oio-blob-mover: empties a rawx volume, chunk by chunk, onto other rawx
(healing.md §3). It runs on the rawx's host and walks the volume itself,
so it needs no rdir.

    oio-blob-mover [--daemon] CONFIG

CONFIG's `[blob-mover]` section (OpenIO 7.2's):

| option | default | |
|---|---|---|
| `volume` | (required) | the rawx volume (its root directory) |
| `namespace` | the volume's | |
| `usage_target` | 0 | stop at this % of the filesystem used (0: never) |
| `usage_check_interval` | 60 | seconds between two looks at the usage |
| `chunks_per_second` | 30 | chunks moved per second (0: no limit) |
| `concurrency` | 10 | chunks moved at once |
| `limit` | 0 | stop after this many chunks (0: no limit) |
| `min_chunk_size`, `max_chunk_size` | 0, 0 | size filter (bytes; max 0: none) |
| `excluded_rawx` | | rawx service IDs that receive nothing (comma list) |
| `allow_links` | true | hard links of a moved chunk (snapshots) follow it |
| `report_interval` | 3600 | seconds between progress lines |
| `interval` | 30 | seconds from a pass to the next (`--daemon`) |

Each chunk goes where the load balancer puts a spare of its metachunk
(never on the volume itself nor on an excluded rawx); meta2 is pointed at
the copy before the original is deleted, so a reader always finds the
chunk at one place or the other. New chunks keep coming to a volume the
conscience still scores: lock it first (`openio cluster lock rawx ID`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from oio.blob import chunk_meta
from oio.blob.chunk_audit import read_chunk_file
from oio.blob.chunk_store import ChunkStore
from oio.blob.volume_walk import chunk_id_of, is_pending, walk_volume
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.configuration import Config
from oio.common.crawl_stats import CrawlStats
from oio.common.pacing import Pacer
from oio.common.volume import VolumeInfo, read_volume

PROG = "oio-blob-mover"
SECTION = "blob-mover"
LOGGER = logging.getLogger("oio.blob.mover")
DEFAULTS = {"usage_target": 0, "usage_check_interval": 60,
            "chunks_per_second": 30, "concurrency": 10, "limit": 0,
            "min_chunk_size": 0, "max_chunk_size": 0,
            "report_interval": 3600, "interval": 30}
COUNTERS = ("moved", "links_moved", "orphans", "skipped", "errors")
FAKE_CHUNK_ID = "0" * 64
# Walks of one pass while chunks keep arriving (see run_pass).
MAX_WALKS = 5


def volume_usage(path: str) -> float:
    """The filesystem's used space under `path`, in % of what it holds."""
    st = os.statvfs(path)
    if not st.f_blocks:
        return 0.0
    return 100.0 * (1.0 - st.f_bavail / st.f_blocks)


def excluded_chunks(rawx_ids: list[str]) -> list[dict]:
    """One fake chunk per excluded rawx: `content/spare` then avoids their
    locations as it avoids a broken chunk's."""
    return [{"url": f"http://{rawx}/{FAKE_CHUNK_ID}", "pos": "0", "size": 0,
             "hash": "0" * 32} for rawx in rawx_ids]


def linked_ids(chunk_id: str, attrs: dict[str, bytes]) -> list[str]:
    """The other chunk IDs that are hard links of this file."""
    prefix = chunk_meta.XATTR_FULLPATH
    return sorted(k[len(prefix):] for k in attrs
                  if k.startswith(prefix) and k[len(prefix):] != chunk_id)


class BlobMover:
    """Moves the chunks of one volume; `run_pass` is one walk of it."""

    def __init__(self, conf: Config, volume: VolumeInfo, content_factory,
                 logger: logging.Logger = LOGGER):
        self.conf = conf
        self.volume = volume
        self.factory = content_factory
        self.logger = logger

        def number(key):
            return conf.get_float(key, DEFAULTS[key])

        self.usage_target = number("usage_target")
        self.usage_check_interval = number("usage_check_interval")
        self.chunks_per_second = number("chunks_per_second")
        self.concurrency = max(1, int(number("concurrency")))
        self.limit = int(number("limit"))
        self.min_size = int(number("min_chunk_size"))
        self.max_size = int(number("max_chunk_size"))
        self.report_interval = number("report_interval")
        self.allow_links = conf.get_bool("allow_links", True)
        self.excluded = excluded_chunks(
            [r.strip() for r in (conf.get_str("excluded_rawx") or "").split(",")
             if r.strip()])
        self._lock = threading.Lock()

    # One chunk -----------------------------------------------------------------
    def move(self, path: str, chunk_id: str, stats: CrawlStats) -> None:
        try:
            fd, chunk = read_chunk_file(path, chunk_id)
        except FileNotFoundError:
            return              # deleted meanwhile
        try:
            attrs = ChunkStore.read_xattrs(fd)
        finally:
            os.close(fd)
        size = chunk.stat.st_size
        if size < self.min_size or (self.max_size and size > self.max_size):
            self._count(stats, "skipped")
            return
        fields = chunk.fields
        url = f"http://{self.volume.volume_id}/{chunk.chunk_id}"
        try:
            if not fields.get("container_id") or not fields.get("content_id"):
                raise exc.FaultyChunk(f"{url}: no fullpath xattr (run "
                                      "oio-blob-converter)")
            content = self.content(fields["container_id"],
                                   fields["content_id"])
            new = content.move_chunk(chunk.chunk_id,
                                     service_id=self.volume.volume_id,
                                     fake_excluded_chunks=self.excluded)
            self.logger.info("moved chunk %s to %s", url, new["url"])
            self._count(stats, "moved")
            self._count(stats, "bytes", size)
            if self.allow_links:
                self.move_links(chunk.chunk_id, attrs, new["url"], stats)
        except exc.OrphanChunk as err:
            self.logger.warning("chunk %s not moved: orphan (%s)", url, err)
            self._count(stats, "orphans")
        except exc.OioException as err:
            self.logger.error("chunk %s not moved: %s", url, err)
            self._count(stats, "errors")

    def content(self, container_id: str, content_id: str):
        try:
            return self.factory.get(container_id, content_id)
        except exc.ContentNotFound:
            raise exc.OrphanChunk("content not found") from None

    def move_links(self, chunk_id: str, attrs: dict[str, bytes],
                   new_url: str, stats: CrawlStats) -> None:
        """The other names of the file (snapshots' chunks) become links of
        the moved copy."""
        for link_id in linked_ids(chunk_id, attrs):
            try:
                fields = chunk_meta.fullpath_fields(link_id, attrs)
                content = self.content(fields["container_id"],
                                       fields["content_id"])
                content.move_linked_chunk(link_id, new_url,
                                          service_id=self.volume.volume_id)
                self._count(stats, "links_moved")
            except (exc.OioException, chunk_meta.CorruptChunkMeta) as err:
                self.logger.error("link %s of %s not moved: %s", link_id,
                                  chunk_id, err)
                self._count(stats, "errors")

    def _count(self, stats: CrawlStats, key: str, amount: int = 1) -> None:
        with self._lock:
            stats.add(key, amount)

    # A pass --------------------------------------------------------------------
    def usage_reached(self) -> bool:
        return self.usage_target > 0 and \
            volume_usage(self.volume.path) <= self.usage_target

    def run_pass(self, stop: threading.Event) -> CrawlStats:
        """Walk the volume, and again while a walk moved something (at most
        `MAX_WALKS`): chunks written there while the conscience did not
        know yet that the volume is locked are moved too."""
        stats = CrawlStats("chunks", COUNTERS, self.logger,
                           self.report_interval,
                           labels={"volume": self.volume.volume_id})
        pacer = Pacer(self.chunks_per_second, sleep=stop.wait)
        with ThreadPoolExecutor(self.concurrency) as pool:
            for _ in range(MAX_WALKS):
                before = stats["moved"]
                if not self._walk(stop, stats, pacer, pool) or \
                        stats["moved"] == before or stats["errors"]:
                    break
        stats.report("STOPPED" if stop.is_set() else "DONE")
        return stats

    def _walk(self, stop: threading.Event, stats: CrawlStats, pacer: Pacer,
              pool: ThreadPoolExecutor) -> bool:
        """One walk of the volume; False when it stopped before the end
        (signal, limit or usage target)."""
        next_check = 0.0
        pending: set = set()
        try:
            for path, name in walk_volume(self.volume.path):
                if stop.is_set() or (self.limit and
                                     stats["chunks"] >= self.limit):
                    return False
                if is_pending(name) or chunk_id_of(name) is None:
                    continue
                if time.monotonic() >= next_check:
                    if self.usage_reached():
                        self.logger.info("usage target %.1f%% reached",
                                         self.usage_target)
                        return False
                    next_check = time.monotonic() + self.usage_check_interval
                pacer.wait()
                with self._lock:
                    stats.add("chunks")
                pending.add(pool.submit(self.move, path, name.upper(), stats))
                while len(pending) >= self.concurrency:
                    _, pending = wait(pending, return_when=FIRST_COMPLETED)
                stats.tick()
            return True
        finally:
            wait(pending)


def build_mover(conf: Config, logger: logging.Logger = LOGGER) -> BlobMover:
    from oio.content.factory import ContentFactory

    path = conf.get_str("volume")
    if not path:
        raise exc.ConfigurationException(f"no volume in [{SECTION}]")
    volume = read_volume(path, "rawx", conf.get_str("namespace"))
    namespace = volume.namespace
    return BlobMover(conf, volume, ContentFactory({"namespace": namespace},
                                                  logger=logger), logger)


def parse_args(argv: list[str] | None):
    parser = daemon.base_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--daemon", action="store_true",
                        help="move again and again (every `interval` s)")
    parser.add_argument("--namespace", "--ns", help="namespace")
    parser.add_argument("--volume", help="volume to empty")
    for key in ("usage_target", "usage_check_interval", "chunks_per_second",
                "concurrency", "limit", "min_chunk_size", "max_chunk_size",
                "report_interval"):
        parser.add_argument("--" + key.replace("_", "-"), dest=key,
                            type=float, help=f"(default {DEFAULTS[key]})")
    parser.add_argument("--excluded-rawx", help="rawx IDs (comma list)")
    parser.add_argument("--generate-config", action="store_true",
                        help="write CONFIG from the options, then run")
    parser.add_argument("--edit-config", action="store_true",
                        help="add the options to CONFIG, then run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {k: v for k, v in vars(args).items() if v is not None and k in
               (*DEFAULTS, "namespace", "volume", "excluded_rawx")}
    if args.generate_config or args.edit_config:
        try:
            daemon.write_config(args.config, SECTION, options,
                                append=args.edit_config)
        except OSError as err:
            return daemon.fail(PROG, err)
    return daemon.serve(PROG, SECTION, args.config, options, build_mover,
                        LOGGER, args.daemon, DEFAULTS["interval"],
                        args.verbose, args.log_level)
