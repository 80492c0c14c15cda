"""The registry of a conscience: services, their tags and scores
(conscience.md §1, §3). Plain logic, no I/O: the HTTP app sits on top."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .lb import LoadBalancer, service_id
from .policies import NamespaceInfo, ServiceType
from .score_expr import ScoreExpr, ScoreExprError

CODE_BAD_REQUEST = 400
CODE_NOT_FOUND = 404
CODE_TYPE_NOT_MANAGED = 453
CODE_SERVICE_NOT_FOUND = 503
MAX_TYPE_LEN = 31
MAX_TAG_KEY = 256
MAX_TAG_VALUE = 4096


class RegistryError(Exception):
    def __init__(self, http_status: int, status: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message


@dataclass
class Service:
    type: str
    addr: str
    tags: dict = field(default_factory=dict)
    score: int = -1
    locked: bool = False
    score_ts: float = 0.0

    def describe(self, full: bool) -> dict:
        tags = self.tags if full else {
            k: v for k, v in self.tags.items() if not k.startswith("stat.")}
        return {"addr": self.addr, "score": self.score,
                "tags": dict(tags, **{"tag.lock": self.locked})}


def check_addr(addr: object) -> str:
    """`IP:PORT` (IPv6 in brackets), or RegistryError 400."""
    if not isinstance(addr, str) or ":" not in addr:
        raise RegistryError(400, CODE_BAD_REQUEST, f"Invalid address {addr!r}")
    host, _, port = addr.rpartition(":")
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
        if not 0 < int(port) < 65536:
            raise ValueError(port)
    except ValueError:
        raise RegistryError(400, CODE_BAD_REQUEST,
                            f"Invalid address {addr!r}") from None
    return addr


def clean_tags(tags: object) -> dict:
    """Keep `tag.*` and `stat.*`; other JSON types become false, floats
    keep 6 decimals (as 7.2 prints them), overlong strings are cut."""
    if not isinstance(tags, dict):
        return {}
    out = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.startswith(("tag.", "stat.")) \
                or len(key) > MAX_TAG_KEY:
            continue
        if isinstance(value, float):
            value = round(value, 6) if math.isfinite(value) else False
        elif isinstance(value, str):
            value = value[:MAX_TAG_VALUE]
        elif not isinstance(value, (bool, int)):
            value = False
        out[key] = value
    return out


class Registry:
    def __init__(self, ns_info: NamespaceInfo, types: dict[str, ServiceType],
                 clock: Callable[[], float] = time.time):
        self.ns_info = ns_info
        self.types = types
        self.clock = clock
        self._exprs: dict[str, ScoreExpr | None] = {}
        self.services: dict[str, dict[str, Service]] = {t: {} for t in types}
        self._lb: LoadBalancer | None = None
        self._dirty: set[str] = set(types)

    # Validation --------------------------------------------------------------
    def check_type(self, kind: object) -> str:
        if kind is None or kind == "":
            raise RegistryError(400, CODE_BAD_REQUEST,
                                "Service type not specified")
        if not isinstance(kind, str) or kind not in self.types:
            if isinstance(kind, str) and len(kind) > MAX_TYPE_LEN:
                kind = kind[:MAX_TYPE_LEN] + "..."
            raise RegistryError(404, CODE_TYPE_NOT_MANAGED,
                                f"Service type [{kind}] not managed")
        return kind

    def _items(self, body: object) -> list[dict]:
        items = body if isinstance(body, list) else [body]
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise RegistryError(400, CODE_BAD_REQUEST,
                                    "Expected: json object")
            ns = item.get("ns")
            if ns and ns != self.ns_info.name:
                continue   # another namespace's service: ignored
            check_addr(item.get("addr"))
            self.check_type(item.get("type"))
            out.append(item)
        return out

    def _expr(self, kind: str) -> ScoreExpr | None:
        if kind not in self._exprs:
            try:
                self._exprs[kind] = ScoreExpr(self.types[kind].score_expr)
            except ScoreExprError:
                self._exprs[kind] = None
        return self._exprs[kind]

    # Pushes ------------------------------------------------------------------
    def register(self, body: object) -> None:
        now = self.clock()
        for item in self._items(body):
            kind, addr = item["type"], item["addr"]
            tags = clean_tags(item.get("tags"))
            first = bool(tags.pop("tag.1", False))
            table = self.services[kind]
            srv = table.get(addr)
            is_new = srv is None
            if is_new:
                srv = table[addr] = Service(kind, addr)
            self._merge(srv, tags, now)
            if is_new and first and self.types[kind].lock_at_first_register:
                srv.locked = True
                srv.score = 0
            elif not srv.locked:
                self._compute(srv)
                if tags.get("tag.up") is False:   # the received one only
                    srv.score = 0
            srv.tags["tag.lock"] = srv.locked
            self._dirty.add(kind)

    def lock(self, body: object) -> None:
        now = self.clock()
        for item in self._items(body):
            srv = self.services[item["type"]].setdefault(
                item["addr"], Service(item["type"], item["addr"]))
            score = item.get("score", 0)
            try:
                score = int(score)
            except (TypeError, ValueError):
                score = 0
            self._merge(srv, clean_tags(item.get("tags")), now)
            srv.locked = True
            srv.score = max(0, min(100, score))
            srv.score_ts = now
            srv.tags["tag.lock"] = True
            self._dirty.add(srv.type)

    def unlock(self, body: object) -> None:
        for item in self._items(body):
            srv = self.services[item["type"]].get(item["addr"])
            if srv is None:
                continue   # unlocking creates nothing
            # `openio cluster wait` sends listings back: tags merge again
            self._merge(srv, clean_tags(item.get("tags")), self.clock())
            srv.locked = False
            srv.tags["tag.lock"] = False
            srv.score = max(srv.score, 0)
            self._compute(srv)
            self._dirty.add(srv.type)

    def deregister(self, body: object) -> None:
        for item in self._items(body):
            if self.services[item["type"]].pop(item["addr"], None) is not None:
                self._dirty.add(item["type"])

    def flush(self, kind: object) -> None:
        kind = self.check_type(kind)
        self.services[kind].clear()
        self._dirty.add(kind)

    @staticmethod
    def _merge(srv: Service, tags: dict, now: float) -> None:
        tags.pop("tag.1", None)
        tags.pop("tag.lock", None)     # the lock state is ours
        if tags:
            srv.tags.update(tags)
            srv.score_ts = now

    def _compute(self, srv: Service) -> None:
        expr = self._expr(srv.type)
        if expr is None:
            return
        try:
            value = expr.evaluate(srv.tags)
        except ScoreExprError:
            return     # a missing tag leaves the score unchanged
        score = 0 if math.isnan(value) else int(math.floor(value))
        bound = self.types[srv.type].score_variation_bound
        if srv.score >= 0 and bound > 0:
            score = min(score, srv.score + bound)
        srv.score = max(0, min(100, score))

    def expire(self) -> list[Service]:
        """Zero the score of silent services; returns those just expired."""
        now = self.clock()
        expired = []
        for kind, table in self.services.items():
            timeout = self.types[kind].score_timeout
            for srv in table.values():
                if not srv.locked and srv.score > 0 and \
                        now - srv.score_ts > timeout:
                    srv.score = 0
                    srv.tags["tag.up"] = False
                    expired.append(srv)
                    self._dirty.add(kind)
        return expired

    # Reads -------------------------------------------------------------------
    def list(self, kind: object, full: bool = False) -> list[dict]:
        kind = self.check_type(kind)
        return [s.describe(full) for s in self.services[kind].values()]

    def type_names(self) -> list[str]:
        return sorted(self.types)

    def dump(self) -> dict:
        return {"info": self.ns_info.to_dict(),
                "services": {k: self.list(k, full=True) for k in self.types}}

    def find(self, kind: object, ident: str) -> Service | None:
        """A service by ID or address, None if unknown."""
        kind = self.check_type(kind)
        table = self.services[kind]
        if ident in table:
            return table[ident]
        for srv in table.values():
            if srv.tags.get("tag.service_id") == ident:
                return srv
        return None

    def resolve(self, kind: object, ident: str) -> str:
        """The address of a service ID (503 if unknown, as 7.2 answers)."""
        srv = self.find(kind, ident)
        if srv is None:
            raise RegistryError(503, CODE_SERVICE_NOT_FOUND,
                                f"Service ID [{ident}] not found")
        return srv.addr

    def score(self, kind: object, ident: str) -> dict:
        srv = self.find(kind, ident)
        if srv is None:
            raise RegistryError(404, CODE_NOT_FOUND, "No such item")
        return {"addr": srv.addr, "score": srv.score}

    @property
    def lb(self) -> LoadBalancer:
        if self._lb is None:
            self._lb = LoadBalancer(self.ns_info)
        for kind in self._dirty:
            self._lb.update_services(kind, self.list(kind, full=True))
        self._dirty.clear()
        return self._lb

    def service_key(self, kind: str, desc: dict) -> str:
        return f"{self.ns_info.name}|{kind}|{service_id(desc)}"

    def known_keys(self) -> Iterable[str]:
        for kind, table in self.services.items():
            for srv in table.values():
                yield self.service_key(kind, srv.describe(False))
