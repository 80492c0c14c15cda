"""HTTP routes of the account service (account.md §2, §4). Errors are plain
text with the status, as the 7.2 service answers them."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from oio.common.http_server import Request, Response, Router, run_blocking
from oio.common.utils import parse_bool

from .backend import AccountBackend
from .common import AccountError

if TYPE_CHECKING:
    from .backend_redis import RedisAccountBackend

JSON = {"Content-Type": "text/json"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def _json(obj, status: int = 200) -> Response:
    return Response(status, json.dumps(obj), headers=JSON)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise AccountError(400, f"Invalid integer {value!r}") from None


def build_app(backend: AccountBackend | RedisAccountBackend) -> Router:
    router = Router()
    # A networked backend waits on its server: in worker threads, so that a
    # slow or lost Redis never stalls the loop. SQLite stays inline, as its
    # backend shares one connection.
    offload = bool(getattr(backend, "network_io", False))

    async def call(func, *args: Any, **kwargs: Any) -> Any:
        if offload:
            return await run_blocking(functools.partial(func, *args, **kwargs))
        return func(*args, **kwargs)

    def route(methods: str, path: str):
        def decorator(func):
            async def handler(req: Request) -> Response:
                try:
                    return await func(req)
                except AccountError as exc:
                    return Response(exc.http_status, exc.message, headers=TEXT)
            for method in methods.split(","):
                router.add(method, path, handler)
            return func
        return decorator

    def item_id(req: Request, what: str = "account") -> str:
        item = req.args.get("id")
        if not item:
            raise AccountError(400, f"Missing {what} ID")
        return item

    def account_id(req: Request) -> str:
        return item_id(req)

    async def body(req: Request) -> dict:
        # 7.2 takes properties of 1 MiB and more: only the HTTP core's cap.
        raw = await req.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise AccountError(400, "Invalid JSON body") from None
        if not isinstance(data, dict):
            raise AccountError(400, "Expected a JSON object")
        return data

    @route("GET,HEAD,POST,PUT", "/status")
    async def status(req: Request) -> Response:
        return _json({"account_count": await call(backend.count)})

    @route("PUT", "/v1.0/account/create")
    async def create(req: Request) -> Response:
        account = account_id(req)
        if await call(backend.create_account, account):
            return Response(201, account, headers=TEXT)
        return Response(202, headers=TEXT)

    @route("POST", "/v1.0/account/delete")
    async def delete(req: Request) -> Response:
        await call(backend.delete_account, account_id(req))
        return Response(204)

    @route("GET", "/v1.0/account/list")
    async def list_accounts(req: Request) -> Response:
        return _json(await call(backend.list_accounts))

    @route("PUT,POST", "/v1.0/account/update")
    async def update(req: Request) -> Response:
        account = account_id(req)
        data = await body(req)
        await call(backend.update_metadata, account, data.get("metadata"),
                   data.get("to_delete"))
        return Response(204)

    @route("GET", "/v1.0/account/show")
    async def show(req: Request) -> Response:
        return _json(await call(backend.show, account_id(req)))

    @route("GET", "/v1.0/account/containers")
    async def containers(req: Request) -> Response:
        account = account_id(req)

        def listing() -> dict:
            info = backend.show(account)
            info["listing"] = backend.list_containers(
                account, limit=_int(req.args.get("limit"), 1000),
                marker=req.args.get("marker", ""),
                end_marker=req.args.get("end_marker", ""),
                prefix=req.args.get("prefix", ""),
                delimiter=req.args.get("delimiter", "")[:1])
            return info
        info = await call(listing)
        if parse_bool(req.args.get("s3_buckets_only", "false")):
            from .s3 import is_s3_bucket_name
            info["listing"] = [e for e in info["listing"]
                               if is_s3_bucket_name(e[0])]
        return _json(info)

    @route("POST", "/v1.0/account/refresh")
    async def refresh(req: Request) -> Response:
        await call(backend.refresh, account_id(req))
        return Response(204)

    @route("POST", "/v1.0/account/flush")
    async def flush(req: Request) -> Response:
        await call(backend.flush, account_id(req))
        return Response(204)

    @route("PUT,POST", "/v1.0/account/container/update")
    async def container_update(req: Request) -> Response:
        account = req.args.get("id")
        data = await body(req)
        name = data.get("name")
        if not account or not isinstance(name, str) or not name:
            raise AccountError(400, "Missing account or container")
        await call(backend.update_container, account, name, data)
        return Response(200, json.dumps(name), headers=TEXT)

    @route("PUT,POST", "/v1.0/account/container/reset")
    async def container_reset(req: Request) -> Response:
        account = account_id(req)
        data = await body(req)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise AccountError(400, "Missing container ID")
        await call(backend.reset_container, account, name,
                   data.get("mtime"))
        return Response(204)

    async def container_show(req: Request) -> Response:
        account = account_id(req)
        name = req.args.get("container")
        if not name:
            raise AccountError(400, "Missing container ID")
        return _json(await call(backend.show_container, account, name))

    route("GET", "/v1.0/account/container/show")(container_show)
    route("GET", "/v1.0/account/show-container")(container_show)
    _bucket_routes(route, call, backend, item_id, body)
    return router


def _bucket_routes(route, call, backend, item_id, body) -> None:
    """Buckets (account.md §4.8, §4.14-4.16): each route under its 7.2
    path and its older `/v1.0/account/...-bucket` alias."""
    @route("GET", "/v1.0/account/buckets")
    async def buckets(req: Request) -> Response:
        account = item_id(req)

        def listing() -> dict:
            info = backend.show(account)
            info["listing"], next_marker = backend.list_buckets(
                account, limit=_int(req.args.get("limit"), 1000),
                marker=req.args.get("marker", ""),
                end_marker=req.args.get("end_marker", ""),
                prefix=req.args.get("prefix", ""))
            info["truncated"] = next_marker is not None
            if next_marker is not None:
                info["next_marker"] = next_marker
            return info
        return _json(await call(listing))

    async def show(req: Request) -> Response:
        return _json(await call(backend.show_bucket, item_id(req, "bucket")))

    async def update(req: Request) -> Response:
        bucket = item_id(req, "bucket")
        data = await body(req)
        return _json(await call(backend.update_bucket, bucket,
                                data.get("metadata"), data.get("to_delete")))

    async def refresh(req: Request) -> Response:
        await call(backend.refresh_bucket, item_id(req, "bucket"))
        return Response(204)

    for method, action, handler in (("GET", "show", show),
                                    ("PUT", "update", update),
                                    ("POST", "refresh", refresh)):
        route(method, f"/v1.0/bucket/{action}")(handler)
        route(method, f"/v1.0/account/{action}-bucket")(handler)
