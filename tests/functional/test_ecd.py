"""oio-ecd against the sandbox: an EC object written one metachunk at a
time through the daemon, as the C SDK does (prepare, PUT each metachunk to
ecd, create), read back with ObjectStorageApi and through ecd."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import urllib3

from oio.api.io import group_metachunks
from oio.common.fullpath import encode_fullpath
from oio.common.utils import cid_from_name
from oio.ecd.metachunk import PREFIX
from tests.utils import free_port, wait_until

MiB = 1024 * 1024
ACCOUNT = "ecd"


@pytest.fixture(scope="module")
def ecd(namespace, tmp_path_factory):
    """A real `oio-ecd` process; its address."""
    port = free_port()
    folder = tmp_path_factory.mktemp("ecd")
    conf, log = folder / "ecd.conf", folder / "ecd.log"
    conf.write_text(f"[ecd]\nbind_addr = 127.0.0.1\nbind_port = {port}\n"
                    "log_level = WARNING\nread_timeout = 30\n")
    binary = Path(sys.executable).with_name("oio-ecd")
    proc = subprocess.Popen([str(binary), str(conf)],
                            stderr=log.open("wb"))
    http = urllib3.PoolManager()

    def answers():
        try:
            return http.request("POST", f"http://127.0.0.1:{port}/",
                                retries=False).status == 405
        except urllib3.exceptions.HTTPError:
            assert proc.poll() is None, log.read_text()
            return False
    try:
        wait_until(answers, timeout=20)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def every_rawx_up(namespace):
    namespace.sandbox.wait_all_up()


def _headers(meta: dict, cid: str, full_path: str, pos: int,
             chunks: list[dict]) -> dict[str, str]:
    """What the 7.2 C SDK sends ecd with a metachunk."""
    headers = {PREFIX + "content-id": meta["id"],
               PREFIX + "content-version": str(meta["version"]),
               PREFIX + "content-path": meta["name"],
               PREFIX + "content-chunk-method": meta["chunk_method"],
               PREFIX + "content-storage-policy": meta["policy"],
               PREFIX + "container-id": cid,
               PREFIX + "full-path": full_path,
               PREFIX + "oio-version": "4.2",
               PREFIX + "chunk-pos": str(pos),
               PREFIX + "chunks-nb": str(len(chunks))}
    for chunk in chunks:
        headers[PREFIX + "chunk-" + chunk["pos"].split(".")[1]] = chunk["url"]
    return headers


def _pieces(data: bytes, size: int = 100_000):
    """The body as a generator: urllib3 sends it chunked (no length)."""
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


def _put_through_ecd(api, ecd_addr, container, name, data, policy,
                     chunked=False):
    """Prepare, one ecd PUT per metachunk, create. The chunk list."""
    http = api.pool_manager
    cid = cid_from_name(ACCOUNT, container)
    api.container_create(ACCOUNT, container)
    meta, chunks = api.container.content_prepare(
        ACCOUNT, container, name, size=len(data), stgpol=policy)
    meta["name"] = name
    metachunk = int(meta["chunk_size"]) * 2     # k = 2
    full_path = encode_fullpath(ACCOUNT, container, name, meta["version"],
                                meta["id"])
    # prepare2 with the size gives the chunks of every metachunk.
    by_pos: dict[int, list[dict]] = {}
    for chunk in chunks:
        by_pos.setdefault(int(chunk["pos"].split(".")[0]), []).append(chunk)
    created, offset, pos = [], 0, 0
    while offset < len(data) or pos == 0:
        chunks = by_pos[pos]
        part = data[offset:offset + metachunk]
        resp = http.request(
            "PUT", f"http://{ecd_addr}/",
            body=_pieces(part) if chunked else part,
            headers=_headers(meta, cid, full_path, pos, chunks))
        assert resp.status == 200, resp.data
        assert resp.data == b"OK"
        mc_hash = resp.headers[PREFIX + "metachunk-hash"]
        assert mc_hash == hashlib.md5(part).hexdigest().upper()
        assert int(resp.headers[PREFIX + "metachunk-size"]) == len(part)
        for chunk in chunks:   # as the C SDK: the metachunk's size and hash
            created.append({"url": chunk["url"],
                            "pos": f"{pos}.{chunk['pos'].split('.')[1]}",
                            "size": len(part), "hash": mc_hash})
        offset += len(part)
        pos += 1
    api.container.content_create(
        ACCOUNT, container, name, size=len(data),
        checksum=hashlib.md5(data).hexdigest().upper(),
        data={"chunks": created, "properties": {}},
        content_id=meta["id"], stgpol=meta["policy"],
        version=meta["version"], chunk_method=meta["chunk_method"])
    return meta


@pytest.mark.parametrize(("size", "chunked"), [
    (0, False), (100_000, False), (2 * MiB + 12_345, False),
    (3 * MiB + 1, True)])
def test_write_through_ecd_read_with_the_api(namespace, ecd, size, chunked):
    api = namespace.api()
    container, name = f"ct-{uuid.uuid4().hex[:8]}", "obj"
    data = os.urandom(size)
    _put_through_ecd(api, ecd, container, name, data, "EC21", chunked)
    meta, stream = api.object_fetch(ACCOUNT, container, name)
    assert b"".join(stream) == data
    assert meta["chunk_method"].startswith("ec/")
    # The API's own integrity checks of every fragment pass.
    assert api.object_head(ACCOUNT, container, name, trust_level=2)


def test_read_through_ecd(namespace, ecd):
    api = namespace.api()
    container, name = f"ct-{uuid.uuid4().hex[:8]}", "obj"
    data = os.urandom(3 * MiB + 500)
    api.object_create(ACCOUNT, container, data=data, obj_name=name,
                      policy="EC21")
    meta, chunks = api.object_locate(ACCOUNT, container, name)
    http = api.pool_manager
    offset = 0
    for group in group_metachunks(chunks):
        size = group["size"]
        # What 7.2's tests send: the object's chunk size, not the
        # metachunk's (the fragments say the metachunk's size).
        headers = {PREFIX + "content-chunk-method": meta["chunk_method"],
                   PREFIX + "chunk-size": str(namespace.settings.chunk_size),
                   PREFIX + "container-id": cid_from_name(ACCOUNT, container)}
        for chunk in group["chunks"]:
            headers[PREFIX + "chunk-" + chunk["pos"].split(".")[1]] = \
                chunk["url"]
        whole = http.request("GET", f"http://{ecd}/", headers=headers)
        assert whole.status == 200
        assert whole.data == data[offset:offset + size]
        ranged = http.request("GET", f"http://{ecd}/",
                              headers=dict(headers, Range="bytes=10-1000"))
        assert ranged.status == 206
        assert ranged.headers["Content-Range"] == f"bytes 10-1000/{size}"
        assert ranged.data == data[offset + 10:offset + 1001]
        offset += size
    assert offset == len(data)
    # A lost fragment is decoded around.
    first = group_metachunks(chunks)[0]
    headers.pop(PREFIX + "chunk-0", None)
    headers.update({PREFIX + "chunk-size": str(first["size"])})
    for chunk in first["chunks"]:
        index = chunk["pos"].split(".")[1]
        if index != "0":
            headers[PREFIX + "chunk-" + index] = chunk["url"]
    assert http.request("GET", f"http://{ecd}/",
                        headers=headers).data == data[:first["size"]]


def test_bad_requests_are_told(namespace, ecd):
    http = urllib3.PoolManager()
    resp = http.request("PUT", f"http://{ecd}/", body=b"data",
                        headers={PREFIX + "content-id": "X"})
    assert resp.status == 400
    assert b"Missing header" in resp.data
    resp = http.request("GET", f"http://{ecd}/", headers={
        PREFIX + "content-chunk-method": "ec/algo=liberasurecode_rs_vand,"
                                         "k=2,m=1",
        PREFIX + "chunk-size": "10",
        PREFIX + "chunk-0": "http://127.0.0.1:1/AB",
        "Range": "bytes=20-"})
    assert resp.status == 416
    assert http.request("DELETE", f"http://{ecd}/").status == 405
