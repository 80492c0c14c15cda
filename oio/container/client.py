"""ContainerClient: containers and contents through oio-proxy
(proxy-api.md §7.4, §7.5), with the 7.2 names, keywords and return shapes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from oio.common import exceptions as exc
from oio.common.cache import (
    del_cached_container_metadata,
    del_cached_container_objects,
    del_cached_object_metadata,
    get_cached_container_metadata,
    get_cached_object_metadata,
    set_cached_container_metadata,
    set_cached_object_metadata,
)
from oio.common.client import ProxyClient
from oio.common.constants import OBJECT_METADATA_PREFIX
from oio.common.utils import true_value
from oio.conscience.client import ConscienceClient, ServiceScores

# Object metadata headers that are fields, not user properties (§3.2).
SYSMETA_KEYS = ("chunk-method", "ctime", "mtime", "deleted", "hash",
                "hash-method", "id", "length", "mime-type", "name", "policy",
                "size", "version")

BULK_MAX = 100   # proxy.bulk.max.create_many / delete_many


def extract_content_headers_meta(headers) -> dict:
    """`x-oio-content-meta-*` reply headers → {field: value, "properties":
    {...}}, plus `chunk_size` from `x-oio-ns-chunk-size`."""
    meta: dict[str, Any] = {"properties": {}}
    for key, value in headers.items():
        if not key.lower().startswith(OBJECT_METADATA_PREFIX):
            continue
        # Property names keep their case, as sent (7.2 does the same).
        short = key[len(OBJECT_METADATA_PREFIX):]
        if short.startswith("x-") or short.lower() not in SYSMETA_KEYS:
            meta["properties"][short] = unquote(value)
        else:
            meta[short.lower().replace("-", "_")] = unquote(value)
    chunk_size = headers.get("x-oio-ns-chunk-size")
    if chunk_size:
        meta["chunk_size"] = int(chunk_size)
    return meta


CHUNK_QUALITY_PREFIX = "__OIO_CHUNK__"


def extract_chunk_qualities(properties, raw: bool = False) -> dict:
    """{chunk url: quality} from the `__OIO_CHUNK__<url>` properties of a
    prepare or spare reply (a dict, or a list of {"key", "value"});
    qualities decoded from JSON unless `raw`."""
    if isinstance(properties, list):
        properties = {p["key"]: p["value"] for p in properties}
    out = {}
    for key, value in (properties or {}).items():
        if key.startswith(CHUNK_QUALITY_PREFIX):
            out[key[len(CHUNK_QUALITY_PREFIX):]] = \
                value if raw else json.loads(value)
    return out


class ContainerClient(ProxyClient):
    """Containers (`container/*`) and their contents (`content/*`)."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/container", **kwargs)
        self._rawx_scores: ServiceScores | None = None

    @property
    def rawx_scores(self) -> ServiceScores:
        """Current rawx scores, for chunk lists served from a cache."""
        if self._rawx_scores is None:
            conscience = ConscienceClient(
                self.conf, logger=self.logger, pool_manager=self.pool_manager,
                endpoint=f"{self.proxy_scheme}://{self.proxy_netloc}")
            self._rawx_scores = ServiceScores(conscience, "rawx")
        return self._rawx_scores

    @staticmethod
    def _make_params(account=None, reference=None, path=None, cid=None,
                     content=None, version=None, **_kwargs) -> dict:
        if cid:
            params: dict[str, Any] = {"cid": cid}
        elif account is None or reference is None:
            raise ValueError("Expected account and reference, or cid")
        else:
            params = {"acct": account, "ref": reference}
        if path:
            params["path"] = path
        if content:
            params["content"] = content
        if version:
            params["version"] = version
        return params

    # Containers ------------------------------------------------------------
    def container_create(self, account: str, reference: str,
                         properties: dict | None = None,
                         system: dict | None = None, **kwargs) -> bool:
        """True if created, False if it existed already."""
        data = json.dumps({"properties": properties or {},
                           "system": system or {}})
        resp, _ = self._request("POST", "/create",
                                params=self._make_params(account, reference),
                                data=data, **kwargs)
        return resp.status == 201

    def container_delete(self, account=None, reference=None, cid=None,
                         **kwargs) -> None:
        del_cached_container_objects(account=account, reference=reference,
                                     cid=cid, **kwargs)
        params = self._make_params(account, reference, cid=cid)
        if kwargs.get("force"):
            params["force"] = 1
        try:
            self._request("POST", "/destroy", params=params, **kwargs)
        except exc.Conflict as err:
            raise exc.ContainerNotEmpty(err) from None

    def container_show(self, account=None, reference=None, cid=None,
                       **kwargs) -> dict:
        """{"properties": {...}, "system": {...}} (deprecated upstream in
        favour of container_get_properties)."""
        _, body = self._request("GET", "/show",
                                params=self._make_params(account, reference,
                                                         cid=cid), **kwargs)
        return body

    def container_get_properties(self, account=None, reference=None,
                                 properties=None, cid=None, **kwargs) -> dict:
        """{"properties": {user}, "system": {sys.*}}."""
        cached = get_cached_container_metadata(
            account=account, reference=reference, cid=cid, **kwargs)
        if cached is not None:
            return cached
        _, body = self._request(
            "POST", "/get_properties", data=json.dumps(list(properties or [])),
            params=self._make_params(account, reference, cid=cid), **kwargs)
        set_cached_container_metadata(body, account=account,
                                      reference=reference, cid=cid, **kwargs)
        return body

    def container_set_properties(self, account=None, reference=None,
                                 properties=None, clear=False, cid=None,
                                 system=None, **kwargs):
        del_cached_container_metadata(account=account, reference=reference,
                                      cid=cid, **kwargs)
        params = self._make_params(account, reference, cid=cid)
        if clear:
            params["flush"] = 1
        data = json.dumps({"properties": properties or {},
                           "system": system or {}})
        _, body = self._request("POST", "/set_properties", data=data,
                                params=params, **kwargs)
        return body

    def container_del_properties(self, account=None, reference=None,
                                 properties=None, cid=None, **kwargs):
        del_cached_container_metadata(account=account, reference=reference,
                                      cid=cid, **kwargs)
        _, body = self._request(
            "POST", "/del_properties", data=json.dumps(list(properties or [])),
            params=self._make_params(account, reference, cid=cid), **kwargs)
        return body

    def container_touch(self, account=None, reference=None, cid=None,
                        recompute=False, damaged_objects=None,
                        missing_chunks=None, **kwargs) -> None:
        """Re-announce the container's statistics; `recompute` makes meta2
        recount them, with the client-counted damage figures."""
        params = self._make_params(account, reference, cid=cid)
        if recompute:
            params["recompute"] = True
            if damaged_objects is not None:
                params["damaged_objects"] = damaged_objects
            if missing_chunks is not None:
                params["missing_chunks"] = missing_chunks
        self._request("POST", "/touch", params=params, **kwargs)

    def container_flush(self, account=None, reference=None, cid=None,
                        **kwargs) -> dict:
        del_cached_container_objects(account=account, reference=reference,
                                     cid=cid, **kwargs)
        resp, _ = self._request("POST", "/flush",
                                params=self._make_params(account, reference,
                                                         cid=cid), **kwargs)
        return {"truncated": true_value(resp.headers.get("x-oio-truncated"))}

    def _admin_status(self, action: str, account, reference, cid, **kwargs):
        params = self._make_params(account, reference, cid=cid)
        params["type"] = "meta2"
        resp, _ = self._direct_request(
            "POST", self._make_uri(f"admin/{action}"), params=params, **kwargs)
        return resp

    def container_freeze(self, account=None, reference=None, cid=None,
                         **kwargs):
        """Freeze the container's base: reads only until enabled again."""
        del_cached_container_metadata(account=account, reference=reference,
                                      cid=cid, **kwargs)
        return self._admin_status("freeze", account, reference, cid, **kwargs)

    def container_enable(self, account=None, reference=None, cid=None,
                         **kwargs):
        """Enable a frozen or disabled base."""
        del_cached_container_metadata(account=account, reference=reference,
                                      cid=cid, **kwargs)
        return self._admin_status("enable", account, reference, cid, **kwargs)

    def container_snapshot(self, account=None, reference=None,
                           dst_account=None, dst_reference=None, cid=None,
                           **kwargs):
        """Copy the container's base (not its chunks) into a new container
        `dst_account`/`dst_reference`."""
        data = json.dumps({"account": dst_account, "container": dst_reference})
        resp, _ = self._request(
            "POST", "/snapshot", data=data,
            params=self._make_params(account, reference, cid=cid), **kwargs)
        return resp

    def container_raw_insert(self, bean: dict, account=None, reference=None,
                             cid=None, **kwargs) -> None:
        """Add one raw bean (a chunk record, proxy-api.md 3.6);
        `frozen=True` allows it on a frozen container."""
        params = self._make_params(account, reference, cid=cid)
        if kwargs.pop("frozen", None):
            params["frozen"] = 1
        self._request("POST", "/raw_insert", params=params,
                      data=json.dumps([bean]), **kwargs)

    def container_raw_update(self, old: list, new: list, account=None,
                             reference=None, cid=None, **kwargs) -> None:
        """Replace raw beans `old[i]` by `new[i]`; `frozen=True` allows it on
        a frozen container."""
        params = self._make_params(account, reference, cid=cid)
        if kwargs.pop("frozen", None):
            params["frozen"] = 1
        self._request("POST", "/raw_update", params=params,
                      data=json.dumps({"old": old, "new": new}), **kwargs)

    def content_spare(self, account=None, reference=None, path=None,
                      version=None, data=None, cid=None, stgpol=None,
                      position=None, params=None, **kwargs) -> dict:
        """Rawx for the missing chunks of the metachunk at `position`:
        `data` = {"notin": [chunks kept], "broken": [chunks to replace]}.
        Returns the raw beans ({"chunks": [{"id": url}...], "properties"})."""
        if stgpol is None or position is None:
            raise ValueError("stgpol and position cannot be None")
        query = dict(params or self._make_params(
            account, reference, path, cid=cid, version=version))
        query.update(stgpol=stgpol, position=position)
        _, body = self._direct_request(
            "POST", self._make_uri("content/spare"), params=query,
            data=json.dumps(data or {"notin": [], "broken": []}), **kwargs)
        return body

    def container_raw_delete(self, account=None, reference=None, data=None,
                             cid=None, **kwargs) -> None:
        """Delete raw beans (`data`: dicts with a `type` and every field of
        the record, proxy-api.md 3.6)."""
        params = self._make_params(account, reference, cid=cid)
        self._request("POST", "/raw_delete", params=params,
                      data=json.dumps(data or []), **kwargs)

    def content_list(self, account=None, reference=None, limit=None,
                     marker=None, end_marker=None, prefix=None, delimiter=None,
                     properties=False, cid=None, versions=False, deleted=False,
                     **kwargs) -> tuple[Any, dict]:
        """(reply headers, {"objects", "prefixes", "properties", "system"})."""
        params = self._make_params(account, reference, cid=cid)
        params.update(max=limit, marker=marker, end_marker=end_marker,
                      prefix=prefix, delimiter=delimiter, properties=properties)
        if versions:
            params["all"] = "1"
        if deleted:
            params["deleted"] = 1
        if kwargs.get("local"):
            params["local"] = 1
        resp, body = self._request("GET", "/list", params=params, **kwargs)
        return resp.headers, body

    # Contents --------------------------------------------------------------
    def content_prepare(self, account=None, reference=None, path=None,
                        position=0, size=None, cid=None, stgpol=None,
                        content_id=None, version=None, **kwargs):
        """(object metadata, chunks) for the metachunk at `position`
        (`content/prepare2`); the metadata carries `chunk_size` and the
        chunk-quality `properties`."""
        params = self._make_params(account, reference, path, cid=cid,
                                   content=kwargs.pop("content", content_id),
                                   version=version)
        data: dict[str, Any] = {"size": size, "position": position}
        if stgpol:
            data["policy"] = stgpol
        resp, body = self._direct_request(
            "POST", self._make_uri("content/prepare2"), data=json.dumps(data),
            params=params, **kwargs)
        meta = extract_content_headers_meta(resp.headers)
        meta["properties"] = dict(body.get("properties") or {})
        return meta, body["chunks"]

    def content_create(self, account=None, reference=None, path=None,
                       size=None, checksum=None, data=None, cid=None,
                       content_id=None, stgpol=None, version=None,
                       mime_type=None, chunk_method=None, headers=None,
                       append=False, change_policy=False, **kwargs):
        """Register an uploaded object: `data` = {"chunks": [...],
        "properties": {...}, "container_properties": ...}. (resp, body)."""
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        params = self._make_params(account, reference, path, cid=cid)
        if append:
            params["append"] = "1"
        if change_policy:
            params["change_policy"] = "1"
        hdrs = {OBJECT_METADATA_PREFIX + "length": str(size)}
        if checksum is not None:
            hdrs[OBJECT_METADATA_PREFIX + "hash"] = checksum
        hdrs.update(headers or {})
        for suffix, value in (("id", content_id), ("policy", stgpol),
                              ("version", version), ("mime-type", mime_type),
                              ("chunk-method", chunk_method)):
            if value is not None:
                hdrs[OBJECT_METADATA_PREFIX + suffix] = str(value)
        return self._direct_request(
            "POST", self._make_uri("content/create"), data=json.dumps(data),
            params=params, headers=hdrs, **kwargs)

    def content_delete(self, account=None, reference=None, path=None, cid=None,
                       version=None, **kwargs) -> bool:
        """True if the object has been deleted (204)."""
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        resp, _ = self._direct_request(
            "POST", self._make_uri("content/delete"),
            params=self._make_params(account, reference, path, cid=cid,
                                     version=version), **kwargs)
        return resp.status == 204

    def content_locate(self, account=None, reference=None, path=None, cid=None,
                       content=None, version=None, properties=True, **kwargs):
        """(object metadata, chunk list) of one version of an object."""
        if not content:
            meta, chunks = get_cached_object_metadata(
                account=account, reference=reference, path=path, cid=cid,
                version=version, properties=properties, **kwargs)
            if meta is not None and chunks is not None:
                self.rawx_scores.apply(chunks)
                return meta, chunks
        params = self._make_params(account, reference, path, cid=cid,
                                   content=content, version=version)
        params["properties"] = bool(properties)
        try:
            resp, chunks = self._direct_request(
                "GET", self._make_uri("content/locate"), params=params,
                **kwargs)
            meta = extract_content_headers_meta(resp.headers)
        except exc.OioNetworkException as err:
            # Properties too big for reply headers: the chunks without
            # them, the properties from get_properties (as 7.2's client).
            if not properties or "headers too long" not in str(err):
                raise
            params["properties"] = False
            _, chunks = self._direct_request(
                "GET", self._make_uri("content/locate"), params=params,
                **kwargs)
            meta = self.content_get_properties(
                account, reference, path, cid=cid, content=content,
                version=version, **kwargs)
        if not content:
            set_cached_object_metadata(
                meta, chunks, account=account, reference=reference, path=path,
                cid=cid, version=version, properties=properties, **kwargs)
        return meta, chunks

    def content_get_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, content=None,
                               version=None, **kwargs) -> dict:
        """The object metadata with its user `properties`."""
        cacheable = not content and not properties
        if cacheable:
            meta, _ = get_cached_object_metadata(
                account=account, reference=reference, path=path, cid=cid,
                version=version, properties=True, **kwargs)
            if meta is not None:
                return meta
        params = self._make_params(account, reference, path, cid=cid,
                                   content=content, version=version)
        data = json.dumps(properties) if properties else None
        resp, body = self._direct_request(
            "POST", self._make_uri("content/get_properties"), data=data,
            params=params, **kwargs)
        meta = extract_content_headers_meta(resp.headers)
        meta.update(body or {})
        if cacheable:
            set_cached_object_metadata(
                meta, None, account=account, reference=reference, path=path,
                cid=cid, version=version, properties=True, **kwargs)
        return meta

    def content_set_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, version=None,
                               clear=False, **kwargs) -> None:
        """`properties` is the request body: {"properties": {...}}."""
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        params = self._make_params(account, reference, path, cid=cid,
                                   version=version)
        if clear:
            params["flush"] = 1
        self._direct_request(
            "POST", self._make_uri("content/set_properties"),
            data=json.dumps(properties or {}), params=params, **kwargs)

    def content_del_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, version=None,
                               **kwargs) -> bool:
        """True if deleted (204); `[]` deletes every property."""
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        params = self._make_params(account, reference, path, cid=cid,
                                   version=version)
        resp, _ = self._direct_request(
            "POST", self._make_uri("content/del_properties"),
            data=json.dumps(list(properties or [])), params=params, **kwargs)
        return resp.status == 204

    def content_touch(self, account=None, reference=None, path=None, cid=None,
                      version=None, **kwargs) -> None:
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        self._direct_request(
            "POST", self._make_uri("content/touch"),
            params=self._make_params(account, reference, path, cid=cid,
                                     version=version), **kwargs)

    # Bulk operations (413 → halves, as the 7.2 client does) ------------------
    def _bulk(self, items: list, send, status_ok: int) -> list[tuple[Any, bool]]:
        """Send `items` in batches of 100, halving a batch the proxy finds
        too large; (item, succeeded) pairs in order."""
        out: list[tuple[Any, bool]] = []
        pending = [items[i:i + BULK_MAX] for i in range(0, len(items), BULK_MAX)]
        while pending:
            batch = pending.pop(0)
            try:
                results = send(batch)
            except exc.TooLarge:
                if len(batch) == 1:
                    raise
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
                continue
            out.extend((item, res.get("status") == status_ok)
                       for item, res in zip(batch, results, strict=False))
        return out

    def container_create_many(self, account: str, containers: list[str],
                              properties: dict | None = None,
                              system: dict | None = None,
                              **kwargs) -> list[tuple[str, bool]]:
        """(name, created) for each container."""
        def send(batch):
            body = {"containers": [{"name": name,
                                    "properties": properties or {},
                                    "system": system or {}} for name in batch]}
            _, reply = self._direct_request(
                "POST", self._make_uri("container/create_many"),
                params={"acct": account}, json=body, **kwargs)
            return (reply or {}).get("containers") or []
        return self._bulk(list(containers), send, 201)

    def content_delete_many(self, account=None, reference=None, paths=None,
                            cid=None, **kwargs) -> list[tuple[str, bool]]:
        """(name, deleted) for each object (latest versions)."""
        params = self._make_params(account, reference, cid=cid)
        paths = list(paths or ())
        for path in paths:
            del_cached_object_metadata(account=account, reference=reference,
                                       path=path, cid=cid, **kwargs)

        def send(batch):
            body = {"contents": [{"name": name} for name in batch]}
            _, reply = self._direct_request(
                "POST", self._make_uri("content/delete_many"), params=params,
                json=body, **kwargs)
            return (reply or {}).get("contents") or []
        return self._bulk(list(paths or ()), send, 204)

    def content_drain(self, account=None, reference=None, path=None, cid=None,
                      version=None, **kwargs) -> None:
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        self._direct_request(
            "POST", self._make_uri("content/drain"),
            params=self._make_params(account, reference, path, cid=cid,
                                     version=version), **kwargs)

    def content_purge(self, account=None, reference=None, path=None,
                      cid=None, maxvers=None, **kwargs) -> None:
        """Keep the `maxvers` most recent versions of object `path`
        (default: the container's versioning policy), `content/purge`."""
        params = self._make_params(account, reference, path, cid=cid)
        if maxvers is not None:
            params["maxvers"] = maxvers
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        self._direct_request("POST", self._make_uri("content/purge"),
                             params=params, **kwargs)

    def content_update(self, account=None, reference=None, path=None,
                       size=None, chunks=None, content_id=None, cid=None,
                       stgpol=None, version=None, chunk_method=None,
                       **kwargs) -> None:
        """Replace the chunks of some metachunks of a content (the bare
        chunk array of content/update)."""
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        params = self._make_params(account, reference, path, cid=cid)
        if content_id:
            params["id"] = content_id
        hdrs = {OBJECT_METADATA_PREFIX + "length": str(size)}
        for suffix, value in (("id", content_id), ("policy", stgpol),
                              ("version", version),
                              ("chunk-method", chunk_method)):
            if value is not None:
                hdrs[OBJECT_METADATA_PREFIX + suffix] = str(value)
        hdrs.update(kwargs.pop("headers", None) or {})
        self._direct_request("POST", self._make_uri("content/update"),
                             params=params, headers=hdrs,
                             data=json.dumps(chunks or []), **kwargs)

    def content_truncate(self, account=None, reference=None, path=None,
                         size=None, cid=None, version=None, **kwargs) -> None:
        del_cached_object_metadata(account=account, reference=reference,
                                   path=path, cid=cid, **kwargs)
        params = self._make_params(account, reference, path, cid=cid,
                                   version=version)
        params["size"] = size
        self._direct_request("POST", self._make_uri("content/truncate"),
                             params=params, **kwargs)
