"""HTTP routes of meta2: `/v1/container/*`, `/v1/content/*`, `/v1/admin/*`.

They mirror the proxy's routes (docs/internal-protocol.md): same query,
headers and bodies, and replies that the proxy relays unchanged, so every
status, header and body shape here is the one the client sees (proxy spec
§3, §7.4, §7.5). Handlers parse and validate, then run the blocking
`Meta2` logic in a worker thread.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time

from oio.common.constants import (
    ACTION_MODE_HEADER,
    ADMIN_HEADER,
    CONTAINER_METADATA_PREFIX,
    FORCEVERSIONING_HEADER,
    OBJECT_METADATA_PREFIX,
    OIO_DB_DISABLED,
    OIO_DB_ENABLED,
    OIO_DB_FROZEN,
    SIMULATEVERSIONING_HEADER,
)
from oio.common.http_server import (
    FileResponse,
    HttpError,
    Request,
    Response,
    Router,
    is_utf8,
    json_response,
    run_blocking,
)
from oio.common.live_config import LiveConfig
from oio.common.oio_status import http_status_of
from oio.common.utils import cid_from_name, parse_bool, quote
from oio.sqlx.replicator import Replicator
from oio.sqlx.routes import add_routes as add_replication_routes
from oio.sqlx.routes import peers_hint

from .errors import Meta2Error, bad_request
from .listing import ListParams
from .meta2 import (
    ContentMeta,
    Context,
    Located,
    Meta2,
    Versioning,
)
from .raw_beans import parse_raw_beans, parse_raw_update
from .replication import base_name
from .snapshot import Snapshots

logger = logging.getLogger(__name__)

MAX_CREATE_BODY = 64 * 1024 * 1024
MAX_BULK_DELETE = 100
_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_HEADER_CHAR = re.compile(r"[^A-Za-z0-9-]")
# Header names must be HTTP tokens; other property keys are not sent as headers.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
META = OBJECT_METADATA_PREFIX


# -- request parsing -------------------------------------------------------------
def container_id(req: Request) -> str:
    """The container of a request: `cid` (64 hex, or `<cid>.<seq>`), else
    `acct`+`ref`; 400 otherwise, or when they disagree."""
    cid = req.args.get("cid") or ""
    account, ref = req.args.get("acct"), req.args.get("ref")
    for value, what in ((account, "account"), (ref, "user")):
        if value is not None and not is_utf8(value):
            raise bad_request(f"Invalid parameter '{what}', not UTF-8")
    if len(cid) > 64 and cid[64:65] == "." and cid[65:].isdigit():
        cid = cid[:64]
    if cid:
        if len(cid) != 64 or not all(c in _HEX for c in cid):
            raise bad_request("Invalid oio url")
        cid = cid.upper()
        if account and ref and cid_from_name(account, ref) != cid:
            raise bad_request("Invalid oio url: cid does not match acct/ref")
        return cid
    if account and ref:
        return cid_from_name(account, ref)
    raise bad_request("Invalid oio url: missing container (acct and ref, or cid)")


def flag(req: Request, name: str, default: bool = False) -> bool:
    """A boolean option: query parameter first, else x-oio-action-mode."""
    value = req.args.get(name)
    if value is not None:
        parsed = parse_bool(value)
        return default if parsed is None else parsed
    modes = req.headers.get(ACTION_MODE_HEADER, "")
    return name in {m.strip().lower() for m in modes.split(",")} or default


def integer(value: str | None, name: str, message: str | None = None
            ) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(message or f"Invalid parameter '{name}', "
                          "not a number") from None


def object_args(req: Request) -> tuple[str | None, int | None, str | None]:
    """(path, version, content) of a content request."""
    path = req.args.get("path")
    if path is not None and not is_utf8(path):
        raise bad_request("Invalid parameter 'path', not UTF-8")
    version = integer(req.args.get("version"), "version") if path else None
    content = req.args.get("content") or None
    if path is None and content is None:
        raise bad_request("Missing content path or ID")
    return path, version, content


def versioning(req: Request) -> Versioning:
    force = req.headers.get(FORCEVERSIONING_HEADER)
    return Versioning(
        force=integer(force, FORCEVERSIONING_HEADER) if force else None,
        simulate=bool(parse_bool(req.headers.get(SIMULATEVERSIONING_HEADER),
                                 False)))


def context(req: Request) -> Context:
    return Context(req_id=req.req_id, origin=req.headers.get("user-agent"))


def content_meta(req: Request) -> ContentMeta:
    """The x-oio-content-meta-* headers of content/create."""
    h = req.headers
    size = h.get(META + "size") or h.get(META + "length")
    version = h.get(META + "version")
    return ContentMeta(
        content_id=h.get(META + "id") or None,
        version=integer(version, "version", "Header: invalid content version"),
        size=integer(size, "size", "Header: invalid content size"),
        hash=h.get(META + "hash") or None,
        policy=h.get(META + "policy") or None,
        chunk_method=h.get(META + "chunk-method") or None,
        mime_type=h.get(META + "mime-type") or None)


# -- reply shapes ----------------------------------------------------------------
def container_header_name(key: str) -> str:
    """Header for an admin key (proxy spec §3.5)."""
    if key.startswith("sys."):
        name = "sys-" + key[4:]
    elif key.startswith("user."):
        name = "user-" + key[5:]
    else:
        name = "x-" + key
    return CONTAINER_METADATA_PREFIX + _NOT_HEADER_CHAR.sub("-", name)


def container_headers(admin: dict[str, str], user: bool, other: bool
                      ) -> dict[str, str]:
    out = {}
    for key, value in admin.items():
        is_user = key.startswith("user.")
        if (is_user and not user) or (
                not is_user and not key.startswith("sys.") and not other):
            continue
        out[container_header_name(key)] = quote(value)
    return out


def split_admin(admin: dict[str, str]) -> tuple[dict, dict]:
    """(user properties without prefix, system keys) of an admin table."""
    props = {k[5:]: v for k, v in admin.items() if k.startswith("user.")}
    system = {k: v for k, v in admin.items() if not k.startswith("user.")}
    return props, system


def content_headers(found: Located, properties: bool) -> dict[str, str]:
    """x-oio-content-meta-* headers of one version (proxy spec §3.2)."""
    alias, header = found.alias, found.header
    out = {}
    if header is not None:
        out[META + "id"] = alias.content
    out[META + "name"] = quote(alias.name)
    out[META + "version"] = str(alias.version)
    out[META + "deleted"] = "True" if alias.deleted else "False"
    out[META + "ctime"] = str(alias.ctime)
    out[META + "mtime"] = str(alias.mtime)
    if header is not None:
        out[META + "size"] = str(header.size)
        out[META + "length"] = str(header.size)
        out[META + "policy"] = header.policy
        out[META + "chunk-method"] = header.chunk_method
        out[META + "mime-type"] = header.mime_type
        if header.hash:
            out[META + "hash"] = header.hash
        out[META + "hash-method"] = "md5"
    if properties:
        for key, value in found.properties.items():
            name = META + key
            if _TOKEN.match(key) and name.lower() not in out:
                out[name] = quote(value)
    return out


def chunk_list(found: Located) -> list[dict]:
    return [{"url": c.id, "real_url": c.id, "pos": c.pos, "size": c.size,
             "hash": c.hash, "score": 0} for c in found.chunks]


def error_response(exc: Meta2Error) -> Response:
    status = exc.http_status or http_status_of(exc.status, meta2=True)
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_response({"status": exc.status, "message": exc.message},
                         status, headers=headers)


# -- the application ----------------------------------------------------------------
class Meta2App:
    """Routes over one `Meta2` instance."""

    def __init__(self, meta2: Meta2, service_type: str = "meta2",
                 replicator: Replicator | None = None):
        self.meta2 = meta2
        self.service_type = service_type
        self.snapshots = Snapshots(meta2)
        self.replicator = replicator
        self.router = Router()
        self._register()
        if replicator is not None:
            add_replication_routes(self.router, replicator)

    async def __call__(self, req: Request) -> Response:
        return await self.router(req)

    async def call(self, fn, *args, **kwargs):
        """Run blocking logic in a worker thread."""
        return await run_blocking(functools.partial(fn, *args, **kwargs))

    def _register(self) -> None:
        r = self.router

        def add(method: str, path: str, handler) -> None:
            r.add(method, path, self._guard(self._on_master(handler)))

        r.add("GET", "/status", self.status)
        r.add("GET", "/info", self.info)
        LiveConfig().register(r)
        for action in ("create", "destroy", "set_properties", "del_properties",
                       "get_properties", "touch", "flush", "purge"):
            add("POST", f"/v1/container/{action}",
                getattr(self, f"container_{action}"))
        for action in ("raw_update", "raw_insert", "raw_delete"):
            add("POST", f"/v1/container/{action}",
                getattr(self, f"container_{action}"))
        add("GET", "/v1/container/show", self.container_show)
        add("GET", "/v1/container/list", self.container_list)
        for action in ("prepare", "create", "get_properties", "set_properties",
                       "del_properties", "delete", "delete_many", "touch",
                       "drain", "truncate", "purge", "update"):
            add("POST", f"/v1/content/{action}",
                getattr(self, f"content_{action}"))
        add("GET", "/v1/content/locate", self.content_locate)
        add("GET", "/v1/content/show", self.content_locate)
        add("POST", "/v1/admin/{action}", self.admin)
        add("GET", "/v1/admin/dump", self.admin_dump)

    def _on_master(self, handler):
        """Run `handler` on the master of the container's base: a slave
        answers 303 with the master's ID, and while no master is elected
        the request waits (bounded), then gets 503."""
        if self.replicator is None:
            return handler

        async def gated(req: Request) -> Response:
            await self.replicator.gate(base_name(container_id(req)),
                                       peers_hint(req))
            return await handler(req)
        return gated

    @staticmethod
    def _guard(handler):
        """Turn logic errors into replies with the client-visible status."""
        async def guarded(req: Request) -> Response:
            try:
                return await handler(req)
            except Meta2Error as exc:
                return error_response(exc)
            except sqlite3.OperationalError as exc:
                logger.warning("req_id=%s SQLite: %s", req.req_id, exc)
                return error_response(Meta2Error(503, f"Database busy: {exc}"))
            except sqlite3.DatabaseError as exc:
                logger.error("req_id=%s SQLite: %s", req.req_id, exc)
                return error_response(Meta2Error(511, f"Database error: {exc}"))
        return guarded

    async def status(self, req: Request) -> Response:
        return json_response({"service": self.service_type,
                              "ns": self.meta2.namespace,
                              "ns_info": self.meta2.ns_info is not None})

    async def info(self, req: Request) -> Response:
        return Response(200, f"{self.service_type} {self.meta2.namespace}\n",
                        {"Content-Type": "text/plain"})

    # -- containers -------------------------------------------------------------------
    async def container_create(self, req: Request) -> Response:
        cid = container_id(req)
        body = await req.json()
        if body is not None and not isinstance(body, dict):
            raise bad_request("Invalid body: expected an object")
        body = body or {}
        created = await self.call(
            self.meta2.container_create, cid, req.args.get("acct"),
            req.args.get("ref"), body.get("properties"), body.get("system"),
            ctx=context(req), peers=peers_hint(req))
        return Response(201 if created else 204)

    async def container_destroy(self, req: Request) -> Response:
        cid = container_id(req)
        # The gate let us through as master of a replicated base or of a
        # base with one replica: only the first has an election.
        replicated = self.replicator is not None and self.replicator.enabled \
            and base_name(cid) in self.replicator.elections
        await self.call(self.meta2.container_destroy, cid,
                        force=flag(req, "force"), ctx=context(req))
        if replicated:
            # The other replicas go too (a majority must confirm).
            await self.replicator.remove_everywhere(
                self.replicator.lease(base_name(cid), True))
        return Response(204)

    async def container_show(self, req: Request) -> Response:
        admin = await self.call(self.meta2.container_properties,
                                container_id(req))
        props, _ = split_admin(admin)
        return json_response({"properties": props},
                             headers=container_headers(admin, False, True))

    async def container_get_properties(self, req: Request) -> Response:
        stats = bool(parse_bool(req.headers.get(ADMIN_HEADER), False))
        admin = await self.call(self.meta2.container_properties,
                                container_id(req), stats)
        props, system = split_admin(admin)
        return json_response({"properties": props, "system": system})

    async def container_set_properties(self, req: Request) -> Response:
        cid = container_id(req)
        body = await req.json()
        if body is not None and not isinstance(body, dict):
            raise bad_request("Invalid body: expected an object")
        body = body or {}
        await self.call(self.meta2.container_set_properties, cid,
                        body.get("properties"), body.get("system"),
                        flush=flag(req, "flush"), ctx=context(req))
        return json_response({})

    async def container_del_properties(self, req: Request) -> Response:
        cid = container_id(req)
        await self.call(self.meta2.container_del_properties, cid,
                        await req.json(), ctx=context(req))
        return json_response({})

    async def container_list(self, req: Request) -> Response:
        cid = container_id(req)
        args = req.args
        for name in ("prefix", "marker", "end_marker", "marker_end",
                     "delimiter"):
            if name in args and not is_utf8(args[name]):
                raise bad_request(f"Invalid parameter '{name}', not UTF-8")
        limit = integer(args.get("max"), "max",
                        "Invalid max number of items") or 0
        params = ListParams(
            prefix=args.get("prefix", ""), marker=args.get("marker", ""),
            end_marker=args.get("end_marker") or args.get("marker_end", ""),
            delimiter=args.get("delimiter", ""), limit=limit,
            all_versions="all" in args, deleted="deleted" in args,
            properties=bool(parse_bool(args.get("properties"), False)))
        result = await self.call(self.meta2.container_list, cid, params)
        props, system = split_admin(result.admin)
        system = {k: v for k, v in system.items() if k.startswith("sys.")}
        headers = container_headers(result.admin, True, False)
        headers["x-oio-list-truncated"] = "true" if result.truncated else "false"
        if result.next_marker is not None:
            headers["x-oio-list-marker"] = quote(result.next_marker)
        return json_response({"prefixes": result.prefixes,
                              "properties": props, "system": system,
                              "objects": result.objects}, headers=headers)

    async def container_touch(self, req: Request) -> Response:
        cid = container_id(req)
        recompute = flag(req, "recompute")
        damaged = missing = 0
        if recompute:
            damaged = integer(req.args.get("damaged_objects"),
                              "damaged_objects") or 0
            missing = integer(req.args.get("missing_chunks"),
                              "missing_chunks") or 0
        try:
            await self.call(self.meta2.container_touch, cid, recompute,
                            damaged, missing, ctx=context(req))
        except Meta2Error as exc:
            if http_status_of(exc.status, meta2=True) == 404:
                exc.http_status = 403  # proxy spec §2.4
            raise
        return Response(204)

    async def container_flush(self, req: Request) -> Response:
        truncated = await self.call(self.meta2.container_flush,
                                    container_id(req), ctx=context(req))
        return Response(204, headers={
            "x-oio-truncated": "true" if truncated else "false"})

    async def container_purge(self, req: Request) -> Response:
        cid = container_id(req)
        maxvers = integer(req.args.get("maxvers"), "maxvers")
        await self.call(self.meta2.purge, cid, maxvers, ctx=context(req))
        return Response(204)

    async def container_raw_update(self, req: Request) -> Response:
        cid = container_id(req)
        body = await req.json(MAX_CREATE_BODY)
        old, new = parse_raw_update(body, int(time.time()))
        await self.call(self.meta2.raw_update, cid, old, new,
                        allow_frozen="frozen" in req.args)
        return Response(204)

    async def _raw_beans(self, req: Request) -> list:
        body = await req.json(MAX_CREATE_BODY)
        if not isinstance(body, list) or not body:
            raise bad_request("Expected a non-empty array of beans")
        return parse_raw_beans(body, int(time.time()))

    async def container_raw_insert(self, req: Request) -> Response:
        cid = container_id(req)
        beans = await self._raw_beans(req)
        await self.call(self.meta2.raw_insert, cid, beans,
                        force=parse_bool(req.args.get("force"), False),
                        allow_frozen="frozen" in req.args)
        return Response(204)

    async def container_raw_delete(self, req: Request) -> Response:
        cid = container_id(req)
        beans = await self._raw_beans(req)
        await self.call(self.meta2.raw_delete, cid, beans)
        return Response(204)

    # -- contents ----------------------------------------------------------------------
    async def content_prepare(self, req: Request) -> Response:
        cid = container_id(req)
        body = await req.json()
        if not isinstance(body, dict) or "size" not in body:
            raise bad_request("Missing size estimation")
        size = body["size"]
        if isinstance(size, str) and size.strip().isdigit():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request("Invalid size format")
        policy = body.get("policy")
        if policy is not None and not isinstance(policy, str):
            raise bad_request("Invalid policy format")
        found = await self.call(self.meta2.content_prepare, cid, size,
                                policy or None)
        return json_response(found)

    async def content_create(self, req: Request) -> Response:
        cid = container_id(req)
        path = req.args.get("path")
        if not path:
            raise bad_request("Missing path in query string")
        if not is_utf8(path):
            raise bad_request("Invalid parameter 'path', not UTF-8")
        meta = content_meta(req)
        raw = await req.body(MAX_CREATE_BODY)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise bad_request("Invalid JSON body") from None
        await self.call(
            self.meta2.content_create, cid, path, meta, body,
            version_arg=integer(req.args.get("version"), "version"),
            append=flag(req, "append"), change_policy=flag(req, "change_policy"),
            force=flag(req, "force"), versioning=versioning(req),
            ctx=context(req))
        return Response(204)

    async def content_update(self, req: Request) -> Response:
        cid = container_id(req)
        path = req.args.get("path")
        if not path:
            raise bad_request("Missing path")
        _, version, _ = object_args(req)
        meta = content_meta(req)
        if meta.size is None:
            raise bad_request("Header: missing content size")
        body = await req.json(MAX_CREATE_BODY)
        await self.call(self.meta2.content_update, cid, path, meta, body,
                        version, ctx=context(req))
        return Response(204)

    async def content_locate(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        props = bool(parse_bool(req.args.get("properties"), True))
        found = await self.call(
            self.meta2.content_locate, cid, path, version, content,
            deleted=bool(parse_bool(req.args.get("deleted"), False)),
            properties=props)
        return json_response(chunk_list(found),
                             headers=content_headers(found, props))

    async def content_get_properties(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        found = await self.call(self.meta2.content_locate, cid, path, version,
                                content, deleted=True, chunks=False)
        return json_response({"properties": found.properties},
                             headers=content_headers(found, False))

    async def content_set_properties(self, req: Request) -> Response:
        cid = container_id(req)
        if req.args.get("content"):
            raise bad_request("Content. not allowed in the URL")
        path, version, _ = object_args(req)
        body = await req.json()
        if body is not None and (not isinstance(body, dict)
                                 or "properties" not in body):
            raise bad_request("Missing 'properties' in JSON body")
        props = (body or {}).get("properties")
        await self.call(self.meta2.content_set_properties, cid, path, props,
                        version, flush="flush" in req.args, ctx=context(req))
        return Response(204)

    async def content_del_properties(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        await self.call(self.meta2.content_del_properties, cid,
                        await req.json(), path, version, content,
                        ctx=context(req))
        return Response(204)

    async def content_delete(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        await self.call(self.meta2.content_delete, cid, path, version, content,
                        delete_marker=flag(req, "delete_marker"),
                        versioning=versioning(req), ctx=context(req))
        return Response(204)

    async def content_delete_many(self, req: Request) -> Response:
        cid = container_id(req)
        body = await req.json()
        items = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(
                isinstance(i, dict) and isinstance(i.get("name"), str)
                for i in items):
            raise bad_request("Invalid body: expected "
                              '{"contents": [{"name": ...}, ...]}')
        if len(items) > MAX_BULK_DELETE:
            raise HttpError(413, "Payload Too Large", status=413)
        results = await self.call(
            self.meta2.content_delete_many, cid, [i["name"] for i in items],
            delete_marker=flag(req, "delete_marker"),
            versioning=versioning(req), ctx=context(req))
        return json_response({"contents": results})

    async def content_touch(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        await self.call(self.meta2.content_touch, cid, path, version, content,
                        ctx=context(req))
        return Response(204)

    async def content_drain(self, req: Request) -> Response:
        cid = container_id(req)
        path, version, content = object_args(req)
        await self.call(self.meta2.content_drain, cid, path, version, content,
                        ctx=context(req))
        return Response(204)

    async def content_truncate(self, req: Request) -> Response:
        cid = container_id(req)
        path = req.args.get("path")
        if not path:
            raise bad_request("Missing path")
        _, version, _ = object_args(req)
        size = integer(req.args.get("size"), "size",
                       "Missing/invalid size parameter")
        if size is None or size < 0:
            raise bad_request("Missing/invalid size parameter")
        await self.call(self.meta2.content_truncate, cid, path, size, version,
                        ctx=context(req))
        return Response(204)

    async def content_purge(self, req: Request) -> Response:
        cid = container_id(req)
        path = req.args.get("path")
        if not path:
            raise bad_request("Missing path")
        maxvers = integer(req.args.get("maxvers"), "maxvers")
        await self.call(self.meta2.purge, cid, maxvers, path, ctx=context(req))
        return Response(204)

    # -- admin on the base ------------------------------------------------------------
    async def admin(self, req: Request) -> Response:
        action = req.match["action"]
        cid = container_id(req)
        statuses = {"freeze": OIO_DB_FROZEN, "enable": OIO_DB_ENABLED,
                    "disable": OIO_DB_DISABLED}
        if action in statuses:
            await self.call(self.meta2.set_status, cid, statuses[action])
            return json_response({})
        if action == "get_properties":
            admin = await self.call(self.meta2.container_properties, cid, True)
            props, system = split_admin(admin)
            return json_response({"properties": props, "system": system})
        if action == "set_properties":
            return await self.container_set_properties(req)
        if action == "del_properties":
            return await self.container_del_properties(req)
        if action == "snapshot":
            return await self.admin_snapshot(req, cid)
        raise Meta2Error(501, f"admin/{action} not implemented by meta2")

    async def admin_snapshot(self, req: Request, cid: str) -> Response:
        """Create this container as a copy of `source_cid` (hosted by the
        meta2 at `source`), named `account`/`container`."""
        body = await req.json()
        if not isinstance(body, dict):
            raise bad_request("Invalid body: expected an object")
        fields = {}
        for key in ("account", "container", "source", "source_cid"):
            value = body.get(key)
            if not isinstance(value, str) or not value:
                raise bad_request(f"Missing or invalid '{key}'")
            fields[key] = value
        source_cid = fields["source_cid"].upper()
        if len(source_cid) != 64 or not all(c in _HEX for c in source_cid):
            raise bad_request("Invalid 'source_cid'")
        if source_cid == cid:
            raise bad_request("The snapshot must either have a different "
                              "name or be placed in another account")
        await self.call(self.snapshots.snapshot, cid, fields["account"],
                        fields["container"], fields["source"], source_cid,
                        peers_hint(req))
        if self.replicator is not None:
            # A replicated snapshot: its other replicas copy it whole.
            await self.replicator.adopt(base_name(cid))
        return Response(204)

    async def admin_dump(self, req: Request) -> Response:
        """The whole base, a consistent SQLite file (for snapshots)."""
        cid = container_id(req)
        fd, size = await self.call(self.snapshots.dump, cid)
        return FileResponse(200, {"Content-Type": "application/x-sqlite3"},
                            fd, 0, size)
