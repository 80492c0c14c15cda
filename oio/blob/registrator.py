"""oio-blob-registrator: a container's records, rebuilt from the chunk files
of a rawx volume (healing.md §5).

    oio-blob-registrator NS insert|update|check VOLUME [CID ...]

Each chunk file gives three beans (proxy-api.md §3.6), taken from its
xattrs: the alias (name and version of the object, created "now"), the
content header (policy, chunk method; size 0, which xattrs do not tell)
and the chunk record (`http://<rawx id>/<chunk id>`, position, size and
hash, those of the metachunk for EC fragments as meta2 keeps them).

* `insert` adds each bean (`container/raw_insert`): "already exists" when
  meta2 has it (409), "orphan" when the container is gone (404);
* `update` rewrites each bean (`container/raw_update`, old = new): orphan
  when meta2 lacks it. A header meta2 has keeps its size and hash;
* `check` compares each bean with meta2 and logs every difference.

CIDs given on the command line select the containers to handle (7.2
skipped them instead). Exit status 1 when a chunk or a bean failed (in
`check`, also when one is missing or differs), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from oio.blob.chunk_audit import read_chunk_file
from oio.blob.volume_walk import chunk_files
from oio.common import daemon
from oio.common import exceptions as exc
from oio.common.crawl_stats import CrawlStats
from oio.common.pacing import Pacer
from oio.common.volume import VolumeInfo, read_volume

PROG = "oio-blob-registrator"
LOGGER = logging.getLogger(PROG)
ACTIONS = ("insert", "update", "check")
BEAN_TYPES = ("alias", "header", "chunk")
# Written first: meta2 wants an alias's or a chunk's header to exist.
INSERT_ORDER = ("header", "alias", "chunk")
OUTCOMES = ("processed", "successes", "already_exists", "orphans", "errors")
DEFAULT_CHUNKS_PER_SECOND = 30
DEFAULT_REPORT_INTERVAL = 3600
MIME_TYPE = "application/octet-stream"
# Located contents kept: the fragments or copies of one object on one
# volume come one after the other in a walk only by chance.
LOCATE_CACHE = 256
_NEEDED = ("container_id", "content_path", "content_version", "content_id",
           "chunk_position", "chunk_size", "chunk_hash")


class BadChunk(ValueError):
    """The chunk's xattrs cannot describe its records."""


def beans_from_fields(fields: dict[str, str], volume_id: str, chunk_id: str,
                      now: int) -> dict[str, dict]:
    """{bean type: bean} of one chunk, from its stored fields
    (chunk_meta.stored_fields); BadChunk when some are missing."""
    missing = [key for key in _NEEDED if not fields.get(key)]
    if missing:
        raise BadChunk(f"missing xattrs: {', '.join(missing)}")
    try:
        version = int(fields["content_version"])
        size = int(fields.get("metachunk_size") or fields["chunk_size"])
    except ValueError as err:
        raise BadChunk(f"invalid xattr: {err}") from None
    content_id = fields["content_id"].upper()
    return {
        "alias": {"type": "alias", "name": fields["content_path"],
                  "version": version, "ctime": now, "mtime": now,
                  "deleted": False, "header": content_id},
        "header": {"type": "header", "id": content_id, "size": 0,
                   "ctime": now, "mtime": now,
                   "policy": fields.get("content_storage_policy") or "",
                   "chunk-method": fields.get("content_chunk_method") or "",
                   "mime-type": MIME_TYPE},
        "chunk": {"type": "chunk", "id": f"http://{volume_id}/{chunk_id}",
                  "hash": (fields.get("metachunk_hash")
                           or fields["chunk_hash"]).upper(),
                  "size": size, "ctime": now,
                  "pos": fields["chunk_position"], "content": content_id},
    }


def differences(bean: dict, meta: dict | None, chunks: list[dict]) -> list[str]:
    """How meta2's records (`meta`, `chunks` of content/locate, None when
    it has no such content) differ from `bean`; empty when they agree."""
    if meta is None:
        return ["not in meta2"]
    kind = bean["type"]
    if kind == "alias":
        wanted = {"name": bean["name"], "version": str(bean["version"])}
    elif kind == "header":
        wanted = {"policy": bean["policy"],
                  "chunk_method": bean["chunk-method"]}
    else:
        found = next((c for c in chunks if c.get("url") == bean["id"]), None)
        if found is None:
            return ["not in meta2"]
        meta = {"pos": str(found.get("pos")), "size": str(found.get("size")),
                "hash": str(found.get("hash") or "").upper()}
        wanted = {"pos": bean["pos"], "size": str(bean["size"]),
                  "hash": bean["hash"]}
    return [f"{key}: meta2 has {meta.get(key)!r}, the chunk says {value!r}"
            for key, value in wanted.items() if str(meta.get(key)) != value]


class BlobRegistrator:
    """Registers (or checks) the chunks of one volume; `client` is a
    ContainerClient."""

    def __init__(self, client, volume: VolumeInfo, action: str,
                 container_ids: list[str] | None = None,
                 chunks_per_second: float = DEFAULT_CHUNKS_PER_SECOND,
                 report_interval: float = DEFAULT_REPORT_INTERVAL,
                 logger: logging.Logger = LOGGER,
                 sleep: Callable[[float], object] = time.sleep):
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: expected one of "
                             f"{', '.join(ACTIONS)}")
        self.client = client
        self.volume = volume
        self.action = action
        self.selected = {cid.upper() for cid in container_ids or ()}
        self.logger = logger
        self.pacer = Pacer(chunks_per_second, sleep=sleep)
        self.now = int(time.time())
        counters = ["chunk_errors", "skipped"] + [
            f"bean_{kind}_{what}" for kind in BEAN_TYPES for what in OUTCOMES]
        self.stats = CrawlStats("chunks", tuple(counters), logger,
                                report_interval,
                                {"volume": volume.volume_id,
                                 "action": action})
        self._located: OrderedDict[tuple[str, str], tuple] = OrderedDict()

    @property
    def success(self) -> bool:
        return not self.stats["chunk_errors"] and not any(
            self.stats[f"bean_{kind}_errors"] for kind in BEAN_TYPES) and (
            self.action != "check" or not any(
                self.stats[f"bean_{kind}_orphans"] for kind in BEAN_TYPES))

    def run(self, stop: threading.Event | None = None) -> CrawlStats:
        stop = stop or threading.Event()
        self.stats.report("START")
        for path, chunk_id in chunk_files(self.volume.path, self.logger):
            if stop.is_set():
                break
            self.pacer.wait()
            self.stats.add("chunks")
            try:
                self.pass_chunk(path, chunk_id)
            except (OSError, BadChunk) as err:
                self.stats.add("chunk_errors")
                self.logger.error("ERROR chunk file %s: %s", path, err)
            self.stats.tick()
        self.stats.report("STOPPED" if stop.is_set() else "DONE")
        return self.stats

    def pass_chunk(self, path: str, chunk_id: str) -> None:
        fd, chunk = read_chunk_file(path, chunk_id)
        os.close(fd)        # the xattrs are all it needs
        if "error" in chunk.fields:
            raise BadChunk(chunk.fields["error"])
        cid = chunk.fields.get("container_id", "").upper()
        if self.selected and cid not in self.selected:
            self.stats.add("skipped")
            return
        beans = beans_from_fields(chunk.fields, self.volume.volume_id,
                                  chunk_id.upper(), self.now)
        where = (f"container_id={cid} content_path="
                 f"{chunk.fields['content_path']} content_version="
                 f"{chunk.fields['content_version']} content_id="
                 f"{chunk.fields['content_id']} chunk_id={chunk_id} "
                 f"chunk_pos={chunk.fields['chunk_position']}")
        for kind in INSERT_ORDER:
            self._pass_bean(cid, kind, beans[kind], where)

    def _pass_bean(self, cid: str, kind: str, bean: dict, where: str) -> None:
        def count(what: str) -> None:
            self.stats.add(f"bean_{kind}_{what}")

        count("processed")
        try:
            if self.action == "check":
                found = differences(bean, *self._locate(cid, bean))
                if not found:
                    count("successes")
                elif found == ["not in meta2"]:
                    count("orphans")
                    self.logger.warning("MISSING %s (%s)", kind, where)
                else:
                    count("errors")
                    self.logger.error("DIFFERENT %s (%s): %s", kind, where,
                                      "; ".join(found))
                return
            if self.action == "insert":
                self.client.container_raw_insert(bean, cid=cid)
            else:
                self.client.container_raw_update(
                    [self._kept(cid, bean)], [self._kept(cid, bean)], cid=cid)
            count("successes")
            self.logger.debug("Passed %s (%s)", kind, where)
        except exc.Conflict as err:
            count("already_exists")
            self.logger.info("Already exists %s (%s): %s", kind, where, err)
        except exc.NotFound as err:
            count("orphans")
            self.logger.info("Orphan %s (%s): %s", kind, where, err)
        except exc.OioException as err:
            count("errors")
            self.logger.error("Failed to pass %s (%s): %s", kind, where, err)

    def _kept(self, cid: str, bean: dict) -> dict:
        """An update must not zero a header's size: xattrs do not know it,
        meta2 does."""
        if bean["type"] != "header":
            return bean
        meta, _ = self._locate(cid, bean)
        if meta is None:
            return bean
        kept = dict(bean, size=int(meta.get("length") or meta.get("size")
                                   or 0))
        if meta.get("hash"):
            kept["hash"] = meta["hash"].upper()
        return kept

    def _locate(self, cid: str, bean: dict) -> tuple[dict | None, list]:
        """(meta, chunks) of the bean's content in meta2, (None, []) when
        it has none; cached per content."""
        content = bean.get("header") or bean.get("content") or bean["id"]
        key = (cid, content)
        if key in self._located:
            self._located.move_to_end(key)
            return self._located[key]
        try:
            found = self.client.content_locate(cid=cid, content=content,
                                               properties=False)
        except exc.NotFound:
            found = (None, [])
        self._located[key] = found
        if len(self._located) > LOCATE_CACHE:
            self._located.popitem(last=False)
        return found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("action", choices=ACTIONS,
                   help="insert the records meta2 lacks, update them from "
                        "the xattrs, or check them against meta2")
    p.add_argument("volume", help="Path of the rawx volume")
    p.add_argument("container_ids", metavar="CID", nargs="*",
                   help="Only the chunks of these containers (default: all)")
    p.add_argument("--chunks-per-second", type=float,
                   default=DEFAULT_CHUNKS_PER_SECOND,
                   help="Chunks handled per second, 0 for no limit "
                        f"(default {DEFAULT_CHUNKS_PER_SECOND})")
    p.add_argument("--report-interval", type=float,
                   default=DEFAULT_REPORT_INTERVAL,
                   help="Seconds between progress lines "
                        f"(default {DEFAULT_REPORT_INTERVAL})")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def open_volume(path: str, namespace: str) -> VolumeInfo:
    """The rawx volume at `path`, which must belong to `namespace`, a
    namespace configured on this host (ConfigurationException else)."""
    from oio.common.configuration import load_namespace_conf

    volume = read_volume(path, "rawx", namespace)
    load_namespace_conf(namespace)
    return volume


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    daemon.setup_logging(PROG, verbose=args.verbose, level=args.log_level)
    try:
        volume = open_volume(args.volume, args.namespace)
    except (exc.OioException, OSError) as err:
        return daemon.fail(PROG, err)
    from oio.container.client import ContainerClient

    registrator = BlobRegistrator(
        ContainerClient({"namespace": args.namespace}), volume, args.action,
        args.container_ids, args.chunks_per_second, args.report_interval)
    stop = daemon.stop_on_signals()
    try:
        registrator.run(stop)
    except exc.OioException as err:
        return daemon.fail(PROG, err, 1)
    return 0 if registrator.success else 1


if __name__ == "__main__":
    sys.exit(main())
