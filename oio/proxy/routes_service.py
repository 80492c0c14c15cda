"""Service-level routes: status, live config, caches; meta0 admin routes."""

from __future__ import annotations

from urllib.parse import urlencode

from oio.common.exceptions import OioNetworkException, OioTimeout
from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
)
from oio.common.live_config import MAX_RUN_TIME, SERVER_VARIABLES

from .errors import bad_request, network_error
from .forward import relay

# Live variables a client may read (and write, for the proxy's own ones).
DEFAULT_VARIABLES = {
    "meta2.max_versions": "1",
    "meta2.retention_period": "604800",
    "meta2.delete_exceeding_versions": "false",
    "meta2.flush_limit": "1000",
    MAX_RUN_TIME: str(SERVER_VARIABLES[MAX_RUN_TIME]),
}


def register(router: Router, proxy) -> None:
    config = proxy.config

    def variables() -> dict[str, str]:
        out = dict(DEFAULT_VARIABLES)
        view = proxy.view
        options = (view.info or {}).get("options") or {}
        out.update({k: str(v) for k, v in options.items() if "." in k})
        if view.ns_info is not None:
            out["ns.chunk_size"] = str(view.ns_info.chunk_size)
            out["ns.storage_policy"] = str(options.get("storage_policy", "NONE"))
        out["proxy.bulk.max.create_many"] = str(config.bulk_max_create_many)
        out["proxy.bulk.max.delete_many"] = str(config.bulk_max_delete_many)
        out["proxy.cache.enabled"] = "false"
        out.update(proxy.live_config)
        return out

    def gauges() -> dict[str, int]:
        return {
            "cache.dir.count": len(proxy.resolver.services_cache),
            "cache.dir.max": config.cache_dir_max,
            "cache.dir.ttl": int(config.cache_dir_ttl),
            "cache.srv.count": len(proxy.cs_cache),
            "cache.srv.max": proxy.cs_cache.max_size,
            "cache.srv.ttl": int(config.cache_conscience_ttl),
            "down.srv": proxy.view.down_count(),
            "known.srv": proxy.view.known_count(),
        }

    @router.route("GET", "/v3.0/status")
    async def status(req: Request) -> Response:
        body = "\n".join(proxy.stats.lines(gauges())) + "\n"
        return Response(200, body, {"Content-Type": "text/x-java-properties"})

    @router.route("GET", "/v3.0/config")
    async def get_config(req: Request) -> Response:
        return json_response(variables())

    @router.route("POST", "/v3.0/config")
    async def set_config(req: Request) -> Response:
        body = await req.json()
        if not isinstance(body, dict):
            raise bad_request("Object argument expected")
        if not body:
            raise bad_request("Empty object argument")
        known = variables()
        result = {}
        for key, value in body.items():
            ok = key in known
            if ok:
                proxy.live_config[key] = str(value)
            result[key] = ok
        return json_response(result)

    @router.route("GET", "/v3.0/cache/status")
    async def cache_status(req: Request) -> Response:
        meta0 = proxy.resolver.meta0_map
        return json_response({
            "csm0": {"count": len(meta0 or ()), "max": 65536, "ttl": 0},
            "meta1": {"count": len(proxy.resolver.services_cache),
                      "max": config.cache_dir_max,
                      "ttl": int(config.cache_dir_ttl)}})

    @router.route("GET", "/v3.0/cache/show")
    async def cache_show(req: Request) -> Response:
        ns = proxy.namespace
        return json_response([
            {"addr": d["addr"], "id": f"{ns}|{kind}|{d['id']}"}
            for kind, descs in sorted(proxy.view.services.items())
            for d in descs])

    @router.route("POST", "/v3.0/cache/flush/high")
    async def flush_high(req: Request) -> Response:
        proxy.resolver.flush_meta0()
        proxy.cs_cache.clear()
        return Response(204)

    @router.route("POST", "/v3.0/cache/flush/low")
    async def flush_low(req: Request) -> Response:
        proxy.resolver.services_cache.clear()
        return Response(204)

    @router.route("POST", "/v3.0/cache/flush/local")
    async def flush_local(req: Request) -> Response:
        proxy.resolver.flush_meta0()
        proxy.resolver.services_cache.clear()
        proxy.cs_cache.clear()
        await proxy.refresh_view()
        return Response(204)

    async def forward_to(req: Request, method: str, path: str) -> Response:
        """A meta service's own answer, for the `forward/*` routes (spec
        §7.1.5): 200 with its body, 204 when empty."""
        target = req.args.get("id")
        if not target:
            raise HttpError(400, "Missing SRVID", status=400)
        try:
            resp = await proxy.client.request(
                method, target, path, headers=proxy.headers(req),
                timeout=proxy.timeout(req))
        except OioNetworkException as exc:
            err = network_error(exc)
            status = 504 if isinstance(exc, OioTimeout) else 503
            raise HttpError(status, err.message, status=err.status) from None
        if resp.status >= 300:
            return relay(resp)
        return Response(200 if resp.body else 204, resp.body,
                        headers={"Content-Type": resp.headers.get(
                            "content-type", "application/json")})

    @router.route("GET", "/v3.0/forward/info")
    async def forward_info(req: Request) -> Response:
        return await forward_to(req, "GET", "/v1/sqlx/info")

    async def forward_nothing_cached(req: Request) -> Response:
        """`forward/reload` and `forward/flush`: our meta services keep
        no load balancer nor resolver cache of their own (they ask the
        proxy each time), so there is nothing to drop; 204 as 7.2 answers,
        which its tests expect after locking scores."""
        if not req.args.get("id"):
            raise HttpError(400, "Missing SRVID", status=400)
        return Response(204)

    router.add("POST", "/v3.0/forward/reload", forward_nothing_cached)
    router.add("POST", "/v3.0/forward/flush", forward_nothing_cached)

    @router.route("POST", "/v3.0/forward/balance-masters")
    async def forward_balance(req: Request) -> Response:
        query = urlencode({k: req.args[k] for k in ("max", "inactivity")
                           if k in req.args})
        return await forward_to(req, "POST", f"/v1/sqlx/balance?{query}")

    @router.route("GET", "/v3.0/{ns}/admin/meta0_list")
    async def meta0_list(req: Request) -> Response:
        proxy.check_ns(req)
        resp = await proxy.replicas.call(
            (proxy.namespace, "meta0"), sorted(proxy.meta0_addresses()),
            "GET", "/v1/meta0/list", headers=proxy.headers(req),
            timeout=proxy.timeout(req), idempotent=True, what="meta0")
        return relay(resp)

    @router.route("POST", "/v3.0/{ns}/admin/meta0_force")
    async def meta0_force(req: Request) -> Response:
        proxy.check_ns(req)
        body = await req.body()
        # A change of the map: on the master of the meta0 base.
        resp = await proxy.replicas.call(
            (proxy.namespace, "meta0"), sorted(proxy.meta0_addresses()),
            "POST", "/v1/meta0/force", headers=proxy.headers(req), body=body,
            timeout=proxy.timeout(req), what="meta0")
        if resp.status < 300:
            proxy.resolver.flush_meta0()
        return relay(resp)
