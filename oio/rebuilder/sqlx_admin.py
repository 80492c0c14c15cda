"""SqlxAdminClient: the proxy's `admin/*` routes on replicated meta bases
(spec replication.md §5), as the movers and rebuilders use them.

A base is addressed by its type (`meta0`, `meta1`, `meta2`) and a CID (a
container ID, or for meta1 the 1 to 4 hex digits of its prefix). The
per-replica actions answer `{replica: {"status": {"status", "message"},
"body"}}`; `service_ids` addresses exactly those replicas, which may be
services the directory does not list yet (a base being moved to them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oio.common.client import ProxyClient

# Per-replica status codes (replication.md §4).
OK = 200
NOT_SLAVE = 301
REDIRECT = 303
MISSING = 431


def status_of(entry: dict) -> int:
    """The OpenIO status of one replica's entry of a per-replica answer."""
    status = (entry or {}).get("status") or {}
    code = status.get("status") if isinstance(status, dict) else status
    try:
        return int(code)
    except (TypeError, ValueError):
        return 0


def message_of(entry: dict) -> str:
    status = (entry or {}).get("status") or {}
    return str(status.get("message", "")) if isinstance(status, dict) else ""


def describe(answers: dict[str, dict]) -> str:
    """`replica (status): message` of each entry, for error messages."""
    return ", ".join(f"{peer} ({status_of(e)}): {message_of(e)}"
                     for peer, e in sorted(answers.items()))


class SqlxAdminClient(ProxyClient):
    """`POST /v3.0/{NS}/admin/<action>?type=...&cid=...`."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/admin", **kwargs)

    @staticmethod
    def _params(kind: str, cid: str,
                service_ids: Iterable[str] | None = None) -> dict[str, str]:
        params = {"type": kind, "cid": cid}
        if service_ids:
            params["service_id"] = ",".join(sorted(set(service_ids)))
        return params

    def per_replica(self, action: str, kind: str, cid: str,
                    service_ids: Iterable[str] | None = None,
                    **kwargs: Any) -> dict[str, dict]:
        """The answer of each replica to `action` (ping, status, has, sync,
        leave, debug, remove)."""
        _, body = self._request(
            "POST", f"/{action}", params=self._params(kind, cid, service_ids),
            **kwargs)
        return body if isinstance(body, dict) else {}

    def has(self, kind: str, cid: str, service_ids=None, **kwargs
            ) -> dict[str, dict]:
        """200 with the path of its file, or 431, per replica."""
        return self.per_replica("has", kind, cid, service_ids, **kwargs)

    def status(self, kind: str, cid: str, service_ids=None, **kwargs
               ) -> dict[str, dict]:
        """200 for the master, 303 and the master's ID for a slave."""
        return self.per_replica("status", kind, cid, service_ids, **kwargs)

    def leave(self, kind: str, cid: str, service_ids=None, **kwargs
              ) -> dict[str, dict]:
        return self.per_replica("leave", kind, cid, service_ids, **kwargs)

    def sync(self, kind: str, cid: str, service_ids=None, **kwargs
             ) -> dict[str, dict]:
        """Slaves copy the base from the master (the master answers 301)."""
        return self.per_replica("sync", kind, cid, service_ids, **kwargs)

    def remove(self, kind: str, cid: str, service_ids: Iterable[str],
               **kwargs) -> dict[str, dict]:
        """Delete those replicas' files; they leave the election."""
        return self.per_replica("remove", kind, cid, list(service_ids),
                                **kwargs)

    def copy(self, kind: str, cid: str, to: str, source: str | None = None,
             **kwargs) -> None:
        """`to` takes a whole copy of the base from `source` (default: the
        master), before this returns."""
        body = {"to": to}
        if source:
            body["from"] = source
        kwargs.setdefault("read_timeout", 300.0)
        self._request("POST", "/copy", params=self._params(kind, cid),
                      json=body, **kwargs)

    def get_properties(self, kind: str, cid: str, **kwargs) -> dict:
        """{"properties": {...}, "system": {...}} of the base (meta2)."""
        _, body = self._request("POST", "/get_properties",
                                params=self._params(kind, cid), **kwargs)
        return body if isinstance(body, dict) else {}

    def set_properties(self, kind: str, cid: str,
                       system: dict[str, str] | None = None,
                       properties: dict[str, str] | None = None,
                       **kwargs) -> None:
        """A replicated write on the master (meta2)."""
        body: dict[str, dict] = {}
        if system:
            body["system"] = system
        if properties:
            body["properties"] = properties
        self._request("POST", "/set_properties",
                      params=self._params(kind, cid), json=body, **kwargs)


def master_of(answers: dict[str, dict]) -> str | None:
    """The master named by a `status` answer: the replica answering 200,
    else the one most slaves point to."""
    for peer, entry in sorted(answers.items()):
        if status_of(entry) == OK:
            return peer
    named = [message_of(e) for e in answers.values()
             if status_of(e) == REDIRECT and message_of(e)]
    return max(set(named), key=named.count) if named else None
