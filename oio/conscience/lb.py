"""The load balancer: pick services for a pool, weighted by score, under the
location distance rules of the pool (naming.md §8.3-8.4).

Used by the conscience (`lb/*` routes) and by every proxy on its local copy
of the registry, so that chunk allocation never waits on the network. The
slots are rebuilt once per `update_services` (sorted, cumulative weights,
location counts), so that a poll is a few bisections and set lookups.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate

from .location import location_of
from .policies import NamespaceInfo, Pool, StoragePolicy

CODE_BAD_REQUEST = 400
CODE_UNKNOWN_TYPE = 453
CODE_NOT_SATISFIABLE = 481
WEIGHTED_ATTEMPTS = 8       # core.lb.weighted_random_attempts
LOC_LEVELS = 4
BITS_PER_LEVEL = 16
ANY_SLOT = "__any_slot"     # target satisfied by any known service


class LbError(Exception):
    """`status` is the oio code: 481 not satisfiable, 453 unknown type,
    400 bad request."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Selection:
    """One polled service: its full description (with `id`), the quality
    record of naming.md §8.4, and whether the whole poll was flawed."""

    service: dict
    quality: dict = field(default_factory=dict)
    flawed: bool = False


@dataclass(slots=True)
class _Item:
    id: str
    type: str
    desc: dict
    score: int
    location: int


def service_id(desc: dict) -> str:
    tags = desc.get("tags") or {}
    return str(tags.get("tag.service_id") or desc.get("addr") or "")


def _strip_key(ident: str) -> str:
    """`NS|type|id` service keys and bare ids are both accepted."""
    return ident.rsplit("|", 1)[-1]


def slot_names(kind: str, desc: dict) -> list[str]:
    """The type's slot, then the `tag.slots` ones (prefixed by the type)."""
    names = [kind]
    for slot in str((desc.get("tags") or {}).get("tag.slots") or "").split(","):
        slot = slot.strip()
        if not slot:
            continue
        if not slot.startswith(kind):
            slot = f"{kind}-{slot}"
        if slot not in names:
            names.append(slot)
    return names


def _too_close(polled: Iterable[int], loc: int, dist: int) -> bool:
    """Whether `loc` shares its top levels with a polled location."""
    if dist < 1:
        return False
    shift = BITS_PER_LEVEL * (dist - 1)
    key = loc >> shift
    return any((p >> shift) == key for p in polled)


def _min_dist(polled: list[int], loc: int, max_dist: int) -> int:
    """The largest distance ≤ max_dist at which `loc` is not too close."""
    dist = max_dist
    while dist > 0 and _too_close(polled, loc, dist):
        dist -= 1
    return dist


def _dist_of(loc: int) -> int:
    """Levels used by a location: the world's maximum distance grows to it."""
    bits = max(loc, 1).bit_length()
    return 1 + (bits - 1) // BITS_PER_LEVEL


def _jump(size: int) -> int:
    """A stride co-prime with `size`, near its middle, for the scan that
    follows the weighted draws (it visits every item once)."""
    if size <= 2:
        return 1
    low, high = size // 3, size - size // 3
    for step in range(size // 2, high):
        if step > low and math.gcd(step, size) == 1:
            return step
    return 1


class _Slot:
    """The services of one slot, sorted by location, with cumulative
    weights and the number of services under each location prefix."""

    __slots__ = ("name", "items", "acc", "total", "jump", "leafs", "locs")

    def __init__(self, name: str, items: list[_Item]):
        self.name = name
        self.items = sorted(items, key=lambda i: i.location)
        self.acc = list(accumulate(i.score for i in self.items))
        self.total = self.acc[-1] if self.acc else 0
        self.jump = _jump(len(self.items))
        # leafs[level][loc >> 16*level] = services under that prefix
        self.leafs = [
            Counter(i.location >> (BITS_PER_LEVEL * level) for i in self.items)
            for level in range(LOC_LEVELS)]
        self.locs = [len(c) for c in self.leafs]

    def draw(self, rng: random.Random) -> int:
        return min(bisect_right(self.acc, rng.random() * self.total),
                   len(self.items) - 1)

    def has_location(self, loc: int) -> bool:
        return loc in self.leafs[0]


class _Poll:
    """The state of one poll (upstream's polling context): the polled
    locations, their prefixes at every level and how often each was used."""

    def __init__(self, avoid_locs: set[int], avoid_ids: set[str],
                 n_targets: int, min_dist: int, nearby: bool,
                 known: list[int]):
        self.avoid_locs = avoid_locs
        self.avoid_ids = avoid_ids
        self.n_targets = n_targets
        self.min_dist = min_dist
        self.nearby = nearby
        self.polled: list[int] = []
        self.chosen: set[str] = set()
        # keys[level] = prefixes (loc >> 16*level) of the polled locations
        self.keys: list[Counter] = [Counter() for _ in range(LOC_LEVELS)]
        self.fallback = False
        for loc in known:
            self.add_location(loc)

    def add_location(self, loc: int) -> None:
        self.polled.append(loc)
        for level in range(LOC_LEVELS):
            self.keys[level][loc >> (BITS_PER_LEVEL * level)] += 1

    def add(self, item: _Item) -> None:
        self.chosen.add(item.id)
        self.add_location(item.location)

    def too_close(self, loc: int, dist: int) -> bool:
        if dist < 1:
            return False
        level = min(dist, LOC_LEVELS) - 1
        return (loc >> (BITS_PER_LEVEL * level)) in self.keys[level]

    def too_far(self, loc: int, dist: int) -> bool:
        if dist >= LOC_LEVELS or not self.polled:
            return False
        keys = self.keys[dist]
        return len(keys) > 1 or (loc >> (BITS_PER_LEVEL * dist)) not in keys

    def exhausted(self, slot: _Slot, dist: int) -> bool:
        """Whether every location prefix of the slot is already taken."""
        if self.nearby or dist < 1:
            return False
        level = min(dist, LOC_LEVELS) - 1
        taken = self.keys[level]
        prefixes = slot.leafs[level]
        return len(prefixes) <= len(taken) and all(k in taken for k in prefixes)


class LoadBalancer:
    def __init__(self, ns_info: NamespaceInfo,
                 rng: random.Random | None = None):
        self.ns_info = ns_info
        self.rng = rng or random.Random()
        self._by_type: dict[str, list[_Item]] = {}
        self._slots: dict[str, _Slot] = {}
        self._by_id: dict[str, _Item] = {}
        self._max_dist = 1

    def set_namespace_info(self, ns_info: NamespaceInfo) -> None:
        self.ns_info = ns_info

    def update_services(self, service_type: str,
                        descriptions: list[dict]) -> None:
        """Replace the services of a type (descriptions as
        `conscience/list?type=T&full=1` gives them)."""
        items = []
        for desc in descriptions:
            ident = service_id(desc)
            full = dict(desc, id=ident)
            full.setdefault("type", service_type)
            try:
                score = int(desc.get("score") or 0)
            except (TypeError, ValueError):
                score = 0
            items.append(_Item(ident, service_type, full, score,
                               location_of(desc)))
        self._by_type[service_type] = items
        self._rebuild()

    def _rebuild(self) -> None:
        members: dict[str, list[_Item]] = {}
        by_id: dict[str, _Item] = {}
        max_dist = 1
        for kind, items in self._by_type.items():
            for item in items:
                by_id[item.id] = item
                by_id[item.desc.get("addr", item.id)] = item
                if item.score <= 0:
                    continue   # never selected
                max_dist = max(max_dist, _dist_of(item.location))
                for slot in slot_names(kind, item.desc):
                    members.setdefault(slot, []).append(item)
        self._slots = {name: _Slot(name, items)
                       for name, items in members.items()}
        self._by_id = by_id
        self._max_dist = max_dist

    def known_type(self, name: str) -> bool:
        return name in self._by_type or name in self._slots

    # Polling ---------------------------------------------------------------
    def poll(self, pool: str, avoid: Iterable[str] = (),
             known: Iterable[str] = ()) -> list[Selection]:
        """Services for a declared pool, or one service of a type/slot."""
        declared = self.ns_info.pools.get(pool) if self.ns_info else None
        if declared is None:
            if not self.known_type(pool):
                raise LbError(CODE_UNKNOWN_TYPE,
                              f"Unknown pool or service type [{pool}]")
            declared = Pool(pool, [(1, [pool])])
        return self.poll_pool(declared, avoid, known)

    def poll_policy(self, policy: StoragePolicy, avoid: Iterable[str] = (),
                    known: Iterable[str] = ()) -> list[Selection]:
        return self.poll_pool(self.ns_info.pool_for_policy(policy), avoid,
                              known)

    def choose(self, service_type: str, size: int = 1,
               slot: str | None = None) -> list[Selection]:
        """`lb/choose`: `size` services of a type, from a slot if given."""
        if service_type not in self._by_type:
            raise LbError(CODE_UNKNOWN_TYPE,
                          f"Service type [{service_type}] not managed")
        slots = [service_type]
        if slot:
            name = slot if slot.startswith(service_type) else \
                f"{service_type}-{slot}"
            slots = [name, service_type]
        return self.poll_pool(Pool("choose", [(size, slots)]))

    def poll_pool(self, pool: Pool, avoid: Iterable[str] = (),
                  known: Iterable[str] = (),
                  avoid_locations: Iterable[int] = (),
                  known_locations: Iterable[int] = ()) -> list[Selection]:
        """Poll every target of `pool`. `avoid`/`known` are service keys or
        IDs (unknown ones are ignored); what counts is their location, as
        upstream does. Known services fill the targets they fit first and
        are not returned."""
        targets = [slots for count, slots in pool.targets
                   for _ in range(count)]
        avoid_ids = {_strip_key(str(i)) for i in avoid}
        avoid_locs = {int(x) for x in avoid_locations}
        avoid_locs.update(self._by_id[i].location for i in avoid_ids
                          if i in self._by_id)
        known_locs = [int(x) for x in known_locations]
        known_locs += [self._by_id[_strip_key(str(i))].location for i in known
                       if _strip_key(str(i)) in self._by_id]
        if known_locs and len(known_locs) >= len(targets):
            raise LbError(CODE_BAD_REQUEST,
                          f"too many locations already known "
                          f"({len(known_locs)}), maximum {len(targets)} "
                          f"locations for this storage policy")
        max_dist = min(self._max_dist, pool.max_dist)
        ctx = _Poll(avoid_locs, avoid_ids, len(targets), pool.min_dist,
                    pool.nearby_mode, known_locs)
        targets = self._match_known(targets, list(known_locs))
        if pool.nearby_mode:
            start, dists = pool.min_dist, range(pool.min_dist, max_dist + 1)
        else:
            start, dists = max_dist, range(max_dist, pool.min_dist - 1, -1)
        picked: list[tuple[_Item, str, str]] = []
        reached = start
        for slots in targets:
            similar = sum(1 for other in targets if other[0] == slots[0])
            for dist in dists:
                found = self._poll_target(slots, dist, ctx, similar)
                if found is not None:
                    break
            else:
                count = len(self._slots[slots[0]].items) \
                    if slots[0] in self._slots else 0
                raise LbError(CODE_NOT_SATISFIABLE,
                              f"no service polled from [{slots[0]}], "
                              f"{len(picked)}/{len(targets)} services polled, "
                              f"{len(known_locs)} known services, {count} "
                              f"services in slot")
            item, final_slot, dist = found
            reached = max(reached, dist) if pool.nearby_mode else \
                min(reached, dist)
            picked.append((item, slots[0], final_slot))
        flawed = ctx.fallback or (reached >= pool.warn_dist if pool.nearby_mode
                                  else reached <= pool.warn_dist)
        result = []
        for index, (item, expected_slot, final_slot) in enumerate(picked):
            others = ctx.polled[:len(known_locs) + index] + \
                ctx.polled[len(known_locs) + index + 1:]
            quality = {"expected_dist": start,
                       "final_dist": _min_dist(others, item.location, max_dist),
                       "warn_dist": pool.warn_dist,
                       "expected_slot": expected_slot,
                       "final_slot": final_slot}
            result.append(Selection(item.desc, quality, flawed))
        return result

    def _match_known(self, targets: list[list[str]], known: list[int]
                     ) -> list[list[str]]:
        """The targets left once known locations fill those they fit: first
        by their main slot, then by a fallback slot or the joker."""
        left = []
        for strict in (True, False):
            left = []
            for slots in targets:
                if known and self._satisfies(slots, known, strict):
                    continue
                left.append(slots)
            targets = left
        return left

    def _satisfies(self, slots: list[str], known: list[int],
                   strict: bool) -> bool:
        if slots[0] == ANY_SLOT:
            known.pop(0)
            return True
        for name in slots[:1] if strict else slots:
            slot = self._slots.get(name)
            for loc in known if slot else ():
                if slot.has_location(loc):
                    known.remove(loc)
                    return True
        return False

    def _poll_target(self, slots: list[str], dist: int, ctx: _Poll,
                     similar: int) -> tuple[_Item, str, int] | None:
        for index, name in enumerate(slots):
            slot = self._slots.get(name)
            found = self._poll_slot(slot, dist, ctx, similar) if slot else None
            if found is not None:
                if index:
                    ctx.fallback = True
                ctx.add(found[0])
                return found[0], name, found[1]
        return None

    def _poll_slot(self, slot: _Slot, dist: int, ctx: _Poll,
                   similar: int) -> tuple[_Item, int] | None:
        if not slot.items or slot.total <= 0:
            return None
        # More targets than distinct locations at this level: the distance
        # cannot be reached, lower it (core.lb.allow_distance_bypass).
        if not ctx.nearby and dist > 1 and similar > slot.locs[dist - 1]:
            dist = max(dist - 1, ctx.min_dist)
        if ctx.exhausted(slot, dist):
            return None
        items = slot.items
        index = 0
        for _ in range(WEIGHTED_ATTEMPTS):
            index = slot.draw(self.rng)
            if self._accept(slot, items[index], dist, ctx):
                return items[index], dist
        for _ in range(len(items)):
            index = (index + slot.jump) % len(items)
            if self._accept(slot, items[index], dist, ctx):
                return items[index], dist
        return None

    @staticmethod
    def _accept(slot: _Slot, item: _Item, dist: int, ctx: _Poll) -> bool:
        loc = item.location
        if item.score <= 0 or loc in ctx.avoid_locs or \
                item.id in ctx.avoid_ids or item.id in ctx.chosen:
            return False
        if ctx.nearby:
            return not (ctx.too_far(loc, dist) or ctx.too_close(loc, 1))
        if ctx.too_close(loc, dist):
            return False
        return not _too_popular(slot, loc, ctx)


def _too_popular(slot: _Slot, loc: int, ctx: _Poll) -> bool:
    """Balancing rule: under each location prefix, at most a share of the
    targets proportional to the services it holds."""
    size = len(slot.items)
    for level in range(1, LOC_LEVELS):
        key = loc >> (BITS_PER_LEVEL * level)
        leafs = min(max(slot.leafs[level].get(key, 1), 1), size)
        limit = 1 + (ctx.n_targets - 1) // (size // leafs)
        if ctx.keys[level][key] >= limit:
            return True
    return False
