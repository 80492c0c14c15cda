"""BlobClient: direct requests to rawx services (chunk PUT/GET/HEAD/DELETE),
over the shared urllib3 pool."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

import urllib3

from oio.api.io import Source
from oio.api.replication import ReplicatedMetachunkWriter
from oio.common import exceptions as exc
from oio.common.constants import (
    CHECKHASH_HEADER,
    CHUNK_HEADERS,
    FETCHXATTR_HEADER,
    OIO_VERSION,
    REQID_HEADER,
)
from oio.common.http_urllib3 import (
    get_pool_manager,
    oio_exception_from_httperror,
    timeout,
)
from oio.common.storage_method import STORAGE_METHODS
from oio.common.utils import generate_chunk_id, request_id

READ_BUFFER_SIZE = 1024 * 1024
PARALLEL_CHUNKS_DELETE = 3
# Headers a rawx may omit on reads (rawx.md §4.3); the transfer hash is
# only ever sent by clients.
OPTIONAL_META = ("metachunk_hash", "metachunk_size", "chunk_mtime",
                 "oio_version", "full_path", "content_path", "content_version",
                 "content_id", "container_id", "chunk_hash_algo",
                 "transfer_hash")


def extract_headers_meta(headers, check: bool = True) -> dict:
    """Chunk metadata from rawx reply headers; FaultyChunk when `check` and
    a mandatory one is missing."""
    meta = {}
    missing = []
    for key, header in CHUNK_HEADERS.items():
        value = headers.get(header)
        if value is None:
            if check and key not in OPTIONAL_META:
                missing.append(exc.MissingAttribute(key))
            continue
        meta[key] = value if key == "full_path" else unquote(value)
    if check and missing:
        raise exc.FaultyChunk(*missing)
    if meta.get("chunk_mtime"):
        meta["chunk_mtime"] = parsedate_to_datetime(meta["chunk_mtime"]).timestamp()
    return meta


class BlobClient:
    """A low-level client to rawx services."""

    def __init__(self, conf: dict | None = None, perfdata=None, logger=None,
                 connection_pool: urllib3.PoolManager | None = None, **kwargs):
        self.conf = conf or {}
        self.perfdata = perfdata
        self.logger = logger or logging.getLogger(__name__)
        self.http_pool = connection_pool or get_pool_manager(**kwargs)
        self.timeout = timeout(kwargs.get("connection_timeout"),
                               kwargs.get("read_timeout"))

    def _request(self, method: str, url: str, headers: dict | None = None,
                 **kwargs) -> urllib3.BaseHTTPResponse:
        headers = dict(headers or {})
        headers[REQID_HEADER] = (kwargs.get("reqid") or headers.get(REQID_HEADER)
                                 or request_id("blob-"))
        tmo = timeout(kwargs.get("connection_timeout"),
                      kwargs.get("read_timeout")) \
            if "connection_timeout" in kwargs or "read_timeout" in kwargs \
            else self.timeout
        try:
            return self.http_pool.request(
                method, url, headers=headers, timeout=tmo, retries=False,
                preload_content=kwargs.get("preload_content", True),
                body=kwargs.get("body"), chunked=kwargs.get("chunked", False))
        except urllib3.exceptions.HTTPError as err:
            oio_exception_from_httperror(err, headers[REQID_HEADER], url)

    def chunk_put(self, url: str, meta: dict, data, **kwargs) -> tuple[int, str]:
        """Upload one chunk; `meta` holds chunk metadata keyed as
        CHUNK_HEADERS (content_id, chunk_pos, full_path, chunk_hash...).
        `data` is bytes, a file object or an iterable of bytes.
        Returns (bytes transferred, chunk hash)."""
        chunk_method = meta.get("chunk_method") or meta["content_chunkmethod"]
        method = STORAGE_METHODS.load(chunk_method)
        headers = {header: str(meta[key]) for key, header in CHUNK_HEADERS.items()
                   if meta.get(key) is not None and key not in (
                       "chunk_hash", "chunk_size", "chunk_mtime")}
        headers.update(kwargs.get("headers") or {})
        writer = ReplicatedMetachunkWriter(
            None, [{"url": url, "pos": meta["chunk_pos"]}], None, method,
            quorum=1, headers=headers, pool_manager=self.http_pool,
            reqid=kwargs.get("reqid") or request_id("blob-"),
            connection_timeout=kwargs.get("connection_timeout"),
            write_timeout=kwargs.get("write_timeout"))
        if isinstance(data, (bytes, bytearray, memoryview, str)):
            source = Source(data=data)
        elif hasattr(data, "read"):
            source = Source(data)
        else:
            source = Source(data=data)
        size, chunk_hash, _ = writer.stream(source, None)
        expected = meta.get("chunk_hash")
        if expected and not method.ec and expected.lower() != chunk_hash:
            raise exc.CorruptedChunk(f"{url}: hash {chunk_hash} != {expected}")
        return size, chunk_hash

    def chunk_delete(self, url: str, **kwargs) -> urllib3.BaseHTTPResponse:
        resp = self._request("DELETE", url, kwargs.pop("headers", None), **kwargs)
        if resp.status != 204:
            raise exc.from_response(resp, resp.data)
        return resp

    def chunk_delete_many(self, chunks: Iterable[dict], cid: str | None = None,
                          concurrency: int = PARALLEL_CHUNKS_DELETE,
                          **kwargs) -> list:
        """One DELETE per chunk, `concurrency` at a time: a list of replies
        or exceptions, each with a `chunk` attribute."""
        headers = dict(kwargs.pop("headers", None) or {})
        if cid is not None:
            headers[CHUNK_HEADERS["container_id"]] = cid

        def delete(chunk):
            try:
                resp = self._request("DELETE", chunk.get("real_url")
                                     or chunk["url"], headers, **kwargs)
            except exc.OioException as err:
                resp = err
            resp.chunk = chunk
            return resp

        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            return list(pool.map(delete, chunks))

    def chunk_get(self, url: str, check_headers: bool = True,
                  **kwargs) -> tuple[dict, Iterator[bytes]]:
        """(chunk metadata, stream of the chunk's bytes)."""
        headers = dict(kwargs.pop("headers", None) or {})
        resp = self._request("GET", url, headers, preload_content=False,
                             **kwargs)
        if resp.status not in (200, 206):
            body = resp.read()
            resp.release_conn()
            raise exc.from_response(resp, body)
        meta = extract_headers_meta(resp.headers, check=check_headers)

        def stream():
            try:
                yield from resp.stream(READ_BUFFER_SIZE)
            finally:
                resp.release_conn()
        return meta, stream()

    def chunk_copy(self, from_url: str, to_url: str, chunk_id: str | None = None,
                   fullpath: str | None = None, cid: str | None = None,
                   path: str | None = None, version=None,
                   content_id: str | None = None, **kwargs) -> tuple[int, str]:
        """Stream the chunk at `from_url` to `to_url` with the same xattrs
        but its new ID (and the content fields given). The chunk's size and
        hash (`chunk_size`/`chunk_hash` kwargs, else the source's xattrs)
        are declared, so the target rawx refuses data that differs: no
        byte is hashed here. Returns (size, chunk hash)."""
        expected_size = kwargs.pop("chunk_size", None)
        expected_hash = kwargs.pop("chunk_hash", None)
        reqid = kwargs.pop("reqid", None) or request_id("copy-")
        meta, stream = self.chunk_get(from_url, check_headers=not fullpath,
                                      reqid=reqid, **kwargs)
        try:
            meta.update(oio_version=OIO_VERSION,
                        chunk_id=chunk_id or to_url.rsplit("/", 1)[-1],
                        full_path=fullpath or meta.get("full_path"),
                        container_id=cid or meta.get("container_id"),
                        content_path=path or meta.get("content_path"),
                        content_version=version or meta.get("content_version"),
                        content_id=content_id or meta.get("content_id"))
            if expected_size is not None:
                meta["chunk_size"] = expected_size
            if expected_hash:
                meta["chunk_hash"] = expected_hash
            headers = {CHUNK_HEADERS[k]: str(v) for k, v in meta.items()
                       if v is not None and k in CHUNK_HEADERS
                       and k not in ("chunk_mtime", "transfer_hash")}
            headers[CHUNK_HEADERS["content_path"]] = quote(
                str(meta.get("content_path") or ""), safe="/")
            resp = self._request("PUT", to_url, headers, body=stream,
                                 chunked=True, reqid=reqid, **kwargs)
        finally:
            stream.close()
        if resp.status != 201:
            raise exc.from_response(resp, resp.data)
        got = resp.headers.get(CHUNK_HEADERS["chunk_hash"]) or \
            meta.get("chunk_hash") or ""
        return int(meta.get("chunk_size") or 0), got.upper()

    def chunk_link(self, target: str, link: str | None, fullpath: str,
                   headers: dict | None = None, **kwargs):
        """Hard-link the chunk at `target` under a new chunk ID (rawx COPY):
        `link` is a full URL, a bare chunk ID, or None for a random one.
        (reply, link URL). The COPY goes to `real_url` when given."""
        if link is None:
            link = generate_chunk_id()
        if not link.startswith("http://"):
            link = target[:target.rfind("/") + 1] + link
        hdrs = dict(headers or {})
        hdrs["Destination"] = link
        hdrs[CHUNK_HEADERS["full_path"]] = fullpath
        resp = self._request("COPY", kwargs.pop("real_url", None) or target,
                             hdrs, **kwargs)
        if resp.status != 201:
            raise exc.from_response(resp, resp.data)
        return resp, link

    def chunk_head(self, url: str, **kwargs) -> dict:
        """Chunk metadata of a HEAD (empty when `xattr=False`);
        `check_hash=True` makes the rawx verify the chunk hash."""
        xattr = bool(kwargs.pop("xattr", True))
        headers = dict(kwargs.pop("headers", None) or {})
        headers[FETCHXATTR_HEADER] = str(xattr)
        if kwargs.pop("check_hash", False):
            headers[CHECKHASH_HEADER] = "True"
        resp = self._request("HEAD", url, headers, **kwargs)
        if resp.status != 200:
            raise exc.from_response(resp)
        return extract_headers_meta(resp.headers) if xattr else {}
