"""`openio election ping|status|debug|sync|leave <service_type> <reference>`
and `openio-admin election balance [<service_type>...]`, as OpenIO 7.2's
(spec replication.md §7.1, §7.2).

One row per replica of the base, sorted by ID: its status and message as
the proxy relays them (200 master, 303 slave naming its master, ...). A
command exits 1, after its rows, when a replica answered something else
than what the action expects of a healthy election.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from oio.cli import Lister, clients
from oio.cli.election import admin_client
from oio.common.exceptions import ClientException, CommandError, OioException
from oio.directory.admin import ELECTION_TYPES

LOG = logging.getLogger(__name__)
# Seconds: a little more than the proxy's own 30 s toward the services,
# so that its answer arrives before we give up (7.2's default).
DEFAULT_TIMEOUT = 32.0
HEX = re.compile(r"[0-9A-F]+")


def format_json(parsed_args, value: Any) -> Any:
    """A JSON body as a cell: indented in a table, one line for the flat
    formatters (value, csv), the structure itself for json and yaml."""
    if not value:
        return value
    formatter = getattr(parsed_args, "formatter", "table")
    if formatter == "table":
        return json.dumps(value, indent=4, sort_keys=True)
    if formatter in ("json", "yaml"):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def human_log_entry(entry: str) -> str:
    """`<epoch ms>:PRE:EVENT:POST` as `YYYY-mm-dd HH:MM:SS.mmm PRE, EVENT ->
    POST` in local time (an entry of another shape is kept as it is)."""
    stamp, sep, rest = str(entry).partition(":")
    parts = rest.split(":", 2)
    if not sep or len(parts) != 3:
        return entry
    try:
        millis = int(stamp)
    except ValueError:
        return entry
    when = time.strftime("%Y-%m-%d %H:%M:%S",
                         time.localtime(millis // 1000))
    before, event, after = parts
    return f"{when}.{millis % 1000:03d} {before}, {event} -> {after}"


def humanize(body: Any) -> Any:
    """A debug body with its log items readable."""
    if not isinstance(body, dict) or not isinstance(body.get("log"), list):
        return body
    return dict(body, log=[human_log_entry(e) for e in body["log"]])


class ElectionCmd(Lister):
    """What the per-replica election commands share."""

    action = ""
    columns: tuple[str, ...] = ("Id", "Status", "Message")
    # Replica statuses of a healthy election, for this action.
    expected: frozenset[int] = frozenset((200,))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "service_type", metavar="<service_type>",
            help=f"Type of the base: {', '.join(ELECTION_TYPES)}")
        parser.add_argument(
            "reference", metavar="<reference>",
            help="Name of the container (meta2) or reference (meta1), "
                 "with --oio-account; the namespace name for meta0")
        parser.add_argument(
            "--cid", dest="is_cid", action="store_true",
            help="Take <reference> as a container ID (for meta1, a prefix "
                 "of 1 to 4 hexadecimal digits is enough)")
        parser.add_argument(
            "--service-id", metavar="<service-id>", action="append",
            help="Ask only this replica (repeatable)")
        parser.add_argument(
            "--timeout", type=float, default=DEFAULT_TIMEOUT,
            help="Seconds the proxy has to answer (default "
                 f"{DEFAULT_TIMEOUT})")
        return parser

    def location(self, parsed_args) -> dict[str, str | None]:
        """account/reference or cid of the base, checked."""
        kind = parsed_args.service_type
        if parsed_args.is_cid:
            cid = parsed_args.reference.upper()
            if kind in ("meta1", "meta2") and not HEX.fullmatch(cid):
                raise CommandError(
                    f"Invalid container ID {parsed_args.reference!r}: "
                    "expected hexadecimal digits")
            if kind == "meta2" and len(cid) != 64:
                raise CommandError(
                    f"Invalid container ID {parsed_args.reference!r}: "
                    "expected 64 hexadecimal digits")
            if kind == "meta1" and len(cid) > 64:
                raise CommandError(
                    f"Invalid container ID {parsed_args.reference!r}: "
                    "expected at most 64 hexadecimal digits")
            return {"cid": cid}
        if kind == "meta0":
            # meta0's one base is the namespace: no account needed.
            return {"account": self.app.client_manager.options.account
                    or None, "reference": parsed_args.reference}
        return {"account": self.app.client_manager.account,
                "reference": parsed_args.reference}

    def describe(self, parsed_args, where: dict) -> str:
        if where.get("cid"):
            return f"{parsed_args.service_type} base of CID {where['cid']}"
        if parsed_args.service_type == "meta0":
            return "meta0 base"
        return (f"{parsed_args.service_type} base of "
                f"{where['account']}/{where['reference']}")

    def call(self, admin, parsed_args, where: dict) -> dict[str, dict]:
        method = getattr(admin, f"election_{self.action}")
        return method(parsed_args.service_type,
                      service_id=parsed_args.service_id,
                      timeout=parsed_args.timeout, **where)

    def row(self, parsed_args, peer: str, entry: dict) -> tuple:
        status = entry.get("status") or {}
        return peer, status.get("status"), status.get("message")

    def take_action(self, parsed_args):
        if parsed_args.timeout <= 0:
            raise CommandError("--timeout must be a positive number of "
                               "seconds")
        where = self.location(parsed_args)
        admin = admin_client(self.app.client_manager)
        try:
            answers = self.call(admin, parsed_args, where)
        except ClientException as err:
            raise CommandError(
                f"election {self.action} on the "
                f"{self.describe(parsed_args, where)}: {err}") from None
        rows = [self.row(parsed_args, peer, entry)
                for peer, entry in sorted(answers.items())]
        if any(row[1] not in self.expected for row in rows):
            self.success = False
        return self.columns, rows


class ElectionPing(ElectionCmd):
    """Start the election of a base, or refresh it, on its replicas."""

    action = "ping"


class ElectionStatus(ElectionCmd):
    """Show each replica's state in the election of a base (starting it
    if needed): 200 for the master, 303 and the master's ID for a
    slave."""

    action = "status"
    expected = frozenset((200, 303))

    def call(self, admin, parsed_args, where):
        return super().call(admin, parsed_args, where)["peers"]


class ElectionDebug(ElectionCmd):
    """Show what each replica records of the election of a base."""

    action = "debug"
    columns = ("Id", "Status", "Message", "Body")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--human", action="store_true",
            help="Show the log entries with readable dates (local time)")
        return parser

    def row(self, parsed_args, peer, entry):
        body = entry.get("body")
        if parsed_args.human:
            body = humanize(body)
        return (*super().row(parsed_args, peer, entry),
                format_json(parsed_args, body))


class ElectionSync(ElectionCmd):
    """Have the slaves of a base copy it whole from its master (the
    master answers 301)."""

    action = "sync"
    columns = ("Id", "Status", "Message", "Body")
    expected = frozenset((200, 301))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--check-type", type=int, choices=(-1, 0, 1, 2), default=-1,
            help="Check of the master's base before the copy: -1 the "
                 "server's default, 0 none, 1 quick, 2 full (default -1)")
        return parser

    def call(self, admin, parsed_args, where):
        return admin.election_sync(
            parsed_args.service_type, service_id=parsed_args.service_id,
            check_type=parsed_args.check_type, timeout=parsed_args.timeout,
            **where)

    def row(self, parsed_args, peer, entry):
        return (*super().row(parsed_args, peer, entry),
                format_json(parsed_args, entry.get("body")))


class ElectionLeave(ElectionCmd):
    """Have the replicas of a base leave its election (use --service-id
    to move mastership away from one); they join again on next use."""

    action = "leave"


class ElectionBalance(Lister):
    """Have meta services give up masterships, so that masters spread
    over the replicas. Status is that of each service's answer (0: not
    asked), Count the number of elections it gave up."""

    columns = ("Id", "Status", "Count")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "service_type", metavar="<service_type>", nargs="*",
            help="Types of the services to ask (default: "
                 f"{' '.join(ELECTION_TYPES)})")
        parser.add_argument(
            "--service-id", metavar="<service-id>", action="append",
            help="Ask only this service (repeatable)")
        parser.add_argument(
            "--max", type=int, default=100,
            help="Masterships a service gives up at most (default 100; "
                 "ignored with --average)")
        parser.add_argument(
            "--inactivity", type=int, default=0,
            help="Only give up the bases idle for that many seconds "
                 "(default 0; ignored with --average)")
        parser.add_argument(
            "--average", action="store_true",
            help="Only ask the services holding more masterships than the "
                 "mean of their type, the difference (one type only)")
        parser.add_argument(
            "--timeout", type=float, default=DEFAULT_TIMEOUT,
            help="Seconds the proxy has to answer, per service (default "
                 f"{DEFAULT_TIMEOUT})")
        return parser

    def _service_ids(self, parsed_args) -> list[str]:
        if parsed_args.service_id:
            return list(parsed_args.service_id)
        conscience = clients.conscience(self.app.client_manager)
        ids: list[str] = []
        for kind in parsed_args.service_type or ELECTION_TYPES:
            try:
                ids += [srv["id"] for srv in conscience.all_services(kind)]
            except OioException as err:
                self.success = False
                LOG.error("Cannot list the services of type %s: %s", kind,
                          err)
        return ids

    def take_action(self, parsed_args):
        if parsed_args.average and len(parsed_args.service_type) != 1:
            raise CommandError("--average works with exactly one service "
                               "type")
        if parsed_args.max <= 0 or parsed_args.inactivity < 0 \
                or parsed_args.timeout <= 0:
            raise CommandError("--max and --timeout must be positive, "
                               "--inactivity not negative")
        ids = self._service_ids(parsed_args)
        admin = admin_client(self.app.client_manager)
        rows = admin.election_balance(
            ids, max_ops=parsed_args.max, inactivity=parsed_args.inactivity,
            average=parsed_args.average, timeout=parsed_args.timeout)
        for svc, status, _ in rows:
            if status not in (0, 200, 204):
                self.success = False
                LOG.error("Service %s answered %s", svc, status)
        return self.columns, rows
