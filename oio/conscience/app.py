"""HTTP routes of the conscience, under the same paths as the proxy's
`/v3.0/{NS}/conscience/*` and `/v3.0/{NS}/lb/*` (conscience.md §2), plus
`conscience/dump` for proxies (docs/internal-protocol.md)."""

from __future__ import annotations

from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
)
from oio.common.live_config import LiveConfig
from oio.common.utils import parse_bool

from .lb import LbError, Selection, service_id
from .policies import PolicyNotSupported, Pool
from .registry import Registry, RegistryError

CODE_NS_NOT_MANAGED = 418


def _lb_reply(registry: Registry, kind_of, selections: list[Selection]
              ) -> Response:
    body = []
    for sel in selections:
        ident = service_id(sel.service)
        kind = sel.service.get("type") or kind_of
        body.append({"addr": ident, "id": f"{registry.ns_info.name}|{kind}|{ident}"})
    headers = {"x-oio-lb-flawed": "1"} if any(s.flawed for s in selections) else None
    return json_response(body, headers=headers)


def _lb_error(exc: LbError) -> HttpError:
    http = {400: 400, 453: 404}.get(exc.status, 500)
    return HttpError(http, exc.message, status=exc.status)


def _locations(body: dict, key: str) -> list[int]:
    values = body.get(key) or []
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and
            0 <= v < 1 << 64 for v in values):
        raise HttpError(400, f"[{key}] must be a list of locations (integers)",
                        status=400)
    return values


def _keys(body: dict, key: str) -> list[str]:
    values = body.get(key) or []
    if not isinstance(values, list) or not all(
            isinstance(v, str) for v in values):
        raise HttpError(400, f"[{key}] must be a list of service IDs",
                        status=400)
    return values


def build_app(registry: Registry) -> Router:
    router = Router()
    ns_name = registry.ns_info.name

    def route(method: str, action: str):
        path = f"/v3.0/{{ns}}/{action}"

        def decorator(func):
            async def handler(req: Request) -> Response:
                if req.match["ns"] != ns_name:
                    raise HttpError(404, f"Namespace not managed: "
                                    f"{req.match['ns']}", status=CODE_NS_NOT_MANAGED)
                try:
                    return await func(req)
                except RegistryError as exc:
                    raise HttpError(exc.http_status, exc.message,
                                    status=exc.status) from None
                except LbError as exc:
                    raise _lb_error(exc) from None
            router.add(method, path, handler)
            return func
        return decorator

    def required(req: Request, name: str, http: int = 400) -> str:
        value = req.args.get(name)
        if not value:
            raise HttpError(http, f"Missing {name}", status=400)
        return value

    @route("GET", "conscience/info")
    async def info(req: Request) -> Response:
        if req.args.get("what") == "types":
            return json_response(registry.type_names())
        return json_response(registry.ns_info.to_dict())

    @route("GET", "conscience/list")
    async def list_services(req: Request) -> Response:
        full = parse_bool(req.args.get("full", "false")) or \
            "full" in req.headers.get("x-oio-action-mode", "")
        return json_response(registry.list(required(req, "type"), full))

    @route("GET", "conscience/dump")
    async def dump(req: Request) -> Response:
        return json_response(registry.dump())

    for action in ("register", "lock", "unlock", "deregister"):
        def make(action):
            async def push(req: Request) -> Response:
                body = await req.json()
                if body is None:
                    raise HttpError(400, "Empty body", status=400)
                getattr(registry, action)(body)
                return Response(204)
            return push
        route("POST", f"conscience/{action}")(make(action))

    @route("POST", "conscience/flush")
    async def flush(req: Request) -> Response:
        registry.flush(required(req, "type"))
        return Response(204)

    @route("GET", "conscience/resolve")
    async def resolve(req: Request) -> Response:
        try:
            addr = registry.resolve(required(req, "type"),
                                    required(req, "service_id"))
        except RegistryError as exc:
            if exc.http_status != 503:
                raise
            raise HttpError(503, exc.message, status=exc.status,
                            headers={"Retry-After": "1"}) from None
        return json_response({"addr": addr})

    @route("GET", "conscience/score")
    async def score(req: Request) -> Response:
        return json_response(registry.score(required(req, "type"),
                                            required(req, "service_id")))

    @route("GET", "lb/choose")
    async def choose(req: Request) -> Response:
        kind = required(req, "type")
        registry.check_type(kind)
        try:
            size = int(req.args.get("size", "1"))
        except ValueError:
            raise HttpError(400, "Invalid size", status=400) from None
        if not 0 < size <= 1000:
            raise HttpError(400, "Invalid size", status=400)
        return _lb_reply(registry, kind,
                         registry.lb.choose(kind, size, req.args.get("slot")))

    @route("POST", "lb/poll")
    async def poll(req: Request) -> Response:
        body = await req.json()
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise HttpError(400, "Expected: json object", status=400)
        avoid, known = _keys(body, "avoid"), _keys(body, "known")
        avoid_locs = _locations(body, "avoid_locations")
        known_locs = _locations(body, "known_locations")
        lb = registry.lb
        if req.args.get("policy"):
            try:
                policy = registry.ns_info.get_policy(req.args["policy"])
            except PolicyNotSupported as exc:
                raise HttpError(500, str(exc), status=481) from None
            pool = registry.ns_info.pool_for_policy(policy)
        else:
            name = required(req, "pool", http=404)
            pool = registry.ns_info.pools.get(name)
            if pool is None:
                if not lb.known_type(name):   # the rdir client then creates it
                    raise HttpError(400, f"pool [{name}] not found", status=400)
                pool = Pool(name, [(1, [name])])
        return _lb_reply(registry, None, lb.poll_pool(
            pool, avoid, known, avoid_locs, known_locs))

    @route("POST", "lb/create_pool")
    async def create_pool(req: Request) -> Response:
        name = required(req, "name")
        if len(name) > 64 or not name.isprintable():
            raise HttpError(400, "Invalid pool name", status=400)
        body = await req.json()
        body = {} if body is None else body
        if not isinstance(body, dict) or not isinstance(body.get("targets"), str):
            raise HttpError(400, "Expected {\"targets\": \"...\"}", status=400)
        options = body.get("options") or {}
        if not isinstance(options, dict) or any(
                isinstance(v, (dict, list)) for v in options.values()):
            raise HttpError(400, "Option values must be scalars", status=400)
        pool = Pool.parse(name, body["targets"],
                          {k: str(v) for k, v in options.items()})
        if not pool.targets:
            raise HttpError(400, "No target in the pool", status=400)
        exists = name in registry.ns_info.pools
        if exists and not parse_bool(req.args.get("force", "false")):
            raise HttpError(409, f"Pool [{name}] already exists", status=421)
        registry.ns_info.pools[name] = pool
        return Response(201)

    @route("POST", "lb/reload")
    async def reload(req: Request) -> Response:
        return Response(204)

    async def status(req: Request) -> Response:
        return json_response({"service": "conscience", "ns": ns_name})

    async def info_text(req: Request) -> Response:
        return Response(200, f"conscience\n{ns_name}\n",
                        headers={"Content-Type": "text/plain"})

    router.add("GET", "/status", status)
    router.add("GET", "/info", info_text)
    LiveConfig().register(router)
    return router
