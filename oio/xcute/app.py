"""HTTP routes of the xcute service (spec healing.md §4.5). Errors are
plain text: 400 for a bad request, 404/403 from the backend, 500 for the
rest (a bad job configuration included, as 7.2 answers)."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from oio.common.exceptions import ClientException
from oio.common.http_server import Request, Response, Router, run_blocking
from oio.common.utils import parse_bool

from .common.backend import DEFAULT_LIMIT, XcuteBackend
from .jobs import JOB_TYPES

LOG = logging.getLogger("oio.xcute.server")
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class BadRequest(Exception):
    pass


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj), headers=JSON)


def _text(status: int, message: str) -> Response:
    return Response(status, message, headers=TEXT)


def build_app(backend: XcuteBackend) -> Router:
    router = Router()

    async def call(func, *args: Any, **kwargs: Any) -> Any:
        # Redis answers over the network: never on the loop.
        return await run_blocking(functools.partial(func, *args, **kwargs))

    def route(method: str, path: str):
        def decorator(func):
            async def handler(req: Request) -> Response:
                try:
                    return await func(req)
                except BadRequest as exc:
                    return _text(400, str(exc))
                except ClientException as exc:
                    status = exc.http_status if exc.http_status in (
                        403, 404) else 500
                    return _text(status, exc.message)
                except Exception as exc:  # noqa: BLE001 - 500 with the text
                    LOG.warning("%s %s: %s: %s", req.method, path,
                                type(exc).__name__, exc)
                    return _text(500, str(exc) or type(exc).__name__)
            router.add(method, path, handler)
            return func
        return decorator

    def arg(req: Request, name: str, missing: str) -> str:
        value = req.args.get(name)
        if not value:
            raise BadRequest(missing)
        return value

    def job_class(job_type: str | None):
        if not job_type:
            raise BadRequest("Missing job type")
        cls = JOB_TYPES.get(job_type)
        if cls is None:
            raise BadRequest("Unknown job type")
        return cls

    async def body(req: Request) -> Any:
        raw = await req.body(limit=1024 * 1024)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise BadRequest("Invalid JSON body") from None

    @route("GET", "/status")
    async def status(req: Request) -> Response:
        return _json(await call(backend.status))

    @route("GET", "/v1.0/xcute/job/list")
    async def job_list(req: Request) -> Response:
        try:
            limit = int(req.args.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            raise BadRequest("Invalid limit") from None
        return _json(await call(
            backend.list_jobs, limit=limit, prefix=req.args.get("prefix"),
            marker=req.args.get("marker"), job_status=req.args.get("status"),
            job_type=req.args.get("type"), job_lock=req.args.get("lock")))

    @route("POST", "/v1.0/xcute/job/create")
    async def job_create(req: Request) -> Response:
        cls = job_class(req.args.get("type"))
        config, lock = cls.sanitize_config(await body(req))
        on_hold = bool(parse_bool(req.args.get("put_on_hold_if_locked"),
                                  False))
        job_id = await call(backend.create, cls.JOB_TYPE, config, lock,
                            on_hold)
        return _json(await call(backend.get_job_info, job_id), 202)

    @route("GET", "/v1.0/xcute/job/show")
    async def job_show(req: Request) -> Response:
        job_id = arg(req, "id", "Missing job ID")
        return _json(await call(backend.get_job_info, job_id))

    @route("POST", "/v1.0/xcute/job/pause")
    async def job_pause(req: Request) -> Response:
        job_id = arg(req, "id", "Missing job ID")
        await call(backend.request_pause, job_id)
        return _json(await call(backend.get_job_info, job_id), 202)

    @route("POST", "/v1.0/xcute/job/resume")
    async def job_resume(req: Request) -> Response:
        job_id = arg(req, "id", "Missing job ID")
        await call(backend.resume, job_id)
        return _json(await call(backend.get_job_info, job_id), 202)

    @route("POST", "/v1.0/xcute/job/update")
    async def job_update(req: Request) -> Response:
        job_id = arg(req, "id", "Missing job ID")
        info = await call(backend.get_job_info, job_id)
        cls = job_class(info["job"]["type"])
        merged = cls.merge_config(info["config"], await body(req))
        config, lock = cls.sanitize_config(merged)
        if lock != info["job"]["lock"]:
            raise ValueError("New configuration can not change the lock")
        await call(backend.update_config, job_id, config, lock)
        return _json(config, 202)

    @route("DELETE", "/v1.0/xcute/job/delete")
    async def job_delete(req: Request) -> Response:
        await call(backend.delete, arg(req, "id", "Missing job ID"))
        return Response(204)

    @route("GET", "/v1.0/xcute/lock/list")
    async def lock_list(req: Request) -> Response:
        return _json(await call(backend.list_locks))

    @route("GET", "/v1.0/xcute/lock/show")
    async def lock_show(req: Request) -> Response:
        return _json(await call(backend.get_lock,
                                arg(req, "lock", "Missing lock")))

    return router
