"""ConscienceClient: the conscience and load balancer, through oio-proxy."""

from __future__ import annotations

from typing import Any

from oio.common.client import ProxyClient


class ConscienceClient(ProxyClient):
    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="", **kwargs)

    def info(self, **kwargs) -> dict:
        return self._request("GET", "conscience/info", **kwargs)[1]

    def service_types(self, **kwargs) -> list[str]:
        return self._request("GET", "conscience/info",
                             params={"what": "types"}, **kwargs)[1]

    def all_services(self, type_: str, full: bool = False, **kwargs) -> list[dict]:
        params = {"type": type_}
        if full:
            params["full"] = "1"
        services = self._request("GET", "conscience/list", params=params,
                                 **kwargs)[1] or []
        for srv in services:
            srv["id"] = (srv.get("tags") or {}).get("tag.service_id") or srv["addr"]
        return services

    def register(self, service: dict | list, **kwargs) -> None:
        self._request("POST", "conscience/register", json_body=service, **kwargs)

    def deregister(self, service: dict | list, **kwargs) -> None:
        self._request("POST", "conscience/deregister", json_body=service,
                      **kwargs)

    def lock_score(self, service: dict | list, **kwargs) -> None:
        self._request("POST", "conscience/lock", json_body=service, **kwargs)

    def unlock_score(self, service: dict | list, **kwargs) -> None:
        self._request("POST", "conscience/unlock", json_body=service, **kwargs)

    def flush(self, type_: str, **kwargs) -> None:
        self._request("POST", "conscience/flush", params={"type": type_},
                      **kwargs)

    def resolve(self, type_: str, service_id: str, **kwargs) -> str:
        return self._request("GET", "conscience/resolve",
                             params={"type": type_, "service_id": service_id},
                             **kwargs)[1]["addr"]

    def next_instances(self, pool: str, size: int | None = None,
                       slot: str | None = None, **kwargs) -> list[dict]:
        """`size` services of type `pool` (lb/choose)."""
        params = {"type": pool, "size": size, "slot": slot}
        return self._request("GET", "lb/choose", params=params, **kwargs)[1]

    def next_instance(self, pool: str, **kwargs) -> dict:
        return self.next_instances(pool, size=1, **kwargs)[0]

    def poll(self, pool: str, avoid=None, known=None, **kwargs) -> list[dict]:
        body = {"avoid": list(avoid or ()), "known": list(known or ())}
        return self._request("POST", "lb/poll", params={"pool": pool},
                             json_body=body, **kwargs)[1]
