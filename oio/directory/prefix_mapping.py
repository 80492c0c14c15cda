"""PrefixMapping: the meta0 map seen as bases → meta1 services, with the
checks and the placement behind `openio directory ...`.

A *base* is the first `digits` hex digits of a prefix (`ns.meta1_digits`):
a meta1 keeps one SQLite file per base, so every prefix of a base must go
to the same services. The map itself is read and written by the caller
(Meta0Client); this class only computes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

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
