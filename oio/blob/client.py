"""BlobClient: direct requests to rawx services (chunk HEAD/GET/DELETE/PUT)."""

from __future__ import annotations

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import CHUNK_METADATA_PREFIX, REQID_HEADER
from oio.common.http_urllib3 import get_pool_manager, oio_exception, timeout
from oio.common.utils import request_id


def _chunk_meta(headers) -> dict:
    """`x-oio-chunk-meta-*` reply headers as a dict keyed by their suffix."""
    prefix = CHUNK_METADATA_PREFIX
    return {k[len(prefix):].replace("-", "_"): v for k, v in headers.items()
            if k.lower().startswith(prefix)}


class BlobClient:
    def __init__(self, conf: dict | None = None,
                 pool_manager: urllib3.PoolManager | None = None,
                 connection_timeout: float | None = None,
                 read_timeout: float | None = None, **kwargs):
        self.conf = conf or {}
        self.pool_manager = pool_manager or get_pool_manager()
        self.timeout = timeout(connection_timeout, read_timeout)

    def _request(self, method: str, url: str, headers: dict | None = None,
                 reqid: str | None = None, **kwargs) -> urllib3.BaseHTTPResponse:
        headers = dict(headers or {})
        headers[REQID_HEADER] = reqid or request_id("blob-")
        try:
            resp = self.pool_manager.request(method, url, headers=headers,
                                             timeout=self.timeout, retries=False,
                                             **kwargs)
        except urllib3.exceptions.HTTPError as err:
            raise oio_exception(err, url) from None
        if resp.status >= 400:
            raise exc.from_response(resp, resp.data)
        return resp

    def chunk_head(self, url: str, reqid: str | None = None,
                   check_hash: bool = False, **kwargs) -> dict:
        headers = {"x-oio-check-hash": "true"} if check_hash else None
        return _chunk_meta(self._request("HEAD", url, headers, reqid).headers)

    def chunk_get(self, url: str, reqid: str | None = None,
                  **kwargs) -> tuple[dict, bytes]:
        """Metadata and bytes of a (small) chunk; stream big ones with
        oio.api.io.ChunkReader."""
        resp = self._request("GET", url, kwargs.get("headers"), reqid)
        return _chunk_meta(resp.headers), resp.data

    def chunk_delete(self, url: str, reqid: str | None = None, **kwargs) -> None:
        self._request("DELETE", url, None, reqid)

    def chunk_put(self, url: str, meta: dict, data: bytes,
                  reqid: str | None = None, **kwargs) -> dict:
        """Upload one chunk; `meta` holds the x-oio-chunk-meta-* headers
        (full names)."""
        resp = self._request("PUT", url, dict(meta), reqid, body=data)
        return _chunk_meta(resp.headers)
