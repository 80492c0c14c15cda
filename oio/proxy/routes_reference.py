"""`reference/*`: the directory (meta1, found through meta0)."""

from __future__ import annotations

from oio.common.http_server import Request, Response, Router, json_response

from .errors import bad_request, oio_error
from .forward import UpstreamError, relay
from .linking import choose_candidates, ensure_reference, link_services
from .params import container_url, flag, named_reference, presence_flag

# reference/link, renew, force: these codes answer 403 (spec §2.4).
LINK_FORBIDDEN = frozenset((480, 481, 418))


def _string_map(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(v, str) or v is None for v in value.values()):
        raise bad_request(f"Invalid {what}: expected an object of strings")
    return value


def _names(value) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str)
                                              for v in value):
        raise bad_request("Array of strings expected")
    return value


def register(router: Router, proxy) -> None:
    resolver = proxy.resolver

    def route(method: str, action: str):
        return router.route(method, f"/v3.0/{{ns}}/reference/{action}")

    async def meta1(req: Request, cid: str, action: str, params=None, *,
                    json_body=None, body: bytes | None = None):
        return await resolver.meta1(
            req.method if action != "show" else "GET", cid, action, params,
            headers=proxy.headers(req), json_body=json_body, body=body,
            timeout=proxy.timeout(req))

    def kind_of(req: Request) -> str:
        kind = req.args.get("type")
        if not kind:
            raise bad_request("No service type provided")
        return kind

    async def directory(cid: str) -> list[dict] | None:
        try:
            meta1_addrs = await resolver.meta1_of(cid)
        except Exception:  # the real proxy answers "dir": null then
            return None
        entries = [{"seq": 1, "type": "meta0", "host": a, "args": ""}
                   for a in proxy.meta0_addresses()]
        entries += [{"seq": 1, "type": "meta1", "host": a, "args": ""}
                    for a in meta1_addrs]
        return entries

    @route("POST", "create")
    async def create(req: Request) -> Response:
        proxy.check_ns(req)
        account, reference, cid = named_reference(req.args)
        body = await req.json()
        if body is not None and not isinstance(body, dict):
            raise bad_request("Invalid body: expected an object")
        props = _string_map((body or {}).get("properties"), "properties")
        status = await ensure_reference(proxy, account, reference, cid,
                                        proxy.headers(req), proxy.timeout(req),
                                        props)
        return Response(status)

    @route("GET", "show")
    async def show(req: Request) -> Response:
        proxy.check_ns(req, http_status=403)
        url = container_url(req.args)
        kind = req.args.get("type")
        if kind:
            srv = await resolver.linked(url.cid, kind, proxy.headers(req))
            account, name = url.account, url.reference
        else:
            resp = await meta1(req, url.cid, "show")
            if resp.status >= 300:
                raise UpstreamError(resp)
            data = resp.json() or {}
            srv = data.get("srv") or []
            account, name = data.get("account"), data.get("name")
        return json_response({"dir": await directory(url.cid), "srv": srv,
                              "cid": url.cid, "account": account,
                              "name": name})

    @route("POST", "destroy")
    async def destroy(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        params = {"force": "1"} if flag(req, "force") else None
        resp = await meta1(req, url.cid, "destroy", params)
        resolver.invalidate(url.cid)
        return relay(resp)

    @route("POST", "get_properties")
    async def get_properties(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        names = _names(await req.json()) or None
        resp = await meta1(req, url.cid, "get_properties", json_body=names)
        if resp.status >= 300:
            raise UpstreamError(resp)
        props = (resp.json() or {}).get("properties") or {}
        return json_response({"cid": url.cid, "properties": props})

    @route("POST", "set_properties")
    async def set_properties(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        body = await req.json()
        if not isinstance(body, dict) or "properties" not in body:
            raise bad_request("Missing 'properties'")
        _string_map(body["properties"], "properties")
        params = {"flush": "1"} if presence_flag(req, "flush") else None
        resp = await meta1(req, url.cid, "set_properties", params,
                           json_body=body)
        return relay(resp)

    @route("POST", "del_properties")
    async def del_properties(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        names = _names(await req.json())
        resp = await meta1(req, url.cid, "del_properties",
                           json_body=names or [])
        return relay(resp)

    async def autocreate(req: Request, url) -> None:
        if flag(req, "autocreate") and url.account and url.reference:
            await ensure_reference(proxy, url.account, url.reference, url.cid,
                                   proxy.headers(req), proxy.timeout(req),
                                   announce=False)

    def forbidden(exc: UpstreamError, codes=LINK_FORBIDDEN) -> UpstreamError:
        return exc.override(403) if exc.status in codes else exc

    @route("POST", "link")
    async def link(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        kind = kind_of(req)
        try:
            await autocreate(req, url)
            if flag(req, "dryrun"):
                srv = await resolver.linked(url.cid, kind, proxy.headers(req),
                                            use_cache=False)
                srv = srv or choose_candidates(proxy.require_view(), kind)
            else:
                srv = await link_services(proxy, url.cid, kind,
                                          proxy.headers(req),
                                          proxy.timeout(req))
        except UpstreamError as exc:
            raise forbidden(exc) from None
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status in LINK_FORBIDDEN:
                raise oio_error(status, str(exc), http_status=403) from None
            raise
        return json_response(srv)

    @route("POST", "unlink")
    async def unlink(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        kind = kind_of(req)
        resp = await meta1(req, url.cid, "unlink", {"type": kind})
        resolver.invalidate(url.cid, kind)
        return relay(resp)

    @route("POST", "renew")
    async def renew(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        kind = kind_of(req)
        view = proxy.require_view()
        try:
            await autocreate(req, url)
            srv = await resolver.linked(url.cid, kind, proxy.headers(req),
                                        use_cache=False)
            # As 7.2's meta1: under the KEEP policy (the default) linked
            # services stay, up or not; APPEND links new ones besides them,
            # REPLACE instead of them.
            mode = view.update_mode(kind)
            if srv and mode == "KEEP":
                return json_response(srv)
            seq = max((s.get("seq", 0) for s in srv), default=0) + 1
            fresh = choose_candidates(view, kind,
                                      avoid=[s["host"] for s in srv])
            for entry in fresh:
                entry["seq"] = seq
            if flag(req, "dryrun"):
                return json_response(fresh)
            entry = {"seq": seq, "type": kind, "args": "",
                     "host": ",".join(e["host"] for e in fresh)}
            keep = srv if mode == "APPEND" else []
            resp = await meta1(req, url.cid, "force",
                               {"type": kind, "replace": "1"},
                               json_body=[*keep, entry] if keep else entry)
            if resp.status >= 300:
                raise UpstreamError(resp)
        except UpstreamError as exc:
            raise forbidden(exc) from None
        resolver.remember(url.cid, kind, [*keep, *fresh])
        return json_response(fresh)

    @route("POST", "force")
    async def force(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        kind = kind_of(req)
        body = await req.json()
        if not isinstance(body, dict) or not isinstance(body.get("seq"), int) \
                or isinstance(body.get("seq"), bool) or not all(
                    isinstance(body.get(k), str) for k in ("type", "host",
                                                           "args")):
            raise bad_request("Invalid service entry: expected "
                              "{seq: int, type, host, args: strings}")
        entry = {k: body[k] for k in ("seq", "type", "host", "args")}
        params = {"type": kind}
        if flag(req, "replace"):
            params["replace"] = "1"
        try:
            await autocreate(req, url)
            resp = await meta1(req, url.cid, "force", params, json_body=entry)
            if resp.status >= 300:
                raise UpstreamError(resp)
        except UpstreamError as exc:
            raise forbidden(exc, LINK_FORBIDDEN | {455}) from None
        resolver.invalidate(url.cid, kind)
        return Response(204)
