"""The proxy's local view of the conscience: namespace info, services, LB.

Refreshed every second from `GET /v3.0/{NS}/conscience/dump`, so that chunk
allocation (`content/prepare*`), meta2 linking and chunk scores never wait
for the conscience.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)


def service_key(namespace: str, kind: str, desc: dict) -> str:
    """`NS|type|id` where id is tag.service_id, else the address."""
    tags = desc.get("tags") or {}
    return f"{namespace}|{kind}|{tags.get('tag.service_id') or desc.get('addr')}"


def parse_update_policy(value: str | None) -> dict[str, tuple[str, int, int]]:
    """`meta2=KEEP|3|1;rdir=KEEP|1|1|` → {type: (mode, replicas, distance)}."""
    out: dict[str, tuple[str, int, int]] = {}
    for item in (value or "").split(";"):
        kind, sep, rule = item.strip().partition("=")
        if not sep or not kind:
            continue
        parts = rule.split("|") + ["", "", ""]
        try:
            replicas = int(parts[1] or 1)
            distance = int(parts[2] or 1)
        except ValueError:
            continue
        out[kind.strip()] = (parts[0] or "KEEP", max(replicas, 1), distance)
    return out


class ConscienceView:
    """Namespace info, registered services and a LoadBalancer over them."""

    def __init__(self, namespace: str, known_ttl: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.namespace = namespace
        self.known_ttl = known_ttl
        self._clock = clock
        self.info: dict | None = None
        self.ns_info = None          # oio.conscience.policies.NamespaceInfo
        self.lb = None               # oio.conscience.lb.LoadBalancer
        self.services: dict[str, list[dict]] = {}
        self._by_id: dict[tuple[str, str], dict] = {}
        self._known: dict[str, float] = {}
        self.loaded_at: float | None = None
        self.update_policy: dict[str, tuple[str, int, int]] = {}

    @property
    def ready(self) -> bool:
        return self.lb is not None

    def load_dump(self, dump: dict) -> None:
        """Apply a `conscience/dump` answer: `{"info": ..., "services": ...}`."""
        from oio.conscience.lb import LoadBalancer
        from oio.conscience.policies import NamespaceInfo

        info = dump.get("info") or {}
        services = dump.get("services") or {}
        if info != self.info or self.ns_info is None:
            self.ns_info = NamespaceInfo.from_dict(info)
            self.info = info
            self.update_policy = parse_update_policy(
                (info.get("options") or {}).get("service_update_policy"))
            if self.lb is None:
                self.lb = LoadBalancer(self.ns_info)
            else:
                self.lb.set_namespace_info(self.ns_info)
        for kind in set(self.services) - set(services):
            self.lb.update_services(kind, [])
        by_id: dict[tuple[str, str], dict] = {}
        for kind, descs in services.items():
            descs = [self._with_id(d) for d in descs]
            services[kind] = descs
            self.lb.update_services(kind, descs)
            for desc in descs:
                by_id[(kind, desc["id"])] = desc
                by_id[(kind, desc["addr"])] = desc
        self.services = services
        self._by_id = by_id
        self.remember(service_key(self.namespace, kind, d)
                      for kind, descs in services.items() for d in descs)
        self.loaded_at = self._clock()

    @staticmethod
    def _with_id(desc: dict) -> dict:
        if "id" not in desc:
            tags = desc.get("tags") or {}
            desc = dict(desc, id=tags.get("tag.service_id") or desc.get("addr"))
        return desc

    # Lookups ---------------------------------------------------------------
    def service(self, kind: str, ident: str) -> dict | None:
        """A service by ID or address."""
        return self._by_id.get((kind, ident))

    def addresses(self, kind: str, up_only: bool = False) -> list[str]:
        return [d["addr"] for d in self.services.get(kind, ())
                if not up_only or d.get("score", 0) > 0]

    def replicas(self, kind: str) -> int:
        """How many services of `kind` a reference gets (service update
        policy of the namespace; 1 by default)."""
        rule = self.update_policy.get(kind)
        return rule[1] if rule else 1

    def update_mode(self, kind: str) -> str:
        """KEEP, APPEND or REPLACE: what renewing the services of `kind`
        linked to a reference does (service update policy; KEEP by
        default, as 7.2)."""
        rule = self.update_policy.get(kind)
        return rule[0].upper() if rule else "KEEP"

    def option(self, key: str, default: Any = None) -> Any:
        return ((self.info or {}).get("options") or {}).get(key, default)

    # First registrations (conscience.md §3.1) -----------------------------
    def remember(self, keys: Iterable[str]) -> None:
        expiry = self._clock() + self.known_ttl
        for key in keys:
            self._known[key] = expiry

    def is_known(self, key: str) -> bool:
        expiry = self._known.get(key)
        if expiry is None:
            return False
        if expiry < self._clock():
            del self._known[key]
            return False
        return True

    def mark_first_sightings(self, items: list[Any]) -> list[Any]:
        """Add `tag.1 = true` to the items whose service key is new, then
        remember their keys."""
        out = []
        for item in items:
            if isinstance(item, dict) and item.get("addr"):
                kind = str(item.get("type") or "")
                key = service_key(self.namespace, kind, item)
                if not self.is_known(key):
                    tags = item.get("tags")
                    tags = dict(tags) if isinstance(tags, dict) else {}
                    tags["tag.1"] = True
                    item = dict(item, tags=tags)
                    self.remember((key,))
            out.append(item)
        return out

    def weight(self) -> tuple[int, int]:
        """(locked services, services) of the last dump loaded: a conscience
        whose dump weighs less may have restarted (consciences.py)."""
        locked = sum(1 for v in self.services.values() for d in v
                     if (d.get("tags") or {}).get("tag.lock"))
        return locked, self.known_count()

    def known_count(self) -> int:
        return sum(len(v) for v in self.services.values())

    def down_count(self) -> int:
        return sum(1 for v in self.services.values() for d in v
                   if d.get("score", 0) <= 0)
