"""`oio-meta1 <conf>`: routes of docs/internal-protocol.md over Meta1."""

from __future__ import annotations

import sys

from oio.common.http_server import Request, Response, Router, json_response
from oio.common.utils import parse_bool

from .errors import bad_request, check_cid, check_prefix
from .meta1 import Meta1
from .service import DirectoryConfig, add_status_routes, guarded, serve


def build_app(meta1: Meta1, namespace: str) -> Router:
    router = Router()

    def route(method: str, action: str):
        def decorator(func):
            router.add(method, f"/v1/reference/{action}", guarded(func))
            return func
        return decorator

    def cid_of(req: Request) -> str:
        return check_cid(req.args.get("cid"))

    def flag(req: Request, name: str) -> bool:
        return bool(parse_bool(req.args.get(name, "false")))

    def kind_of(req: Request) -> str:
        kind = req.args.get("type")
        if not kind:
            raise bad_request("Missing service type")
        return kind

    @route("POST", "create")
    async def create(req: Request) -> Response:
        body = await req.json() or {}
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object")
        created = meta1.create(cid_of(req), req.args.get("acct"),
                               req.args.get("ref"), body.get("properties"))
        return Response(201 if created else 202)

    @route("GET", "show")
    async def show(req: Request) -> Response:
        return json_response(meta1.show(cid_of(req), req.args.get("type")))

    @route("POST", "destroy")
    async def destroy(req: Request) -> Response:
        meta1.destroy(cid_of(req), force=flag(req, "force"))
        return Response(204)

    @route("POST", "link")
    async def link(req: Request) -> Response:
        return json_response(meta1.link(cid_of(req), kind_of(req),
                                        await req.json()))

    @route("POST", "force")
    async def force(req: Request) -> Response:
        meta1.force(cid_of(req), kind_of(req), await req.json(),
                    replace=flag(req, "replace"))
        return Response(204)

    @route("POST", "unlink")
    async def unlink(req: Request) -> Response:
        meta1.unlink(cid_of(req), kind_of(req))
        return Response(204)

    @route("POST", "get_properties")
    async def get_properties(req: Request) -> Response:
        props = meta1.get_properties(cid_of(req), await req.json())
        return json_response({"properties": props})

    @route("POST", "set_properties")
    async def set_properties(req: Request) -> Response:
        body = await req.json()
        if not isinstance(body, dict):
            raise bad_request("Expected {\"properties\": {...}}")
        meta1.set_properties(cid_of(req), body.get("properties") or {},
                             flush=flag(req, "flush"))
        return Response(204)

    @route("POST", "del_properties")
    async def del_properties(req: Request) -> Response:
        meta1.del_properties(cid_of(req), await req.json())
        return Response(204)

    @route("GET", "list")
    async def list_refs(req: Request) -> Response:
        prefix = req.args.get("prefix", "")
        if prefix:
            prefix = check_prefix(prefix)
        return json_response(meta1.list(prefix))

    add_status_routes(router, "meta1", namespace)
    return router


def build(config: DirectoryConfig) -> Router:
    return build_app(Meta1(config.datadir, config.meta1_digits), config.namespace)


def main(argv: list[str] | None = None) -> int:
    return serve("meta1", build, argv)


if __name__ == "__main__":
    sys.exit(main())
