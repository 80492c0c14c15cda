"""`oio-meta0 <conf>`: the `/v1/meta0/*` routes of docs/internal-protocol.md
over `Meta0`. Reads come from memory; writes (fsync'd) run in a worker
thread."""

from __future__ import annotations

import sys

from oio.common.constants import CODE_NOT_FOUND
from oio.common.http_server import (
    Request,
    Response,
    Router,
    json_response,
    run_blocking,
)
from oio.common.live_config import LiveConfig
from oio.common.utils import parse_bool
from oio.sqlx.replicator import Replicator
from oio.sqlx.routes import add_routes as add_replication_routes

from .errors import DirectoryError, bad_request
from .meta0 import Meta0
from .meta0_peers import Meta0Peers
from .replication import Meta0Store
from .service import (
    DirectoryConfig,
    Service,
    add_status_routes,
    guarded,
    json_body,
    serve,
)

# 65,536 prefixes × a few addresses: a few MiB at most.
MAX_BODY = 16 << 20


def not_found(message: str) -> DirectoryError:
    return DirectoryError(CODE_NOT_FOUND, message, http_status=404)


def build_app(meta0: Meta0, namespace: str,
              replicator: Replicator | None = None) -> Router:
    router = Router()

    def route(method: str, path: str):
        def decorator(func):
            handler = func
            if replicator is not None:
                # The master serves the map: a slave may lag by a change
                # (or not have it yet, just after `init`).
                async def handler(req: Request) -> Response:
                    await replicator.gate(namespace)
                    return await func(req)
            router.add(method, path, guarded(handler))
            return func
        return decorator

    @route("GET", "/v1/meta0/list")
    async def list_prefixes(req: Request) -> Response:
        if not meta0.initialized:
            raise not_found("meta0 not initialized")
        return Response(200, meta0.encoded_list(),
                        headers={"Content-Type": "application/json"})

    @route("GET", "/v1/meta0/get")
    async def get_prefix(req: Request) -> Response:
        addrs = meta0.get(req.args.get("prefix"))
        if addrs is None:
            raise not_found("Prefix not assigned")
        return json_response(addrs)

    @route("POST", "/v1/meta0/init")
    async def init(req: Request) -> Response:
        try:
            replicas = int(req.args.get("replicas", "1"))
        except ValueError:
            raise bad_request("Invalid replicas: expected an integer") from None
        force = bool(parse_bool(req.args.get("force", "false")))
        addrs = json_body(await req.body(limit=MAX_BODY))
        await run_blocking(meta0.init, addrs, replicas, force)
        return Response(204)

    @route("POST", "/v1/meta0/force")
    async def force(req: Request) -> Response:
        mapping = json_body(await req.body(limit=MAX_BODY))
        await run_blocking(meta0.force, mapping)
        return Response(204)

    add_status_routes(router, "meta0", namespace)
    LiveConfig().register(router)
    return router


def build(config: DirectoryConfig) -> Service:
    meta0 = Meta0(config.datadir, config.meta1_digits)

    def join(replicas: list[str]) -> None:
        # The one base of meta0 is always in use: join its election at
        # once, so that a replica back from a crash catches up at once.
        if len(replicas) > 1 and config.service_id in replicas:
            replicator.election(config.namespace, replicas).use()
    peers = Meta0Peers(config.namespace, config.service_id, join)
    replicator = config.replication.replicator(
        "meta0", config.namespace, config.service_id,
        Meta0Store(meta0, config.namespace, peers.get), config.datadir)
    meta0.replicator, meta0.name, meta0.peers = (
        replicator, config.namespace, peers.get)
    router = build_app(meta0, config.namespace, replicator)
    add_replication_routes(router, replicator)

    async def start() -> None:
        await replicator.start()
        if replicator.zk is not None:
            peers.start(replicator.zk)

    async def stop() -> None:
        await replicator.stop()
        meta0.close()
    return Service(router, start, stop)


def main(argv: list[str] | None = None) -> int:
    return serve("meta0", build, argv)


if __name__ == "__main__":
    sys.exit(main())
