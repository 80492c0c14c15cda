"""ConscienceClient and LbClient: the conscience and the load balancer,
through oio-proxy (method names and return values of the 7.2 client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse, urlunparse

from oio.common.client import ProxyClient


class LbClient(ProxyClient):
    """`/v3.0/{NS}/lb/*`."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/lb", **kwargs)

    def next_instances(self, pool: str, size: int | None = None,
                       slot: str | None = None, **kwargs) -> list[dict]:
        """`size` services of the type `pool`: `[{"addr", "id"}]`."""
        params = {"type": pool, "size": size, "slot": slot}
        return self._request("GET", "/choose", params=params, **kwargs)[1]

    def next_instance(self, pool: str, **kwargs) -> dict:
        kwargs.pop("size", None)
        return self.next_instances(pool, size=1, **kwargs)[0]

    def poll(self, pool: str, avoid: Iterable[str] | None = None,
             known: Iterable[str] | None = None, **kwargs) -> list[dict]:
        """Services of a declared pool; `avoid`/`known` are service keys
        (`NS|type|id`); known ones are not returned again."""
        body: dict[str, Any] = {}
        if avoid is not None:
            body["avoid"] = list(avoid)
        if known is not None:
            body["known"] = list(known)
        for key in ("avoid_locations", "known_locations"):
            if key in kwargs:
                body[key] = list(kwargs.pop(key))
        return self._request("POST", "/poll", params={"pool": pool},
                             json_body=body, **kwargs)[1]

    def create_pool(self, pool: str, targets: Iterable[Iterable],
                    force: bool = False, options: dict | None = None,
                    **kwargs) -> None:
        """`targets`: tuples like (1, "rawx-usa", "rawx"). Conflict if the
        pool exists and not `force`."""
        text = ";".join(",".join(str(x) for x in target) for target in targets)
        self._request("POST", "/create_pool",
                      params={"name": pool, "force": str(bool(force))},
                      json_body={"targets": text, "options": options},
                      **kwargs)


class ConscienceClient(ProxyClient):
    """`/v3.0/{NS}/conscience/*`; load balancing through `self.lb`.

    With several proxies configured (`proxy = a:6000,b:6000`), requests
    fail over between them as every ProxyClient's do; `self.lb` gets the
    same list."""

    def __init__(self, conf: dict, service_id_max_age: float = 60,
                 **kwargs: Any):
        super().__init__(conf, request_prefix="/conscience", **kwargs)
        self._lb_kwargs = {k: v for k, v in kwargs.items()
                           if k != "pool_manager"}
        self._lb: LbClient | None = None
        self._service_id_max_age = service_id_max_age
        self._service_ids: dict[str, tuple[str, float]] = {}

    @property
    def lb(self) -> LbClient:
        if self._lb is None:
            self._lb = LbClient(self.conf, pool_manager=self.pool_manager,
                                **self._lb_kwargs)
        return self._lb

    # Load balancing ------------------------------------------------------
    def next_instances(self, pool: str, **kwargs) -> list[dict]:
        return self.lb.next_instances(pool, **kwargs)

    def next_instance(self, pool: str, **kwargs) -> dict:
        return self.lb.next_instance(pool, **kwargs)

    def poll(self, pool: str, **kwargs) -> list[dict]:
        return self.lb.poll(pool, **kwargs)

    # Registry ------------------------------------------------------------
    def info(self, **kwargs) -> dict:
        return self._request("GET", "/info", **kwargs)[1]

    def service_types(self, **kwargs) -> list[str]:
        return self._request("GET", "/info", params={"what": "types"},
                             **kwargs)[1]

    def all_services(self, type_: str, full: bool = False,
                     **kwargs) -> list[dict]:
        """Every service of a type, each with `id` (service ID or addr)."""
        params = {"type": type_, "full": "1" if full else None}
        services = self._request("GET", "/list", params=params,
                                 **kwargs)[1] or []
        for srv in services:
            if "id" not in srv:
                srv["id"] = (srv.get("tags") or {}).get("tag.service_id") \
                    or srv["addr"]
        return services

    def local_services(self, **kwargs) -> list[dict]:
        """Services registered through this proxy lately."""
        return self._request("GET", "/local/list",
                             endpoint=self._make_uri("").rstrip("/"),
                             **kwargs)[1]

    def get_service_definition(self, srv_type: str, srv_id: str,
                               score: int | None = None,
                               tags: dict | None = None) -> dict:
        definition: dict[str, Any] = {"ns": self.ns, "type": srv_type,
                                      "addr": srv_id}
        if score is not None:
            definition["score"] = score
        if tags is not None:
            definition["tags"] = tags
        return definition

    def register(self, service_definitions: dict | list, **kwargs) -> None:
        self._request("POST", "/register", json_body=service_definitions,
                      **kwargs)

    def deregister(self, service_definitions: dict | list, **kwargs) -> None:
        self._request("POST", "/deregister", json_body=service_definitions,
                      **kwargs)

    def lock_score(self, srv_or_list: dict | list, **kwargs):
        """Lock at `score` (default 0) until unlocked."""
        return self._request("POST", "/lock", json_body=srv_or_list,
                             **kwargs)[1]

    def unlock_score(self, srv_or_list: dict | list, **kwargs) -> None:
        self._request("POST", "/unlock", json_body=srv_or_list, **kwargs)

    def flush(self, srv_type: str, **kwargs) -> None:
        self._request("POST", "/flush", params={"type": srv_type}, **kwargs)

    # Service IDs ---------------------------------------------------------
    def resolve(self, srv_type: str, service_id: str, **kwargs) -> dict:
        """`{"addr": "IP:PORT"}` of a service ID."""
        return self._request("GET", "/resolve",
                             params={"type": srv_type,
                                     "service_id": service_id},
                             **kwargs)[1]

    def resolve_service_id(self, service_type: str, service_id: str,
                           check_format: bool = True, **kwargs) -> str:
        """The address of a service ID (an address is returned as is),
        cached `service_id_max_age` seconds."""
        if check_format and urlparse("http://" + service_id).port is not None:
            return service_id
        cached = self._service_ids.get(service_id)
        if cached and time.monotonic() - cached[1] < self._service_id_max_age:
            return cached[0]
        addr = self.resolve(service_type, service_id, **kwargs)["addr"]
        self._service_ids[service_id] = (addr, time.monotonic())
        return addr

    def resolve_url(self, service_type: str, url: str, **kwargs) -> str:
        """`url` with its service ID netloc replaced by the address."""
        if not url.startswith("http://"):
            url = "http://" + url
        parsed = urlparse(url)
        if parsed.port is not None:
            return url
        addr = self.resolve_service_id(service_type, parsed.netloc,
                                       check_format=False, **kwargs)
        return urlunparse(parsed._replace(netloc=addr))


class ServiceScores:
    """Scores of the services of one type, for chunk lists served from a
    client cache (whose stored scores would be stale): fetched once, then
    refreshed in the background when older than `max_age` seconds."""

    def __init__(self, conscience: ConscienceClient, service_type: str = "rawx",
                 max_age: float = 30.0):
        self.conscience = conscience
        self.service_type = service_type
        self.max_age = max_age
        self._scores: dict[str, int] = {}
        self._at: float | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def _refresh(self) -> None:
        try:
            services = self.conscience.all_services(self.service_type)
            scores = {s["addr"]: int(s.get("score") or 0) for s in services}
            scores.update({s["tags"]["tag.service_id"]: int(s.get("score") or 0)
                           for s in services
                           if (s.get("tags") or {}).get("tag.service_id")})
            self._scores = scores
            self._at = time.monotonic()
        except Exception as err:  # noqa: BLE001 - scores are a hint
            self.conscience.logger.debug("score refresh failed: %s", err)
        finally:
            self._refreshing = False

    def scores(self) -> dict[str, int]:
        if self._at is None:
            self._refresh()
        elif time.monotonic() - self._at > self.max_age:
            with self._lock:
                start, self._refreshing = not self._refreshing, True
            if start:
                threading.Thread(target=self._refresh, daemon=True).start()
        return self._scores

    def apply(self, chunks: list[dict]) -> None:
        """Set each chunk's `score` from its service's current score."""
        scores = self.scores()
        for chunk in chunks:
            netloc = chunk.get("url", "").split("/")[2:3]
            chunk["score"] = scores.get(netloc[0], 0) if netloc else 0
