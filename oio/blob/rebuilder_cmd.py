"""`oio-blob-rebuilder NAMESPACE`: rebuild chunks from a lost volume's rdir
(`--volume`), from a file (`--input-file`), or forever from the tasks of a
beanstalkd tube (`--beanstalkd`, the daemon every host runs); with
`--distributed`, volume or file items go to the daemons instead.
Exit status 1 when a chunk could not be rebuilt (2: bad usage)."""

from __future__ import annotations

import argparse
import logging
import sys

from oio.blob import rebuild_tasks as tasks
from oio.blob import rebuilder as blob
from oio.common import exceptions as exc
from oio.common.daemon import fail, setup_logging, stop_on_signals

PROG = "oio-blob-rebuilder"
LOG = logging.getLogger(PROG)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("--volume", help="ID of the lost rawx (rebuild what its "
                                    "rdir lists before its incident date)")
    p.add_argument("--input-file", help="cid|content_id|chunk lines")
    p.add_argument("--beanstalkd", metavar="IP:PORT",
                   help="Listen to the tasks of this beanstalkd, forever")
    p.add_argument("--beanstalkd-tube", default=tasks.DEFAULT_TUBE,
                   help=f"Tube of the tasks (default {tasks.DEFAULT_TUBE})")
    p.add_argument("--retry-delay", type=int,
                   default=tasks.DEFAULT_RETRY_DELAY,
                   help="Seconds before a failed task is tried again "
                        f"(default {tasks.DEFAULT_RETRY_DELAY})")
    p.add_argument("--concurrency", "--workers", type=int,
                   default=blob.DEFAULT_CONCURRENCY,
                   help=f"Objects rebuilt at once (default "
                        f"{blob.DEFAULT_CONCURRENCY})")
    p.add_argument("--chunks-per-second", type=float,
                   default=blob.DEFAULT_ITEMS_PER_SECOND,
                   help="Chunks rebuilt per second, 0 for no limit "
                        f"(default {blob.DEFAULT_ITEMS_PER_SECOND})")
    p.add_argument("--dry-run", action="store_true",
                   help="Show what would be rebuilt (runs locally)")
    p.add_argument("--delete-faulty-chunks", action="store_true",
                   help="Delete the bad chunk where it still is")
    p.add_argument("--allow-frozen-container", action="store_true",
                   help="Rebuild chunks of frozen containers too")
    p.add_argument("--allow-same-rawx", action="store_true", default=True,
                   help="A chunk may be rebuilt on the rawx that lost it "
                        "(always on, as in 7.2)")
    p.add_argument("--rdir-fetch-limit", type=int,
                   default=blob.DEFAULT_RDIR_FETCH_LIMIT,
                   help="Records of each rdir answer")
    p.add_argument("--rdir-shuffle-chunks", action="store_true",
                   help="Shuffle each page of rdir records")
    p.add_argument("--rdir-timeout", type=float, default=60.0,
                   help="Seconds of an rdir request")
    p.add_argument("--report-interval", type=float,
                   default=blob.DEFAULT_REPORT_INTERVAL,
                   help="Seconds between progress lines")
    p.add_argument("--distributed", action="store_true",
                   help="Send the items to the rebuilders listening to "
                        "--distributed-tube on every beanstalkd")
    p.add_argument("--distributed-tube", default=tasks.DEFAULT_TUBE)
    p.add_argument("--random-wait", type=int, help="Ignored (as in 7.2)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    return p


def rebuilder_for(args, conf: dict) -> blob.BlobRebuilder:
    from oio.blob.operator import ChunkOperator

    return blob.BlobRebuilder(
        ChunkOperator(conf, logger=LOG), rawx_id=args.volume,
        dry_run=args.dry_run, try_chunk_delete=args.delete_faulty_chunks,
        allow_frozen_container=args.allow_frozen_container,
        concurrency=args.concurrency, items_per_second=args.chunks_per_second,
        report_interval=args.report_interval, logger=LOG)


def worker_queues(conf: dict, tube: str) -> list[str]:
    """The scored beanstalkd where rebuild workers watch `tube`."""
    from oio.conscience.client import ConscienceClient
    from oio.event.beanstalk import Beanstalk, BeanstalkError

    out = []
    for srv in ConscienceClient(conf).all_services("beanstalkd"):
        if int(srv.get("score") or 0) <= 0:
            continue
        client = Beanstalk.from_url(srv["addr"], timeout=5)
        try:
            if tube in client.list_tubes() and \
                    client.stats_tube(tube).get("current-watching", 0):
                out.append(srv["addr"])
        except (OSError, BeanstalkError) as err:
            LOG.warning("beanstalkd %s skipped: %s", srv["addr"], err)
        finally:
            client.close()
    return out


def listen(args, conf: dict) -> int:
    rebuilder = rebuilder_for(args, conf)
    stop = stop_on_signals()
    workers = [tasks.RebuildWorker(rebuilder, args.namespace, args.beanstalkd,
                                   tube=args.beanstalkd_tube,
                                   retry_delay=args.retry_delay, stop=stop,
                                   logger=LOG)
               for _ in range(max(1, args.concurrency))]
    LOG.info("listening to tube %s of %s with %d workers",
             args.beanstalkd_tube, args.beanstalkd, len(workers))
    for worker in workers:
        worker.start()
    while not stop.wait(1.0):
        rebuilder.report("RUN")
    for worker in workers:
        worker.join(30)
    rebuilder.report("DONE", force=True)
    return 0


def items(args, conf: dict):
    if args.input_file:
        return blob.items_from_file(args.input_file)
    from oio.rdir.client import RdirClient

    rdir = RdirClient(conf, read_timeout=args.rdir_timeout)
    if not rdir.admin_incident_get(args.volume):
        LOG.warning("No item to process: volume %s has no incident date",
                    args.volume)
        return iter(())
    return blob.items_from_rdir(rdir, args.volume, args.rdir_fetch_limit,
                                args.rdir_shuffle_chunks)


def run_once(args, conf: dict) -> int:
    source = items(args, conf)
    if args.distributed and not args.dry_run:
        dispatcher = tasks.DistributedDispatcher(
            args.namespace, worker_queues(conf, args.distributed_tube),
            tube=args.distributed_tube,
            items_per_second=args.chunks_per_second, logger=LOG)
        stats = blob.RebuildStats()
        for result in dispatcher.run(source):
            stats.add(result)
            if result.error:
                LOG.error("ERROR while rebuilding chunk %s: %s",
                          result.item.chunk, result.error)
        LOG.info("%s", stats.line("DONE"))
        return 1 if stats.errors else 0
    rebuilder = rebuilder_for(args, conf)
    for _ in rebuilder.run(source):
        pass
    return 0 if rebuilder.success else 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(PROG, level=args.log_level)
    modes = [m for m in (args.volume, args.input_file, args.beanstalkd) if m]
    if len(modes) != 1:
        return fail(PROG, "give one of --volume, --input-file or "
                          "--beanstalkd")
    conf = {"namespace": args.namespace}
    try:
        if args.beanstalkd:
            return listen(args, conf)
        return run_once(args, conf)
    except (exc.OioException, ValueError, OSError) as err:
        return fail(PROG, err, 1)


if __name__ == "__main__":
    sys.exit(main())
