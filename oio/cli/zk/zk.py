"""`openio zk ...`: the election tree of the namespace in ZooKeeper, read
and changed directly (not through the proxy), as OpenIO 7.2's commands
(spec replication.md §7.3). The work is done by oio.zk.admin, once per
ensemble of the namespace's `zookeeper` setting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from oio.cli import Command, Lister
from oio.common.configuration import namespace_conf_files
from oio.common.exceptions import CommandError, OioException
from oio.zk import admin
from oio.zk.client import session, zk_hosts
from oio.zk.layout import ns_root

LOG = logging.getLogger(__name__)
# What these commands log is their output (OpenIO prints it at the default
# verbosity): keep it from the ERROR level the shell sets on "oio" to
# quiet the libraries; cliff's console handler still applies -q and -v.
LOG.setLevel(logging.DEBUG)
# Failures listed one by one before "... and N more".
MAX_FAILURES_SHOWN = 10


class _ZkMixin:
    """The namespace's ensembles, and an action run on each of them."""

    @property
    def namespace(self) -> str:
        return self.app.client_manager.namespace

    def ensembles(self) -> list[str]:
        hosts = zk_hosts(self.namespace)
        if not hosts:
            raise CommandError(
                f"No ZooKeeper configured for namespace {self.namespace}: "
                "set 'zookeeper' (host:port,host:port) in its section of "
                f"{', '.join(namespace_conf_files())}")
        return hosts

    def on_each(self, action: Callable[[KazooClient, str], Any]) -> list:
        """action(client, hosts) on every ensemble; an ensemble that cannot
        be reached is reported and the others are still done."""
        results = []
        for hosts in self.ensembles():
            try:
                with session(hosts) as zk:
                    results.append(action(zk, hosts))
            except OioException as exc:
                self.success = False
                LOG.error("%s", exc)
            except KazooException as exc:
                self.success = False
                LOG.error("ZooKeeper %s: %s", hosts, admin.error_text(exc))
        return results

    def report_failures(self, failures: list[str], hosts: str) -> None:
        if not failures:
            return
        self.success = False
        for failure in failures[:MAX_FAILURES_SHOWN]:
            LOG.error("ZooKeeper %s: %s", hosts, failure)
        if len(failures) > MAX_FAILURES_SHOWN:
            LOG.error("... and %d more", len(failures) - MAX_FAILURES_SHOWN)


class _ElectionLister(_ZkMixin, Lister):
    """A listing over the leaf directories of the election types given."""

    columns: tuple[str, ...] = ()

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "srvtype", metavar="<service_type>",
            help="Election types: meta0, meta1, meta2, or several of them "
                 "(e.g. meta1,meta2)")
        return parser

    def run_on(self, zk: KazooClient, kinds: tuple[str, ...],
               parsed_args) -> admin.Report:
        raise NotImplementedError

    def take_action(self, parsed_args):
        try:
            kinds = admin.select_types(parsed_args.srvtype)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        rows: list[tuple] = []
        for report in self.on_each(
                lambda zk, _: self.run_on(zk, kinds, parsed_args)):
            rows += report.rows
            if report.problems:
                self.success = False
            for problem in report.problems:
                LOG.error("%s", problem)
        return self.columns, rows


class ElectionStat(_ElectionLister):
    """List the election nodes: their directory, name, data size and
    data."""

    columns = ("group", "member", "size", "value")

    def run_on(self, zk, kinds, parsed_args):
        return admin.stat(zk, self.namespace, kinds)


class ElectionReset(_ElectionLister):
    """Delete the election nodes of every directory holding enough of
    them: their services see their node leave and elect again."""

    columns = ("group", "node", "status")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "-s", "--smart", action="store_true",
            help="Only delete a service's older nodes in an election it "
                 "joined several times")
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Delete nothing, show what would be deleted")
        parser.add_argument(
            "--min-services", metavar="<N>", type=int,
            default=admin.MIN_SERVICES,
            help="Leave the directories holding fewer than N nodes alone "
                 f"(default {admin.MIN_SERVICES})")
        parser.add_argument(
            "--alone", action="store_true",
            help="Also delete a node alone in its directory")
        return parser

    def run_on(self, zk, kinds, parsed_args):
        return admin.reset(zk, self.namespace, kinds,
                           dry_run=parsed_args.dry_run,
                           min_services=parsed_args.min_services,
                           alone=parsed_args.alone, smart=parsed_args.smart)


class ElectionSmudge(_ElectionLister):
    """Add a fake persistent member, after the last one, to every
    election (to test how services and tools cope)."""

    columns = ("group", "member", "status")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--value", metavar="<VALUE>", default="",
                            help="Data of the nodes created (default: none)")
        return parser

    def run_on(self, zk, kinds, parsed_args):
        return admin.smudge(zk, self.namespace, kinds, parsed_args.value)


class HierarchyBootstrap(_ZkMixin, Command):
    """Create the election tree of the namespace in every ZooKeeper
    ensemble (directories already there are kept)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--slow", action="store_true",
            help=f"Create {admin.SLOW_BATCH} directories per request, one "
                 "request at a time (for a struggling ZooKeeper)")
        parser.add_argument(
            "--lazy", action="store_true",
            help="Do nothing if the tree's roots are there already")
        return parser

    def take_action(self, parsed_args):
        def action(zk: KazooClient, hosts: str) -> None:
            began = time.monotonic()
            result = admin.bootstrap(zk, self.namespace,
                                     slow=parsed_args.slow,
                                     lazy=parsed_args.lazy, log=LOG)
            if not result.skipped:
                LOG.info("%s on %s: %d directories created, %d there "
                         "already, %d failed, in %.1fs",
                         ns_root(self.namespace), hosts, result.created,
                         result.existing, len(result.failed),
                         time.monotonic() - began)
            self.report_failures(result.failed, hosts)

        self.on_each(action)


class HierarchyArmageddon(_ZkMixin, Command):
    """Delete the whole tree of the namespace in every ZooKeeper ensemble
    (elections and meta0 registrations)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--fuck-the-world", dest="yeah", action="store_true",
            help="Really delete everything below /hc/ns/<namespace>")
        return parser

    def take_action(self, parsed_args):
        if not parsed_args.yeah:
            LOG.warning("Nothing deleted: deleting the ZooKeeper tree of %s "
                        "needs --fuck-the-world", self.namespace)
            return

        def action(zk: KazooClient, hosts: str) -> None:
            began = time.monotonic()
            deleted, failed = admin.armageddon(zk, self.namespace, log=LOG)
            LOG.info("%s on %s: %d nodes deleted, %d failed, in %.1fs",
                     ns_root(self.namespace), hosts, deleted, len(failed),
                     time.monotonic() - began)
            self.report_failures(failed, hosts)

        self.on_each(action)
