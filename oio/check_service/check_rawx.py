"""A rawx round trip: GET 404, DELETE 404, a chunked PUT of 1 KiB with
every chunk header and the metachunk size and hash as trailers (201),
GET 200 with the same bytes, DELETE 204, GET 404."""

from __future__ import annotations

import hashlib
import os

from oio.check_service.common import CheckFailed, CheckService, expect
from oio.common.constants import CHUNK_HEADERS, OIO_VERSION
from oio.common.http_lean import LeanPool
from oio.common.utils import cid_from_name

PROBE_ACCOUNT = "_rawx_probe"
CHUNK_LENGTH = 1024
TIMEOUTS = {"connect_timeout": 2.0, "read_timeout": 10.0}


def chunked_body(data: bytes, trailers: dict[str, str]) -> bytes:
    """`data` as one HTTP chunk, then the last chunk and the trailers."""
    tail = "".join(f"{k}: {v}\r\n" for k, v in trailers.items())
    return (b"%x\r\n%b\r\n0\r\n" % (len(data), data)
            + tail.encode("ascii") + b"\r\n")


def probe_chunk(data: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    """(chunk ID, headers, trailers) of an EC fragment of a probe object
    (EC, so that the rawx needs the metachunk trailers)."""
    chunk_id = "0" * 16 + os.urandom(24).hex().upper()
    content_id = os.urandom(16).hex().upper()
    version = "1456938361143740"
    headers = {
        CHUNK_HEADERS["content_id"]: content_id,
        CHUNK_HEADERS["content_version"]: version,
        CHUNK_HEADERS["content_path"]: "probe",
        CHUNK_HEADERS["content_chunkmethod"]:
            "ec/algo=liberasurecode_rs_vand,k=6,m=3",
        CHUNK_HEADERS["content_policy"]: "TESTPOLICY",
        CHUNK_HEADERS["container_id"]: cid_from_name(PROBE_ACCOUNT, "probe"),
        CHUNK_HEADERS["chunk_id"]: chunk_id,
        CHUNK_HEADERS["chunk_size"]: str(len(data)),
        CHUNK_HEADERS["chunk_hash"]: hashlib.md5(data).hexdigest().upper(),
        CHUNK_HEADERS["chunk_pos"]: "0.0",
        CHUNK_HEADERS["full_path"]:
            f"{PROBE_ACCOUNT}/probe/probe/{version}/{content_id}",
        CHUNK_HEADERS["oio_version"]: OIO_VERSION,
    }
    trailers = {CHUNK_HEADERS["metachunk_size"]: str(9 * len(data)),
                CHUNK_HEADERS["metachunk_hash"]:
                    hashlib.md5(b"").hexdigest().upper()}
    return chunk_id, headers, trailers


class CheckRawx(CheckService):
    service_type = "rawx"

    def __init__(self, namespace: str, conscience=None):
        super().__init__(namespace, conscience)
        self.pool = LeanPool()

    def _request(self, method: str, addr: str, chunk_id: str,
                 headers: dict | None = None, body: bytes | None = None):
        host, _, port = addr.rpartition(":")
        return self.pool.request(method, host, int(port), f"/{chunk_id}",
                                 headers or {}, body, **TIMEOUTS)

    def cycle(self, addr: str) -> None:
        data = os.urandom(CHUNK_LENGTH // 2).hex().encode()
        chunk_id, headers, trailers = probe_chunk(data)
        expect("GET before PUT", self._request("GET", addr, chunk_id).status,
               404)
        expect("DELETE before PUT",
               self._request("DELETE", addr, chunk_id).status, 404)
        headers = {**headers, "Transfer-Encoding": "chunked",
                   "Trailer": ", ".join(trailers)}
        expect("PUT", self._request("PUT", addr, chunk_id, headers,
                                    chunked_body(data, trailers)).status, 201)
        resp = self._request("GET", addr, chunk_id)
        expect("GET", resp.status, 200)
        if resp.read() != data:
            raise CheckFailed("GET: not the bytes PUT")
        expect("DELETE", self._request("DELETE", addr, chunk_id).status, 204)
        expect("GET after DELETE", self._request("GET", addr, chunk_id).status,
               404)
