"""The ecd's HTTP routes, on our HTTP core: `PUT /` writes one metachunk
(the request body) to the chunks its headers name, EC-encoded or
replicated; `GET /` reads one back (ranges too). The chunk writers and
readers are the API's, run in a worker thread; bodies are streamed both
ways."""

from __future__ import annotations

import asyncio
import logging

from oio.api.ec import ECMetachunkReader, ECMetachunkWriter
from oio.api.io import ChunkReader
from oio.api.replication import ReplicatedMetachunkWriter
from oio.blob.client import BlobClient
from oio.common import exceptions as exc
from oio.common.constants import CHUNK_HEADERS, REQID_HEADER
from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    StreamResponse,
    run_blocking,
)
from oio.common.http_urllib3 import get_pool_manager
from oio.common.thread_bridge import SyncRequestBody, primed, thread_iter
from oio.common.utils import request_id

from .metachunk import (
    SYS_HEADERS,
    header,
    load_meta_chunk,
    load_sysmeta,
    read_range,
    storage_method,
    write_chunks,
)

logger = logging.getLogger("oio.ecd")


def _http_error(err: exc.OioException) -> HttpError:
    """An API error as the reply that tells the client what went wrong."""
    if isinstance(err, exc.StatusMessageException):
        return HttpError(err.http_status, err.message, err.status)
    if isinstance(err, exc.OioTimeout):
        return HttpError(504, str(err) or "rawx timeout")
    if isinstance(err, exc.SourceReadError):
        return HttpError(400, f"request body: {err}")
    return HttpError(500, str(err) or type(err).__name__)


class ECD:
    """Writes and reads metachunks for the routes (timeouts in seconds)."""

    def __init__(self, conf: dict | None = None, pool_manager=None):
        conf = conf or {}
        self.conf = conf
        self.timeouts = {k: float(conf[k]) for k in
                         ("connection_timeout", "read_timeout",
                          "write_timeout") if conf.get(k)}
        self.pool_manager = pool_manager or get_pool_manager()
        self.blob = BlobClient(conf, connection_pool=self.pool_manager,
                               connection_timeout=self.timeouts.get(
                                   "connection_timeout", 2.0),
                               read_timeout=self.timeouts.get(
                                   "read_timeout", 10.0))

    def write(self, headers: dict[str, str], source,
              size: int | None, reqid: str) -> tuple[int, str, list[dict]]:
        """(bytes written, metachunk hash, chunks) of one metachunk."""
        sysmeta = load_sysmeta(headers)
        method = storage_method(headers)
        chunks = write_chunks(method, headers)
        writer_class = ECMetachunkWriter if method.ec \
            else ReplicatedMetachunkWriter
        writer = writer_class(sysmeta, chunks, None, method,
                              pool_manager=self.pool_manager,
                              headers={REQID_HEADER: reqid}, reqid=reqid,
                              **self.timeouts)
        return writer.stream(source, size)

    def metachunk_size(self, chunks: list[dict], given: str | None,
                       reqid: str) -> int:
        """The size the fragments record (the first that answers a HEAD):
        7.2 clients send the object's chunk size as `chunk-size`, not
        always the metachunk's; that header is the fallback."""
        for chunk in chunks:
            try:
                meta = self.blob.chunk_head(chunk["url"],
                                            headers={REQID_HEADER: reqid})
                return int(meta["metachunk_size"])
            except (exc.OioException, KeyError, ValueError):
                continue
        if given is None:
            raise exc.ServiceBusy(message="No fragment answers and no "
                                          f"'{SYS_HEADERS['chunk_size']}'")
        try:
            return int(given)
        except ValueError:
            raise exc.BadRequest(message=f"Invalid chunk size {given!r}") \
                from None

    def reader(self, headers: dict[str, str], range_header: str | None,
               reqid: str):
        """(the range served, an iterator of its bytes). Runs in a worker
        thread (it asks the rawx the metachunk's size)."""
        method = storage_method(headers)
        kwargs = {k: v for k, v in self.timeouts.items()
                  if k != "write_timeout"}
        if method.ec:
            chunks = load_meta_chunk(headers, method.expected_chunks, "0")
            size = self.metachunk_size(
                chunks, headers.get(SYS_HEADERS["chunk_size"]), reqid)
            wanted = read_range(range_header, size)
            return wanted, ECMetachunkReader(
                self.pool_manager, method, chunks, wanted.start, wanted.end,
                size, reqid, **kwargs)
        chunks = load_meta_chunk(headers, int(header(
            headers, "content_chunksnb", str(method.expected_chunks))))
        raw = header(headers, "chunk_size")
        try:
            wanted = read_range(range_header, int(raw))
        except ValueError:
            raise exc.BadRequest(message=f"Invalid chunk size {raw!r}") \
                from None
        return wanted, ChunkReader(self.pool_manager, chunks, wanted.start,
                                   wanted.end, reqid, **kwargs)


def _reqid(req: Request) -> str:
    return req.headers.get(REQID_HEADER) or request_id("ECD-")


def build_app(ecd: ECD) -> Router:
    router = Router()

    async def put(req: Request) -> Response:
        body = SyncRequestBody(req, asyncio.get_running_loop())
        try:
            size, mc_hash, chunks = await run_blocking(
                ecd.write, req.headers, body, req.content_length, _reqid(req))
        except exc.OioException as err:
            raise _http_error(err) from None
        failed = [c for c in chunks if c.get("error")]
        for chunk in failed:
            logger.warning("%s: %s (quorum reached)", chunk["url"],
                           chunk["error"])
        # 7.2 answers "OK"; the metachunk's size and hash are ours.
        return Response(200, b"OK", {
            CHUNK_HEADERS["metachunk_size"]: str(size),
            CHUNK_HEADERS["metachunk_hash"]: mc_hash.upper()})

    async def get(req: Request) -> Response:
        try:
            wanted, stream = await run_blocking(
                ecd.reader, req.headers, req.headers.get("range"),
                _reqid(req))
        except exc.OioException as err:
            raise _http_error(err) from None
        try:
            body = await primed(thread_iter(lambda: stream))
        except exc.OioException as err:
            raise _http_error(err) from None

        length = wanted.end - wanted.start + 1
        headers = {"Content-Type": "application/octet-stream"}
        if wanted.partial:
            headers["Content-Range"] = \
                f"bytes {wanted.start}-{wanted.end}/{wanted.size}"
        return StreamResponse(206 if wanted.partial else 200, headers,
                              body, length)

    async def other(req: Request) -> Response:
        return Response(405, b"", {"Allow": "GET, PUT"})

    router.add("PUT", "/", put)
    router.add("GET", "/", get)
    for method in ("POST", "DELETE", "HEAD"):
        router.add(method, "/", other)
    return router


def create_app(conf: dict | None = None) -> Router:
    """7.2's entry point name: the routes of an ecd built on `conf`."""
    return build_app(ECD(conf))
