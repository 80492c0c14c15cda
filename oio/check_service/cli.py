"""oio-check-services NS: a PUT/GET/DELETE cycle on every rawx and meta2
of the namespace; prints `RAWX <addr> OK|FAIL` and `META2 <addr> OK|FAIL`.
Exit status 1 if one failed (OpenIO's always 0), 2 on a bad namespace."""

from __future__ import annotations

import argparse
import logging
import sys

from oio.common import exceptions as exc

PROG = "oio-check-services"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Make a cycle PUT/GET/DELETE on each host "
                               "for RAWX and META2")
    parser.add_argument("namespace", help="namespace")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log why a service failed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR if args.verbose else
                        logging.CRITICAL, format=f"{PROG}: %(message)s")
    from oio.check_service.check_meta2 import CheckMeta2
    from oio.check_service.check_rawx import CheckRawx

    try:
        ok = CheckRawx(args.namespace).run()
        ok = CheckMeta2(args.namespace).run() and ok
    except exc.OioException as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    return 0 if ok else 1
