"""`oio-meta1 <conf>`: the `/v1/reference/*` routes of
docs/internal-protocol.md over `Meta1`.

Handlers validate the query and JSON bodies, then run the blocking SQLite
work (fsync'd commits) in a worker thread, never on the event loop.
"""

from __future__ import annotations

import os
import sys

from oio.common.http_server import (
    Request,
    Response,
    Router,
    json_response,
    run_blocking,
)
from oio.common.live_config import LiveConfig
from oio.common.utils import is_hexa, parse_bool
from oio.sqlx.errors import PREFIX_NOT_MANAGED
from oio.sqlx.replicator import Replicator
from oio.sqlx.routes import add_routes as add_replication_routes
from oio.sqlx.routes import peers_hint

from .errors import bad_request, check_cid, check_prefix
from .meta0_map import Meta0Map
from .meta1 import Meta1, check_type
from .replication import Meta1Store
from .service import (
    DirectoryConfig,
    Service,
    add_status_routes,
    guarded,
    json_body,
    serve,
)

# 7.2 stores reference properties of 1 MiB (keys as well as values).
MAX_BODY = 16 << 20


def _flag(req: Request, name: str) -> bool:
    return bool(parse_bool(req.args.get(name, "false")))


def _kind(req: Request) -> str:
    kind = req.args.get("type")
    if not kind:
        raise bad_request("No service type provided")
    return check_type(kind)


async def _json(req: Request):
    """The JSON body (None when empty); 400 when malformed, 413 beyond
    MAX_BODY bytes."""
    return json_body(await req.body(limit=MAX_BODY))


def build_app(meta1: Meta1, namespace: str,
              replicator: Replicator | None = None,
              meta0_map: Meta0Map | None = None) -> Router:
    router = Router()

    def on_master(func):
        """Run on the master of the reference's base (meta2's rule)."""
        if replicator is None:
            return func

        async def gated(req: Request) -> Response:
            key = req.args.get("cid") or req.args.get("prefix") or ""
            if is_hexa(key, 64) or is_hexa(key, 4):
                bases = meta1.bases
                name = bases.name_of(bases.group_of(key))
                hint = peers_hint(req)
                if meta0_map is not None:
                    meta0_map.disagrees(name, hint)
                await replicator.gate(name, hint)
            return await func(req)
        return gated

    def route(method: str, action: str):
        def decorator(func):
            router.add(method, f"/v1/reference/{action}",
                       guarded(on_master(func)))
            return func
        return decorator

    def cid_of(req: Request) -> str:
        return check_cid(req.args.get("cid"))

    @route("POST", "create")
    async def create(req: Request) -> Response:
        cid = cid_of(req)
        body = await _json(req)
        if body is not None and not isinstance(body, dict):
            raise bad_request("Expected {\"properties\": {...}} or no body")
        created = await run_blocking(
            meta1.create, cid, req.args.get("acct"), req.args.get("ref"),
            (body or {}).get("properties"),
            parse_bool(req.args.get("announce", "true")) is not False)
        return Response(201 if created else 202)

    @route("GET", "show")
    async def show(req: Request) -> Response:
        cid = cid_of(req)
        kind = _kind(req) if "type" in req.args else None
        return json_response(await run_blocking(meta1.show, cid, kind))

    @route("POST", "destroy")
    async def destroy(req: Request) -> Response:
        await run_blocking(meta1.destroy, cid_of(req), _flag(req, "force"))
        return Response(204)

    @route("POST", "link")
    async def link(req: Request) -> Response:
        cid, kind = cid_of(req), _kind(req)
        linked = await run_blocking(meta1.link, cid, kind, await _json(req))
        return json_response(linked)

    @route("POST", "force")
    async def force(req: Request) -> Response:
        cid, kind = cid_of(req), _kind(req)
        body = await _json(req)
        if not isinstance(body, dict):
            raise bad_request("Expected a service entry "
                              "{\"seq\", \"type\", \"host\", \"args\"}")
        await run_blocking(meta1.force, cid, kind, body, _flag(req, "replace"))
        return Response(204)

    @route("POST", "unlink")
    async def unlink(req: Request) -> Response:
        await run_blocking(meta1.unlink, cid_of(req), _kind(req))
        return Response(204)

    @route("POST", "get_properties")
    async def get_properties(req: Request) -> Response:
        cid = cid_of(req)
        props = await run_blocking(meta1.get_properties, cid, await _json(req))
        return json_response({"properties": props})

    @route("POST", "set_properties")
    async def set_properties(req: Request) -> Response:
        cid = cid_of(req)
        body = await _json(req)
        if not isinstance(body, dict) or not isinstance(
                body.get("properties"), dict):
            raise bad_request("Expected {\"properties\": {...}}")
        await run_blocking(meta1.set_properties, cid, body["properties"],
                           _flag(req, "flush"))
        return Response(204)

    @route("POST", "del_properties")
    async def del_properties(req: Request) -> Response:
        cid = cid_of(req)
        await run_blocking(meta1.del_properties, cid, await _json(req))
        return Response(204)

    @route("GET", "list")
    async def list_refs(req: Request) -> Response:
        prefix = check_prefix(req.args.get("prefix"))
        try:
            limit = int(req.args.get("limit", "1000"))
        except ValueError:
            raise bad_request("Invalid limit") from None
        if not 0 < limit <= 10000:
            raise bad_request("Invalid limit: 1 to 10000")
        marker = req.args.get("marker", "")
        if marker:
            marker = check_cid(marker)
        return json_response(await run_blocking(meta1.list, prefix, limit,
                                                marker))

    add_status_routes(router, "meta1", namespace)
    LiveConfig().register(router)
    return router


def build(config: DirectoryConfig) -> Service:
    events = None
    if config.event_agent:
        # Durable outbox, as meta2's: a link is never lost for the account
        # and the rdir while beanstalkd is away.
        from oio.event.spool import EventSpool

        events = EventSpool(os.path.join(config.datadir, "events.spool"),
                            list(config.event_agent))
    meta1 = Meta1(config.datadir, config.meta1_digits,
                  namespace=config.namespace, events=events)
    replicator = config.replication.replicator(
        "meta1", config.namespace, config.service_id,
        Meta1Store(meta1.bases), config.datadir)
    meta0_map = Meta0Map(config.namespace, meta1.digits, list(config.meta0),
                         [a.strip() for a in config.conscience.split(",")
                          if a.strip()],
                         on_change=replicator.peers_changed)
    replicator.not_managed_status = PREFIX_NOT_MANAGED
    meta1.bases.replicator = replicator
    meta1.bases.peers_of = meta0_map.peers_of
    replicator.on_other_peers = meta0_map.disagrees
    router = build_app(meta1, config.namespace, replicator, meta0_map)
    add_replication_routes(router, replicator)

    async def start() -> None:
        await replicator.start()
        await meta0_map.start()

    async def stop() -> None:
        await meta0_map.stop()
        await replicator.stop()
        meta1.close()
    return Service(router, start, stop)


def main(argv: list[str] | None = None) -> int:
    return serve("meta1", build, argv)


if __name__ == "__main__":
    sys.exit(main())
