"""oio-meta1-rebuilder: the meta1 bases rebuilt (healing.md §5), as 7.2's
command; `openio-admin meta1 rebuild` does the same.

    oio-meta1-rebuilder NS [--input-file F] [--prefixes-per-second N] ...

Every base of the meta0 map, or those of the container IDs the input file
lists (one a line), is copied to the replicas that lack it. The CIDs that
stand for the bases that could not be rebuilt are printed on stdout. Exit
status 1 when one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import logging
import sys

from oio.common import daemon
from oio.common import exceptions as exc
from oio.rebuilder import runner

PROG = "oio-meta1-rebuilder"
LOGGER = logging.getLogger(PROG)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("--input-file",
                   help="Container IDs whose bases to rebuild, one a line "
                        "(default: every base)")
    p.add_argument("--concurrency", "--workers", type=int,
                   default=runner.DEFAULT_CONCURRENCY,
                   help="Bases rebuilt at once (default "
                        f"{runner.DEFAULT_CONCURRENCY})")
    p.add_argument("--prefixes-per-second", type=float,
                   default=runner.DEFAULT_ITEMS_PER_SECOND,
                   help="Bases started per second, 0 for no limit (default "
                        f"{runner.DEFAULT_ITEMS_PER_SECOND})")
    p.add_argument("--report-interval", type=float,
                   default=runner.DEFAULT_REPORT_INTERVAL,
                   help="Seconds between progress lines (default "
                        f"{runner.DEFAULT_REPORT_INTERVAL})")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    p.add_argument("-q", "--quiet", action="store_true",
                   help="Log errors only")
    return p


def _digits(conf: dict) -> int:
    """`ns.meta1_digits` of the namespace configuration (4 by default)."""
    value = conf.get("ns.meta1_digits", conf.get("meta1_digits", 4))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise exc.ConfigurationException(
            f"ns.meta1_digits is not a number: {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    daemon.setup_logging(PROG, level="ERROR" if args.quiet
                         else args.log_level)
    from oio.common.configuration import load_namespace_conf
    from oio.directory.meta0_client import Meta0Client
    from oio.rebuilder.meta1_rebuilder import Meta1Rebuilder
    from oio.rebuilder.sqlx_admin import SqlxAdminClient

    try:
        ns_conf = load_namespace_conf(args.namespace)
        conf = {"namespace": args.namespace}
        meta0 = Meta0Client(conf)
        rebuilder = Meta1Rebuilder(SqlxAdminClient(conf), meta0,
                                   _digits(ns_conf), logger=LOGGER)
        items = rebuilder.items_from_file(args.input_file) \
            if args.input_file else None
    except (exc.OioException, OSError, ValueError) as err:
        return daemon.fail(PROG, err)
    work = runner.Runner(rebuilder.rebuild, what="prefixes",
                         concurrency=args.concurrency,
                         items_per_second=args.prefixes_per_second,
                         report_interval=args.report_interval, logger=LOGGER)
    try:
        for base, errors in work.run(items if items is not None
                                     else rebuilder.items()):
            if errors:
                LOGGER.error("ERROR while rebuilding %s: %s", base,
                             "; ".join(errors))
                print(rebuilder.cid(base), flush=True)
    except exc.OioException as err:
        return daemon.fail(PROG, err, 1)
    return 0 if work.success else 1


if __name__ == "__main__":
    sys.exit(main())
