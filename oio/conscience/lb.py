"""The load balancer: pick services for a pool, weighted by score, under the
location distance rules of the pool (naming.md §8.3-8.4).

Used by the conscience (`lb/*` routes) and by every proxy on its local copy
of the registry, so that chunk allocation never waits on the network.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from .location import location_of, max_distance, too_close
from .policies import NamespaceInfo, Pool, StoragePolicy

CODE_BAD_REQUEST = 400
CODE_UNKNOWN_TYPE = 453
CODE_NOT_SATISFIABLE = 481
WEIGHTED_ATTEMPTS = 8


class LbError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Selection:
    service: dict
    quality: dict = field(default_factory=dict)
    flawed: bool = False


@dataclass
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


class LoadBalancer:
    def __init__(self, ns_info: NamespaceInfo, rng: random.Random | None = None):
        self.ns_info = ns_info
        self.rng = rng or random.Random()
        self._by_type: dict[str, list[_Item]] = {}
        self._slots: dict[str, list[_Item]] = {}
        self._by_id: dict[str, _Item] = {}

    def set_namespace_info(self, ns_info: NamespaceInfo) -> None:
        self.ns_info = ns_info

    def update_services(self, service_type: str,
                        descriptions: list[dict]) -> None:
        items = []
        for desc in descriptions:
            ident = service_id(desc)
            full = dict(desc, id=ident)
            full.setdefault("type", service_type)
            items.append(_Item(ident, service_type, full,
                               int(desc.get("score") or 0), location_of(desc)))
        self._by_type[service_type] = items
        self._rebuild()

    def _rebuild(self) -> None:
        slots: dict[str, list[_Item]] = {}
        by_id: dict[str, _Item] = {}
        for kind, items in self._by_type.items():
            for item in items:
                by_id[item.id] = item
                by_id[item.desc.get("addr", item.id)] = item
                if item.score <= 0:
                    continue   # never selected
                for slot in slot_names(kind, item.desc):
                    slots.setdefault(slot, []).append(item)
        self._slots = slots
        self._by_id = by_id

    # Polling ---------------------------------------------------------------
    def poll(self, pool: str, avoid: Iterable[str] = (),
             known: Iterable[str] = ()) -> list[Selection]:
        """Services for a declared pool, or one service of a type/slot."""
        declared = self.ns_info.pools.get(pool) if self.ns_info else None
        if declared is None:
            if pool not in self._by_type and pool not in self._slots:
                raise LbError(CODE_UNKNOWN_TYPE, f"Unknown pool or service type "
                              f"[{pool}]")
            declared = Pool(pool, [(1, [pool])])
        return self.poll_pool(declared, avoid, known)

    def poll_policy(self, policy: StoragePolicy, avoid: Iterable[str] = (),
                    known: Iterable[str] = ()) -> list[Selection]:
        return self.poll_pool(self.ns_info.pool_for_policy(policy), avoid, known)

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
                  known: Iterable[str] = ()) -> list[Selection]:
        avoided = {_strip_key(i) for i in avoid}
        known_items = []
        for ident in known:
            item = self._by_id.get(_strip_key(ident))
            if item is not None:
                known_items.append(item)
        targets = self._remaining_targets(pool, known_items)
        involved = {item.location for _, slots in targets for s in slots
                    for item in self._slots.get(s, ())}
        start = min(max_distance(involved), pool.max_dist)
        start = max(start, pool.min_dist)
        chosen: list[_Item] = list(known_items)
        result: list[Selection] = []
        for count, slots in targets:
            for _ in range(count):
                selection = self._poll_one(pool, slots, start, chosen, avoided)
                if selection is None:
                    raise LbError(CODE_NOT_SATISFIABLE,
                                  f"Pool [{pool.name}] not satisfiable: no "
                                  f"service left in {','.join(slots)}")
                result.append(selection)
        return result

    def _remaining_targets(self, pool: Pool, known: list[_Item]
                           ) -> list[tuple[int, list[str]]]:
        targets = [[count, slots] for count, slots in pool.targets]
        if len(known) > sum(c for c, _ in targets):
            raise LbError(CODE_BAD_REQUEST, "More known services than targets")
        for item in known:
            names = set(slot_names(item.type, item.desc))
            for target in targets:
                if target[0] > 0 and (names & set(target[1])
                                      or "__any_slot" in target[1]):
                    target[0] -= 1
                    break
        return [(count, slots) for count, slots in targets if count > 0]

    def _poll_one(self, pool: Pool, slots: list[str], start: int,
                  chosen: list[_Item], avoided: set[str]) -> Selection | None:
        if pool.nearby_mode:
            distances = range(pool.min_dist, max(pool.max_dist, start) + 1)
        else:
            distances = range(start, pool.min_dist - 1, -1)
        for dist in distances:
            for slot in slots:
                item = self._draw(self._slots.get(slot, ()), dist, chosen,
                                  avoided, pool.nearby_mode)
                if item is None:
                    continue
                chosen.append(item)
                flawed = slot != slots[0] or (
                    dist >= pool.warn_dist if pool.nearby_mode
                    else dist <= pool.warn_dist)
                quality = {"expected_dist": start, "final_dist": dist,
                           "warn_dist": pool.warn_dist,
                           "expected_slot": slots[0], "final_slot": slot}
                return Selection(item.desc, quality, flawed)
        return None

    def _draw(self, items, dist: int, chosen: list[_Item], avoided: set[str],
              nearby: bool) -> _Item | None:
        ids = {c.id for c in chosen}

        def acceptable(item: _Item) -> bool:
            if item.id in ids or item.id in avoided or \
                    item.desc.get("addr") in avoided:
                return False
            if nearby:
                return all(too_close(item.location, c.location, dist + 1)
                           for c in chosen)
            return not any(too_close(item.location, c.location, dist)
                           for c in chosen)

        # A few weighted draws, then every acceptable item as candidates.
        for _ in range(WEIGHTED_ATTEMPTS if items else 0):
            item = self.rng.choices(items, weights=[i.score for i in items])[0]
            if acceptable(item):
                return item
        candidates = [i for i in items if acceptable(i)]
        if not candidates:
            return None
        return self.rng.choices(candidates,
                                weights=[i.score for i in candidates])[0]
