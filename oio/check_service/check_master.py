"""oio-check-master: whether each replicated base of the given items
(meta0, meta1 and meta2 by default) has exactly one master.

    oio-check-master [--oio-ns NS] [--oio-account A] [--cid] [-t TYPE]...
                     [-x] [-v] ITEM...

ITEMs are container names of the account (or CIDs with --cid). Per item
and type, `POST /v3.0/NS/admin/status` asks every peer (an election is
started first if none was); exactly one
answering 200 is "one master", anything else (none, several) is logged
as "more than one master found", as OpenIO words it. `--fix` asks the
peers to leave the election (`admin/leave`), so that a new one is held.
Exit status 1 if an item has no single master (OpenIO's is always 0),
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from oio.common import exceptions as exc

PROG = "oio-check-master"
TYPES = ("meta0", "meta1", "meta2")
LOGGER = logging.getLogger(PROG)


def _where(item: str, account: str | None, is_cid: bool) -> dict[str, str]:
    return {"cid": item} if is_cid else {"account": account,
                                         "reference": item}


def _label(srv_type: str, item: str, account: str | None,
           is_cid: bool) -> str:
    return f"{srv_type} {item if is_cid else f'{account}/{item}'}"


def check_master(admin, srv_type: str, item: str, account: str | None,
                 is_cid: bool) -> bool:
    """Whether exactly one peer of the item's base says it is master."""
    label = _label(srv_type, item, account, is_cid)
    try:
        peers = admin.election_status(srv_type,
                                      **_where(item, account, is_cid))["peers"]
    except exc.OioException as err:
        LOGGER.error("%s: received error: %s", label, err)
        return False
    masters = 0
    for peer, answer in peers.items():
        status = (answer or {}).get("status") or {}
        LOGGER.debug("%s -> %s", peer, status)
        masters += status.get("status") == 200
    if masters == 1:
        LOGGER.info("%s: one master", label)
        return True
    LOGGER.error("%s: more than one master found", label)
    return False


def leave_all(admin, srv_type: str, item: str, account: str | None,
              is_cid: bool) -> None:
    label = _label(srv_type, item, account, is_cid)
    try:
        peers = admin.election_leave(srv_type, **_where(item, account, is_cid))
    except exc.OioException as err:
        LOGGER.error("%s: received error: %s", label, err)
        return
    for peer, answer in peers.items():
        LOGGER.info("%s -> %s", peer, (answer or {}).get("status"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Check that the replicated bases of items "
                               "have exactly one master.")
    parser.add_argument("--verbose", "-v", dest="flag_verbose",
                        action="store_true", help="verbose mode")
    parser.add_argument("--type", "-t", dest="type", action="append",
                        default=[], choices=TYPES,
                        help="service type(s) to check (default: all)")
    parser.add_argument("--cid", dest="flag_cid", action="store_true",
                        help="items are container IDs, not names")
    parser.add_argument("--fix", "-x", dest="flag_fix", action="store_true",
                        help="ask the peers to leave when the check fails "
                             "(at your own risk)")
    parser.add_argument("--oio-account", dest="account",
                        default=os.environ.get("OIO_ACCOUNT"),
                        help="account (default: $OIO_ACCOUNT; not with --cid)")
    parser.add_argument("--oio-ns", dest="ns", default=os.environ.get("OIO_NS"),
                        help="namespace (default: $OIO_NS)")
    parser.add_argument("container_or_cid", metavar="<CONTAINER_OR_CID>",
                        nargs="+", help="items to check")
    args = parser.parse_args(argv)
    if not args.ns:
        parser.error("a namespace is required (--oio-ns or OIO_NS)")
    if not args.flag_cid and not args.account:
        parser.error("an account is required (--oio-account or OIO_ACCOUNT)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.flag_verbose else logging.INFO,
        format="%(asctime)s %(message)s", datefmt="%m/%d/%Y %I:%M:%S")
    from oio.directory.admin import AdminClient

    try:
        admin = AdminClient({"namespace": args.ns})
    except exc.OioException as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    ok = True
    for item in args.container_or_cid:
        for srv_type in args.type or TYPES:
            if check_master(admin, srv_type, item, args.account,
                            args.flag_cid):
                continue
            ok = False
            if args.flag_fix:
                leave_all(admin, srv_type, item, args.account, args.flag_cid)
    return 0 if ok else 1
