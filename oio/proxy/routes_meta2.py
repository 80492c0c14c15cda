"""`container/*`, `content/*` and meta2 `admin/*`: resolved to the
container's meta2 and relayed, plus what the proxy owns itself: container
creation and destruction, autocreate, chunk allocation on prepare."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from oio.common.constants import PERFDATA_HEADER
from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
)
from oio.common.utils import (
    cid_from_name,
    generate_content_id,
    parse_bool,
    timestamp_us,
)
from oio.container.errors import Meta2Error
from oio.container.raw_beans import parse_raw_beans, parse_raw_update

from . import election_admin
from .errors import bad_request, oio_error
from .forward import UpstreamError, error_of, relay
from .linking import ensure_reference, link_services
from .params import (
    OioUrl,
    container_url,
    flag,
    named_reference,
    valid_content_id,
)
from .prepare import (
    allocate,
    content_headers,
    parse_prepare_body,
    parse_spare_body,
    spare,
    spare_reply,
)

CONTAINER_FORWARDS = {
    "show": "GET", "list": "GET", "get_properties": "POST",
    "set_properties": "POST", "del_properties": "POST", "touch": "POST",
    "flush": "POST", "purge": "POST", "dedup": "POST",
    "raw_insert": "POST", "raw_update": "POST", "raw_delete": "POST",
}
CONTENT_FORWARDS = (
    "get_properties", "set_properties", "del_properties", "delete",
    "touch", "drain", "truncate", "update", "purge",
)
# Bodies of content/create hold one entry per chunk: allow big ones.
MAX_BODY = 64 * 1024 * 1024
MISSING_CONTAINER = frozenset((406, 431))


def _string_map(value, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not all(
            isinstance(v, str) or v is None for v in value.values()):
        raise bad_request(f"Invalid {what}: expected an object of strings")


def container_body(body) -> dict:
    """Validate a container/create body (`properties`, `system`)."""
    if body is None:
        return {"properties": {}, "system": {}}
    if not isinstance(body, dict):
        raise bad_request("Invalid body: expected an object")
    _string_map(body.get("properties"), "properties")
    _string_map(body.get("system"), "system")
    return {"properties": body.get("properties") or {},
            "system": body.get("system") or {}}


def snapshot_body(body) -> tuple[str, str, int]:
    """(account, container, seq_num) of a container/snapshot body."""
    if not isinstance(body, dict):
        raise bad_request("Invalid body: expected an object")
    account, container = body.get("account"), body.get("container")
    if not isinstance(account, str) or not account \
            or not isinstance(container, str) or not container:
        raise bad_request("Missing destination account name or container name")
    seq = body.get("seq_num", 1)
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise bad_request("Invalid 'seq_num'")
    return account, container, seq


def check_raw_beans(action: str, body: bytes) -> None:
    """A 400 for a raw_insert|raw_delete|raw_update body meta2 would refuse,
    before the container is resolved (as 7.2: a bad body is a 400 even for
    a container that does not exist)."""
    try:
        beans = json.loads(body or b"null")
    except ValueError:
        raise bad_request("Invalid JSON body") from None
    try:
        if action == "raw_update":
            parse_raw_update(beans, 0)
        elif not parse_raw_beans(beans, 0):
            raise bad_request("Empty beans list")
    except Meta2Error as exc:
        raise bad_request(exc.message) from None


def _missing_container(resp) -> bool:
    return resp.status == 404 and error_of(resp)[0] in MISSING_CONTAINER


def decorate_chunks(chunks: list, view, tls: bool = False) -> list:
    """Set `real_url` and `score` of located chunks from the LB view."""
    out = []
    for chunk in chunks:
        if not isinstance(chunk, dict) or not isinstance(chunk.get("url"), str):
            out.append(chunk)
            continue
        scheme, _, rest = chunk["url"].partition("://")
        netloc, _, chunk_id = rest.partition("/")
        svc = view.service("rawx", netloc) if view.ready else None
        real_url, score = chunk["url"], 0
        if svc is not None:
            tls_addr = (svc.get("tags") or {}).get("tag.tls") if tls else None
            real_url = (f"https://{tls_addr}/{chunk_id}" if tls_addr
                        else f"http://{svc['addr']}/{chunk_id}")
            score = max(0, min(100, int(svc.get("score", 0) or 0)))
        entry = {"url": chunk["url"], "real_url": real_url}
        entry.update((k, v) for k, v in chunk.items()
                     if k not in ("url", "real_url", "score"))
        entry["score"] = score
        out.append(entry)
    return out


def replica_hosts(srv: list[dict]) -> list[str]:
    """The replicas of a container's base: the hosts of its newest
    meta2 entry (one entry per replica, same seq)."""
    if not srv:
        return []
    seq = max(int(s.get("seq") or 0) for s in srv)
    return [s["host"] for s in srv if int(s.get("seq") or 0) == seq]


def register(router: Router, proxy) -> None:
    resolver = proxy.resolver
    replicas = proxy.replicas

    async def send_meta2(cid: str, hosts: list[str], method: str, path: str,
                         **kwargs):
        """`path` on the master among `hosts`, the container's replicas
        (passed on, so that a replica without the base yet knows them)."""
        if len(hosts) > 1:
            path += "&peers=" + ",".join(hosts)
        return await replicas.call((cid, "meta2"), hosts, method, path,
                                   what="meta2", **kwargs)

    async def call_meta2(req: Request, url: OioUrl, group: str, action: str,
                         body: bytes | None = None, json_body=None,
                         method: str | None = None, query: str | None = None):
        """Send `/v1/<group>/<action>` to the container's meta2; the reply
        (any status) and the timings (µs) of resolution and meta2."""
        headers = proxy.headers(req)
        timeout = proxy.timeout(req)
        query = req.query_string if query is None else query
        path = f"/v1/{group}/{action}?cid={url.cid}" + (
            f"&{query}" if query else "")
        t0 = time.monotonic()
        method = method or req.method
        for attempt in range(2):
            srv = await resolver.linked(url.cid, "meta2", headers,
                                        use_cache=not attempt)
            hosts = replica_hosts(srv)
            if not hosts:
                raise oio_error(431, "No meta2 linked to the container")
            t1 = time.monotonic()
            try:
                resp = await send_meta2(
                    url.cid, hosts, method, path, headers=headers,
                    body=body, json_body=json_body, timeout=timeout,
                    idempotent=method in ("GET", "HEAD"))
            except HttpError as exc:
                if exc.http_status == 503:
                    resolver.invalidate(url.cid)
                raise
            if attempt == 0 and _missing_container(resp):
                # The cached meta2 may be stale: ask meta1 again, once.
                resolver.invalidate(url.cid)
                fresh = replica_hosts(await resolver.linked(
                    url.cid, "meta2", headers))
                if fresh and fresh != hosts:
                    continue
            perf = (int((t1 - t0) * 1e6), int((time.monotonic() - t1) * 1e6))
            return resp, perf
        raise AssertionError("not reached")

    def meta1_digits() -> int:
        """The namespace's meta1_digits (a meta1 base per prefix group)."""
        raw = proxy.view.option("meta1_digits") or proxy.view.option(
            "ns.meta1_digits") if proxy.view.ready else None
        try:
            return max(0, min(4, int(raw)))
        except (TypeError, ValueError):
            return 4

    async def replicated_base(req: Request, kind: str
                              ) -> tuple[str, list[str]]:
        """(base name, replicas) addressed by an admin request."""
        headers = proxy.headers(req)
        if kind == "meta0":
            return proxy.namespace, sorted(proxy.meta0_addresses())
        url = container_url(req.args)
        if kind == "meta1":
            prefix = url.cid[:meta1_digits()].ljust(4, "0")
            return prefix, await resolver.meta1_of(url.cid, headers)
        if kind != "meta2":
            raise bad_request(f"No replicated bases of type {kind}")
        hosts = replica_hosts(await resolver.linked(url.cid, "meta2",
                                                    headers, use_cache=False))
        if not hosts:
            raise oio_error(431, "No meta2 linked to the container")
        return f"{url.cid}.1", hosts

    def reply(req: Request, resp, perf, extra: dict | None = None) -> Response:
        headers = dict(extra or {})
        if PERFDATA_HEADER in req.headers:
            headers[PERFDATA_HEADER] = f"resolve={perf[0]},meta2={perf[1]}"
        return relay(resp, headers)

    async def linked_meta2_call(req: Request, account: str, reference: str,
                                cid: str, route: str, body: dict):
        """Create the reference and its meta2 link as needed, then POST
        `body` to `route` of that meta2 for the container."""
        headers = proxy.headers(req)
        timeout = proxy.timeout(req)
        await ensure_reference(proxy, account, reference, cid, headers,
                               timeout, announce=False)
        srv = await link_services(proxy, cid, "meta2", headers, timeout)
        query = urlencode({"cid": cid, "acct": account, "ref": reference})
        return await send_meta2(cid, replica_hosts(srv), "POST",
                                f"{route}?{query}", headers=headers,
                                json_body=body, timeout=timeout)

    async def ensure_container(req: Request, account: str, reference: str,
                               cid: str, body: dict) -> int:
        """Create reference, meta2 link and base as needed: 201 when the
        base was created, 204 when it existed."""
        resp = await linked_meta2_call(req, account, reference, cid,
                                       "/v1/container/create", body)
        if resp.status == 201:
            return 201
        if resp.status in (200, 202, 204) or (
                resp.status == 409 and error_of(resp)[0] == 433):
            return 204
        raise UpstreamError(resp)

    def not_found_forbidden(exc: UpstreamError) -> UpstreamError:
        return exc.override(403) if exc.http_status == 404 else exc

    # container/create, create_many, destroy ------------------------------------
    @router.route("POST", "/v3.0/{ns}/container/create")
    async def container_create(req: Request) -> Response:
        proxy.check_ns(req)
        account, reference, cid = named_reference(req.args)
        body = container_body(await req.json())
        try:
            status = await ensure_container(req, account, reference, cid, body)
        except UpstreamError as exc:
            raise not_found_forbidden(exc) from None
        except HttpError as exc:
            if exc.http_status == 404:
                exc.http_status = 403
            raise
        return Response(status)

    @router.route("POST", "/v3.0/{ns}/container/create_many")
    async def container_create_many(req: Request) -> Response:
        proxy.check_ns(req)
        account = req.args.get("acct")
        if not account:
            raise bad_request("Missing account or namespace")
        body = await req.json()
        items = body.get("containers") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("name"), str)
                and i["name"] for i in items):
            raise bad_request("Invalid body: expected "
                              "{\"containers\": [{\"name\": ...}, ...]}")
        limit = proxy.config.bulk_max_create_many
        if len(items) > limit:
            raise HttpError(413, f"More than {limit} requested", status=413)
        bodies = [container_body(i) for i in items]
        results = []
        for item, cbody in zip(items, bodies, strict=True):
            name = item["name"]
            try:
                status = await ensure_container(
                    req, account, name, _cid(account, name), cbody)
                entry = {"name": name, "status": 201 if status == 201 else 433,
                         "message": "ok" if status == 201
                         else "container already initiated"}
            except UpstreamError as exc:
                entry = {"name": name, "status": exc.status,
                         "message": exc.message}
            except HttpError as exc:
                entry = {"name": name, "status": exc.status,
                         "message": exc.message}
            results.append(entry)
        return json_response({"containers": results})

    @router.route("POST", "/v3.0/{ns}/container/destroy")
    async def container_destroy(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        resp, perf = await call_meta2(req, url, "container", "destroy",
                                      body=await req.body())
        if resp.status >= 300:
            return reply(req, resp, perf)
        headers = proxy.headers(req)
        unlink = await resolver.meta1("POST", url.cid, "unlink",
                                      {"type": "meta2"}, headers=headers,
                                      timeout=proxy.timeout(req))
        resolver.invalidate(url.cid)
        if unlink.status >= 300 and unlink.status != 404:
            raise UpstreamError(unlink)
        if proxy.config.destroy_reference:
            await resolver.meta1("POST", url.cid, "destroy", headers=headers,
                                 timeout=proxy.timeout(req))
        return reply(req, resp, perf)

    @router.route("POST", "/v3.0/{ns}/container/snapshot")
    async def container_snapshot(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        account, reference, seq = snapshot_body(await req.json())
        dst_cid = _cid(account, reference)
        if dst_cid == url.cid:
            raise bad_request("The snapshot must either have a different "
                              "name or be placed in another account")
        headers = proxy.headers(req)
        timeout = proxy.timeout(req)
        source = await resolver.linked(url.cid, "meta2", headers)
        if not source:
            raise oio_error(431, "No service located")
        try:
            if await resolver.linked(dst_cid, "meta2", headers,
                                     use_cache=False):
                raise bad_request("Container already exists")
        except UpstreamError as exc:
            if exc.http_status != 404:
                raise
        resp = await linked_meta2_call(
            req, account, reference, dst_cid, "/v1/admin/snapshot", {
                "account": account, "container": reference,
                "source": source[0]["host"], "source_cid": url.cid,
                "seq": seq})
        if resp.status >= 300:
            # Leave no half-made destination behind: a retry must work.
            await resolver.meta1("POST", dst_cid, "unlink", {"type": "meta2"},
                                 headers=headers, timeout=timeout)
            resolver.invalidate(dst_cid)
            raise UpstreamError(resp)
        return Response(204)

    # plain container and content routes --------------------------------------
    def container_forward(action: str, method: str):
        async def handler(req: Request) -> Response:
            proxy.check_ns(req)
            url = container_url(req.args)
            body = await req.body(MAX_BODY) if method == "POST" else None
            if action.startswith("raw_"):
                check_raw_beans(action, body)
            try:
                resp, perf = await call_meta2(req, url, "container", action,
                                              body)
            except (HttpError, UpstreamError) as exc:
                # 7.2 answers a touch of a missing container (or reference)
                # with 403.
                if action == "touch" and exc.http_status == 404:
                    if isinstance(exc, UpstreamError):
                        raise exc.override(403) from None
                    exc.http_status = 403
                raise
            if action == "touch" and resp.status == 404:
                exc = UpstreamError(resp).override(403)
                return exc.to_response(403)
            return reply(req, resp, perf)
        return handler

    for action, method in CONTAINER_FORWARDS.items():
        router.add(method, f"/v3.0/{{ns}}/container/{action}",
                   container_forward(action, method))

    def content_forward(action: str):
        async def handler(req: Request) -> Response:
            proxy.check_ns(req)
            url = container_url(req.args)
            body = await req.body(MAX_BODY)
            resp, perf = await call_meta2(req, url, "content", action, body)
            return reply(req, resp, perf)
        return handler

    for action in CONTENT_FORWARDS:
        router.add("POST", f"/v3.0/{{ns}}/content/{action}",
                   content_forward(action))

    @router.route("POST", "/v3.0/{ns}/content/delete_many")
    async def content_delete_many(req: Request) -> Response:
        """Per-item results even when the container is missing: each item
        fails with the container's status, as each name would alone."""
        proxy.check_ns(req)
        url = container_url(req.args)
        raw = await req.body(MAX_BODY)
        try:
            resp, perf = await call_meta2(req, url, "content", "delete_many",
                                          raw)
        except (UpstreamError, HttpError) as exc:
            if exc.http_status != 404 or exc.status not in MISSING_CONTAINER:
                raise
            status, message = exc.status, exc.message
        else:
            if not _missing_container(resp):
                return reply(req, resp, perf)
            status, message = error_of(resp)
        try:
            body = json.loads(raw)
        except ValueError:
            raise bad_request("Invalid JSON body") from None
        items = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request("Invalid body: expected "
                              "{\"contents\": [{\"name\": ...}, ...]}")
        return json_response({"contents": [
            {"name": i.get("name") if isinstance(i, dict) else None,
             "status": status, "message": message} for i in items]})

    async def content_locate(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        resp, perf = await call_meta2(req, url, "content", "locate")
        if resp.status == 200:
            try:
                chunks = json.loads(resp.body)
            except ValueError:
                chunks = None
            if isinstance(chunks, list):
                tls = flag(req, "upgrade-to-tls") or _true(
                    req.headers.get("x-oio-upgrade-to-tls"))
                resp.body = json.dumps(decorate_chunks(
                    chunks, proxy.view, tls), separators=(",", ":")).encode()
        return reply(req, resp, perf)

    router.add("GET", "/v3.0/{ns}/content/locate", content_locate)
    router.add("GET", "/v3.0/{ns}/content/show", content_locate)

    # content/create with autocreate ---------------------------------------
    @router.route("POST", "/v3.0/{ns}/content/create")
    async def content_create(req: Request) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        body = await req.body(MAX_BODY)
        autocreate = flag(req, "autocreate")
        try:
            resp, perf = await call_meta2(req, url, "content", "create", body)
            if not (autocreate and _missing_container(resp)):
                return reply(req, resp, perf)
            missing: Exception = UpstreamError(resp)
        except UpstreamError as exc:
            if not autocreate or exc.http_status != 404:
                raise
            missing = exc
        except HttpError as exc:  # no meta2 linked
            if not autocreate or exc.http_status != 404:
                raise
            missing = exc
        if not (url.account and url.reference):
            raise missing
        await ensure_container(req, url.account, url.reference, url.cid,
                               container_body(_container_properties(body)))
        resp, perf = await call_meta2(req, url, "content", "create", body)
        return reply(req, resp, perf)

    # content/prepare and prepare2 -------------------------------------------
    async def prepare(req: Request, legacy: bool) -> Response:
        proxy.check_ns(req)
        url = container_url(req.args)
        if not url.path:
            raise bad_request("Missing path")
        wanted = parse_prepare_body(await req.json())
        view = proxy.require_view()
        ns_info = view.ns_info
        # With a policy named, meta2 would only echo what the proxy knows
        # (policy, chunk method and size come from the namespace): one
        # round trip less per object.
        found = None if wanted.policy else await meta2_prepare(
            req, url, wanted)
        policy_name = found.get("policy") if found else wanted.policy
        policy = _policy(ns_info, policy_name)
        chunk_size = int((found or {}).get("chunk_size") or ns_info.chunk_size)
        version = _positive(req.args.get("version")) or _positive(
            (found or {}).get("version")) or timestamp_us()
        content = req.args.get("content")
        content_id = (content.upper() if valid_content_id(content)
                      else generate_content_id())
        tls = _true(req.headers.get("x-oio-upgrade-to-tls"))
        alloc = allocate(view.lb, policy, chunk_size, wanted.size,
                         wanted.position, tls)
        headers = content_headers(
            content_id=content_id, path=url.path, version=version,
            size=wanted.size, policy=policy.name,
            chunk_method=(found or {}).get("chunk_method")
            or policy.chunk_method(), chunk_size=chunk_size,
            mime_type=(found or {}).get("mime_type"))
        if legacy:
            return json_response(alloc.chunks, headers=headers)
        return json_response({"chunks": alloc.chunks,
                              "properties": alloc.properties}, headers=headers)

    async def meta2_prepare(req: Request, url: OioUrl, wanted) -> dict | None:
        """meta2's view (policy, chunk method, version...), or None when the
        container does not exist: prepare works without it (spec §4.3)."""
        body = {"size": wanted.size}
        if wanted.policy:
            body["policy"] = wanted.policy
        try:
            resp, _ = await call_meta2(req, url, "content", "prepare",
                                       json_body=body, method="POST")
        except UpstreamError as exc:
            if exc.http_status == 404:
                return None
            raise
        except HttpError as exc:
            if exc.http_status == 404:
                return None
            raise
        if _missing_container(resp):
            return None
        if resp.status != 200:
            raise UpstreamError(resp)
        data = resp.json()
        return data if isinstance(data, dict) else None

    @router.route("POST", "/v3.0/{ns}/content/prepare2")
    async def prepare2(req: Request) -> Response:
        return await prepare(req, legacy=False)

    @router.route("POST", "/v3.0/{ns}/content/prepare")
    async def prepare1(req: Request) -> Response:
        return await prepare(req, legacy=True)

    @router.route("POST", "/v3.0/{ns}/content/spare")
    async def content_spare(req: Request) -> Response:
        """Rawx for the missing chunks of one metachunk (rebuilders)."""
        proxy.check_ns(req)
        container_url(req.args)
        stgpol = req.args.get("stgpol")
        if not stgpol:
            raise bad_request("'stgpol' field not a string")
        notin, broken = parse_spare_body(await req.json())
        view = proxy.require_view()
        alloc = spare(view.lb, _policy(view.ns_info, stgpol), notin, broken,
                      _true(req.headers.get("x-oio-upgrade-to-tls")))
        return json_response(spare_reply(alloc))

    # admin/* on meta2 bases -------------------------------------------------
    @router.route("POST", "/v3.0/{ns}/admin/{action}")
    async def admin(req: Request) -> Response:
        proxy.check_ns(req)
        kind = req.args.get("type")
        if not kind:
            raise bad_request("No service type")
        action = req.match["action"]
        if action in election_admin.ELECTION_ACTIONS:
            base, peers = await replicated_base(req, kind)
            return await election_admin.run(proxy, kind, base, peers, action,
                                            req)
        if kind != "meta2":
            raise oio_error(501, f"admin/{action} on {kind} bases not "
                            "implemented")
        url = container_url(req.args)
        resp, perf = await call_meta2(req, url, "admin", req.match["action"],
                                      await req.body())
        return reply(req, resp, perf)


def _cid(account: str, name: str) -> str:
    return cid_from_name(account, name)


def _true(value) -> bool:
    return bool(parse_bool(value, False))


def _positive(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _policy(ns_info, name: str | None):
    try:
        return ns_info.get_policy(name)
    except ValueError as exc:  # PolicyNotSupported
        raise oio_error(480, f"Invalid policy: {exc}") from None


def _container_properties(body: bytes):
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        raise bad_request("Invalid JSON body") from None
    if isinstance(parsed, dict):
        return parsed.get("container_properties")
    return None
