"""oio-meta2-indexer: re-pushes the rdir records of meta2 volumes from the
container bases found on them (healing.md §5).

    oio-meta2-indexer [--once] CONFIG

CONFIG's `[meta2-indexer]` section:

| option | default | |
|---|---|---|
| `volume_list` | (required) | comma list of meta2 datadirs (see below) |
| `namespace` | the volumes' | |
| `interval` | 1800 | seconds from a pass to the next |
| `report_interval` | 300 | seconds between progress lines |
| `scanned_per_second` | 3000 | bases per second, per volume |
| `try_removing_faulty_indexes` | false | forget bases the volume is no peer of |

A volume is a meta2 datadir, whose `user.server.*` xattrs (set by the
meta2 service at start) give its service ID. One thread per volume. For
each base `<CID>.<seq>.meta2`, the directory
(`reference/show`) gives its account, name and meta2 peers; if the
volume's service is a peer, the record `NS/account/container` is pushed
(mtime now) to the volume's rdir, else a warning (and, if asked, the
record is deleted).
"""

from __future__ import annotations

import logging
import re
import threading
import time

from oio.blob.volume_walk import walk_volume
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.configuration import Config
from oio.common.crawl_stats import CrawlStats
from oio.common.pacing import Pacer
from oio.common.volume import VolumeInfo, read_volume

PROG = "oio-meta2-indexer"
SECTION = "meta2-indexer"
LOGGER = logging.getLogger("oio.directory.indexer")
DEFAULTS = {"interval": 1800, "report_interval": 300,
            "scanned_per_second": 3000}
BASE_NAME = re.compile(r"([0-9A-Fa-f]{64})\.(\d+)\.meta2")


def meta2_indexer_config(volumes: list[str], namespace: str | None = None,
                         path: str | None = None, **options: object) -> str:
    """The `[meta2-indexer]` INI text for `volumes`, written to `path` if
    given."""
    return daemon.write_config(path, SECTION, {
        "volume_list": ",".join(volumes), "namespace": namespace, **options})


class Meta2VolumeIndexer:
    """Indexes the bases of one meta2 volume."""

    def __init__(self, conf: Config, volume: VolumeInfo, directory, rdir,
                 logger: logging.Logger = LOGGER):
        self.volume = volume
        self.directory = directory
        self.rdir = rdir
        self.logger = logger
        self.report_interval = conf.get_float("report_interval",
                                              DEFAULTS["report_interval"])
        self.rate = conf.get_float("scanned_per_second",
                                   DEFAULTS["scanned_per_second"])
        self.remove_faulty = conf.get_bool("try_removing_faulty_indexes")

    def run_pass(self, stop: threading.Event | None = None) -> CrawlStats:
        stop = stop or threading.Event()
        stats = CrawlStats("bases", ("indexed", "not_peer", "errors"),
                           self.logger, self.report_interval,
                           {"volume_id": self.volume.volume_id})
        pacer = Pacer(self.rate, sleep=stop.wait)
        stats.report("START")
        for _path, name in walk_volume(self.volume.path):
            if stop.is_set():
                break
            match = BASE_NAME.fullmatch(name)
            if match is None:
                continue        # journals, dumps, spools: not bases
            pacer.wait()
            stats.add("bases")
            self.index_base(match.group(1).upper(), stats)
            stats.tick()
        stats.report("STOPPED" if stop.is_set() else "DONE")
        return stats

    def index_base(self, cid: str, stats: CrawlStats) -> None:
        try:
            ref = self.directory.list(cid=cid)
            url = f"{self.volume.namespace}/{ref['account']}/{ref['name']}"
            peers = [srv.get("host") for srv in ref.get("srv") or ()
                     if srv.get("type") == "meta2"]
            if self.volume.volume_id not in peers:
                stats.add("not_peer")
                self.logger.warning(
                    "volume_id=%s container_id=%s not a peer of the base "
                    "(peers: %s)", self.volume.volume_id, cid,
                    ",".join(p for p in peers if p) or "none")
                if self.remove_faulty:
                    self.rdir.meta2_index_delete(self.volume.volume_id, url,
                                                 cid)
                return
            self.rdir.meta2_index_push(self.volume.volume_id, url, cid,
                                       time.time())
            stats.add("indexed")
        except exc.OioException as err:
            stats.add("errors")
            self.logger.warning("volume_id=%s container_id=%s cannot index: "
                                "%s: %s", self.volume.volume_id, cid,
                                type(err).__name__, err)


class Meta2Indexer:
    """One indexer per volume, each pass run in a thread of its own."""

    def __init__(self, workers: list[Meta2VolumeIndexer]):
        self.workers = workers

    def run_pass(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        threads = [threading.Thread(target=w.run_pass, args=(stop,),
                                    name=f"index-{w.volume.volume_id}")
                   for w in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def build_indexer(conf: Config, logger: logging.Logger = LOGGER
                  ) -> Meta2Indexer:
    from oio.common.configuration import load_namespace_conf
    from oio.directory.client import DirectoryClient
    from oio.rdir.client import RdirClient

    paths = [p.strip() for p in (conf.get_str("volume_list") or "").split(",")
             if p.strip()]
    if not paths:
        raise exc.ConfigurationException(f"[{SECTION}] needs 'volume_list'")
    volumes = [read_volume(path, "meta2") for path in paths]
    namespace = conf.get_str("namespace") or volumes[0].namespace
    for volume in volumes:
        if volume.namespace != namespace:
            raise exc.ConfigurationException(
                f"volume {volume.path} belongs to namespace "
                f"{volume.namespace!r}, not {namespace!r}")
    load_namespace_conf(namespace)
    client_conf = {"namespace": namespace}
    directory = DirectoryClient(client_conf, logger=logger)
    rdir = RdirClient(client_conf, logger=logger)
    return Meta2Indexer([Meta2VolumeIndexer(conf, v, directory, rdir, logger)
                         for v in volumes])


def main(argv: list[str] | None = None) -> int:
    parser = daemon.base_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true",
                        help="one pass, then exit")
    args = parser.parse_args(argv)
    return daemon.serve(PROG, SECTION, args.config, {}, build_indexer, LOGGER,
                        not args.once, DEFAULTS["interval"], args.verbose,
                        args.log_level)
