"""Directory operations the proxy composes: create references, choose and
link services (meta2...) with the local load balancer."""

from __future__ import annotations

from .errors import oio_error
from .forward import UpstreamError
from .prepare import lb_error_class


def choose_candidates(view, kind: str, count: int | None = None,
                      avoid: list[str] | None = None) -> list[dict]:
    """Directory entries (`seq` 1) for `count` distinct services of `kind`,
    chosen by the local load balancer (count: the namespace's service
    update policy by default)."""
    count = view.replicas(kind) if count is None else count
    chosen: list[dict] = []
    ids: list[str] = list(avoid or ())
    while len(chosen) < count:
        # One poll of the pool gives all its targets at once, placed by its
        # distance rules (replicas on distinct hosts); a pool smaller than
        # `count` is polled again for the rest.
        try:
            selections = view.lb.poll(kind, avoid=ids)
        except lb_error_class() as exc:
            if chosen:
                break  # fewer replicas than wished: keep what we have
            raise oio_error(exc.status, exc.message) from None
        fresh = [s for s in selections if s.service["id"] not in ids]
        if not fresh:
            break
        for selection in fresh[:count - len(chosen)]:
            service = selection.service
            ids.append(service["id"])
            chosen.append({"seq": 1, "type": kind, "host": service["addr"],
                           "args": ""})
    if not chosen:
        raise oio_error(481, f"No service of type {kind} available")
    return chosen


async def ensure_reference(proxy, account: str, reference: str, cid: str,
                           headers: dict, timeout: float,
                           properties: dict | None = None,
                           announce: bool = True) -> int:
    """Create the reference in meta1 if needed: 201 created, 202 existed.
    Without `announce`, meta1 sends no `account.services` event for it:
    the caller links a service next, which sends the one event (7.2
    creates and links in one meta1 request)."""
    body = {"properties": properties} if properties else None
    args = {"acct": account, "ref": reference}
    if not announce:
        args["announce"] = "0"
    resp = await proxy.resolver.meta1(
        "POST", cid, "create", args,
        headers=headers, json_body=body, timeout=timeout)
    if resp.status not in (201, 202, 204):
        raise UpstreamError(resp)
    proxy.resolver.services_cache.pop((cid, ""))
    return resp.status


async def link_services(proxy, cid: str, kind: str, headers: dict,
                        timeout: float) -> list[dict]:
    """Services of `kind` linked to the reference, linking new ones chosen
    by the load balancer when there are none."""
    srv = await proxy.resolver.linked(cid, kind, headers)
    if srv:
        return srv
    candidates = choose_candidates(proxy.require_view(), kind)
    resp = await proxy.resolver.meta1(
        "POST", cid, "link", {"type": kind}, headers=headers,
        json_body=candidates, timeout=timeout)
    if resp.status >= 300:
        raise UpstreamError(resp)
    srv = [s for s in resp.json() or [] if s.get("type") == kind]
    proxy.resolver.remember(cid, kind, srv)
    return srv
