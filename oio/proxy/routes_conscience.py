"""`conscience/*`, `local/list` and `lb/*`: forwarded to the consciences.

Writes (register, lock, unlock, deregister, flush, lb/create_pool,
lb/reload) go to every conscience, reads to the first that answers
(`consciences.py`). Read answers are cached for `cache_conscience_ttl`
seconds; registrations get `tag.1 = true` the first time the proxy sees a
service key (conscience.md §3.1).
"""

from __future__ import annotations

import time

from oio.common.http_server import Request, Response, Router, json_response

from .conscience_view import service_key
from .errors import bad_request
from .forward import relay

CACHED_GETS = ("list", "info", "resolve", "score")
FORWARDED_POSTS = ("deregister", "flush")
MARKED_POSTS = ("register", "lock", "unlock")


def register(router: Router, proxy) -> None:
    config = proxy.config

    def upstream_path(req: Request) -> str:
        query = f"?{req.query_string}" if req.query_string else ""
        return f"{req.raw_path}{query}"

    async def forward(req: Request, body: bytes | None = None,
                      json_body=None, write: bool = False):
        send = proxy.consciences.write if write else proxy.consciences.read
        return await send(
            req.method, upstream_path(req), headers=proxy.headers(req),
            body=body, json_body=json_body, timeout=proxy.timeout(req))

    async def cached_get(req: Request) -> Response:
        proxy.check_ns(req)
        key = upstream_path(req)
        resp = proxy.cs_cache.get(key)
        if resp is None:
            resp = await forward(req)
            if resp.status == 200:
                proxy.cs_cache.put(key, resp)
        return relay(resp)

    for action in CACHED_GETS:
        router.add("GET", f"/v3.0/{{ns}}/conscience/{action}", cached_get)

    async def plain_post(req: Request) -> Response:
        proxy.check_ns(req)
        resp = await forward(req, body=await req.body(), write=True)
        proxy.cs_cache.clear()
        return relay(resp)

    for action in FORWARDED_POSTS:
        router.add("POST", f"/v3.0/{{ns}}/conscience/{action}", plain_post)

    def remember_local(items: list) -> None:
        now = time.monotonic()
        for item in items:
            if isinstance(item, dict) and item.get("addr") and item.get("type"):
                key = service_key(proxy.namespace, str(item["type"]), item)
                proxy.local_services[key] = (now, item)

    async def marked_post(req: Request) -> Response:
        proxy.check_ns(req)
        body = await req.json()
        if isinstance(body, dict):
            items = [body]
        elif isinstance(body, list):
            items = body
        else:
            raise bad_request("Expected: json object")
        items = proxy.view.mark_first_sightings(items)
        if not req.path.endswith("/unlock"):
            remember_local(items)
        resp = await forward(req, json_body=items, write=True)
        proxy.cs_cache.clear()
        return relay(resp)

    for action in MARKED_POSTS:
        router.add("POST", f"/v3.0/{{ns}}/conscience/{action}", marked_post)

    @router.route("GET", "/v3.0/{ns}/local/list")
    async def local_list(req: Request) -> Response:
        proxy.check_ns(req)
        kind = req.args.get("type")
        limit = time.monotonic() - config.local_services_ttl
        out = []
        for key, (when, item) in list(proxy.local_services.items()):
            if when < limit:
                del proxy.local_services[key]
                continue
            if kind and item.get("type") != kind:
                continue
            entry = {"addr": item["addr"], "score": item.get("score", 0)}
            if not kind:
                entry["ns"] = proxy.namespace
                entry["type"] = item["type"]
            entry["tags"] = {k: v for k, v in (item.get("tags") or {}).items()
                             if k != "tag.1"}
            out.append(entry)
        return json_response(out)

    async def lb_forward(req: Request) -> Response:
        proxy.check_ns(req)
        body = await req.body() if req.method == "POST" else None
        # Pools live in each conscience's memory: create them everywhere.
        write = req.path.endswith(("/create_pool", "/reload"))
        resp = await forward(req, body=body, write=write)
        if req.path.endswith("/reload") and resp.status < 300:
            await proxy.refresh_view()
        return relay(resp)

    router.add("GET", "/v3.0/{ns}/lb/choose", lb_forward)
    for action in ("poll", "create_pool", "reload"):
        router.add("POST", f"/v3.0/{{ns}}/lb/{action}", lb_forward)
