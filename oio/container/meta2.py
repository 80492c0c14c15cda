"""The meta2 logic: containers, objects, versions and properties.

A plain class over `BaseCache`; every method is blocking (SQLite) and is
meant to run in a worker thread (see app.py). Errors are `Meta2Error`
carrying the OpenIO status the client must see (proxy spec §2, §5, §7.4,
§7.5). Every state change is announced through `self.events.emit`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oio.common.chunk_quality import (
    PERFECTIBLE_EVENT,
    QUALITY_PREFIX,
    parse_qualities,
    perfectible_metachunks,
)
from oio.common.constants import (
    CODE_CONTAINER_EXISTS,
    CODE_CONTAINER_NOTEMPTY,
    CODE_CONTENT_DELETED,
    CODE_CONTENT_DRAINED,
    CODE_CONTENT_EXISTS,
    CODE_CONTENT_PRECONDITION,
    CODE_POLICY_NOT_SUPPORTED,
    CODE_UNAVAILABLE,
    M2_PROP_CTIME,
    M2_PROP_DAMAGED_OBJECTS,
    M2_PROP_MISSING_CHUNKS,
    M2_PROP_OBJECTS,
    M2_PROP_STORAGE_POLICY,
    M2_PROP_USAGE,
    M2_PROP_VERSIONING_POLICY,
    OIO_DB_DISABLED,
    OIO_DB_ENABLED,
    OIO_DB_FROZEN,
)
from oio.common.http_server import is_utf8
from oio.common.utils import timestamp_us
from oio.conscience.policies import DataSecurity, StoragePolicy

from .backend import Alias, BaseCache, BaseNotFound, Chunk, ContainerBase, Header
from .chunks import (
    check_chunks,
    metachunk_sizes,
    metachunks,
    parse_chunks,
    pos_key,
    shift_chunks,
    split_pos,
    valid_hash,
)
from .errors import (
    CODE_CONTAINER_DISABLED,
    CODE_CONTAINER_ENABLED,
    Meta2Error,
    bad_request,
    container_not_found,
    content_not_found,
    frozen,
)
from .events import NullNotifier
from .listing import ListParams, ListResult, list_objects
from .raw_beans import ALIAS, CHUNK, HEADER, RawBean

DELETED_CONTENT_ID = b"DELETED".hex().upper()
DEFAULT_MIME_TYPE = "application/octet-stream"
DEFAULT_CHUNK_METHOD = "plain"
DEFAULT_POLICY = "NONE"
PLAIN_POLICY = StoragePolicy(DEFAULT_POLICY, "rawx",
                             DataSecurity.parse(DEFAULT_POLICY, ""))
DRAINED = "drained"
CHUNK_PROPERTY_PREFIX = QUALITY_PREFIX
MAX_NAME_BYTES = 1023
M2_PROP_VERSION = "sys.m2.version"
M2_PROP_STATUS = "sys.status"
M2_PROP_DELETE_EXCEEDING = "sys.m2.policy.version.delete_exceeding"
M2_PROP_KEEP_DELETED = "sys.m2.keep_deleted_delay"
USER_PREFIX = "user."
SYS_PREFIX = "sys."


@dataclass
class Context:
    """Who asked: copied into events (request ID, client User-Agent)."""

    req_id: str | None = None
    origin: str | None = None


@dataclass
class ContentMeta:
    """The `x-oio-content-meta-*` headers of `content/create`."""

    content_id: str | None = None
    version: int | None = None
    size: int | None = None
    hash: str | None = None
    policy: str | None = None
    chunk_method: str | None = None
    mime_type: str | None = None


@dataclass
class Versioning:
    """Per-request versioning headers (proxy spec §5.2)."""

    force: int | None = None
    simulate: bool = False


@dataclass
class Located:
    """One object version as read by locate / get_properties."""

    alias: Alias
    header: Header | None
    chunks: list[Chunk] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def check_name(path) -> str:
    """An object name: valid UTF-8, 1 to 1023 bytes; 400 otherwise."""
    if not isinstance(path, str) or not path:
        raise bad_request("Missing path")
    if not is_utf8(path):
        raise bad_request("Invalid path: not UTF-8")
    if len(path.encode("utf-8")) > MAX_NAME_BYTES:
        raise bad_request("Invalid path: longer than 1023 bytes")
    return path


def check_string_map(value, what: str) -> dict[str, str | None]:
    """A JSON object of string (or null) values; 400 otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"Invalid {what}: expected an object")
    for key, val in value.items():
        if not key or (val is not None and not isinstance(val, str)):
            raise bad_request(f"Invalid property '{key}'")
    return value


def _now() -> int:
    return int(time.time())


def _count_missing(w, content: str, before: int, after: int) -> None:
    """Record that `content` now misses `after` chunks (it missed `before`),
    in its header and in the container's damaged/missing counters."""
    if after == before:
        return
    w.update_header(content, missing=after)
    w.add_counter(M2_PROP_DAMAGED_OBJECTS, bool(after) - bool(before))
    w.add_counter(M2_PROP_MISSING_CHUNKS, after - before)


class Meta2:
    """Container service logic over one data directory."""

    def __init__(self, datadir: str, namespace: str, ns_info=None,
                 events=None, max_open: int = 256, local_addr: str = "",
                 local_options: dict[str, str] | None = None):
        self.namespace = namespace
        self.ns_info = ns_info
        # Variables of the [namespace] section of sds.conf (meta2.flush_limit...),
        # used where the conscience's namespace options do not set them.
        self.local_options = dict(local_options or {})
        self.events = events or NullNotifier()
        self.local_addr = local_addr
        self.bases = BaseCache(datadir, max_open)

    def close(self) -> None:
        self.bases.close()

    # -- helpers --
    def _run(self, cid: str, fn, create: bool = False):
        try:
            return self.bases.run(cid, fn, create=create)
        except BaseNotFound:
            raise container_not_found(cid) from None

    def _write(self, cid: str, fn, batch: bool = True, create: bool = False):
        """Run the write `fn(base)`, with the other writes queued on the base
        when `batch` (one commit for all, see backend.py); then wait until
        its events are on disk (outside the base lock: the wait is shared
        with the other writers of every container)."""
        try:
            if batch and not create:
                try:
                    return self.bases.run_batched(cid, fn)
                except BaseNotFound:
                    raise container_not_found(cid) from None
            return self._run(cid, fn, create=create)
        finally:
            self.events.sync()

    def _ns_option(self, key: str, default: str) -> str:
        options = getattr(self.ns_info, "options", None) or {}
        value = options.get(key)
        if value is None:
            value = self.local_options.get(key)
        return default if value is None else str(value)

    def get_policy(self, name: str | None):
        """The StoragePolicy named `name` (None: namespace default)."""
        if self.ns_info is None:
            raise Meta2Error(CODE_UNAVAILABLE,
                             "Namespace information not loaded yet")
        if name and name.upper() == DEFAULT_POLICY and \
                name not in (getattr(self.ns_info, "policies", None) or {}):
            # As 7.2: a policy named NONE is plain, one copy, whatever the
            # namespace's default (only no name at all means that default).
            return PLAIN_POLICY
        try:
            return self.ns_info.get_policy(name)
        except ValueError as exc:
            raise Meta2Error(CODE_POLICY_NOT_SUPPORTED,
                             f"Invalid storage policy {name!r}: {exc}") from None

    def chunk_size(self) -> int:
        return int(getattr(self.ns_info, "chunk_size", 0) or 10 * 1024 * 1024)

    def _emit(self, event: str, base: ContainerBase, ctx: Context | None,
              data, alias: Alias | None = None) -> None:
        url = {"ns": self.namespace,
               "account": base.admin.get("sys.account"),
               "user": base.admin.get("sys.user.name"), "id": base.cid}
        if alias is not None:
            url["path"] = alias.name
            url["content"] = alias.content
            url["version"] = str(alias.version - 1 if alias.deleted
                                 else alias.version)
        when = timestamp_us()
        parts = split_content_beans(event, data) if isinstance(data, list) \
            else [data]
        for index, part in enumerate(parts):
            payload = {"event": event, "when": when, "url": url}
            if ctx is not None:
                if ctx.req_id:
                    payload["request_id"] = ctx.req_id
                if ctx.origin:
                    payload["origin"] = ctx.origin
            if isinstance(data, list):
                payload.update(part=index, parts=len(parts))
            payload["data"] = part
            # Within a batch, only once the batch is committed.
            base.after_commit(self.events.emit, event, payload)

    @staticmethod
    def _writable(base: ContainerBase) -> None:
        if base.admin.get(M2_PROP_STATUS, "0") != str(OIO_DB_ENABLED):
            raise frozen()

    def _max_versions(self, w, versioning: Versioning | None) -> int:
        if versioning is not None and versioning.simulate:
            return -1
        if versioning is not None and versioning.force is not None:
            w.set_admin(M2_PROP_VERSIONING_POLICY, str(versioning.force))
            return versioning.force
        raw = w.admin_get(M2_PROP_VERSIONING_POLICY)
        if raw is None:
            raw = self._ns_option("meta2.max_versions", "1")
        try:
            return int(raw)
        except ValueError:
            return 1

    def _delete_exceeding(self, w) -> bool:
        raw = w.admin_get(M2_PROP_DELETE_EXCEEDING)
        if raw is None:
            raw = self._ns_option("meta2.delete_exceeding_versions", "false")
        return str(raw).strip().lower() in ("1", "true", "yes", "on")

    @staticmethod
    def _beans(alias: Alias, header: Header | None, chunks: list[Chunk],
               props: dict[str, str] | None = None) -> list[dict]:
        """Beans of one version, as in content events (events.md §3.3)."""
        beans = [{"type": "aliases", "name": alias.name,
                  "version": alias.version, "ctime": alias.ctime,
                  "mtime": alias.mtime, "deleted": alias.deleted,
                  "header": alias.content}]
        if header is not None:
            beans.append({"type": "contents_headers", "id": header.id,
                          "hash": header.hash or None, "size": header.size,
                          "policy": header.policy,
                          "chunk-method": header.chunk_method,
                          "mime-type": header.mime_type})
        beans.extend({"type": "chunks", "id": c.id, "pos": c.pos,
                      "hash": c.hash, "size": c.size} for c in chunks)
        beans.extend({"type": "properties", "alias": alias.name,
                      "version": alias.version, "key": k, "value": v}
                     for k, v in (props or {}).items())
        return beans

    def _remove_version(self, w, alias: Alias, removed: list) -> None:
        """Really delete one version and update the counters."""
        props = w.base.properties(alias.name, alias.version)
        header, chunks = w.delete_alias(alias)
        if header is not None:
            w.add_counter(M2_PROP_OBJECTS, -1)
            w.add_counter(M2_PROP_USAGE, -header.size)
            if header.missing:
                w.add_counter(M2_PROP_DAMAGED_OBJECTS, -1)
                w.add_counter(M2_PROP_MISSING_CHUNKS, -header.missing)
        removed.append((alias, header, chunks, props))

    def _emit_removed(self, base, ctx, removed: list) -> None:
        for alias, header, chunks, props in removed:
            self._emit("storage.content.deleted", base, ctx,
                       self._beans(alias, header, chunks, props), alias)

    # -- containers --
    def container_create(self, cid: str, account: str, reference: str,
                         properties=None, system=None,
                         ctx: Context | None = None,
                         peers: list[str] | None = None) -> bool:
        """Create the base; False when it already exists (then nothing is
        changed). `peers`: every replica of the base (this service
        included), when it has several."""
        if not account or not reference:
            raise bad_request("Missing account or reference")
        props = check_string_map(properties, "properties")
        system = self._check_system(check_string_map(system, "system"))

        def create(base: ContainerBase) -> bool:
            if base.initialized:
                return False
            now = timestamp_us()
            with base.write() as w:
                initial = {
                    "sys.account": account, "sys.user.name": reference,
                    "sys.ns": self.namespace, "sys.name": f"{cid}.1",
                    "sys.type": "meta2", M2_PROP_STATUS: str(OIO_DB_ENABLED),
                    "sys.m2.init": "1", M2_PROP_CTIME: str(now),
                    M2_PROP_VERSION: "0", M2_PROP_USAGE: "0",
                    M2_PROP_OBJECTS: "0", M2_PROP_DAMAGED_OBJECTS: "0",
                    M2_PROP_MISSING_CHUNKS: "0"}
                replicas = sorted(set(peers or ())) or (
                    [self.local_addr] if self.local_addr else [])
                if replicas:
                    initial["sys.peers"] = ",".join(replicas)
                for key, value in initial.items():
                    w.set_admin(key, value)
                self._apply_properties(w, props, system, flush=False)
            self._emit("storage.container.new", base, ctx, {
                "system": {k: v for k, v in system.items() if v},
                "properties": {k: v for k, v in props.items() if v},
                "peers": base.peers(),
                "bucket": base.admin.get("sys.m2.bucket.name")})
            return True

        return self._write(cid, create, create=True)

    def _check_system(self, system: dict) -> dict:
        for key in system:
            if not key.startswith(SYS_PREFIX):
                raise bad_request(f"Invalid property name '{key}'")
        policy = system.get(M2_PROP_STORAGE_POLICY)
        if policy:
            self.get_policy(policy)
        return system

    @staticmethod
    def _apply_properties(w, props: dict, system: dict, flush: bool) -> None:
        if flush:
            for key in [k for k in w.base.admin if k.startswith(USER_PREFIX)]:
                if key not in w.admin_changes:
                    w.del_admin(key)
        items = [(USER_PREFIX + k, v) for k, v in props.items()]
        items += list(system.items())
        for key, value in items:
            if value is None or value == "":
                w.del_admin(key)
            else:
                w.set_admin(key, value)

    def container_destroy(self, cid: str, force: bool = False,
                          ctx: Context | None = None) -> None:
        """Remove the base; 409/438 when chunks remain, unless `force`."""
        def check(base: ContainerBase) -> None:
            replicator = self.bases.replicator
            if replicator is not None:
                # NotMaster if another replica took over meanwhile.
                replicator.lease(base.name, len(base.peers()) > 1)
            if not force and base.has_chunks():
                raise Meta2Error(CODE_CONTAINER_NOTEMPTY, "Container not empty")
            self._emit("storage.container.deleted", base, ctx,
                       {"bucket": base.admin.get("sys.m2.bucket.name")})
            # Every copy of the base goes: the rdir of each meta2 volume
            # forgets the container (events.md §3.7).
            for peer in base.peers() or (
                    [self.local_addr] if self.local_addr else []):
                self._emit("storage.meta2.deleted", base, ctx,
                           {"peer": peer})

        try:
            self.bases.destroy(cid, check)
        except BaseNotFound:
            raise container_not_found(cid) from None
        finally:
            self.events.sync()

    def container_properties(self, cid: str, stats: bool = False
                             ) -> dict[str, str]:
        """The whole admin table (plus `stats.*` page counters if asked)."""
        def read(base: ContainerBase) -> dict[str, str]:
            admin = dict(base.admin)
            if stats:
                admin.update(base.page_stats())
            return admin
        return self._run(cid, read)

    def container_set_properties(self, cid: str, properties=None, system=None,
                                 flush: bool = False,
                                 ctx: Context | None = None) -> None:
        props = check_string_map(properties, "properties")
        system = self._check_system(check_string_map(system, "system"))
        if not props and not system:
            raise bad_request("No properties found in JSON object")
        only_status = set(system) <= {M2_PROP_STATUS} and not props

        def apply(base: ContainerBase) -> None:
            if not only_status:
                self._writable(base)
            # The event tells what changed: with `flush`, the properties
            # cleared too (as None), as 7.2's meta2 does.
            changed = {k[len(USER_PREFIX):]: None for k in base.admin
                       if flush and k.startswith(USER_PREFIX)}
            changed.update(props)
            with base.write() as w:
                self._apply_properties(w, props, system, flush)
            self._emit("storage.container.update", base, ctx, {
                "system": system, "properties": changed,
                "bucket": base.admin.get("sys.m2.bucket.name")})
        self._write(cid, apply)

    def container_del_properties(self, cid: str, keys,
                                 ctx: Context | None = None) -> None:
        """Delete user properties `keys` (all of them when empty)."""
        if not isinstance(keys, list) or not all(
                isinstance(k, str) for k in keys):
            raise bad_request("Bad names")

        def apply(base: ContainerBase) -> None:
            self._writable(base)
            wanted = ([USER_PREFIX + k for k in keys] if keys else
                      [k for k in base.admin if k.startswith(USER_PREFIX)])
            with base.write() as w:
                for key in wanted:
                    w.del_admin(key)
            self._emit("storage.container.update", base, ctx, {
                "system": {}, "properties": {k[5:]: None for k in wanted},
                "bucket": base.admin.get("sys.m2.bucket.name")})
        self._write(cid, apply)

    def container_list(self, cid: str, params: ListParams) -> ListResult:
        return self._run(cid, lambda base: list_objects(base, params))

    def container_touch(self, cid: str, recompute: bool = False,
                        damaged: int = 0, missing: int = 0,
                        ctx: Context | None = None) -> None:
        """Re-announce the container state; with `recompute`, recount the
        objects and bytes and store the given damaged/missing counters."""
        def touch(base: ContainerBase) -> None:
            if recompute:
                objects, usage = base.recount()
                with base.write() as w:
                    w.set_admin(M2_PROP_OBJECTS, str(objects))
                    w.set_admin(M2_PROP_USAGE, str(usage))
                    w.set_admin(M2_PROP_DAMAGED_OBJECTS, str(damaged))
                    w.set_admin(M2_PROP_MISSING_CHUNKS, str(missing))
                    w.add_counter(M2_PROP_VERSION, 1)
            self._emit_state(base, ctx)
        self._write(cid, touch, batch=False)

    def _emit_state(self, base: ContainerBase, ctx) -> None:
        admin = base.admin
        self._emit("storage.container.state", base, None, {
            "bucket": admin.get("sys.m2.bucket.name"),
            "policy": admin.get(M2_PROP_STORAGE_POLICY),
            "ctime": int(admin.get(M2_PROP_CTIME, "0")),
            "bytes-count": int(admin.get(M2_PROP_USAGE, "0")),
            "object-count": int(admin.get(M2_PROP_OBJECTS, "0")),
            "damaged-objects": int(admin.get(M2_PROP_DAMAGED_OBJECTS, "0")),
            "missing-chunks": int(admin.get(M2_PROP_MISSING_CHUNKS, "0"))})

    def container_flush(self, cid: str, limit: int | None = None,
                        ctx: Context | None = None) -> bool:
        """Delete up to `limit` versions; True when some remain."""
        limit = limit or int(self._ns_option("meta2.flush_limit", "1000"))

        def flush(base: ContainerBase) -> bool:
            removed: list = []
            with base.write() as w:
                for alias in base.oldest_aliases(limit):
                    self._remove_version(w, alias, removed)
                remaining = base.alias_count()
                if not remaining:
                    w.set_admin(M2_PROP_USAGE, "0")
                    w.set_admin(M2_PROP_OBJECTS, "0")
                    w.set_admin(M2_PROP_DAMAGED_OBJECTS, "0")
                    w.set_admin(M2_PROP_MISSING_CHUNKS, "0")
                if removed:
                    w.add_counter(M2_PROP_VERSION, 1)
            self._emit_removed(base, ctx, removed)
            if removed:
                self._emit_state(base, ctx)
            return remaining > 0
        return self._write(cid, flush, batch=False)

    def purge(self, cid: str, maxvers: int | None = None,
              path: str | None = None, ctx: Context | None = None) -> None:
        """Drop versions beyond `maxvers` (default: the container's max) and
        every version of names deleted longer ago than the retention delay."""
        if path is not None:
            check_name(path)

        def run(base: ContainerBase) -> None:
            self._writable(base)
            removed: list = []
            with base.write() as w:
                keep = maxvers if maxvers is not None else self._max_versions(
                    w, None)
                keep = 1 if keep in (0, 1) else keep
                delay = int(w.admin_get(M2_PROP_KEEP_DELETED) or
                            self._ns_option("meta2.retention_period", "604800"))
                limit_us = timestamp_us() - delay * 1_000_000
                names = ([path] if path is not None else
                         [r[0] for r in base.q(
                             "SELECT DISTINCT alias FROM aliases")])
                for name in names:
                    versions = base.versions(name)
                    if not versions:
                        continue
                    if versions[0].deleted and versions[0].version < limit_us:
                        doomed = versions
                    elif keep < 0:
                        continue
                    else:
                        live = [v for v in versions if not v.deleted]
                        doomed = live[keep:]
                    for alias in doomed:
                        self._remove_version(w, alias, removed)
                if removed:
                    w.add_counter(M2_PROP_VERSION, 1)
            self._emit_removed(base, ctx, removed)
        self._write(cid, run, batch=False)

    # -- admin (freeze / enable) --
    def set_status(self, cid: str, status: int) -> None:
        """Freeze, enable or disable a base (proxy spec §7.6)."""
        def run(base: ContainerBase) -> None:
            current = int(base.admin.get(M2_PROP_STATUS, "0"))
            if status == OIO_DB_FROZEN and current == OIO_DB_FROZEN:
                raise frozen()
            if status == OIO_DB_FROZEN and current == OIO_DB_DISABLED:
                raise Meta2Error(CODE_CONTAINER_DISABLED, "Base disabled")
            if status == OIO_DB_ENABLED and current == OIO_DB_ENABLED:
                raise Meta2Error(CODE_CONTAINER_ENABLED, "Base already enabled")
            with base.write() as w:
                w.set_admin(M2_PROP_STATUS, str(status))
        self._write(cid, run, batch=False)

    # -- contents: reads --
    def content_prepare(self, cid: str, size: int, policy: str | None = None
                        ) -> dict:
        """The policy and chunk method a new object would get."""
        def read(base: ContainerBase) -> str | None:
            return base.admin.get(M2_PROP_STORAGE_POLICY)
        name = policy or self._run(cid, read)
        pol = self.get_policy(name)
        return {"policy": pol.name, "chunk_method": pol.chunk_method(),
                "version": timestamp_us(), "mime_type": DEFAULT_MIME_TYPE,
                "chunk_size": self.chunk_size()}

    @staticmethod
    def _find(base: ContainerBase, path: str | None, version: int | None,
              content: str | None) -> Alias:
        if path is not None:
            alias = (base.latest_alias(path) if version is None
                     else base.get_alias(path, version))
        elif content:
            alias = base.alias_by_content(content.upper())
        else:
            raise bad_request("Missing content path or ID")
        if alias is None:
            raise content_not_found()
        return alias

    def content_locate(self, cid: str, path: str | None = None,
                       version: int | None = None, content: str | None = None,
                       deleted: bool = False, chunks: bool = True,
                       properties: bool = True) -> Located:
        """One version (default latest) with its chunks and properties.

        404/426 on a delete marker (unless `deleted`), 410/427 when drained
        (only when `chunks` are wanted)."""
        if path is not None:
            check_name(path)

        def read(base: ContainerBase) -> Located:
            alias = self._find(base, path, version, content)
            if alias.deleted:
                if chunks and not deleted:
                    # proxy spec §2.4: a 404 on this route, not a 500
                    raise Meta2Error(CODE_CONTENT_DELETED,
                                     "Alias is a delete marker",
                                     http_status=404)
                props = base.properties(alias.name, alias.version) \
                    if properties else {}
                return Located(alias, None, [], props)
            header = base.header(alias.content)
            if chunks and header is not None and \
                    header.chunk_method == DRAINED:
                raise Meta2Error(CODE_CONTENT_DRAINED, "Content drained")
            found = base.chunks(alias.content) if chunks else []
            found.sort(key=lambda c: (pos_key(c.pos), c.id))
            props = base.properties(alias.name, alias.version) \
                if properties else {}
            return Located(alias, header, found, props)
        return self._run(cid, read)

    # -- contents: creation --
    def content_create(self, cid: str, path: str, meta: ContentMeta,
                       body, *, version_arg: int | None = None,
                       append: bool = False, change_policy: bool = False,
                       force: bool = False,
                       versioning: Versioning | None = None,
                       ctx: Context | None = None) -> None:
        """Save a new version (or append to / change the policy of one)."""
        check_name(path)
        now = _now()
        raw_chunks, props = _create_body(body)
        chunks = parse_chunks(raw_chunks, now)
        if meta.size is None:
            raise bad_request("Header: missing content size")
        if meta.size < 0:
            raise bad_request("Header: invalid content size")
        if meta.hash is not None and meta.hash != "" and not valid_hash(
                meta.hash):
            raise bad_request("Header: invalid content hash")
        if meta.content_id is not None and not _valid_content_id(
                meta.content_id):
            raise bad_request("Header: invalid content ID")
        if version_arg is not None and meta.version is not None and \
                version_arg != meta.version:
            raise bad_request("Version mismatch between query and header")
        if meta.version is not None and meta.version <= 0:
            raise bad_request("Header: invalid content version")
        policy = self.get_policy(meta.policy or None)

        def create(base: ContainerBase) -> None:
            self._writable(base)
            latest = base.latest_alias(path)
            if append and latest is not None and not latest.deleted:
                return self._append(base, latest, chunks, meta, now, ctx)
            if change_policy:
                return self._change_policy(base, path, meta, policy, chunks,
                                           now, ctx)
            return self._create(base, path, latest, meta, policy, chunks,
                                props, now, force, versioning, ctx)
        self._write(cid, create)

    def _create(self, base, path, latest, meta, policy, chunks, props, now,
                force, versioning, ctx) -> None:
        if meta.content_id is None:
            raise bad_request("Header: missing content ID")
        if meta.version is None:
            raise bad_request("Header: missing content version")
        content_id = meta.content_id.upper()
        version = meta.version
        missing = check_chunks(policy, chunks, meta.size)
        header = Header(content_id, (meta.hash or "").upper(), meta.size, now,
                        now, meta.mime_type or DEFAULT_MIME_TYPE,
                        meta.chunk_method or DEFAULT_CHUNK_METHOD,
                        policy.name, missing)
        removed: list = []
        with base.write() as w:
            maxv = self._max_versions(w, versioning)
            existing = base.get_alias(path, version)
            if existing is not None and not force:
                raise Meta2Error(CODE_CONTENT_EXISTS, "Alias already saved")
            if existing is not None:
                self._remove_version(w, existing, removed)
                latest = base.latest_alias(path)
            if base.content_used(content_id):
                raise Meta2Error(CODE_CONTENT_EXISTS,
                                 "Content ID already used")
            if latest is not None and version < latest.version and \
                    0 <= maxv <= 1:
                raise Meta2Error(CODE_CONTENT_PRECONDITION,
                                 "A newer version exists, versioning is off")
            ctime = latest.ctime if latest is not None else now
            alias = Alias(path, version, content_id, False, ctime, now)
            if latest is not None and 0 <= maxv <= 1:
                self._remove_version(w, latest, removed)
            w.insert_alias(alias)
            w.insert_header(header)
            w.insert_chunks(content_id, chunks)
            user_props = {k: v for k, v in props.items()
                          if not k.startswith(CHUNK_PROPERTY_PREFIX)}
            w.set_properties(path, version, user_props)
            w.add_counter(M2_PROP_OBJECTS, 1)
            w.add_counter(M2_PROP_USAGE, meta.size)
            if missing:
                w.add_counter(M2_PROP_DAMAGED_OBJECTS, 1)
                w.add_counter(M2_PROP_MISSING_CHUNKS, missing)
            if maxv > 1 and self._delete_exceeding(w):
                live = [v for v in base.versions(path) if not v.deleted]
                for old in live[maxv:]:
                    self._remove_version(w, old, removed)
            w.add_counter(M2_PROP_VERSION, 1)
        self._emit_removed(base, ctx, removed)
        self._emit("storage.content.new", base, ctx, self._beans(
            alias, header, [], {k: v for k, v in user_props.items() if v}),
            alias)
        if missing:
            self._emit_broken(base, ctx, alias, policy, chunks)
        self._emit_perfectible(base, ctx, alias, chunks, props)
        self._emit_state(base, ctx)

    def _emit_broken(self, base, ctx, alias, policy, chunks) -> None:
        ec = policy.data_security.kind == "ec"
        present = {c.pos for c in chunks}
        missing_pos = []
        if ec:
            total = policy.nb_chunks()
            for mc in metachunks(chunks, True):
                missing_pos += [f"{mc}.{i}" for i in range(total)
                                if f"{mc}.{i}" not in present]
        else:
            groups = metachunks(chunks, False)
            for mc, group in groups.items():
                missing_pos += [str(mc)] * max(policy.nb_chunks() - len(group),
                                               0)
        self._emit("storage.content.broken", base, ctx, {
            "present_chunks": [{"id": c.id, "pos": c.pos, "hash": c.hash,
                                "size": c.size} for c in chunks],
            "missing_chunks": missing_pos}, alias)

    def _emit_perfectible(self, base, ctx, alias, chunks, props) -> None:
        """One event per metachunk placed below the pool's quality, from
        the chunk qualities the client got at prepare (they are not kept:
        only the improver needs them, and it gets them in the event)."""
        qualities = parse_qualities(props)
        if not qualities:
            return
        beans = [{"id": c.id, "pos": c.pos, "hash": c.hash, "size": c.size}
                 for c in chunks]
        for data in perfectible_metachunks(beans, qualities):
            self._emit(PERFECTIBLE_EVENT, base, ctx, data, alias)

    def _append(self, base, latest: Alias, chunks, meta, now, ctx) -> None:
        header = base.header(latest.content)
        if header is None:
            raise content_not_found("Content header not found")
        if header.chunk_method == DRAINED:
            raise Meta2Error(CODE_CONTENT_DRAINED, "Content drained")
        existing = base.chunks(latest.content)
        shift = 1 + max((split_pos(c.pos)[0] for c in existing
                         if pos_key(c.pos)[0] < 1 << 62), default=-1)
        ec = any("." in c.pos for c in chunks)
        try:
            moved = shift_chunks(chunks, shift)
        except ValueError:
            raise bad_request("Invalid chunk position") from None
        added = sum(metachunk_sizes(metachunks(moved, ec)).values())
        # The appended metachunks may lack chunks too: the object's count
        # and the container's damaged/missing counters follow (as 7.2).
        missing = header.missing + check_chunks(
            self.get_policy(header.policy), moved, 0, first_mc=shift)
        with base.write() as w:
            w.insert_chunks(latest.content, moved)
            w.update_header(latest.content, size=header.size + added, hash="",
                            mtime=now)
            _count_missing(w, latest.content, header.missing, missing)
            w.update_alias(latest.name, latest.version, mtime=now)
            w.add_counter(M2_PROP_USAGE, added)
            w.add_counter(M2_PROP_VERSION, 1)
        header.size += added
        header.hash = ""
        self._emit("storage.content.append", base, ctx,
                   self._beans(latest, header, []), latest)
        self._emit_state(base, ctx)

    def _change_policy(self, base, path, meta, policy, chunks, now, ctx
                       ) -> None:
        if meta.content_id is None or meta.version is None:
            raise bad_request("Header: missing content ID or version")
        alias = base.get_alias(path, meta.version)
        if alias is None:
            raise content_not_found()
        if alias.deleted:
            raise bad_request("Cannot change the policy of a delete marker")
        old = base.header(alias.content)
        if old is None:
            raise content_not_found("Content header not found")
        if old.size != meta.size or (meta.hash and old.hash and
                                     old.hash.upper() != meta.hash.upper()):
            raise bad_request("Different content size or hash")
        content_id = meta.content_id.upper()
        if content_id != alias.content and base.content_used(content_id):
            raise Meta2Error(CODE_CONTENT_EXISTS, "Content ID already used")
        missing = check_chunks(policy, chunks, meta.size)
        header = Header(content_id, old.hash, old.size, old.ctime, old.mtime,
                        meta.mime_type or old.mime_type,
                        meta.chunk_method or DEFAULT_CHUNK_METHOD,
                        policy.name, missing)
        old_chunks = base.chunks(alias.content)
        with base.write() as w:
            w.db.execute("DELETE FROM contents WHERE id=?", (alias.content,))
            w.delete_chunks(alias.content)
            w.insert_header(header)
            w.insert_chunks(content_id, chunks)
            w.update_alias(path, alias.version, content=content_id)
            w.add_counter(M2_PROP_DAMAGED_OBJECTS,
                          (1 if missing else 0) - (1 if old.missing else 0))
            w.add_counter(M2_PROP_MISSING_CHUNKS, missing - old.missing)
            w.add_counter(M2_PROP_VERSION, 1)
        self._emit("storage.content.deleted", base, ctx,
                   self._beans(alias, old, old_chunks), alias)
        alias.content = content_id
        self._emit("storage.content.new", base, ctx,
                   self._beans(alias, header, []), alias)

    # -- contents: properties --
    def content_set_properties(self, cid: str, path: str, properties,
                               version: int | None = None, flush: bool = False,
                               ctx: Context | None = None) -> None:
        check_name(path)
        props = check_string_map(properties, "properties")

        def run(base: ContainerBase) -> None:
            self._writable(base)
            alias = self._find(base, path, version, None)
            with base.write() as w:
                if flush:
                    w.delete_properties(alias.name, alias.version)
                w.set_properties(alias.name, alias.version, props)
            self._emit_update(base, ctx, alias)
        self._write(cid, run)

    def content_del_properties(self, cid: str, keys, path: str | None = None,
                               version: int | None = None,
                               content: str | None = None,
                               ctx: Context | None = None) -> None:
        """Delete `keys` of one version (all properties when empty)."""
        if path is not None:
            check_name(path)
        if not isinstance(keys, list) or not all(
                isinstance(k, str) for k in keys):
            raise bad_request("Array argument expected")

        def run(base: ContainerBase) -> None:
            self._writable(base)
            alias = self._find(base, path, version, content)
            with base.write() as w:
                w.delete_properties(alias.name, alias.version, keys or None)
            self._emit_update(base, ctx, alias)
        self._write(cid, run)

    def _emit_update(self, base, ctx, alias: Alias) -> None:
        header = None if alias.deleted else base.header(alias.content)
        self._emit("storage.content.update", base, ctx, self._beans(
            alias, header, [], base.properties(alias.name, alias.version)),
            alias)

    # -- contents: deletion --
    def content_delete(self, cid: str, path: str | None = None,
                       version: int | None = None, content: str | None = None,
                       delete_marker: bool = False,
                       versioning: Versioning | None = None,
                       ctx: Context | None = None) -> None:
        """Delete a version, or add / remove a delete marker (spec §5.2)."""
        if path is not None:
            check_name(path)
        self._write(cid, lambda base: self._delete(
            base, path, version, content, delete_marker, versioning, ctx))

    def _delete(self, base, path, version, content, delete_marker,
                versioning, ctx) -> None:
        self._writable(base)
        removed: list = []
        marker: Alias | None = None
        with base.write() as w:
            maxv = self._max_versions(w, versioning)
            enabled = maxv < 0 or maxv > 1
            if delete_marker and not enabled:
                raise bad_request("Delete markers need versioning")
            if path is None and version is None:
                alias = self._find(base, None, None, content)
                path = alias.name
                version = alias.version if not delete_marker else None
            if version is not None:
                if maxv == 0 and version != 0:
                    raise bad_request("Versioning disabled: no version allowed")
                alias = base.get_alias(path, version)
                if alias is None:
                    raise content_not_found()
                if delete_marker:
                    if alias.deleted:
                        raise bad_request("Already a delete marker")
                    marker = self._add_marker(w, base, path, version + 1)
                else:
                    self._remove_version(w, alias, removed)
            else:
                latest = base.latest_alias(path)
                if latest is None:
                    raise content_not_found()
                if enabled and latest.deleted and delete_marker:
                    raise bad_request("Already a delete marker")
                if enabled and not latest.deleted:
                    marker = self._add_marker(w, base, path,
                                              latest.version + 1)
                else:
                    self._remove_version(w, latest, removed)
            w.add_counter(M2_PROP_VERSION, 1)
        self._emit_removed(base, ctx, removed)
        if marker is not None:
            self._emit("storage.content.new", base, ctx,
                       self._beans(marker, None, []), marker)
        self._emit_state(base, ctx)

    @staticmethod
    def _add_marker(w, base, path: str, version: int) -> Alias:
        if base.get_alias(path, version) is not None:
            raise Meta2Error(CODE_CONTENT_EXISTS, "Alias already saved")
        now = _now()
        marker = Alias(path, version, DELETED_CONTENT_ID, True, now, now)
        w.insert_alias(marker)
        return marker

    def content_delete_many(self, cid: str, names: list[str],
                            delete_marker: bool = False,
                            versioning: Versioning | None = None,
                            ctx: Context | None = None) -> list[dict]:
        """Delete the latest version of each name: per-item results."""
        results = []
        for name in names:
            try:
                self.content_delete(cid, name, delete_marker=delete_marker,
                                    versioning=versioning, ctx=ctx)
                results.append({"name": name, "status": 204, "message": "ok"})
            except Meta2Error as exc:
                results.append({"name": name, "status": exc.status,
                                "message": exc.message})
        return results

    # -- contents: misc --
    def content_touch(self, cid: str, path: str | None = None,
                      version: int | None = None, content: str | None = None,
                      ctx: Context | None = None) -> None:
        """Announce the version again (no data change)."""
        if path is not None:
            check_name(path)

        def run(base: ContainerBase) -> None:
            alias = self._find(base, path, version, content)
            header = None if alias.deleted else base.header(alias.content)
            self._emit("storage.content.new", base, ctx, self._beans(
                alias, header, [], base.properties(alias.name, alias.version)),
                alias)
        self._write(cid, run, batch=False)

    def content_drain(self, cid: str, path: str | None = None,
                      version: int | None = None, content: str | None = None,
                      ctx: Context | None = None) -> None:
        """Drop the chunk records of a version; keep its metadata."""
        if path is not None:
            check_name(path)

        def run(base: ContainerBase) -> None:
            self._writable(base)
            alias = self._find(base, path, version, content)
            if alias.deleted:
                raise content_not_found("Alias is a delete marker")
            header = base.header(alias.content)
            if header is None:
                raise content_not_found("Content header not found")
            if header.chunk_method == DRAINED:
                raise Meta2Error(CODE_CONTENT_DRAINED, "Content drained")
            chunks = base.chunks(alias.content)
            with base.write() as w:
                w.delete_chunks(alias.content)
                w.update_header(alias.content, chunk_method=DRAINED)
                w.add_counter(M2_PROP_VERSION, 1)
            self._emit("storage.content.drained", base, ctx,
                       self._beans(alias, header, chunks), alias)
        self._write(cid, run, batch=False)

    def content_truncate(self, cid: str, path: str, size: int,
                         version: int | None = None,
                         ctx: Context | None = None) -> None:
        """Shrink a version to `size` bytes, on a metachunk boundary."""
        check_name(path)
        if size < 0:
            raise bad_request("Missing/invalid size parameter")

        def run(base: ContainerBase) -> None:
            self._writable(base)
            alias = self._find(base, path, version, None)
            header = None if alias.deleted else base.header(alias.content)
            if header is None:
                raise content_not_found()
            if header.chunk_method == DRAINED:
                raise Meta2Error(CODE_CONTENT_DRAINED, "Content drained")
            if size > header.size:
                raise bad_request("truncate operation cannot grow contents")
            chunks = base.chunks(alias.content)
            ec = any("." in c.pos for c in chunks)
            sizes = metachunk_sizes(metachunks(chunks, ec))
            offset, doomed = 0, []
            for mc in sorted(sizes):
                if mc > 0 and offset >= size:
                    doomed.append(mc)
                offset += sizes[mc]
            kept = sum(s for mc, s in sizes.items() if mc not in doomed)
            if kept != size:
                raise bad_request(f"nearest metachunk boundary is at {kept} "
                                  "bytes")
            positions = [c.pos for c in chunks
                         if split_pos(c.pos)[0] in doomed]
            kept_chunks = [c for c in chunks if c.pos not in positions]
            try:
                missing = check_chunks(self.get_policy(header.policy),
                                       kept_chunks, 0) if kept_chunks else 0
            except Meta2Error:      # an odd old object: keep its count
                missing = header.missing
            with base.write() as w:
                w.delete_chunks(alias.content, positions)
                _count_missing(w, alias.content, header.missing, missing)
                w.update_header(alias.content, size=size, hash="", mtime=_now())
                w.update_alias(alias.name, alias.version, mtime=_now())
                w.add_counter(M2_PROP_USAGE, size - header.size)
                w.add_counter(M2_PROP_VERSION, 1)
            self._emit_state(base, ctx)
        self._write(cid, run, batch=False)

    def content_update(self, cid: str, path: str, meta: ContentMeta, body,
                       version: int | None = None,
                       ctx: Context | None = None) -> None:
        """Replace the chunks of the metachunks present in `body` (a bare
        chunk array) and adjust the size (proxy spec §7.5.13)."""
        check_name(path)
        if not isinstance(body, list) or not body:
            raise bad_request("Invalid JSON body: expected a chunk array")
        now = _now()
        new_chunks = parse_chunks(body, now)
        content = meta.content_id.upper() if meta.content_id else None

        def run(base: ContainerBase) -> None:
            self._writable(base)
            alias = (base.alias_by_content(content) if content else None) \
                or self._find(base, path, version, None)
            header = None if alias.deleted else base.header(alias.content)
            if header is None:
                raise content_not_found()
            if header.chunk_method == DRAINED:
                raise Meta2Error(CODE_CONTENT_DRAINED, "Content drained")
            ec = any("." in c.pos for c in new_chunks)
            try:
                new_groups = metachunks(new_chunks, ec)
            except Meta2Error as exc:
                raise bad_request(exc.message) from None
            old = base.chunks(alias.content)
            old_groups = metachunks(old, ec)
            delta = sum(metachunk_sizes(new_groups).values()) - sum(
                s for mc, s in metachunk_sizes(old_groups).items()
                if mc in new_groups)
            doomed = [c.pos for c in old if split_pos(c.pos)[0] in new_groups]
            with base.write() as w:
                w.delete_chunks(alias.content, doomed)
                w.insert_chunks(alias.content, new_chunks)
                w.update_header(alias.content, size=header.size + delta,
                                hash="", mtime=now)
                w.update_alias(alias.name, alias.version, mtime=now)
                w.add_counter(M2_PROP_USAGE, delta)
                w.add_counter(M2_PROP_VERSION, 1)
            self._emit_state(base, ctx)
        self._write(cid, run, batch=False)

    def raw_update(self, cid: str, old: list[RawBean], new: list[RawBean],
                   allow_frozen: bool = False) -> None:
        """Replace records one for one (snapshots, rebuilds, the blob
        registrator), all or none: an `old` record that is not there
        (another rebuilder replaced it meanwhile) fails the whole update
        with 404. `old[i]` and `new[i]` are of the same kind."""
        def run(base: ContainerBase) -> None:
            if not allow_frozen:
                self._writable(base)
            with base.write() as w:
                for before, after in zip(old, new, strict=True):
                    if not _delete_raw(w, before):
                        raise content_not_found(
                            f"{before.kind.capitalize()} not found: "
                            f"{_describe(before)}")
                    _insert_raw(w, after)
                w.add_counter(M2_PROP_VERSION, 1)
        self._write(cid, run, batch=False)

    def raw_insert(self, cid: str, beans: list[RawBean], force: bool = False,
                   allow_frozen: bool = False) -> None:
        """Add records (a rebuilt copy, the blob registrator), all or none.
        An existing record is a conflict unless `force` replaces it; an
        alias needs its content header, already in the base or among `beans`
        (headers are written first, whatever their order). A chunk is stored
        as it comes, with or without its header, as 7.2 does."""
        order = {HEADER: 0, ALIAS: 1, CHUNK: 2}

        def run(base: ContainerBase) -> None:
            if not allow_frozen:
                self._writable(base)
            with base.write() as w:
                for bean in sorted(beans, key=lambda b: order[b.kind]):
                    if bean.kind == ALIAS:
                        content = bean.record.content
                        if not _exists(w, HEADER, (content,)):
                            raise content_not_found(
                                f"Content not found: {content}")
                    if _exists(w, bean.kind, bean.key):
                        if not force:
                            raise Meta2Error(
                                CODE_CONTENT_EXISTS,
                                f"{bean.kind.capitalize()} exists: "
                                f"{_describe(bean)}")
                        _delete_raw(w, bean)
                    _insert_raw(w, bean)
                w.add_counter(M2_PROP_VERSION, 1)
        self._write(cid, run, batch=False)

    def raw_delete(self, cid: str, beans: list[RawBean]) -> None:
        """Remove records (admin), all in one transaction; unknown ones are
        ignored."""
        def run(base: ContainerBase) -> None:
            with base.write() as w:
                for bean in beans:
                    _delete_raw(w, bean)
                w.add_counter(M2_PROP_VERSION, 1)
        self._write(cid, run, batch=False)


# Table and key columns of each kind of raw bean.
_RAW_TABLES = {ALIAS: ("aliases", ("alias", "version")),
               HEADER: ("contents", ("id",)),
               CHUNK: ("chunks", ("content", "id"))}


def _where(kind: str) -> tuple[str, str]:
    table, columns = _RAW_TABLES[kind]
    return table, " AND ".join(f"{c}=?" for c in columns)


def _exists(w, kind: str, key: tuple) -> bool:
    table, where = _where(kind)
    return w.db.execute(f"SELECT 1 FROM {table} WHERE {where}",
                        key).fetchone() is not None


def _delete_raw(w, bean: RawBean) -> bool:
    """Whether the bean's record was there (and is gone now)."""
    table, where = _where(bean.kind)
    return w.db.execute(f"DELETE FROM {table} WHERE {where}",
                        bean.key).rowcount > 0


def _insert_raw(w, bean: RawBean) -> None:
    if bean.kind == ALIAS:
        w.insert_alias(bean.record)
    elif bean.kind == HEADER:
        w.insert_header(bean.record)
    else:
        w.insert_chunks(bean.content, [bean.record])


def _describe(bean: RawBean) -> str:
    if bean.kind == ALIAS:
        return f"{bean.record.name} version {bean.record.version}"
    return bean.record.id


EVENT_CHUNK_GROUP = 16
EVENTS_WITH_CHUNKS = ("storage.content.deleted", "storage.content.drained")


def split_content_beans(event: str, beans: list[dict]) -> list[list[dict]]:
    """The `data` of each event of a content operation (events.md §3.4):
    chunk beans only in deletions and drains, by groups of 16 after a
    first event with the other beans, each group with the alias and
    header beans (so that every part tells the chunk method): beanstalkd
    takes jobs of 64 KiB at most."""
    chunks = [b for b in beans if b.get("type") == "chunks"]
    others = [b for b in beans if b.get("type") != "chunks"]
    if event not in EVENTS_WITH_CHUNKS:
        return [others]
    if len(beans) <= EVENT_CHUNK_GROUP:
        return [beans]
    heads = [b for b in others
             if b.get("type") in ("aliases", "contents_headers")]
    return [others] + [heads + chunks[i:i + EVENT_CHUNK_GROUP]
                       for i in range(0, len(chunks), EVENT_CHUNK_GROUP)]


def _create_body(body) -> tuple[list, dict]:
    """(chunks, properties) of a content/create body (object or array)."""
    if body is None:
        raise bad_request("Invalid JSON body")
    if isinstance(body, list):
        return body, {}
    if not isinstance(body, dict):
        raise bad_request("Invalid JSON body")
    if "chunks" not in body:
        raise bad_request("Missing chunks in JSON body")
    props = check_string_map(body.get("properties"), "properties")
    return body["chunks"], props


def _valid_content_id(value: str) -> bool:
    return bool(value) and len(value) % 2 == 0 and len(value) <= 64 and all(
        c in "0123456789abcdefABCDEF" for c in value)


__all__ = ["Meta2", "Context", "ContentMeta", "Versioning", "Located",
           "ListParams", "ListResult", "Meta2Error", "DELETED_CONTENT_ID",
           "CODE_CONTAINER_EXISTS"]
