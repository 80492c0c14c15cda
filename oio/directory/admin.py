"""AdminClient: the elections of replicated meta bases (meta0, meta1,
meta2) and the services that hold them, through oio-proxy, with the method
names of OpenIO 7.2's `oio.directory.admin.AdminClient`.

A base is located by `service_type` and either `account` + `reference`
or `cid` (for meta1, a 1-4 hex digit prefix works; meta0 needs neither:
its one base is the namespace). The per-replica actions answer
`{"<service id>": {"status": {"status": N, "message": "..."}, "body": ...}}`
(spec replication.md §5). `timeout` (seconds) bounds a whole call and is
what the proxy is told it has (the x-oio-timeout header).

Errors: bad input raises BadRequest before anything is sent; the proxy's
refusals raise the oio.common.exceptions of their status (ProxyClient).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from oio.common import exceptions as exc
from oio.common.client import ProxyClient

# Types whose bases have elections, and the default targets of balance.
ELECTION_TYPES = ("meta0", "meta1", "meta2")
# The proxy's per-service routes live outside the namespace.
FORWARD_PREFIX = "/v3.0/forward"
# One row of `election_balance`: (service id, HTTP status, count).
BalanceRow = tuple[str, int, int]
# One replica ID, several (a list or `a,b`), or all of them (None).
ServiceIds = str | Iterable[str] | None


def service_id_to_string(service_id: ServiceIds) -> str | None:
    """`a,b` from ["a", "b"] (a string is kept as it is)."""
    if not service_id:
        return None
    if isinstance(service_id, str):
        return service_id
    try:
        return ",".join(service_id)
    except TypeError:
        raise exc.BadRequest(
            message="'service_id' must be a string or a list of strings"
        ) from None


def loc_params(service_type: str | None, account: str | None = None,
               reference: str | None = None, cid: str | None = None,
               service_id: ServiceIds = None) -> dict:
    """The query locating one base, checked."""
    if not service_type:
        raise exc.BadRequest(message="Missing value for service_type")
    params: dict[str, Any] = {"type": service_type}
    if cid:
        params["cid"] = cid
    elif account and reference:
        params["acct"] = account
        params["ref"] = reference
    elif service_type != "meta0":
        # meta0's single base needs no location.
        raise exc.BadRequest(
            message="Missing value for account and reference, or cid")
    ids = service_id_to_string(service_id)
    if ids:
        params["service_id"] = ids
    return params


def _timeout_kwargs(kwargs: dict) -> dict:
    """7.2's `timeout=` (seconds) as our clients say it: the read timeout,
    from which ProxyClient derives the deadline sent to the proxy."""
    tmo = kwargs.pop("timeout", None)
    if tmo is not None:
        if float(tmo) <= 0:
            raise exc.BadRequest(message=f"Invalid timeout: {tmo}")
        kwargs.setdefault("read_timeout", float(tmo))
    return kwargs


class AdminClient(ProxyClient):
    """Elections and service administration through the proxy's
    `admin/*` and `forward/*` routes."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/admin", **kwargs)

    # Plumbing ----------------------------------------------------------------
    def _admin(self, action: str, params: dict, **kwargs: Any) -> Any:
        _, body = self._request("POST", f"/{action}", params=params,
                                **_timeout_kwargs(kwargs))
        return body

    def _per_replica(self, action: str, service_type: str | None,
                     account: str | None, reference: str | None,
                     cid: str | None, service_id: ServiceIds,
                     extra: dict | None = None,
                     **kwargs: Any) -> dict[str, dict]:
        params = loc_params(service_type, account, reference, cid, service_id)
        params.update(extra or {})
        body = self._admin(action, params, **kwargs)
        if not isinstance(body, dict):
            # Not the §5.1 shape: a proxy of another kind, or a bug.
            raise exc.OioException(
                f"Unexpected answer to admin/{action}: {body!r}")
        return body

    def _forward(self, method: str, action: str, params: dict,
                 **kwargs: Any) -> tuple[int, Any]:
        # The whole proxy list in the URL, so that ProxyClient fails over.
        url = (f"{self.proxy_scheme}://{self.proxy_netloc}"
               f"{FORWARD_PREFIX}/{action}")
        resp, body = self._direct_request(method, url, params=params,
                                          **_timeout_kwargs(kwargs))
        return resp.status, body

    # Elections ---------------------------------------------------------------
    def election_ping(self, service_type: str | None = None,
                      account: str | None = None,
                      reference: str | None = None, cid: str | None = None,
                      service_id: ServiceIds = None,
                      **kwargs: Any) -> dict[str, dict]:
        """Start the election of a base, or refresh it, on each replica
        (they answer at once)."""
        return self._per_replica("ping", service_type, account, reference,
                                 cid, service_id, **kwargs)

    def election_status(self, service_type: str | None = None,
                        account: str | None = None,
                        reference: str | None = None, cid: str | None = None,
                        service_id: ServiceIds = None,
                        **kwargs: Any) -> dict[str, Any]:
        """Each replica's view of the election, once final (started if
        needed): `{"peers": <per replica>, "type": service_type, "master":
        the replica answering 200 (None if none), "slaves": those
        answering 303}`."""
        peers = self._per_replica("status", service_type, account,
                                  reference, cid, service_id, **kwargs)
        out: dict[str, Any] = {"peers": peers, "type": service_type,
                               "master": None, "slaves": []}
        for peer, entry in sorted(peers.items()):
            status = (entry.get("status") or {}).get("status")
            if status == 200:
                out["master"] = peer
            elif status == 303:
                out["slaves"].append(peer)
        return out

    def election_debug(self, service_type: str | None = None,
                       account: str | None = None,
                       reference: str | None = None, cid: str | None = None,
                       service_id: ServiceIds = None,
                       **kwargs: Any) -> dict[str, dict]:
        """Each replica's record of the election (its body: §5.3)."""
        return self._per_replica("debug", service_type, account, reference,
                                 cid, service_id, **kwargs)

    def election_sync(self, service_type: str | None = None,
                      account: str | None = None,
                      reference: str | None = None, cid: str | None = None,
                      service_id: ServiceIds = None,
                      check_type: int | None = None,
                      **kwargs: Any) -> dict[str, dict]:
        """Have the slaves copy the whole base from the master (the master
        answers 301). `check_type`: -1 server default, 0 none, 1 quick,
        2 full check of the copy's source."""
        extra = {}
        if check_type is not None:
            if check_type not in (-1, 0, 1, 2):
                raise exc.BadRequest(
                    message=f"Invalid check_type {check_type!r} "
                            "(expected -1, 0, 1 or 2)")
            extra["check_type"] = check_type
        return self._per_replica("sync", service_type, account, reference,
                                 cid, service_id, extra, **kwargs)

    def election_leave(self, service_type: str | None = None,
                       account: str | None = None,
                       reference: str | None = None, cid: str | None = None,
                       service_id: ServiceIds = None,
                       **kwargs: Any) -> dict[str, dict]:
        """Have the replicas leave the election (a master leaving hands
        over to another replica); they join again on next use."""
        return self._per_replica("leave", service_type, account, reference,
                                 cid, service_id, **kwargs)

    def has_base(self, service_type: str | None = None,
                 account: str | None = None, reference: str | None = None,
                 cid: str | None = None, service_id: ServiceIds = None,
                 **kwargs: Any) -> dict[str, dict]:
        """Whether each replica holds the base's file (200, else 431)."""
        return self._per_replica("has", service_type, account, reference,
                                 cid, service_id, **kwargs)

    def vacuum_base(self, service_type: str | None = None,
                    account: str | None = None, reference: str | None = None,
                    cid: str | None = None, **kwargs: Any) -> None:
        """Defragment the base on its master, then on its slaves."""
        self._admin("vacuum", loc_params(service_type, account, reference,
                                         cid), **kwargs)

    # Services ----------------------------------------------------------------
    def service_get_info(self, svc_id: str, **kwargs: Any) -> dict:
        """What a meta service says of itself, its election counts
        included (`{"elections": {"master": N, "slave": N, "other": N},
        ...}`)."""
        if not svc_id:
            raise exc.BadRequest(message="Missing service ID")
        _, body = self._forward("GET", "info", {"id": svc_id}, **kwargs)
        return body if isinstance(body, dict) else {}

    def service_balance_elections(self, svc_id: str, max_ops: int = 100,
                                  inactivity: int = 0,
                                  **kwargs: Any) -> tuple[int, int]:
        """Have one service give up at most `max_ops` masterships (of
        bases idle for `inactivity` seconds at least): (HTTP status, number
        given up)."""
        if not svc_id:
            raise exc.BadRequest(message="Missing service ID")
        params = {"id": svc_id, "max": int(max_ops),
                  "inactivity": int(inactivity)}
        status, body = self._forward("POST", "balance-masters", params,
                                     **kwargs)
        return status, _count(body)

    def election_balance(self, service_ids: Iterable[str],
                         max_ops: int = 100, inactivity: int = 0,
                         average: bool = False,
                         **kwargs: Any) -> list[BalanceRow]:
        """`service_balance_elections` on each service, one row each. With
        `average`, only the services holding more masterships than the
        mean of `service_ids` give up the difference (the others: status
        0, count 0, not asked). A service that refuses or cannot be reached
        gets its error status and count 0; the others are still asked."""
        ids = list(service_ids)
        if average:
            targets = self._above_average(ids, **kwargs)
        else:
            targets = [(svc, int(max_ops), None) for svc in ids]
        rows: list[BalanceRow] = []
        for svc, count, failed in targets:
            if failed is not None:
                rows.append((svc, failed, 0))
            elif count <= 0:
                rows.append((svc, 0, 0))
            else:
                rows.append(self._balance_one(svc, count,
                                              0 if average else inactivity,
                                              **kwargs))
        return rows

    def _balance_one(self, svc: str, max_ops: int, inactivity: int,
                     **kwargs: Any) -> BalanceRow:
        try:
            status, count = self.service_balance_elections(
                svc, max_ops=max_ops, inactivity=inactivity, **kwargs)
        except exc.ClientException as err:
            return svc, int(err.http_status), 0
        return svc, status, count

    def _above_average(self, ids: list[str], **kwargs: Any
                       ) -> list[tuple[str, int, int | None]]:
        """(id, masterships to give up, error status or None) of each
        service: what it holds above the mean of those that answered."""
        masters: dict[str, int] = {}
        failed: dict[str, int] = {}
        for svc in ids:
            try:
                info = self.service_get_info(svc, **kwargs)
            except exc.ClientException as err:
                failed[svc] = int(err.http_status)
                continue
            masters[svc] = int((info.get("elections") or {}).get("master", 0))
        mean = sum(masters.values()) / len(masters) if masters else 0.0
        out: list[tuple[str, int, int | None]] = []
        for svc in ids:
            if svc in failed:
                out.append((svc, 0, failed[svc]))
            else:
                # Whole masterships only: less than one above the mean
                # cannot be evened out.
                out.append((svc, math.floor(masters[svc] - mean), None))
        return out


def _count(body: Any) -> int:
    """The number in a balance-masters answer (text, maybe empty)."""
    if body is None or body == b"":
        return 0
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        return int(str(body).strip() or 0)
    except ValueError:
        raise exc.OioException(
            f"Unexpected answer to balance-masters: {body!r}") from None
