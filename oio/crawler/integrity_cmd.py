"""oio-crawler-integrity: the integrity checker (oio.crawler.integrity) as
OpenIO 7.2's command (healing.md §5).

    oio-crawler-integrity NS [ACCOUNT [CONTAINER [OBJECT [CHUNK]]]]

Without an account, every account of the namespace; with `--from-stdin`,
the items of the lines of standard input (space-separated, account first;
the `-o` file of an earlier run can be read back, its `#IRREPARABLE` marks
are dropped). Each broken item is logged, and written to the outputs
asked for: `-o` (one item a line), `--output-for-chunk-rebuild` (the
broken chunks as `cid|content|chunk` lines for `openio-admin chunk
rebuild`, `#IRREPARABLE|` first when too few copies are left), and
`--beanstalkd` (one `storage.content.broken` task per broken chunk on the
rebuild tube, with `data.irreparable`, no reply expected).

`--confirmations N` and `--time-in-error S` hold an error back until the
item was found broken N more times / for S seconds (with `--daemon`, which
crawls again and again, `--pause-between-passes` apart, until a signal).
`-r` sets a rate that changes with the hour ("0h30:10;6h45:2").

Prints a report (checked, missing, exceptions, errors per kind of item).
Exit status 1 if anything was found broken or could not be checked, 2 on
bad usage or an unknown namespace.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TextIO

from oio.blob.rebuild_report import REBUILD_TUBE, RebuildReporter
from oio.common import daemon
from oio.common import exceptions as exc
from oio.crawler.integrity import (
    DEFAULT_DEPTH,
    IRREPARABLE_PREFIX,
    Checker,
    Target,
    error_row,
    rebuild_row,
)
from oio.crawler.rate_policy import PolicyPacer, parse_policy

PROG = "oio-crawler-integrity"
LOGGER = logging.getLogger(PROG)
KINDS = ("account", "container", "object", "chunk")


def _key(target: Target) -> tuple:
    """Identity of an item across passes (a missing chunk's "chunk" is its
    position, the same in every object)."""
    return (target.type, target.account, target.container, target.obj,
            target.version, target.chunk)


class ErrorOutputs:
    """Where broken items go, once confirmed: the error files and the
    rebuild tube. Items found broken fewer than `confirmations` times after
    the first, or for less than `min_time_in_error` seconds, wait for a
    later pass; an item found healthy again is forgotten."""

    def __init__(self, error_file: str | None = None,
                 rebuild_file: str | None = None,
                 sender: RebuildReporter | None = None,
                 confirmations: int = 0, min_time_in_error: float = 0.0,
                 logger: logging.Logger = LOGGER, clock=time.time):
        self.sender = sender
        self.confirmations = confirmations
        self.min_time_in_error = min_time_in_error
        self.logger = logger
        self.clock = clock
        self._errors = self._open(error_file, " ")
        self._rebuild = self._open(rebuild_file, "|")
        self._history: dict[tuple, tuple[float, int]] = {}

    @staticmethod
    def _open(path: str | None, delimiter: str):
        if not path:
            return None
        handle: TextIO = open(path, "a", newline="")
        return handle, csv.writer(handle, delimiter=delimiter)

    def handle(self, target: Target) -> None:
        key = _key(target)
        if not target.has_errors:
            self._history.pop(key, None)
            return
        result = target.latest_error_result()
        self.logger.warning("%r:%s\n%s", target,
                            " irreparable" if target.irreparable else "",
                            "\n".join(f"  {e}" for e in result.errors))
        now = self.clock()
        first, seen = self._history.get(key, (now, -1))
        seen += 1
        if seen < self.confirmations or now - first < self.min_time_in_error:
            self._history[key] = (first, seen)
            self.logger.info("Delaying %r, %d/%d confirmations", target, seen,
                             self.confirmations)
            return
        self._history.pop(key, None)
        self._write(target)

    def _write(self, target: Target) -> None:
        for output, row in ((self._errors, error_row),
                            (self._rebuild, rebuild_row)):
            if output is None or (row is rebuild_row
                                  and target.type != "chunk"):
                continue
            output[1].writerow(row(target))
            output[0].flush()
        if self.sender is not None and target.type == "chunk":
            self.sender.report(target.cid, target.content_id or target.obj,
                               target.chunk, irreparable=target.irreparable)

    @property
    def delayed(self) -> int:
        return len(self._history)

    def close(self) -> None:
        for output in (self._errors, self._rebuild):
            if output is not None:
                output[0].close()
        if self.sender is not None:
            self.sender.close()


class Report:
    """What a pass found, per kind of item."""

    def __init__(self) -> None:
        self.counts = {kind: {"checked": 0, "missing": 0, "exceptions": 0,
                              "errors": 0} for kind in KINDS}

    def add(self, target: Target) -> None:
        counts = self.counts[target.type]
        counts["checked"] += 1
        result = target.latest_error_result()
        if result is None:
            return
        texts = [str(e) for e in result.errors]
        if any(t.startswith(("Not found", "Missing from", "Missing chunk"))
               for t in texts):
            counts["missing"] += 1
        elif any(t.startswith("Check failed") for t in texts):
            counts["exceptions"] += 1
        else:
            counts["errors"] += 1

    @property
    def success(self) -> bool:
        return not any(c["missing"] or c["exceptions"] or c["errors"]
                       for c in self.counts.values())

    def lines(self) -> Iterator[str]:
        yield ""
        yield "Report"
        for kind, counts in self.counts.items():
            plural = f"{kind.capitalize()}s"
            yield f"{plural + ' checked':18}: {counts['checked']}"
            for key, label in (("missing", f"Missing {kind}s"),
                               ("exceptions", "Exceptions"),
                               ("errors", "Errors")):
                if counts[key]:
                    yield f"{label:18}: {counts[key]}"
            yield ""


def entries_from_lines(lines: Iterable[str]) -> Iterator[list[str]]:
    """The items of space-separated lines, account first; blank lines
    skipped, and the irreparable mark of an `-o` file dropped."""
    for row in csv.reader(lines, delimiter=" "):
        row = [field for field in row if field]
        if row and row[0] == IRREPARABLE_PREFIX:
            row = row[1:]
        if row and not row[0].startswith("#"):
            yield row[:4]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("namespace", help="Namespace")
    p.add_argument("account", nargs="?",
                   help="Account to check (default: every account)")
    p.add_argument("target", metavar="T", nargs="*",
                   help="CONTAINER [OBJECT [CHUNK]] of the account")
    p.add_argument("--from-stdin", action="store_true",
                   help="Read the items from stdin, one a line, fields "
                        "separated by spaces, account first")
    p.add_argument("--attempts", type=int, default=1,
                   help="Attempts of each listing request (default: 1)")
    p.add_argument("--concurrency", "--workers", type=int, default=50,
                   help="Checks run in parallel (default: 50)")
    p.add_argument("-o", "--output",
                   help="Append the broken items to this file (it can be "
                        "read back with --from-stdin)")
    p.add_argument("--output-for-chunk-rebuild", "--output-for-blob-rebuilder",
                   dest="output_for_chunk_rebuild",
                   help="Append the broken chunks to this file, as input "
                        "of 'openio-admin chunk rebuild'")
    p.add_argument("--beanstalkd", metavar="IP:PORT",
                   help="Send a rebuild task for each broken chunk to this "
                        "beanstalkd (use with --confirmations or "
                        "--time-in-error, lest chunks of a rawx briefly "
                        "down get rebuilt)")
    p.add_argument("--beanstalkd-tube", default=REBUILD_TUBE,
                   help=f"Tube of the rebuild tasks (default {REBUILD_TUBE})")
    p.add_argument("--confirmations", type=int, default=0,
                   help="Report an error once found this many more times "
                        "(with --daemon; default 0: at once)")
    p.add_argument("--time-in-error", type=float, default=0.0,
                   help="Report an error once broken this many seconds "
                        "(with --daemon; default 0: at once)")
    p.add_argument("--daemon", action="store_true",
                   help="Check again and again until killed")
    p.add_argument("--pause-between-passes", type=float, default=0.0,
                   help="Seconds between passes of --daemon (default 0)")
    p.add_argument("-p", "--presence", action="store_true",
                   help="Check that chunks exist, not their xattrs")
    p.add_argument("-r", "--ratelimit",
                   help="Items checked per second, by hour of the day: "
                        "'0h30:10;6h45:2' (or one number; 0: no limit)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARN", "ERROR"))
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="Log errors only")
    return p


def _usage(args) -> str | None:
    """What is wrong with the arguments, None if nothing."""
    if args.attempts < 1:
        return "--attempts must be at least 1"
    if args.concurrency < 1:
        return "--concurrency must be at least 1"
    if args.confirmations < 0 or args.time_in_error < 0 \
            or args.pause_between_passes < 0:
        return "--confirmations, --time-in-error and " \
               "--pause-between-passes cannot be negative"
    if args.from_stdin and args.account:
        return "give items on the command line or --from-stdin, not both"
    if len(args.target) > 3:
        return "at most ACCOUNT CONTAINER OBJECT CHUNK"
    return None


class Crawler:
    """Passes of the checker over the entries (None: every account)."""

    def __init__(self, args, api, rdir, outputs: ErrorOutputs,
                 pace=None, logger: logging.Logger = LOGGER):
        self.args = args
        self.api = api
        self.rdir = rdir
        self.outputs = outputs
        self.pace = pace
        self.logger = logger
        self._checker: Checker | None = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self._checker is not None:
            self._checker.stop()

    def one_pass(self, entries: list[list[str]] | None) -> Report:
        # A new checker each pass: its caches hold what it saw.
        checker = self._checker = Checker(
            self.api, rdir=self.rdir, concurrency=self.args.concurrency,
            check_xattr=not self.args.presence,
            request_attempts=self.args.attempts, logger=self.logger,
            pace=self.pace)
        report = Report()
        if entries is None:
            try:
                entries = [[name] for name in self.api.account_list()]
            except exc.OioException as err:
                self.logger.error("Cannot list the accounts: %s", err)
                report.counts["account"]["exceptions"] += 1
                return report
        for entry in entries:
            checker.check(Target(*entry), recurse=DEFAULT_DEPTH)
        for target in checker.run():
            report.add(target)
            self.outputs.handle(target)
        return report


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    daemon.setup_logging(PROG, verbose=args.verbose,
                         level="ERROR" if args.quiet else args.log_level)
    problem = _usage(args)
    if problem:
        return daemon.fail(PROG, problem)
    try:
        pace = PolicyPacer(parse_policy(args.ratelimit)) \
            if args.ratelimit else None
        sender = RebuildReporter(args.beanstalkd, args.namespace,
                                 args.beanstalkd_tube, LOGGER) \
            if args.beanstalkd else None
        from oio.common.configuration import load_namespace_conf

        load_namespace_conf(args.namespace)
    except (ValueError, exc.OioException) as err:
        return daemon.fail(PROG, err)
    if args.from_stdin:
        entries = list(entries_from_lines(sys.stdin))
    elif args.account:
        entries = [[args.account, *args.target]]
    else:
        entries = None
    from oio import ObjectStorageApi
    from oio.rdir.client import RdirClient

    try:
        outputs = ErrorOutputs(args.output, args.output_for_chunk_rebuild,
                               sender, args.confirmations, args.time_in_error)
    except OSError as err:
        return daemon.fail(PROG, err)
    crawler = Crawler(args, ObjectStorageApi(args.namespace),
                      RdirClient({"namespace": args.namespace}), outputs,
                      pace)
    stop = daemon.stop_on_signals()
    watcher = threading.Thread(target=lambda: (stop.wait(), crawler.stop()),
                               daemon=True)
    watcher.start()
    try:
        while True:
            report = crawler.one_pass(entries)
            print("\n".join(report.lines()), flush=True)
            if not args.daemon or stop.is_set():
                break
            if args.pause_between_passes and \
                    stop.wait(args.pause_between_passes):
                break
    finally:
        outputs.close()
    return 0 if report.success else 1


if __name__ == "__main__":
    sys.exit(main())
