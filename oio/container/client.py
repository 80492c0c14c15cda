"""ContainerClient: containers and contents through oio-proxy."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from oio.common import exceptions as exc
from oio.common.client import ProxyClient
from oio.common.constants import OBJECT_METADATA_PREFIX
from oio.common.utils import cid_from_name

# Headers that become metadata fields; other x-oio-content-meta-* headers
# are user properties.
SYSTEM_META = {"id", "name", "version", "deleted", "ctime", "mtime", "size",
               "length", "policy", "chunk-method", "mime-type", "hash",
               "hash-method"}


def extract_content_headers_meta(headers) -> dict:
    meta: dict[str, Any] = {"properties": {}}
    for key, value in headers.items():
        key = key.lower()
        if not key.startswith(OBJECT_METADATA_PREFIX):
            continue
        suffix = key[len(OBJECT_METADATA_PREFIX):]
        value = unquote(value)
        if suffix in SYSTEM_META:
            meta[suffix.replace("-", "_")] = value
        else:
            meta["properties"][suffix] = value
    chunk_size = headers.get("x-oio-ns-chunk-size")
    if chunk_size:
        meta["chunk_size"] = int(chunk_size)
    return meta


class ContainerClient(ProxyClient):
    def __init__(self, conf: dict | None = None, **kwargs: Any):
        super().__init__(conf, request_prefix="", **kwargs)

    @staticmethod
    def _params(account=None, reference=None, path=None, cid=None,
                **extra) -> dict:
        params: dict[str, Any] = {}
        if cid:
            params["cid"] = cid
        else:
            if account is None or reference is None:
                raise ValueError("Expected account and reference, or cid")
            params["acct"] = account
            params["ref"] = reference
        if path is not None:
            params["path"] = path
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    # Containers ------------------------------------------------------------
    def container_create(self, account: str, reference: str,
                         properties: dict | None = None,
                         system: dict | None = None, **kwargs) -> bool:
        """True if created, False if it existed already."""
        body = {"properties": properties or {}, "system": system or {}}
        resp, _ = self._request("POST", "container/create",
                                params=self._params(account, reference),
                                json_body=body, **kwargs)
        return resp.status == 201

    def container_show(self, account=None, reference=None, cid=None,
                       **kwargs) -> dict:
        resp, body = self._request("GET", "container/show",
                                   params=self._params(account, reference,
                                                       cid=cid), **kwargs)
        return body or {}

    def container_get_properties(self, account=None, reference=None,
                                 properties=None, cid=None, **kwargs) -> dict:
        _, body = self._request("POST", "container/get_properties",
                                params=self._params(account, reference, cid=cid),
                                json_body=properties, **kwargs)
        return body or {"properties": {}, "system": {}}

    def container_set_properties(self, account=None, reference=None,
                                 properties=None, clear=False, system=None,
                                 cid=None, **kwargs) -> None:
        params = self._params(account, reference, cid=cid)
        if clear:
            params["flush"] = 1
        self._request("POST", "container/set_properties", params=params,
                      json_body={"properties": properties or {},
                                 "system": system or {}}, **kwargs)

    def container_del_properties(self, account=None, reference=None,
                                 properties=None, cid=None, **kwargs) -> None:
        self._request("POST", "container/del_properties",
                      params=self._params(account, reference, cid=cid),
                      json_body=list(properties or []), **kwargs)

    def container_delete(self, account=None, reference=None, cid=None,
                         force=False, **kwargs) -> None:
        params = self._params(account, reference, cid=cid)
        if force:
            params["force"] = 1
        try:
            self._request("POST", "container/destroy", params=params, **kwargs)
        except exc.Conflict as err:
            raise exc.ContainerNotEmpty(err) from None

    def content_list(self, account=None, reference=None, limit=None,
                     marker=None, end_marker=None, prefix=None, delimiter=None,
                     properties=False, cid=None, versions=False, deleted=False,
                     **kwargs) -> tuple[dict, dict]:
        params = self._params(account, reference, cid=cid, max=limit,
                              marker=marker, end_marker=end_marker,
                              prefix=prefix, delimiter=delimiter,
                              properties=properties)
        if versions:
            params["all"] = 1
        if deleted:
            params["deleted"] = 1
        resp, body = self._request("GET", "container/list", params=params,
                                   **kwargs)
        return resp.headers, body

    # Contents --------------------------------------------------------------
    def content_prepare(self, account=None, reference=None, path=None,
                        size=None, policy=None, cid=None, position=0,
                        version=None, content_id=None, **kwargs):
        """(metadata, chunks, properties) for the next metachunk(s)."""
        body: dict[str, Any] = {"size": size, "position": position}
        if policy:
            body["policy"] = policy
        params = self._params(account, reference, path, cid=cid,
                              version=version, content=content_id)
        resp, data = self._request("POST", "content/prepare2", params=params,
                                   json_body=body, **kwargs)
        meta = extract_content_headers_meta(resp.headers)
        return meta, data.get("chunks") or [], data.get("properties") or {}

    def content_create(self, account=None, reference=None, path=None,
                       size=None, checksum=None, data=None, cid=None,
                       content_id=None, stgpol=None, version=None,
                       mime_type=None, chunk_method=None, append=False,
                       **kwargs) -> None:
        headers = dict(kwargs.pop("headers", None) or {})
        prefix = OBJECT_METADATA_PREFIX
        headers[prefix + "length"] = str(size)
        if checksum:
            headers[prefix + "hash"] = checksum
        if content_id:
            headers[prefix + "id"] = content_id
        if stgpol:
            headers[prefix + "policy"] = stgpol
        if version is not None:
            headers[prefix + "version"] = str(version)
        if chunk_method:
            headers[prefix + "chunk-method"] = chunk_method
        if mime_type:
            headers[prefix + "mime-type"] = mime_type
        params = self._params(account, reference, path, cid=cid)
        if append:
            params["append"] = 1
        self._request("POST", "content/create", params=params, json_body=data,
                      headers=headers, **kwargs)

    def content_locate(self, account=None, reference=None, path=None, cid=None,
                       content=None, version=None, properties=True, **kwargs):
        """(metadata, chunks) of one version of an object."""
        params = self._params(account, reference, path, cid=cid,
                              content=content, version=version,
                              properties=str(bool(properties)))
        resp, chunks = self._request("GET", "content/locate", params=params,
                                     **kwargs)
        return extract_content_headers_meta(resp.headers), chunks or []

    def content_get_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, content=None,
                               version=None, **kwargs) -> dict:
        params = self._params(account, reference, path, cid=cid,
                              content=content, version=version)
        resp, body = self._request("POST", "content/get_properties",
                                   params=params, json_body=properties, **kwargs)
        meta = extract_content_headers_meta(resp.headers)
        meta["properties"] = (body or {}).get("properties") or {}
        return meta

    def content_set_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, version=None,
                               clear=False, **kwargs) -> None:
        params = self._params(account, reference, path, cid=cid,
                              version=version)
        if clear:
            params["flush"] = 1
        self._request("POST", "content/set_properties", params=params,
                      json_body={"properties": properties or {}}, **kwargs)

    def content_del_properties(self, account=None, reference=None, path=None,
                               properties=None, cid=None, version=None,
                               **kwargs) -> None:
        params = self._params(account, reference, path, cid=cid,
                              version=version)
        self._request("POST", "content/del_properties", params=params,
                      json_body=list(properties or []), **kwargs)

    def content_delete(self, account=None, reference=None, path=None, cid=None,
                       version=None, **kwargs) -> bool:
        params = self._params(account, reference, path, cid=cid,
                              version=version)
        resp, _ = self._request("POST", "content/delete", params=params,
                                **kwargs)
        return resp.status == 204

    @staticmethod
    def cid_of(account: str, reference: str) -> str:
        return cid_from_name(account, reference)
