"""HTTP routes of the rdir service (rdir.md §3, §4).

Errors are JSON `{"status": …, "message": …}`; SQLite work runs in the
blocking pool, never on the event loop.
"""

from __future__ import annotations

import logging
import sqlite3

from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
    run_blocking,
)
from oio.common.utils import parse_bool

from .backend import RdirBackend, RdirError

logger = logging.getLogger(__name__)

TRUNCATED_HEADER = "x-oio-list-truncated"
MARKER_HEADER = "x-oio-list-marker"
MAX_BODY = 1024 * 1024


def _flag(req: Request, name: str, default: bool = False) -> bool:
    value = req.args.get(name)
    if value is None:
        return default
    return bool(parse_bool(value, False))


def _query_int(req: Request, name: str) -> int | None:
    value = req.args.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise HttpError(400, f"Invalid integer for '{name}': {value!r}") from None


def _listing_headers(truncated: bool, marker: str | None) -> dict:
    headers = {TRUNCATED_HEADER: "true" if truncated else "false"}
    if truncated and marker is not None:
        headers[MARKER_HEADER] = marker
    return headers


def _error(exc: Exception) -> HttpError:
    if isinstance(exc, RdirError):
        return HttpError(exc.http_status, exc.message, status=exc.status)
    if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)):
        return HttpError(503, f"Backend busy: {exc}",
                         headers={"Retry-After": "1"})
    logger.exception("rdir backend error")
    return HttpError(500, f"Backend error: {exc}")


class RdirApp:
    """The rdir request handler: exact paths, then a Router by method."""

    def __init__(self, backend: RdirBackend, config: dict | None = None):
        self.backend = backend
        self.config = dict(config or {})
        self.router = Router(not_found=self._not_found)
        self.paths: set[str] = set()
        self._routes()

    async def __call__(self, req: Request) -> Response:
        try:
            if req.path not in self.paths:
                raise HttpError(404, "Route not managed", status=400)
            return await self.router(req)
        except HttpError as exc:
            return exc.to_response()

    async def _not_found(self, req: Request) -> Response:
        raise HttpError(405, "Bad method", status=400)

    def _add(self, methods: str, path: str, func) -> None:
        self.paths.add(path)
        for method in methods.split(","):
            self.router.add(method, path, func)

    async def _call(self, func, *args):
        try:
            return await run_blocking(func, *args)
        except HttpError:
            raise
        except Exception as exc:  # mapped to a JSON error reply
            raise _error(exc) from None

    @staticmethod
    def _vol(req: Request) -> str:
        volume = req.args.get("vol")
        if not volume:
            raise HttpError(400, "Missing volume id ('vol' parameter)")
        return volume

    def _routes(self) -> None:
        b = self.backend
        add = self._add

        async def status(req):
            return json_response(b.status())

        async def config(req):
            return json_response(self.config)

        async def create(req):
            await req.json(MAX_BODY)
            await self._call(b.create, self._vol(req))
            return Response(201)

        async def push(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            # A list of records (our event agent's batches) is one
            # transaction; an object is 7.2's single record.
            push_one = b.chunk_push_many if isinstance(data, list) \
                else b.chunk_push
            await self._call(push_one, vol, data, _flag(req, "create"))
            return Response(204)

        async def delete(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            await self._call(b.chunk_delete, vol, data)
            return Response(204)

        async def fetch(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            if data is not None and not isinstance(data, dict):
                raise HttpError(400, "Expected a JSON object")
            data = data or {}
            marker = req.args.get("marker", data.get("start_after"))
            prefix = req.args.get("prefix", data.get("container_id"))
            for name, value in (("start_after", marker), ("container_id", prefix)):
                if value is not None and not isinstance(value, str):
                    raise HttpError(400, f"'{name}' must be a string")
            limit = _query_int(req, "max")
            if limit is None:
                limit = data.get("limit")
            if "rebuild" in req.args:
                rebuild = _flag(req, "rebuild")
            else:
                rebuild = data.get("rebuild", False)
                if not isinstance(rebuild, bool):
                    raise HttpError(400, "'rebuild' must be a boolean")
            records, truncated, next_marker = await self._call(
                b.chunk_fetch, vol, marker, limit, prefix, rebuild)
            return json_response(records,
                                 headers=_listing_headers(truncated, next_marker))

        async def vol_status(req):
            vol = self._vol(req)
            await req.json(MAX_BODY)
            stats, truncated, next_marker = await self._call(
                b.chunk_status, vol, req.args.get("marker"),
                _query_int(req, "max"), req.args.get("prefix"))
            return json_response(stats,
                                 headers=_listing_headers(truncated, next_marker))

        async def admin_show(req):
            return json_response(await self._call(b.admin_show, self._vol(req)))

        async def admin_lock(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            await self._call(b.admin_lock, vol, data)
            return Response(204)

        async def admin_unlock(req):
            vol = self._vol(req)
            await req.json(MAX_BODY)
            await self._call(b.admin_unlock, vol)
            return Response(204)

        async def admin_incident(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            if req.method == "GET":
                date = await self._call(b.admin_incident_get, vol)
                return json_response({"date": date})
            await self._call(b.admin_incident_set, vol, data)
            return Response(204)

        async def admin_clear(req):
            vol = self._vol(req)
            await req.json(MAX_BODY)
            result = await self._call(
                b.admin_clear, vol, _flag(req, "all"),
                _flag(req, "before_incident"), _flag(req, "repair"))
            return json_response(result)

        async def meta2_create(req):
            await req.json(MAX_BODY)
            await self._call(b.meta2_create, self._vol(req))
            return Response(201)

        async def meta2_push(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            await self._call(b.meta2_push, vol, data, _flag(req, "create", True))
            return Response(204)

        async def meta2_delete(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            await self._call(b.meta2_delete, vol, data)
            return Response(204)

        async def meta2_fetch(req):
            vol, data = self._vol(req), await req.json(MAX_BODY)
            return json_response(await self._call(b.meta2_fetch, vol, data))

        add("GET", "/status", status)
        add("GET", "/config", config)
        add("GET", "/v1/status", admin_show)
        add("POST", "/v1/rdir/create", create)
        add("POST", "/v1/rdir/push", push)
        add("DELETE", "/v1/rdir/delete", delete)
        add("POST", "/v1/rdir/fetch", fetch)
        add("GET,POST", "/v1/rdir/status", vol_status)
        add("GET", "/v1/rdir/admin/show", admin_show)
        add("POST", "/v1/rdir/admin/lock", admin_lock)
        add("POST", "/v1/rdir/admin/unlock", admin_unlock)
        add("GET,POST", "/v1/rdir/admin/incident", admin_incident)
        add("POST", "/v1/rdir/admin/clear", admin_clear)
        add("POST", "/v1/rdir/meta2/create", meta2_create)
        add("POST", "/v1/rdir/meta2/push", meta2_push)
        add("POST", "/v1/rdir/meta2/delete", meta2_delete)
        add("POST", "/v1/rdir/meta2/fetch", meta2_fetch)


def build_app(backend: RdirBackend, config: dict | None = None) -> RdirApp:
    return RdirApp(backend, config)
