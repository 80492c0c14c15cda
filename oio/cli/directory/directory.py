"""`openio directory ...`: the meta0 prefix map (65,536 CID prefixes →
meta1 services), read and forced through the proxy's `admin/meta0_*`
routes; the placement logic is oio.directory.prefix_mapping.

`rebalance` and `decommission` move meta1 bases: each new replica copies
the base, meta0 maps the base to its new replicas, the dropped replicas
remove their copy (prefix_mapping.MoveApplier).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from oio.cli import Command, clients
from oio.common import exceptions as exc
from oio.common.exceptions import CommandError
from oio.directory.prefix_mapping import (
    NB_PREFIXES,
    MoveApplier,
    PrefixMapping,
    base_moves,
)

LOG = logging.getLogger(__name__)
M0_READ_TIMEOUT = 60.0
M0_CONN_TIMEOUT = 30.0


class DirectoryCmd(Command):
    """Options shared by the directory commands."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--no-rdir", action="store_true",
                            help="Deprecated, ignored")
        parser.add_argument("--replicas", metavar="<N>", type=int, default=3,
                            help="Number of meta1 per base (default 3)")
        parser.add_argument("--min-dist", type=int, default=1,
                            help="Minimum location distance between the "
                                 "replicas of a base (default 1)")
        parser.add_argument("--meta0-timeout", metavar="<SECONDS>",
                            type=float, default=M0_READ_TIMEOUT,
                            help="Timeout of meta0 requests "
                                 f"(default {M0_READ_TIMEOUT:.3f}s)")
        return parser

    @property
    def meta0(self):
        if getattr(self, "_meta0", None) is None:
            self._meta0 = clients.meta0(self.app.client_manager)
        return self._meta0

    def new_mapping(self, parsed_args) -> PrefixMapping:
        manager = self.app.client_manager
        meta1 = clients.conscience(manager).all_services("meta1")
        try:
            return PrefixMapping(meta1, replicas=parsed_args.replicas,
                                 digits=clients.meta1_digits(manager),
                                 min_dist=parsed_args.min_dist)
        except ValueError as err:
            raise CommandError(str(err)) from None

    def load_meta0(self, parsed_args, mapping: PrefixMapping,
                   required: bool = True) -> None:
        try:
            raw = self.meta0.list(connection_timeout=M0_CONN_TIMEOUT,
                                  read_timeout=parsed_args.meta0_timeout)
        except exc.NotFound:
            if required:
                raise CommandError("meta0 is not initialized: run "
                                   "'openio directory bootstrap'") from None
            return
        mapping.load(raw)

    def report(self, mapping: PrefixMapping) -> bool:
        """Log the problems of the mapping; True when it is usable."""
        errors, warnings = mapping.check()
        for warning in warnings:
            LOG.warning("%s", warning)
        for error in errors:
            LOG.error("%s", error)
        counts = mapping.counts()
        LOG.info("bases per meta1: %s (expected %d in all)", counts,
                 mapping.num_bases * mapping.replicas)
        return not errors

    def apply(self, parsed_args, mapping: PrefixMapping) -> None:
        """Write the whole map to meta0 (through the proxy, which forgets
        its cached copy)."""
        LOG.info("Saving...")
        self.meta0.force(mapping.to_mapping(),
                         connection_timeout=M0_CONN_TIMEOUT,
                         read_timeout=parsed_args.meta0_timeout)

    def apply_moves(self, parsed_args, mapping: PrefixMapping,
                    before: dict[str, list[str]], moved) -> None:
        """Move the bases `moved` from their replicas in `before` to those
        of `mapping`; logs `Moved [...]`, exit 1 if one failed."""
        from oio.rebuilder.sqlx_admin import SqlxAdminClient

        # The moves are what this command is about: show them.
        LOG.setLevel(logging.INFO)
        manager = self.app.client_manager
        admin = SqlxAdminClient({"namespace": manager.namespace},
                                **clients._kwargs(manager))
        applier = MoveApplier(admin, self.meta0, mapping, logger=LOG,
                              connection_timeout=M0_CONN_TIMEOUT,
                              read_timeout=parsed_args.meta0_timeout)
        LOG.info("Moving %d bases (%s)", len(moved), _moves(moved))
        LOG.info("Saving...")
        done, errors = applier.apply(base_moves(before, mapping, moved))
        LOG.info("Moved %s", sorted(done))
        for base, error in sorted(errors.items()):
            LOG.error("base %s: %s", base or "ALL", error)
        if errors:
            self.success = False


class DirectoryCheck(DirectoryCmd):
    """Check that every meta1 base has the expected number of replicas
    (exit 1 otherwise)."""

    def take_action(self, parsed_args):
        mapping = self.new_mapping(parsed_args)
        self.load_meta0(parsed_args, mapping)
        if self.report(mapping):
            LOG.info("Everything is ok.")
        else:
            self.success = False


class DirectoryInit(DirectoryCmd):
    """Assign the meta1 bases to the meta1 services and save the map in
    meta0 (nothing is done if meta0 already has a map, unless --force)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--level", metavar="<LEVEL>",
                            choices=("site", "rack", "host", "volume"),
                            default="volume",
                            help="Location level to balance (only 'volume' "
                                 "is balanced here: bases are spread evenly "
                                 "over the services)")
        parser.add_argument("--degradation", metavar="<DEGRADATION>",
                            type=int, default=None,
                            help="Accepted for compatibility; the replicas "
                                 "of a base are kept --min-dist apart")
        parser.add_argument("--force", action="store_true",
                            help="Bootstrap even if meta0 has a map")
        parser.add_argument("--check", action="store_true",
                            help="Check the replicas of every base")
        return parser

    def take_action(self, parsed_args):
        mapping = self.new_mapping(parsed_args)
        self.load_meta0(parsed_args, mapping, required=False)
        if mapping and not parsed_args.force:
            LOG.info("meta1 prefix mapping already initialized")
            if parsed_args.check and not self.report(mapping):
                raise CommandError("Bad meta1 prefix mapping")
            return
        if parsed_args.level != "volume" or parsed_args.degradation:
            LOG.warning("--level and --degradation are not implemented: "
                        "bases are balanced per service, replicas kept "
                        "--min-dist apart")
        try:
            mapping.bootstrap()
        except ValueError as err:
            raise CommandError(f"Cannot bootstrap the directory: {err}") \
                from None
        if not self.report(mapping):
            raise CommandError("Failed to initialize the prefix mapping")
        self.apply(parsed_args, mapping)
        LOG.info("Done")


class DirectoryList(DirectoryCmd):
    """Print the meta0 map as JSON (input of 'directory restore'; about
    2 MB with 4 digits)."""

    def take_action(self, parsed_args):
        raw = None
        try:
            raw = self.meta0.list(connection_timeout=M0_CONN_TIMEOUT,
                                  read_timeout=parsed_args.meta0_timeout)
        except exc.NotFound:
            raise CommandError("meta0 is not initialized") from None
        self.app.stdout.write(json.dumps(raw, sort_keys=True) + "\n")


class DirectoryRebalance(DirectoryCmd):
    """Even out the number of bases per meta1 service (one service changed
    per base at most)."""

    def take_action(self, parsed_args):
        mapping = self.new_mapping(parsed_args)
        self.load_meta0(parsed_args, mapping)
        before = {b: list(a) for b, a in mapping.bases.items()}
        try:
            moved = mapping.rebalance()
        except ValueError as err:
            raise CommandError(str(err)) from None
        if not self.report(mapping):
            LOG.warning("Nothing done due to errors")
            self.success = False
            return
        if not moved:
            LOG.info("Already balanced: nothing to move")
            return
        self.apply_moves(parsed_args, mapping, before, moved)


class DirectoryDecommission(DirectoryCmd):
    """Take a meta1 service out of its bases (or of the given ones)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("addr", metavar="<ADDR>",
                            help="Address of the meta1 to decommission")
        parser.add_argument("base", metavar="<BASE>", nargs="*",
                            help="Bases to take from it (default: all)")
        parser.add_argument("--ignore-replicas-number-errors",
                            action="store_true",
                            help="Go on even if bases would lack replicas "
                                 "(dangerous)")
        return parser

    def take_action(self, parsed_args):
        mapping = self.new_mapping(parsed_args)
        self.load_meta0(parsed_args, mapping)
        if parsed_args.addr not in mapping.counts():
            raise CommandError(f"{parsed_args.addr} is neither a meta1 service "
                               "nor in the meta0 map")
        LOG.info("meta1_digits=%d", mapping.digits)
        before = {b: list(a) for b, a in mapping.bases.items()}
        moved, skipped = mapping.decommission(parsed_args.addr,
                                              parsed_args.base)
        for base in skipped:
            LOG.warning("Base %s is not managed by %s", base,
                        parsed_args.addr)
        if not self.report(mapping) \
                and not parsed_args.ignore_replicas_number_errors:
            LOG.error("Did nothing due to errors: too few other meta1 to "
                      "take the bases of %s", parsed_args.addr)
            self.success = False
            return
        if not moved:
            LOG.info("Moved []")
            return
        self.apply_moves(parsed_args, mapping, before, moved)


def _moves(moved: dict) -> str:
    shown = [f"{base or 'ALL'}: {old} -> {new or 'nobody'}"
             for base, (old, new) in sorted(moved.items())[:5]]
    return ", ".join(shown) + (", ..." if len(moved) > 5 else "")


class DirectoryRestore(DirectoryCmd):
    """Write a map saved by 'directory dump' back into meta0 (with
    --I-know-what-I-am-doing only)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup",
                            help='JSON file written by dump, or "-" for stdin')
        parser.add_argument("--I-know-what-I-am-doing", action="store_true",
                            help="Confirm that the map must be replaced")
        return parser

    def take_action(self, parsed_args):
        if parsed_args.backup == "-":
            text = sys.stdin.read()
        else:
            try:
                with open(parsed_args.backup, encoding="utf-8") as backup:
                    text = backup.read()
            except OSError as err:
                raise CommandError(f"Cannot read {parsed_args.backup}: "
                                   f"{err.strerror}") from None
        mapping = self.new_mapping(parsed_args)
        try:
            mapping.load_json(text)
        except ValueError as err:
            raise CommandError(f"Not a meta0 map: {err}") from None
        sure = parsed_args.I_know_what_I_am_doing
        if self.report(mapping):
            LOG.info("OK")
        elif not sure:
            raise CommandError("Bad meta1 prefix mapping")
        if sure:
            LOG.info("Applying...")
            self.apply(parsed_args, mapping)
        else:
            self.app.stderr.write("The map is fine; nothing written: add "
                                  "--I-know-what-I-am-doing to apply it\n")


class DirectoryWarmup(DirectoryCmd):
    """Resolve one CID of every meta1 base through the proxy, so that the
    proxy caches the meta0 map and every meta1 opens its bases."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--concurrency", "--workers", type=int, default=1,
                            help="How many bases to warm up at once")
        parser.add_argument("--proxy", type=str, default=None,
                            help="Proxy to go through (IP:PORT)")
        return parser

    def take_action(self, parsed_args):
        # 7.2 pings the bases with `admin/status?type=meta1`, which this
        # proxy does not relay to meta1; a `reference/show` of a CID of each
        # base makes the same services open the same bases.
        from oio.directory.client import DirectoryClient

        manager = self.app.client_manager
        kwargs = {"pool_manager": manager.storage.pool_manager}
        if parsed_args.proxy:
            kwargs["endpoint"] = f"http://{parsed_args.proxy}"
        elif manager.client_conf.get("endpoint"):
            kwargs["endpoint"] = manager.client_conf["endpoint"]
        directory = DirectoryClient({"namespace": manager.namespace}, **kwargs)
        digits = clients.meta1_digits(manager)
        bases = [f"{i:0{digits}X}" if digits else ""
                 for i in range(16 ** digits)]
        done = [0]
        failed: list[str] = []
        lock = threading.Lock()

        def ping(base: str) -> None:
            try:
                directory.list(cid=base.ljust(64, "0"))
            except exc.NotFound:
                pass    # no reference there: the base answered all the same
            except exc.OioException as err:
                with lock:
                    failed.append(base)
                LOG.error("base %s: %s", base or "ALL", err)
            with lock:
                done[0] += 1
                if done[0] * 10 // len(bases) != (done[0] - 1) * 10 // len(bases):
                    LOG.info("... %d%%", done[0] * 100 // len(bases))

        with ThreadPoolExecutor(max(1, parsed_args.concurrency)) as pool:
            list(pool.map(ping, bases))
        if failed:
            self.success = False
            LOG.error("%d of %d bases did not answer", len(failed), len(bases))
        LOG.info("All the workers are done (%d bases, %d prefixes)",
                 len(bases), NB_PREFIXES)
