"""`openio cluster ...`: the services of the namespace as the conscience
sees them (scores, locks, registrations) and the namespace settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from oio.cli import Lister, ShowOne, clients
from oio.common.exceptions import (
    CommandError,
    OioException,
    OioNetworkException,
    ServiceBusy,
)
from oio.common.utils import true_value

LOG = logging.getLogger(__name__)
# Services per lock/unlock/deregister request.
BATCH = 1000
COLUMNS = ("Type", "Addr", "Service Id", "Volume", "Location", "Slots", "Up",
           "Score", "Locked")


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _row(srv_type: str, srv: dict, pop: bool = True) -> list:
    """The 9 common columns; with `pop`, the tags shown are removed so the
    remaining ones can go to the Stats/Tags columns."""
    tags = srv.get("tags") or {}
    take = tags.pop if pop else tags.get
    locked = true_value(take("tag.lock", False))
    return [srv_type, srv["addr"], take("tag.service_id", "n/a"),
            take("tag.vol", "n/a"), take("tag.loc", "n/a"),
            take("tag.slots", "n/a"), take("tag.up", "n/a"), srv.get("score"),
            locked]


class _ConscienceMixin:
    @property
    def conscience(self):
        if getattr(self, "_conscience", None) is None:
            self._conscience = clients.conscience(self.app.client_manager)
        return self._conscience

    def _types(self, wanted: list[str]) -> list[str]:
        return wanted or self.conscience.service_types()


class ClusterShow(_ConscienceMixin, ShowOne):
    """Show the namespace's settings as the conscience serves them."""

    def take_action(self, parsed_args):
        info = self.conscience.info()
        rows = [("namespace", info.get("ns")),
                ("chunksize", info.get("chunksize"))]
        for section, prefix in (("storage_policy", "storage_policy"),
                                ("data_security", "data_security"),
                                ("service_pools", "service_pool")):
            rows += [(f"{prefix}.{k}", v)
                     for k, v in (info.get(section) or {}).items()]
        rows += sorted((info.get("options") or {}).items())
        return tuple(zip(*rows, strict=True))


class ClusterList(_ConscienceMixin, Lister):
    """List the services of the namespace with their score."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_types", metavar="<srv_type>", nargs="*",
                            help="Service types to list (default: all)")
        parser.add_argument("--stats", "--full", action="store_true",
                            help="Also show the services' statistics")
        parser.add_argument("--tags", action="store_true",
                            help="Also show the services' other tags")
        return parser

    def _rows(self, parsed_args) -> Iterator[list]:
        for srv_type in self._types(parsed_args.srv_types):
            try:
                services = self.conscience.all_services(srv_type,
                                                        parsed_args.stats)
            except OioException as err:
                self.success = False
                LOG.error("Cannot list the services of type %s: %s",
                          srv_type, err)
                continue
            for srv in services:
                row = _row(srv_type, srv)
                tags = srv.get("tags") or {}
                if parsed_args.stats:
                    row.append(" ".join(f"{k}={v}" for k, v in tags.items()
                                        if k.startswith("stat.")))
                if parsed_args.tags:
                    row.append(" ".join(f"{k}={v}" for k, v in tags.items()
                                        if k.startswith("tag.")))
                yield row

    def take_action(self, parsed_args):
        columns = list(COLUMNS)
        if parsed_args.stats:
            columns.append("Stats")
        if parsed_args.tags:
            columns.append("Tags")
        # A list, so that an error on a type is known before cliff exits.
        return columns, list(self._rows(parsed_args))


class ClusterLocalList(_ConscienceMixin, Lister):
    """List the services registered lately through the local proxy."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_types", metavar="<srv_types>", nargs="*",
                            help="Service types to list (default: all)")
        return parser

    def take_action(self, parsed_args):
        if not true_value(self.app.client_manager.sds_conf.get(
                "proxy.quirk.local_scores", False)):
            LOG.warning("'proxy.quirk.local_scores' is not set: the scores "
                        "shown are the registered ones, not the computed ones")
        rows = [_row(srv.get("type", "n/a"), srv, pop=False)
                for srv in self.conscience.local_services()
                if not parsed_args.srv_types
                or srv.get("type") in parsed_args.srv_types]
        return COLUMNS, rows


class _ServicesCommand(_ConscienceMixin, Lister):
    """Base of the commands acting on services named by type and ID."""

    done = ""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_type", metavar="<srv_type>",
                            help="Service type")
        parser.add_argument("srv_ids", metavar="<srv_ids>", nargs="+",
                            help="Service IDs or addresses (IP:PORT)")
        return parser

    def _definitions(self, parsed_args, errors: list, **extra) -> list[dict]:
        out = []
        for srv_id in parsed_args.srv_ids:
            try:
                # Service IDs go to the conscience as their address.
                addr = self.conscience.resolve_service_id(parsed_args.srv_type,
                                                          srv_id)
            except (OioException, ValueError) as err:
                # ValueError: an IP:PORT whose port is out of range.
                self.success = False
                errors.append((parsed_args.srv_type, srv_id,
                               f"Invalid service ID or address: {err}"
                               if isinstance(err, ValueError) else str(err)))
                continue
            out.append(self.conscience.get_service_definition(
                parsed_args.srv_type, addr, **extra))
        return out

    def _apply(self, batch: list[dict], parsed_args) -> None:
        raise NotImplementedError

    def _act(self, parsed_args, **extra) -> list[tuple]:
        rows: list[tuple] = []
        definitions = self._definitions(parsed_args, rows, **extra)
        for batch in _batches(definitions):
            result = self.done
            try:
                self._apply(batch, parsed_args)
            except OioException as err:
                self.success = False
                result = str(err)
            rows += [(d["type"], d["addr"], result) for d in batch]
        return rows

    def take_action(self, parsed_args):
        return ("Type", "Service", "Result"), self._act(parsed_args)


class ClusterUnlock(_ServicesCommand):
    """Unlock the score of services (it is computed again)."""

    done = "unlocked"

    def _apply(self, batch, parsed_args):
        self.conscience.unlock_score(batch)


class ClusterLock(_ServicesCommand):
    """Lock the score of services (0, never chosen, by default)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("-s", "--score", metavar="<score>", type=int,
                            default=0, help="Score to lock at (default 0)")
        return parser

    def _apply(self, batch, parsed_args):
        self.conscience.lock_score(batch)

    def take_action(self, parsed_args):
        self.done = f"locked to {parsed_args.score}"
        return ("Type", "Service", "Result"), self._act(
            parsed_args, score=parsed_args.score)


class ClusterDeregister(_ServicesCommand):
    """Remove services from the conscience (they come back at their next
    registration)."""

    done = "deregistered"

    def _apply(self, batch, parsed_args):
        self.conscience.deregister(batch)


class ClusterUnlockAll(_ConscienceMixin, Lister):
    """Unlock every service (of the given types)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_types", metavar="<srv_types>", nargs="*",
                            help="Service types (default: all)")
        return parser

    def take_action(self, parsed_args):
        rows = []
        for srv_type in self._types(parsed_args.srv_types):
            try:
                services = self.conscience.all_services(srv_type)
            except OioException as err:
                self.success = False
                LOG.error("Cannot list the services of type %s: %s",
                          srv_type, err)
                continue
            for batch in _batches([{"type": srv_type, "addr": s["addr"]}
                                   for s in services]):
                result = "unlocked"
                try:
                    self.conscience.unlock_score(batch)
                except OioException as err:
                    self.success = False
                    result = str(err)
                rows += [(srv_type, d["addr"], result) for d in batch]
        return ("Type", "Service", "Result"), rows


class ClusterFlush(_ConscienceMixin, Lister):
    """Deregister every service (of the given types)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_types", metavar="<srv_types>", nargs="*",
                            help="Service types (default: all)")
        return parser

    def take_action(self, parsed_args):
        rows = []
        for srv_type in self._types(parsed_args.srv_types):
            result = "flushed"
            try:
                self.conscience.flush(srv_type)
            except OioException as err:
                self.success = False
                result = str(err)
            rows.append((srv_type, result))
        return ("Type", "Result"), rows


class ClusterResolve(_ConscienceMixin, ShowOne):
    """Give the address (IP:PORT) of a service ID."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("srv_type", help="Service type")
        parser.add_argument("srv_id", help="Service ID")
        return parser

    def take_action(self, parsed_args):
        resolved = self.conscience.resolve(parsed_args.srv_type,
                                           parsed_args.srv_id)
        return tuple(zip(*resolved.items(), strict=True))


def _pauses(*steps: float) -> Iterator[float]:
    """0, 1, 2, 4, 4, 4... seconds between polls."""
    yield from steps
    while True:
        yield steps[-1]


class ClusterWait(_ConscienceMixin, Lister):
    """Wait until services have a score of at least <score>."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("types", metavar="<types>", nargs="*",
                            help="Service types to wait for (default: all)")
        parser.add_argument("-n", "--count", metavar="<count>", type=int,
                            default=0,
                            help="How many services must be scored "
                                 "(default 0: all of those listed)")
        parser.add_argument("-d", "--delay", metavar="<delay>", type=float,
                            default=15.0,
                            help="How long to wait, in seconds (default 15)")
        parser.add_argument("-s", "--score", metavar="<score>", type=int,
                            default=1, help="Minimum score (default 1)")
        parser.add_argument("-u", "--unlock", action="store_true",
                            default=False,
                            help="Unlock the services while waiting")
        return parser

    def _list(self, types: list[str]) -> list[dict]:
        found = []
        for srv_type in types:
            for srv in self.conscience.all_services(srv_type):
                srv["type"] = srv_type
                found.append(srv)
        return found

    def _ready(self, services: list[dict], parsed_args) -> bool:
        scored = [s for s in services if s["score"] >= parsed_args.score]
        if parsed_args.count:
            return len(scored) >= parsed_args.count
        return len(scored) == len(services)

    def take_action(self, parsed_args):
        deadline = time.monotonic() + parsed_args.delay
        types, services = parsed_args.types, None
        for pause in _pauses(0.0, 1.0, 2.0, 4.0):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pause, left))
            try:
                types = types or self.conscience.service_types()
                if services and parsed_args.unlock:
                    self.conscience.unlock_score(
                        [{"type": s["type"], "addr": s["addr"]}
                         for s in services])
                services = self._list(types)
            except (OioNetworkException, ServiceBusy) as err:
                LOG.debug("conscience not ready: %s", err)
                continue
            if self._ready(services, parsed_args):
                return ("Type", "Service", "Score"), [
                    (s["type"], s["addr"], s["score"]) for s in services]
        if services is None:
            why = "the proxy or the conscience did not answer"
        else:
            low = [f"{s['type']} {s['addr']} ({s['score']})" for s in services
                   if s["score"] < parsed_args.score]
            why = f"still {len(low)} below: {', '.join(low)}"
        raise CommandError(
            f"Timeout ({parsed_args.delay}s) while waiting for the services "
            f"to get a score >= {parsed_args.score}: {why}")


class LocalNSConf(ShowOne):
    """Show the namespace configuration of this host (sds.conf files)."""

    def take_action(self, parsed_args):
        manager = self.app.client_manager
        rows = [(f"{manager.namespace}/{key}", value)
                for key, value in manager.sds_conf.items()]
        if not rows:
            raise CommandError(
                f"No local configuration for namespace {manager.namespace}")
        return tuple(zip(*rows, strict=True))
