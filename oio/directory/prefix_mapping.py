"""PrefixMapping: the meta0 map seen as bases → meta1 services, with the
checks and the placement behind `openio directory ...`, and MoveApplier,
which carries out the moves of bases that rebalance and decommission
compute.

A *base* is the first `digits` hex digits of a prefix (`ns.meta1_digits`):
a meta1 keeps one SQLite file per base, so every prefix of a base must go
to the same services. The map itself is read and written by the caller
(Meta0Client); PrefixMapping only computes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from oio.common import exceptions as exc
from oio.rebuilder.sqlx_admin import (
    MISSING,
    OK,
    REDIRECT,
    describe,
    master_of,
    message_of,
    status_of,
)

NB_PREFIXES = 65536
MAX_LOC_LEVELS = 4


def distance(loc1: str, loc2: str) -> int:
    """How many location levels differ, counted from the first one that
    does (`a.b.c` vs `a.b.d` → 1, vs `x.b.c` → 3); at most 4 levels."""
    parts1 = loc1.split(".", MAX_LOC_LEVELS - 1)
    parts2 = loc2.split(".", MAX_LOC_LEVELS - 1)
    common = 0
    for left, right in zip(parts1, parts2, strict=False):
        if left != right:
            break
        common += 1
    return max(len(parts1), len(parts2)) - common


@dataclass
class Meta1:
    addr: str
    loc: str
    score: int

    @classmethod
    def from_conscience(cls, srv: dict) -> Meta1:
        tags = srv.get("tags") or {}
        # Without a location, the host stands for it (as 7.2 does).
        loc = str(tags.get("tag.loc") or srv["addr"].rsplit(":", 1)[0])
        return cls(srv["addr"], loc, int(srv.get("score") or 0))


def _first(items: list[tuple[str, list[str]]]) -> str:
    base, addrs = items[0]
    return f" (first: {base or 'ALL'}: {addrs})"


class PrefixMapping:
    """Bases → meta1 addresses, for `digits` in 0..4 and `replicas` copies
    at least `min_dist` location levels apart."""

    def __init__(self, services: Iterable[dict], replicas: int = 3,
                 digits: int = 4, min_dist: int = 1):
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        if not 0 <= digits <= 4:
            raise ValueError("meta1 digits must be between 0 and 4")
        if not 1 <= min_dist <= MAX_LOC_LEVELS:
            raise ValueError(f"min_dist must be between 1 and {MAX_LOC_LEVELS}")
        self.replicas = replicas
        self.digits = digits
        self.min_dist = min_dist
        self.services = {m.addr: m for m in map(Meta1.from_conscience, services)}
        self.bases: dict[str, list[str]] = {}
        self._prefix_count: dict[str, int] = {}
        self._inconsistent: set[str] = set()

    # Shape ---------------------------------------------------------------
    @property
    def num_bases(self) -> int:
        return 16 ** self.digits

    @property
    def prefixes_per_base(self) -> int:
        return NB_PREFIXES // self.num_bases

    def all_bases(self) -> list[str]:
        if not self.digits:
            return [""]
        return [f"{i:0{self.digits}X}" for i in range(self.num_bases)]

    def base_of(self, prefix: str) -> str:
        return prefix[:self.digits].upper()

    def __bool__(self) -> bool:
        return bool(self.bases)

    # Loading and dumping -------------------------------------------------
    def load(self, mapping: dict[str, list[str]]) -> None:
        """Learn a meta0 map (`{"0000": ["IP:PORT", ...], ...}`)."""
        if not isinstance(mapping, dict):
            raise ValueError("a meta0 map is a JSON object")
        self.bases, self._prefix_count, self._inconsistent = {}, {}, set()
        for prefix, addrs in mapping.items():
            if len(prefix) != 4 or not isinstance(addrs, list) or not all(
                    isinstance(a, str) for a in addrs):
                raise ValueError(f"invalid entry {prefix!r}: {addrs!r}")
            int(prefix, 16)
            base = self.base_of(prefix)
            known = self.bases.setdefault(base, list(addrs))
            if sorted(known) != sorted(addrs):
                self._inconsistent.add(base)
            self._prefix_count[base] = self._prefix_count.get(base, 0) + 1

    def load_json(self, text: str) -> None:
        self.load(json.loads(text))

    def to_mapping(self, bases: Iterable[str] | None = None
                   ) -> dict[str, list[str]]:
        """Every prefix of the given bases (default: all) → its services."""
        width = 4 - self.digits
        out: dict[str, list[str]] = {}
        for base in sorted(self.bases if bases is None else bases):
            addrs = self.bases[base]
            for i in range(self.prefixes_per_base):
                out[base + (f"{i:0{width}X}" if width else "")] = list(addrs)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True)

    # Checks --------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Bases per meta1 (known services with none included)."""
        out = dict.fromkeys(self.services, 0)
        for addrs in self.bases.values():
            for addr in addrs:
                out[addr] = out.get(addr, 0) + 1
        return out

    def check(self) -> tuple[list[str], list[str]]:
        """(errors, warnings): a base without every prefix, whose prefixes
        disagree, or with fewer than `replicas` services is an error; more
        services, replicas too close, or unknown meta1 are warnings."""
        errors: list[str] = []
        warnings: list[str] = []
        missing = [b for b in self.all_bases()
                   if self._prefix_count.get(b, 0) < self.prefixes_per_base]
        if missing:
            errors.append(f"{len(missing)} bases have unassigned prefixes "
                          f"(first: {missing[0] or 'ALL'})")
        for base in sorted(self._inconsistent):
            errors.append(f"base {base}: its prefixes name different meta1")
        short = [(b, a) for b, a in sorted(self.bases.items())
                 if len(set(a)) < self.replicas]
        extra = [(b, a) for b, a in sorted(self.bases.items())
                 if len(set(a)) > self.replicas]
        close = [(b, a) for b, a in sorted(self.bases.items())
                 if not self._far_enough(a)]
        if short:
            errors.append(f"{len(short)} bases have fewer than "
                          f"{self.replicas} services{_first(short)}")
        if extra:
            warnings.append(f"{len(extra)} bases have more than "
                            f"{self.replicas} services{_first(extra)}")
        if close:
            warnings.append(f"{len(close)} bases have replicas closer than "
                            f"{self.min_dist}{_first(close)}")
        unknown = sorted(set(self.counts()) - set(self.services))
        if unknown:
            warnings.append(f"meta1 unknown to the conscience: {unknown}")
        return errors, warnings

    def _loc(self, addr: str) -> str:
        srv = self.services.get(addr)
        return srv.loc if srv else addr.rsplit(":", 1)[0]

    def _far_enough(self, addrs: list[str]) -> bool:
        locs = [self._loc(a) for a in addrs]
        return all(distance(a, b) >= self.min_dist
                   for i, a in enumerate(locs) for b in locs[i + 1:])

    # Placement -----------------------------------------------------------
    def _active(self) -> list[str]:
        return sorted(a for a, m in self.services.items() if m.score > 0)

    def _candidates(self, current: list[str], counts: dict[str, int],
                    limit: float = math.inf) -> list[str]:
        """Scored meta1 that could join `current`, least loaded first."""
        locs = [self._loc(a) for a in current]
        out = [a for a in self._active() if a not in current
               and counts.get(a, 0) < limit
               and all(distance(self._loc(a), loc) >= self.min_dist
                       for loc in locs)]
        return sorted(out, key=lambda a: (counts.get(a, 0), a))

    def bootstrap(self) -> None:
        """Assign every base to `replicas` scored meta1, spreading bases
        evenly and keeping replicas `min_dist` apart."""
        active = self._active()
        if len(active) < self.replicas:
            raise ValueError(
                f"{self.replicas} replicas asked but only {len(active)} "
                "meta1 services have a score > 0")
        counts = dict.fromkeys(active, 0)
        bases: dict[str, list[str]] = {}
        for base in self.all_bases():
            chosen: list[str] = []
            for _ in range(self.replicas):
                candidates = self._candidates(chosen, counts)
                if not candidates:
                    raise ValueError(
                        f"cannot place {self.replicas} replicas of base "
                        f"{base or 'ALL'} at a distance >= {self.min_dist}: "
                        "too few meta1 locations (try a smaller --min-dist)")
                chosen.append(candidates[0])
                counts[candidates[0]] += 1
            bases[base] = chosen
        self.bases = bases
        self._prefix_count = dict.fromkeys(bases, self.prefixes_per_base)
        self._inconsistent = set()

    def _replace(self, base: str, old: str, new: str | None) -> None:
        addrs = self.bases[base]
        if new is None:
            addrs.remove(old)
        else:
            addrs[addrs.index(old)] = new

    def rebalance(self) -> dict[str, tuple[str, str]]:
        """Move bases from meta1 above their fair share (or unscored) to the
        least loaded ones, one service changed per base at most.
        Returns {base: (old, new)}."""
        active = self._active()
        if len(active) < self.replicas:
            raise ValueError(
                f"only {len(active)} meta1 services have a score > 0, fewer "
                f"than {self.replicas} replicas: no rebalancing possible")
        upper = math.ceil(self.num_bases * self.replicas / len(active))
        counts = self.counts()
        moved: dict[str, tuple[str, str]] = {}
        for addr in sorted(counts, key=lambda a: (-counts[a], a)):
            limit = upper if addr in active else 0
            for base in sorted(b for b, a in self.bases.items() if addr in a):
                if counts[addr] <= limit:
                    break
                if base in moved:
                    continue
                others = [a for a in self.bases[base] if a != addr]
                candidates = self._candidates(others, counts, upper)
                if not candidates:
                    continue
                self._replace(base, addr, candidates[0])
                counts[addr] -= 1
                counts[candidates[0]] += 1
                moved[base] = (addr, candidates[0])
        return moved

    def decommission(self, addr: str, bases: Iterable[str] = ()
                     ) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
        """Take `addr` out of the given bases (default: all of its bases),
        each replaced by the least loaded meta1 that fits, if any.
        Returns ({base: (addr, new or None)}, bases it did not manage)."""
        wanted = {self.base_of(b) for b in bases} or {
            b for b, a in self.bases.items() if addr in a}
        counts = self.counts()
        counts.pop(addr, None)
        moved: dict[str, tuple[str, str | None]] = {}
        skipped: list[str] = []
        for base in sorted(wanted):
            if addr not in self.bases.get(base, ()):
                skipped.append(base)
                continue
            others = [a for a in self.bases[base] if a != addr]
            candidates = [a for a in self._candidates(others, counts)
                          if a != addr]
            new = candidates[0] if candidates else None
            self._replace(base, addr, new)
            if new is not None:
                counts[new] += 1
            moved[base] = (addr, new)
        return moved, skipped


# Applying moves ------------------------------------------------------------
@dataclass
class BaseMove:
    """A meta1 base going from replicas `old` to replicas `new`."""

    base: str
    old: list[str]
    new: list[str]

    @property
    def name(self) -> str:
        """The base's name as meta1 and elections know it (`AB00`)."""
        return self.base.ljust(4, "0")

    @property
    def added(self) -> list[str]:
        return sorted(set(self.new) - set(self.old))

    @property
    def dropped(self) -> list[str]:
        return sorted(set(self.old) - set(self.new))


def base_moves(before: dict[str, list[str]], mapping: PrefixMapping,
               moved: Iterable[str]) -> list[BaseMove]:
    """The moves of the `moved` bases, from their replicas in `before` (a
    copy of `mapping.bases` taken before computing the moves)."""
    return [BaseMove(b, sorted(before.get(b, ())), sorted(mapping.bases[b]))
            for b in sorted(moved)
            if sorted(before.get(b, ())) != sorted(mapping.bases[b])]


class MoveApplier:
    """Applies meta1 base moves (spec replication.md §7.8), through the
    proxy's admin routes (`admin`: oio.rebuilder.sqlx_admin's client) and
    meta0 (`meta0`: Meta0Client):

    1. each new replica copies the base from an old one (the master
       first); a base no old replica holds was never written: no copy;
    2. meta0 maps the prefixes of the bases copied to their new replicas
       (retried on 503/504), and meta1 services follow the map;
    3. once each new replica runs its election with the new set (they
       reload the map every 30 s), the dropped replicas leave it and
       remove their file, and the new replicas must elect a master.

    A base whose copy failed keeps its old replicas in meta0 (the copies
    already made are removed). `apply` returns the bases moved and the
    errors per base."""

    STATUS_PATIENCE = 90.0      # meta1 services reload the map every 30 s

    def __init__(self, admin, meta0, mapping: PrefixMapping,
                 logger: logging.Logger | None = None,
                 meta0_attempts: int = 7,
                 election_timeout: float = STATUS_PATIENCE,
                 sleep: Callable[[float], None] = time.sleep,
                 **meta0_kwargs):
        self.admin = admin
        self.meta0 = meta0
        self.mapping = mapping
        self.logger = logger or logging.getLogger(__name__)
        self.meta0_attempts = max(1, meta0_attempts)
        self.election_timeout = election_timeout
        self.sleep = sleep
        self.meta0_kwargs = meta0_kwargs

    def apply(self, moves: list[BaseMove]
              ) -> tuple[list[str], dict[str, str]]:
        """(bases moved, {base: error}); a base may be moved and have an
        error (its old replicas did not all let it go)."""
        errors: dict[str, str] = {}
        copied: list[BaseMove] = []
        for move in moves:
            try:
                self._copy(move)
                copied.append(move)
            except (MoveFailed, exc.OioException) as err:
                errors[move.base] = f"copy: {err}"
                self._forget_copies(move)
        if not copied:
            return [], errors
        try:
            self._force(copied)
        except exc.OioException as err:
            for move in copied:
                errors[move.base] = f"meta0: {err}"
                self._forget_copies(move)
            return [], errors
        for move in copied:
            try:
                self._settle(move)
            except (MoveFailed, exc.OioException) as err:
                errors[move.base] = str(err)
        return [m.base for m in copied], errors

    def _copy(self, move: BaseMove) -> None:
        if not move.added:
            return
        has = self.admin.has("meta1", move.name, move.old)
        holders = sorted(p for p, e in has.items() if status_of(e) == OK)
        if not holders:
            self.logger.info("base %s: held by none of %s, nothing to copy",
                             move.name, move.old)
            return
        master = master_of(self.admin.status("meta1", move.name, move.old))
        sources = sorted(holders, key=lambda p: (p != master, p))
        for peer in move.added:
            failures = []
            for source in sources:
                self.logger.info("Copying base %s from %s to %s", move.name,
                                 source, peer)
                try:
                    self.admin.copy("meta1", move.name, peer, source)
                    break
                except exc.OioException as err:
                    failures.append(f"from {source}: {err}")
            else:
                raise MoveFailed(f"cannot copy {move.name} to {peer}: "
                                 + "; ".join(failures))

    def _force(self, moves: list[BaseMove]) -> None:
        partial = self.mapping.to_mapping([m.base for m in moves])
        for attempt in range(self.meta0_attempts):
            try:
                self.meta0.force(partial, **self.meta0_kwargs)
                return
            except exc.OioException as err:
                status = getattr(err, "http_status", None)
                retried = status in (503, 504) or isinstance(
                    err, exc.OioNetworkException)
                if not retried or attempt + 1 >= self.meta0_attempts:
                    raise
                self.logger.warning("meta0 force: %s (retrying)", err)
                self.sleep(float(attempt))

    def _settle(self, move: BaseMove) -> None:
        # The replicas switch their election to the new set when they
        # reload the map (every 30 s): until the master has, it could send
        # the base again to a dropped replica after it removed its file.
        self._wait_election(move, switched=True)
        if move.dropped:
            # The kept replicas switched already: only the dropped leave.
            self.admin.leave("meta1", move.name, move.dropped)
            removed = self.admin.remove("meta1", move.name, move.dropped)
            failed = {p: e for p, e in removed.items() if status_of(e) != OK}
            if failed or set(removed) != set(move.dropped):
                raise MoveFailed(f"{move.name}: the dropped replicas did not "
                                 f"remove it: {describe(removed)}")
            has = self.admin.has("meta1", move.name, move.dropped)
            kept = {p: e for p, e in has.items() if status_of(e) != MISSING}
            if kept:
                raise MoveFailed(f"{move.name}: still held by "
                                 f"{describe(kept)}")
        self._wait_election(move)

    def _wait_election(self, move: BaseMove, switched: bool = False
                       ) -> None:
        """Until the new replicas agree on a master (and, if `switched`,
        each runs its election with the others of the new set)."""
        deadline = time.monotonic() + self.election_timeout
        while True:
            try:
                answers = self.admin.status("meta1", move.name, move.new)
                if self._elected(move, answers) and (
                        not switched or self._switched(move)):
                    return
            except exc.OioException as err:
                answers = {"proxy": {"status": {"status": 0,
                                                "message": str(err)}}}
            if time.monotonic() >= deadline:
                raise MoveFailed(f"{move.name}: the replicas "
                                 f"{', '.join(move.new)} elected no master "
                                 f"among themselves: {describe(answers)}")
            self.sleep(1.0)

    @staticmethod
    def _elected(move: BaseMove, answers: dict[str, dict]) -> bool:
        masters = [p for p, e in answers.items() if status_of(e) == OK]
        return len(masters) == 1 and set(answers) == set(move.new) and all(
            status_of(e) == OK or (status_of(e) == REDIRECT and
                                   message_of(e) == masters[0])
            for e in answers.values())

    def _switched(self, move: BaseMove) -> bool:
        """Whether each new replica's election names the new set."""
        debug = self.admin.per_replica("debug", "meta1", move.name, move.new)
        for peer in move.new:
            body = (debug.get(peer) or {}).get("body")
            others = sorted(set(move.new) - {peer})
            if not isinstance(body, dict) or \
                    sorted(body.get("peers") or ()) != others:
                return False
        return True

    def _forget_copies(self, move: BaseMove) -> None:
        """Remove the copies made on replicas the map does not give the
        base (best effort)."""
        if not move.added:
            return
        try:
            self.admin.remove("meta1", move.name, move.added)
        except exc.OioException as err:
            self.logger.warning("Cannot remove the copies of %s on %s: %s",
                                move.name, move.added, err)


class MoveFailed(Exception):
    """A step of a meta1 base move failed."""
