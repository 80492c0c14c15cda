"""`admin/<action>` on a replicated base: the election actions of
spec replication.md §5, sent to each replica and answered per replica.

    {"<replica>": {"status": {"status": 200, "message": "OK"}, "body": ""},
     "<replica>": {"status": {"status": 303, "message": "<master>"}, ...}}

Redirections are not followed here. A replica that cannot be reached gets
its network status code; a replica answering 503/504/509/305 stops the
loop and the call answers 503 (Retry-After: 1).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from oio.common.exceptions import OioNetworkException
from oio.common.http_server import HttpError, Request, Response, json_response

from .errors import bad_request, network_error, oio_error

# Actions sent to every replica (or to those of `service_id`).
PER_REPLICA = ("ping", "status", "has", "sync", "leave", "debug", "info",
               "drop_cache", "remove")
# Actions answered by the master alone, or that name their replicas.
ELECTION_ACTIONS = PER_REPLICA + ("copy", "vacuum")
STOP_CODES = frozenset((503, 504, 509, 305))


def selected(peers: list[str], req: Request) -> list[str]:
    """The replicas named by `service_id` (comma-separated), else all."""
    raw = req.args.get("service_id")
    if not raw:
        return list(peers)
    return [p.strip() for p in raw.split(",") if p.strip()]


async def per_replica(proxy, kind: str, base: str, peers: list[str],
                      action: str, req: Request) -> Response:
    """Send `/v1/sqlx/admin/<action>` to each replica of `base`."""
    if action == "remove" and not req.args.get("service_id"):
        raise bad_request("No service ID")
    targets = selected(peers, req)
    if not targets:
        raise oio_error(431, "No service located")
    query = urlencode({"type": kind, "base": base})
    timeout = proxy.timeout(req)
    if action == "status":
        query += f"&timeout_ms={int(min(timeout, 20.0) * 1000)}"
    path = f"/v1/sqlx/admin/{action}?{query}"
    body = await req.body()

    async def one(peer: str) -> tuple[str, dict]:
        try:
            resp = await proxy.client.request(
                "POST", peer, path, headers=proxy.headers(req), body=body,
                timeout=timeout)
        except OioNetworkException as exc:
            err = network_error(exc)
            return peer, {"status": {"status": err.status,
                                     "message": err.message}, "body": ""}
        return peer, peer_entry(resp)

    results = dict(await asyncio.gather(*(one(p) for p in sorted(targets))))
    for entry in results.values():
        if entry["status"]["status"] in STOP_CODES:
            raise HttpError(503, entry["status"]["message"],
                            status=entry["status"]["status"],
                            headers={"Retry-After": "1"})
    return json_response(results)


def peer_entry(resp) -> dict:
    """One replica's part of the answer, from its reply."""
    try:
        data = json.loads(resp.body) if resp.body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if resp.status >= 300 and not isinstance(data.get("status"), int):
        data = {"status": resp.status,
                "message": resp.body.decode("utf-8", "replace")[:200]}
    status = data.get("status", resp.status)
    message = data.get("message") or ("OK" if status == 200 else "")
    return {"status": {"status": status if isinstance(status, int)
                       else resp.status, "message": str(message)},
            "body": data.get("body", "")}


async def master_of(proxy, kind: str, base: str, peers: list[str],
                    req: Request) -> str:
    """The replica that answers `status` with 200."""
    query = urlencode({"type": kind, "base": base, "timeout_ms": 20000})

    async def ask(peer: str):
        try:
            resp = await proxy.client.request(
                "POST", peer, f"/v1/sqlx/admin/status?{query}",
                headers=proxy.headers(req), timeout=proxy.timeout(req))
        except OioNetworkException:
            return None
        entry = peer_entry(resp)["status"]
        if entry["status"] == 200:
            return peer
        if entry["status"] == 303:
            return entry["message"]
        return None

    for found in await asyncio.gather(*(ask(p) for p in peers)):
        if found:
            return found
    raise oio_error(503, f"No master for [{base}][{kind}]")


async def copy(proxy, kind: str, base: str, peers: list[str],
               req: Request) -> Response:
    """Body `{"to": id[, "from": id]}`: `to` copies the base from `from`,
    by default from the master."""
    body = await req.json()
    if not isinstance(body, dict) or not isinstance(body.get("to"), str) \
            or not body["to"]:
        raise bad_request("Expected {\"to\": <service id>[, \"from\": ...]}")
    source = body.get("from")
    if source is not None and (not isinstance(source, str) or not source):
        raise bad_request("Invalid 'from'")
    if source is None:
        source = await master_of(proxy, kind, base, peers, req)
    query = urlencode({"type": kind, "base": base})
    try:
        resp = await proxy.client.request(
            "POST", body["to"], f"/v1/sqlx/admin/copy?{query}",
            headers=proxy.headers(req), json={"from": source},
            timeout=max(proxy.timeout(req), 60.0))
    except OioNetworkException as exc:
        raise bad_request(f"Cannot reach {body['to']}: {exc}") from None
    entry = peer_entry(resp)["status"]
    if entry["status"] != 200:
        raise oio_error(entry["status"], entry["message"])
    return Response(204 if "from" in body else 200,
                    b"" if "from" in body else b"{}")


async def vacuum(proxy, kind: str, base: str, peers: list[str],
                 req: Request) -> Response:
    """VACUUM on the master, which has its replicas do the same."""
    query = urlencode({"type": kind, "base": base})
    resp = await proxy.replicas.call(
        (base, kind), peers, "POST", f"/v1/sqlx/admin/vacuum?{query}",
        headers=proxy.headers(req), timeout=proxy.timeout(req), what=kind)
    entry = peer_entry(resp)["status"]
    if entry["status"] != 200:
        raise oio_error(entry["status"], entry["message"])
    return json_response({})


async def run(proxy, kind: str, base: str, peers: list[str], action: str,
              req: Request) -> Response:
    if action == "copy":
        return await copy(proxy, kind, base, peers, req)
    if action == "vacuum":
        return await vacuum(proxy, kind, base, peers, req)
    return await per_replica(proxy, kind, base, peers, action, req)
