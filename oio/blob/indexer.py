"""oio-blob-indexer: rebuilds the rdir records of a rawx volume from its
chunk files (healing.md §5).

    oio-blob-indexer [--once] CONFIG

CONFIG's `[blob-indexer]` section:

| option | default | |
|---|---|---|
| `volume` | (required) | the rawx volume (its root directory) |
| `namespace` | the volume's | must match the volume's `user.server.ns` |
| `interval` | 300 | seconds from a pass to the next |
| `report_interval` | 3600 | seconds between progress lines |
| `chunks_per_second` | 30 | at most this many chunks indexed per second |
| `batch_size` | 100 | records pushed in one rdir request (ours) |

Each pass pushes a record `{container_id, content_id, chunk_id, mtime:
now}` for every chunk file (`.pending` uploads skipped) to the rdir of the
volume's service ID, with request IDs `blob-indexer-…`. The first pass
starts after a random delay of at most `interval` (so that the indexers
of a host do not all start together), unless `--once` asks for a single
pass right away. Because mtime is "now", indexing a live volume moves its
records past any incident date. A volume without an rdir aborts the pass.
`convert_chunks` (legacy xattrs) is not supported: `oio-blob-converter`
has not been written.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time

from oio.blob.chunk_audit import check_fields, read_chunk_file
from oio.blob.volume_walk import chunk_id_of, is_pending, walk_volume
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.configuration import Config
from oio.common.constants import REQID_HEADER
from oio.common.crawl_stats import CrawlStats
from oio.common.pacing import Pacer
from oio.common.utils import request_id
from oio.common.volume import VolumeInfo, read_volume

PROG = "oio-blob-indexer"
SECTION = "blob-indexer"
LOGGER = logging.getLogger("oio.blob.indexer")
DEFAULTS = {"interval": 300, "report_interval": 3600, "chunks_per_second": 30,
            "batch_size": 100}


def indexer_config(volume: str, namespace: str | None = None,
                   path: str | None = None, **options: object) -> str:
    """The `[blob-indexer]` INI text for `volume`, written to `path` if
    given."""
    return daemon.write_config(path, SECTION, {
        "volume": volume, "namespace": namespace, **options})


class BlobIndexer:
    """Indexes one rawx volume; `run_pass` is one crawl of it."""

    def __init__(self, conf: Config, volume: VolumeInfo, rdir_client,
                 logger: logging.Logger = LOGGER):
        self.volume = volume
        self.rdir = rdir_client
        self.logger = logger
        self.report_interval = conf.get_float("report_interval",
                                              DEFAULTS["report_interval"])
        self.chunks_per_second = conf.get_float(
            "chunks_per_second", DEFAULTS["chunks_per_second"])
        self.batch_size = max(1, conf.get_int("batch_size",
                                              DEFAULTS["batch_size"]))

    def run_pass(self, stop: threading.Event | None = None) -> CrawlStats:
        """One crawl; VolumeException if the volume has no rdir."""
        stop = stop or threading.Event()
        stats = CrawlStats("chunks", ("indexed", "errors"), self.logger,
                           self.report_interval,
                           {"volume": self.volume.volume_id})
        pacer = Pacer(self.chunks_per_second, sleep=stop.wait)
        batch: list[dict] = []
        stats.report("START")
        try:
            for path, name in walk_volume(self.volume.path):
                if stop.is_set():
                    break
                chunk_id = chunk_id_of(name)
                if chunk_id is None:
                    if not is_pending(name):
                        self.logger.warning("Not a chunk %s", path)
                    continue
                pacer.wait()
                record = self._record(path, chunk_id, stats)
                stats.add("chunks")
                if record is not None:
                    batch.append(record)
                if len(batch) >= self.batch_size:
                    self._push(batch, stats)
                stats.tick()
            self._push(batch, stats)
        finally:
            stats.report("STOPPED" if stop.is_set() else "DONE")
        return stats

    def _record(self, path: str, chunk_id: str, stats: CrawlStats
                ) -> dict | None:
        try:
            fd, chunk = read_chunk_file(path, chunk_id)
        except FileNotFoundError:
            return None     # deleted meanwhile
        except OSError as err:
            stats.add("errors")
            self.logger.error("ERROR while indexing %s: %s", path, err)
            return None
        os.close(fd)
        try:
            check_fields(chunk)
        except exc.FaultyChunk as err:
            stats.add("errors")
            self.logger.error("ERROR while indexing %s: %s", path, err)
            return None
        return {"container_id": chunk.fields["container_id"],
                "content_id": chunk.fields["content_id"],
                "chunk_id": chunk_id.upper(), "mtime": int(time.time())}

    def _push(self, batch: list[dict], stats: CrawlStats) -> None:
        if not batch:
            return
        headers = {REQID_HEADER: request_id("blob-indexer-")}
        try:
            self.rdir.chunk_push_many(self.volume.volume_id, batch,
                                      headers=headers)
            stats.add("indexed", len(batch))
        except exc.VolumeException:
            raise
        except exc.OioException as err:
            stats.add("errors", len(batch))
            self.logger.error("ERROR while indexing %d chunks: %s",
                              len(batch), err)
        finally:
            batch.clear()


def build_indexer(conf: Config, logger: logging.Logger = LOGGER
                  ) -> BlobIndexer:
    from oio.common.configuration import load_namespace_conf
    from oio.rdir.client import RdirClient

    path = conf.get_str("volume")
    if not path:
        raise exc.ConfigurationException(f"[{SECTION}] needs 'volume'")
    volume = read_volume(path, "rawx", conf.get_str("namespace"))
    namespace = volume.namespace
    load_namespace_conf(namespace)     # a clear error if it is unknown
    return BlobIndexer(conf, volume,
                       RdirClient({"namespace": namespace}, logger=logger),
                       logger)


def main(argv: list[str] | None = None) -> int:
    parser = daemon.base_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true",
                        help="one pass, at once, then exit")
    args = parser.parse_args(argv)
    return daemon.serve(PROG, SECTION, args.config, {}, build_indexer, LOGGER,
                        not args.once, DEFAULTS["interval"], args.verbose,
                        args.log_level,
                        first_delay=lambda interval: random.random() * interval)
