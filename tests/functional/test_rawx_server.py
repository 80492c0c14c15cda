"""The rawx over real sockets, on a real volume (rawx.md §2, §7, §8)."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from oio.blob.rawx_app import RawxApp
from oio.blob.rawx_config import parse_rawx_conf
from oio.common.utils import cid_from_name
from tests.utils import ServerThread, free_port

CONTENT = "091B3B12DFB405005B1FC2A412341235"
FULLPATH = f"acct/cont/dir%2Fmy%20file.txt/1606245060123456/{CONTENT}"


def chunk_id(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest().upper()


def meta_headers(**extra) -> dict[str, str]:
    hdrs = {
        "X-oio-chunk-meta-content-storage-policy": "SINGLE",
        "X-oio-chunk-meta-content-chunk-method": "plain/nb_copy=1",
        "X-oio-chunk-meta-chunk-pos": "0",
        "X-oio-chunk-meta-full-path": FULLPATH,
    }
    hdrs.update(extra)
    return hdrs


def volume_dir() -> str:
    # user xattrs are needed: ext4 here; tmpfs may lack them.
    return tempfile.mkdtemp(prefix="rawx-test-", dir=os.environ.get("OIO_TEST_TMP"))


class Rawx:
    def __init__(self, root: str, extra_conf: str = ""):
        self.root = root
        self.vol = os.path.join(root, "vol")
        os.mkdir(self.vol)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.conf = parse_rawx_conf(
            f"Listen {self.addr}\ngrid_docroot {self.vol}\ngrid_namespace OPENIO\n"
            f"grid_fsync enabled\ngrid_fsync_dir enabled\ngrid_buffer_size 64\n"
            + extra_conf)
        self.app = RawxApp(self.conf)
        self.app.store.lock_volume(self.conf.ns, self.conf.volume_id)
        self.thread = ServerThread(self.app, "127.0.0.1", self.port,
                                   on_startup=self.app.start,
                                   on_cleanup=self.app.stop, access_log=False)

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None):
        conn = self.conn()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def put(self, cid, data=b"hello world", **extra):
        return self.request("PUT", "/" + cid, data, meta_headers(**extra))

    def files(self) -> list[str]:
        found = []
        for dirpath, _, names in os.walk(self.vol):
            # probe-* files come and go with the I/O probe.
            found += [os.path.join(dirpath, n) for n in names
                      if not n.startswith("probe-")]
        return found


@pytest.fixture
def rawx():
    root = volume_dir()
    server = Rawx(root)
    server.thread.start()
    try:
        yield server
    finally:
        server.thread.stop()
        shutil.rmtree(root, ignore_errors=True)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# PUT -----------------------------------------------------------------------

def test_put_then_get_head_delete(rawx):
    cid = chunk_id(1)
    data = os.urandom(300_000)   # several upload buffers of 64 KiB
    md5 = hashlib.md5(data).hexdigest().upper()
    status, hdrs, _ = rawx.put(cid, data, **{"X-oio-req-id": "REQ1"})
    assert status == 201
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == md5
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Size"] == str(len(data))
    assert hdrs["X-Oio-Req-Id"] == "REQ1"
    path = os.path.join(rawx.vol, cid[:3], cid)
    assert rawx.files() == [path]
    assert os.getxattr(path, "user.grid.chunk.hash") == md5.encode()
    assert os.getxattr(path, "user.oio.content.fullpath:" + cid) == FULLPATH.encode()
    assert os.getxattr(path, "user.grid.oio.version") == b"4.2"

    status, hdrs, body = rawx.request("GET", "/" + cid.lower())
    assert status == 200 and body == data
    assert hdrs["Content-Length"] == str(len(data))
    assert hdrs["X-Oio-Chunk-Meta-Container-Id"] == cid_from_name("acct", "cont")
    assert hdrs["X-Oio-Chunk-Meta-Content-Path"] == "dir%2Fmy%20file.txt"
    assert hdrs["X-Oio-Chunk-Meta-Full-Path"] == FULLPATH
    assert "Last-Modified" in hdrs and "X-Oio-Req-Id" not in hdrs

    status, hdrs, body = rawx.request("HEAD", "/" + cid)
    assert status == 200 and body == b""
    assert hdrs["Content-Length"] == str(len(data))
    assert hdrs["Accept-Ranges"] == "bytes"
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == md5
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Pos"] == "0"

    assert rawx.request("DELETE", "/" + cid)[0] == 204
    assert rawx.request("GET", "/" + cid)[0] == 404
    assert rawx.request("HEAD", "/" + cid)[0] == 404
    assert rawx.request("DELETE", "/" + cid)[0] == 404
    assert rawx.files() == []


def test_put_empty_chunk(rawx):
    cid = chunk_id(2)
    status, hdrs, _ = rawx.put(cid, b"")
    assert status == 201
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == hashlib.md5(b"").hexdigest().upper()
    status, hdrs, body = rawx.request("GET", "/" + cid, headers={"Range": "bytes=0-9"})
    assert (status, body) == (200, b"")


def _put_whole_then_read(rawx, cid: str, headers: dict, size: int) -> int:
    """A chunked PUT sent in full before reading the answer (as 7.2's
    tests and simple clients do): the status, or an OSError if the rawx
    hung up on it."""
    conn = rawx.conn()
    try:
        conn.putrequest("PUT", "/" + cid)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        block = b"x" * (1 << 20)
        for _ in range(size >> 20):
            conn.send(b"%x\r\n%s\r\n" % (len(block), block))
        conn.send(b"0\r\n\r\n")
        return conn.getresponse().status
    finally:
        conn.close()


def test_refused_upload_still_reads_the_body(rawx):
    cid = chunk_id(30)
    assert rawx.put(cid, b"first")[0] == 201
    # 409 on an existing chunk, 400 on bad headers: 16 MiB sent anyway.
    assert _put_whole_then_read(rawx, cid, meta_headers(), 16 << 20) == 409
    bad = {k: v for k, v in meta_headers().items()
           if k.lower() != "x-oio-chunk-meta-chunk-pos"}
    assert _put_whole_then_read(rawx, chunk_id(31), bad, 16 << 20) == 400


def test_put_existing_chunk_is_409(rawx):
    cid = chunk_id(3)
    assert rawx.put(cid, b"first")[0] == 201
    assert rawx.put(cid, b"second")[0] == 409
    assert rawx.request("GET", "/" + cid)[2] == b"first"
    assert len(rawx.files()) == 1


@pytest.mark.parametrize("path", [
    "/../../etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/" + "A" * 23,
    "/" + "A" * 65, "/" + "G" * 64, "/" + "A" * 64 + "/x", "/" + "A" * 30 + ".pending"])
def test_bad_chunk_ids_are_400(rawx, path):
    for method in ("GET", "PUT", "HEAD", "DELETE"):
        conn = rawx.conn()
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in meta_headers().items():
            conn.putheader(key, value)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        assert conn.getresponse().status == 400, method
        conn.close()
    assert rawx.files() == []


@pytest.mark.parametrize("override", [
    {"X-oio-chunk-meta-full-path": "a/b/c"},
    {"X-oio-chunk-meta-chunk-pos": ""},
    {"X-oio-chunk-meta-chunk-id": chunk_id(99)},
    {"X-oio-chunk-meta-chunk-hash": "00" * 16},
    {"X-oio-chunk-meta-chunk-size": "3"},
    {"X-oio-chunk-meta-content-chunk-method": "ec/algo=x,k=6,m=3"},  # no metachunk
])
def test_bad_metadata_is_400_and_leaves_nothing(rawx, override):
    status, _, body = rawx.put(chunk_id(4), b"payload", **override)
    assert status == 400 and body == b""
    assert rawx.files() == []


def test_declared_hash_and_size_accepted_any_case(rawx):
    data = b"x" * 1000
    status, hdrs, _ = rawx.put(chunk_id(5), data, **{
        "X-oio-chunk-meta-chunk-hash": hashlib.md5(data).hexdigest(),
        "X-oio-chunk-meta-chunk-size": "1000"})
    assert status == 201


def send_chunked(rawx, cid, pieces, trailers=None, extra=None, close_after=False):
    sock = socket.create_connection(("127.0.0.1", rawx.port), timeout=10)
    hdrs = meta_headers(**(extra or {}))
    head = f"PUT /{cid} HTTP/1.1\r\nHost: {rawx.addr}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    if trailers:
        head += f"Trailer: {', '.join(trailers)}\r\n"
    sock.sendall(head.encode() + b"\r\n")
    for piece in pieces:
        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    if close_after:
        return sock
    tail = b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode()
                               for k, v in (trailers or {}).items()) + b"\r\n"
    sock.sendall(tail)
    resp = http.client.HTTPResponse(sock, method="PUT")
    resp.begin()
    result = resp.status, dict(resp.getheaders())
    sock.close()
    return result


def test_chunked_upload_with_ec_trailers(rawx):
    cid = chunk_id(6)
    pieces = [os.urandom(n) for n in (32768, 100000, 5, 70000)]
    data = b"".join(pieces)
    md5 = hashlib.md5(data).hexdigest()
    trailers = {"X-oio-chunk-meta-metachunk-size": "6291456",
                "X-oio-chunk-meta-metachunk-hash": "5d41402abc4b2a76b9719d911017c592",
                "X-oio-chunk-meta-chunk-hash": md5}
    status, hdrs = send_chunked(rawx, cid, pieces, trailers, {
        "X-oio-chunk-meta-content-chunk-method":
            "ec/algo=liberasurecode_rs_vand,k=6,m=3",
        "X-oio-chunk-meta-content-storage-policy": "EC",
        "X-oio-chunk-meta-chunk-pos": "0.4"})
    assert status == 201
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == md5.upper()
    path = os.path.join(rawx.vol, cid[:3], cid)
    assert os.getxattr(path, "user.grid.metachunk.size") == b"6291456"
    assert os.getxattr(path, "user.grid.metachunk.hash") == \
        b"5D41402ABC4B2A76B9719D911017C592"
    assert os.getxattr(path, "user.grid.chunk.position") == b"0.4"
    status, hdrs, body = rawx.request("GET", "/" + cid)
    assert body == data
    assert hdrs["X-Oio-Chunk-Meta-Metachunk-Size"] == "6291456"


def test_chunked_trailer_hash_mismatch_is_400(rawx):
    cid = chunk_id(7)
    status, _ = send_chunked(rawx, cid, [b"abc"],
                             {"X-oio-chunk-meta-chunk-hash": "00" * 16})
    assert status == 400
    assert rawx.files() == []


def _xxh3(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128(data).hexdigest()


def test_transfer_hash_is_checked_and_md5_stored(rawx):
    """A client that sends the xxh3_128 of the body instead of its MD5:
    the rawx checks it and stores the MD5 it computed itself."""
    cid = chunk_id(30)
    pieces = [os.urandom(n) for n in (70000, 3, 65536)]
    data = b"".join(pieces)
    status, hdrs = send_chunked(rawx, cid, pieces, {
        "X-oio-chunk-meta-transfer-hash": _xxh3(data),
        "X-oio-chunk-meta-chunk-size": str(len(data))})
    assert status == 201
    md5 = hashlib.md5(data).hexdigest().upper()
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == md5
    path = os.path.join(rawx.vol, cid[:3], cid)
    assert os.getxattr(path, "user.grid.chunk.hash") == md5.encode()
    assert "user.grid.chunk.hash_algo" not in os.listxattr(path)
    assert not [a for a in os.listxattr(path) if "transfer" in a]
    # As a header, for a body of known length.
    status, _, _ = rawx.put(chunk_id(31), data, **{
        "X-oio-chunk-meta-transfer-hash": _xxh3(data)})
    assert status == 201


@pytest.mark.parametrize("announced", [True, False])
def test_transfer_hash_mismatch_or_unannounced_is_400(rawx, announced):
    cid = chunk_id(32 if announced else 33)
    trailer = {"X-oio-chunk-meta-transfer-hash":
               _xxh3(b"abd") if announced else _xxh3(b"abc")}
    if announced:
        status, _ = send_chunked(rawx, cid, [b"abc"], trailer)
    else:
        # Sent as a trailer the request did not announce: the rawx did not
        # hash the body for it, and refuses rather than accept unchecked.
        sock = send_chunked(rawx, cid, [b"abc"], close_after=True)
        sock.sendall(b"0\r\nX-oio-chunk-meta-transfer-hash: "
                     + trailer["X-oio-chunk-meta-transfer-hash"].encode()
                     + b"\r\n\r\n")
        resp = http.client.HTTPResponse(sock, method="PUT")
        resp.begin()
        status = resp.status
        sock.close()
    assert status == 400
    assert rawx.files() == []


def test_client_disconnect_mid_upload_leaves_nothing(rawx):
    cid = chunk_id(8)
    sock = send_chunked(rawx, cid, [os.urandom(200_000)], close_after=True)
    # The pending file exists while the upload is in progress.
    wait_for(lambda: any(f.endswith(".pending") for f in rawx.files()))
    sock.close()
    wait_for(lambda: rawx.files() == [])
    assert rawx.request("GET", "/" + cid)[0] == 404


def test_truncated_content_length_upload_leaves_nothing(rawx):
    cid = chunk_id(9)
    sock = socket.create_connection(("127.0.0.1", rawx.port), timeout=10)
    head = f"PUT /{cid} HTTP/1.1\r\nContent-Length: 1000000\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in meta_headers().items())
    sock.sendall(head.encode() + b"\r\n" + b"x" * 200_000)
    wait_for(lambda: any(f.endswith(".pending") for f in rawx.files()))
    sock.close()
    wait_for(lambda: rawx.app.stats.hits["put"] == 1)
    assert rawx.files() == []


# GET ranges ----------------------------------------------------------------

@pytest.fixture
def stored_chunk(rawx):
    cid = chunk_id(10)
    data = bytes(range(256)) * 400   # 102400 bytes: beyond the inline limit
    assert rawx.put(cid, data)[0] == 201
    return cid, data


@pytest.mark.parametrize("rng,status,span", [
    ("bytes=0-9", 206, (0, 10)),               # first bytes
    ("bytes=100-100", 206, (100, 101)),
    ("bytes=1000-99999999", 206, (1000, 102400)),   # clamped
    ("bytes=102000-", 206, (102000, 102400)),       # open-ended
    ("bytes=-10", 200, (0, 102400)),                # suffix: whole chunk
    ("bytes=5-1", 200, (0, 102400)),
    ("pages=1-2", 200, (0, 102400)),
    ("bytes=0-65535", 206, (0, 65536)),
])
def test_ranges(rawx, stored_chunk, rng, status, span):
    cid, data = stored_chunk
    got, hdrs, body = rawx.request("GET", "/" + cid, headers={"Range": rng})
    assert got == status
    assert body == data[span[0]:span[1]]
    assert hdrs["Content-Length"] == str(span[1] - span[0])
    if status == 206:
        assert hdrs["Content-Range"] == f"bytes {span[0]}-{span[1] - 1}/{len(data)}"
    else:
        assert "Content-Range" not in hdrs


@pytest.mark.parametrize("rng", ["bytes=102400-102500", "bytes=200000-"])
def test_unsatisfiable_range_is_416(rawx, stored_chunk, rng):
    cid, _ = stored_chunk
    status, _, body = rawx.request("GET", "/" + cid, headers={"Range": rng})
    assert (status, body) == (416, b"")


def test_keepalive_serves_many_requests(rawx, stored_chunk):
    cid, data = stored_chunk
    conn = rawx.conn()
    for start in (0, 5, 70000):
        conn.request("GET", "/" + cid, headers={"Range": f"bytes={start}-{start + 9}"})
        resp = conn.getresponse()
        assert resp.status == 206 and resp.read() == data[start:start + 10]
    conn.request("GET", "/" + cid)
    assert conn.getresponse().read() == data
    conn.close()


# HEAD with hash check, COPY ------------------------------------------------

def test_head_check_hash(rawx, stored_chunk):
    cid, data = stored_chunk
    path = os.path.join(rawx.vol, cid[:3], cid)
    check = {"X-oio-check-hash": "True"}
    assert rawx.request("HEAD", "/" + cid, headers=check)[0] == 200
    good = hashlib.md5(data).hexdigest()
    assert rawx.request("HEAD", "/" + cid, headers={
        "X-oio-check-hash": "true", "X-oio-chunk-meta-chunk-hash": good})[0] == 200
    assert rawx.request("HEAD", "/" + cid, headers={
        "X-oio-check-hash": "true", "X-oio-chunk-meta-chunk-hash": "00" * 16})[0] == 412
    with open(path, "r+b") as handle:   # bit rot
        handle.write(b"\xff")
    assert rawx.request("HEAD", "/" + cid, headers=check)[0] == 412
    assert rawx.request("HEAD", "/" + cid)[0] == 200   # no check asked


def test_head_without_hash_xattr_is_500(rawx, stored_chunk):
    cid, _ = stored_chunk
    os.removexattr(os.path.join(rawx.vol, cid[:3], cid), "user.grid.chunk.hash")
    assert rawx.request("HEAD", "/" + cid)[0] == 500


def test_copy_links_chunk(rawx, stored_chunk):
    cid, data = stored_chunk
    new = chunk_id(11)
    other_path = f"acct/cont2/obj/1/{CONTENT}"
    hdrs = {"Destination": f"http://{rawx.addr}/{new}",
            "X-oio-chunk-meta-full-path": other_path}
    assert rawx.request("COPY", "/" + cid, headers=hdrs)[0] == 201
    status, got, body = rawx.request("GET", "/" + new)
    assert status == 200 and body == data
    assert got["X-Oio-Chunk-Meta-Full-Path"] == other_path
    assert got["X-Oio-Chunk-Meta-Chunk-Id"] == new
    assert rawx.request("COPY", "/" + cid, headers=hdrs)[0] == 409
    assert rawx.request("COPY", "/" + chunk_id(12), headers=dict(
        hdrs, Destination=f"http://{rawx.addr}/{chunk_id(13)}"))[0] == 404
    assert rawx.request("COPY", "/" + cid, headers=dict(
        hdrs, Destination=f"http://10.9.9.9:1/{chunk_id(13)}"))[0] == 403
    assert rawx.request("COPY", "/" + cid, headers=dict(
        hdrs, Destination=f"http://{rawx.addr}/{cid}"))[0] == 403
    assert rawx.request("COPY", "/" + cid, headers=dict(
        hdrs, Destination=f"http://{rawx.addr}/xyz"))[0] == 400
    # No Destination at all: a bad request, as 7.2's rawx answers.
    assert rawx.request("COPY", "/" + cid, headers={
        "X-oio-chunk-meta-full-path": other_path})[0] == 400


def test_replies_are_dated(rawx, stored_chunk):
    cid, _ = stored_chunk
    for method, path in (("GET", "/" + cid), ("GET", "/info"),
                         ("GET", "/" + chunk_id(14))):
        status, hdrs, _ = rawx.request(method, path)
        assert hdrs.get("Date", "").endswith(" GMT"), (method, path, status)


# Service routes, dispatch --------------------------------------------------

def test_info(rawx):
    status, hdrs, body = rawx.request("GET", "/info")
    assert status == 200
    assert body.decode() == f"namespace OPENIO\npath {rawx.vol}\n"
    assert rawx.request("HEAD", "/info")[0] == 200
    assert rawx.request("POST", "/info")[0] == 405


def test_stat_counters(rawx):
    rawx.put(chunk_id(20), b"12345")
    rawx.request("GET", "/" + chunk_id(20))
    rawx.request("GET", "/" + chunk_id(21))
    status, _, body = rawx.request("GET", "/stat")
    assert status == 200
    lines = body.decode().splitlines()
    counters = {line.rsplit(None, 1)[0]: int(line.rsplit(None, 1)[1])
                for line in lines if line.startswith("counter ")}
    assert counters["counter req.hits.put"] == 1
    assert counters["counter req.hits.get"] == 2
    assert counters["counter rep.hits.404"] == 1
    assert counters["counter rep.hits.2xx"] == 2
    assert counters["counter rep.bwritten"] == 5
    assert counters["counter rep.bread"] == 5
    assert counters["counter req.hits"] == 3
    assert f"config volume {rawx.vol}" in lines


def test_dispatch_rules(rawx, stored_chunk):
    cid, _ = stored_chunk
    assert rawx.request("POST", "/" + cid)[0] == 405
    assert rawx.request("GET", "//" + cid)[0] == 200      # leading slashes dropped
    assert rawx.request("GET", "/" + cid, headers={"Host": "evil:80"})[0] == 418
    status, hdrs, _ = rawx.request("GET", "/info", headers={"X-trans-id": "T" * 80})
    assert hdrs["X-Oio-Req-Id"] == "T" * 63


def test_failed_probe_gives_503(rawx):
    # The real probe would overwrite the verdicts set below: stop it first.
    task = rawx.app._probe_task
    rawx.thread.loop.call_soon_threadsafe(task.cancel)
    wait_for(task.done)
    rawx.app.health.last_ko = time.monotonic() + 1
    assert rawx.request("GET", "/info")[0] == 503
    rawx.app.health.last_ok = time.monotonic() + 2
    assert rawx.request("GET", "/info")[0] == 200


# The binary ----------------------------------------------------------------

def test_oio_rawx_command_starts_and_locks_volume():
    root = volume_dir()
    try:
        vol = os.path.join(root, "vol")
        os.mkdir(vol)
        port = free_port()
        conf = os.path.join(root, "rawx.conf")
        with open(conf, "w") as handle:
            handle.write(f"Listen 127.0.0.1:{port}\ngrid_docroot {vol}\n"
                         "grid_namespace OPENIO\ngrid_service_id OPENIO-rawx-7\n")
        proc = subprocess.Popen([sys.executable, "-m", "oio.blob.rawx_server",
                                 "-f", conf], stderr=subprocess.PIPE)
        try:
            def answers():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        return True
                except OSError:
                    assert proc.poll() is None, proc.stderr.read()
                    return False
            wait_for(answers, 20)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/info")
            body = conn.getresponse().read().decode()
            assert "service_id OPENIO-rawx-7" in body
            assert os.getxattr(vol, "user.server.id") == b"OPENIO-rawx-7"
            # A second rawx claiming the same volume under another ID fails.
            other = conf + "2"
            with open(other, "w") as handle:
                handle.write(f"Listen 127.0.0.1:{free_port()}\ngrid_docroot {vol}\n"
                             "grid_namespace OPENIO\n")
            res = subprocess.run([sys.executable, "-m", "oio.blob.rawx_server",
                                  other], capture_output=True, timeout=30)
            assert res.returncode == 2 and b"server.id" in res.stderr
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Events --------------------------------------------------------------------

class RecordingNotifier:
    enabled = True

    def __init__(self):
        self.events = []

    def notify(self, event, data, request_id):
        self.events.append((event, data, request_id))

    async def close(self):
        pass


def test_events_go_through_the_notifier():
    root = volume_dir()
    server = Rawx(root, "grid_service_id OPENIO-rawx-1\n")
    notifier = server.app.notifier = RecordingNotifier()
    server.thread.start()
    try:
        cid = chunk_id(30)
        assert server.put(cid, b"abc", **{"X-oio-req-id": "R1"})[0] == 201
        new = chunk_id(31)
        assert server.request("COPY", "/" + cid, headers={
            "Destination": f"http://OPENIO-rawx-1/{new}",
            "X-oio-chunk-meta-full-path": f"a/b/c/1/{CONTENT}"})[0] == 201
        assert server.request("DELETE", "/" + cid)[0] == 204
        assert [e[0] for e in notifier.events] == [
            "storage.chunk.new", "storage.chunk.deleted"]   # COPY: no event
        (_, created, rid), (_, deleted, rid2) = notifier.events
        assert (rid, rid2) == ("R1", "-")
        assert created == {
            "volume_id": server.addr, "volume_service_id": "OPENIO-rawx-1",
            "full_path": FULLPATH, "container_id": cid_from_name("acct", "cont"),
            "content_path": "dir/my file.txt", "content_version": "1606245060123456",
            "content_id": CONTENT, "content_storage_policy": "SINGLE",
            "metachunk_hash": "", "metachunk_size": "", "chunk_id": cid,
            "content_chunk_method": "plain/nb_copy=1", "chunk_position": "0",
            "chunk_hash": hashlib.md5(b"abc").hexdigest().upper(),
            "chunk_size": "3", "oio_version": "4.2"}
        assert deleted == dict(created, content_storage_policy="",
                               content_chunk_method="", chunk_position="",
                               chunk_hash="", chunk_size="", oio_version="")
    finally:
        server.thread.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def full_rawx():
    """A rawx on a 2 MiB tmpfs volume (needs the right to mount)."""
    root = tempfile.mkdtemp(prefix="rawx-full-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                              root], capture_output=True)
    if mounted.returncode != 0:
        os.rmdir(root)
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr!r}")
    try:
        try:
            server = Rawx(root)
        except OSError as exc:           # a tmpfs without user xattrs
            pytest.skip(f"tmpfs volume unusable: {exc}")
        server.thread.start()
        try:
            yield server
        finally:
            server.thread.stop()
    finally:
        subprocess.run(["umount", "-l", root], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_full_volume_is_507_and_leaves_nothing(full_rawx):
    status, _, _ = full_rawx.put(chunk_id(1), b"x" * (3 * 1024 * 1024))
    assert status == 507
    assert full_rawx.files() == []
    # The space is given back: a small chunk still fits.
    status, _, _ = full_rawx.put(chunk_id(2), b"small")
    assert status == 201


@pytest.mark.parametrize("algo", ["xxh3_128", "blake3"])
def test_declared_checksum_algorithm(rawx, algo):
    pytest.importorskip(algo.split("_")[0].replace("xxh3", "xxhash"))
    from oio.common.checksums import new_hasher

    cid = chunk_id(40)
    data = os.urandom(300000)
    hasher = new_hasher(algo)
    hasher.update(data)
    digest = hasher.hexdigest()
    header = {"X-oio-chunk-meta-chunk-hash-algo": algo}
    status, hdrs = send_chunked(rawx, cid, [data[:1000], data[1000:]],
                                {"X-oio-chunk-meta-chunk-hash": digest}, header)
    assert status == 201
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Hash"] == digest.upper()
    path = os.path.join(rawx.vol, cid[:3], cid)
    assert os.getxattr(path, "user.grid.chunk.hash_algo") == algo.encode()
    status, hdrs, body = rawx.request("GET", "/" + cid)
    assert body == data and hdrs["X-Oio-Chunk-Meta-Chunk-Hash-Algo"] == algo
    status, _, _ = rawx.request("HEAD", "/" + cid, headers={
        "X-oio-check-hash": "True"})
    assert status == 200
    with open(path, "r+b") as f:                 # damage it: HEAD sees it
        f.write(b"\0")
    status, _, _ = rawx.request("HEAD", "/" + cid, headers={
        "X-oio-check-hash": "True"})
    assert status == 412
    # A hash of the declared algorithm that does not match: refused.
    status, _ = send_chunked(rawx, chunk_id(41), [data],
                             {"X-oio-chunk-meta-chunk-hash": "00" * 16}, header)
    assert status == 400


def test_unknown_checksum_algorithm_is_400(rawx):
    status, _, _ = rawx.put(chunk_id(42), b"data",
                            **{"X-oio-chunk-meta-chunk-hash-algo": "crc7"})
    assert status == 400
    assert rawx.files() == []


def _cached_pages(path: str) -> int:
    """Pages of `path` in the page cache, as util-linux's fincore counts."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw",
                          "--output", "PAGES", path], check=True,
                          capture_output=True, text=True).stdout
    return int(out.split()[0])


@pytest.mark.skipif(not shutil.which("fincore"), reason="needs util-linux")
def test_nocache_keeps_large_chunks_out_of_the_page_cache():
    """`fadvise_upload nocache`: a large chunk leaves the page cache once
    synced, a small one stays. `fadvise_download nocache`: a large chunk
    is read with O_DIRECT by aligned blocks (any range, any size), and
    stays out of the cache."""
    root = volume_dir()
    server = Rawx(root, "fadvise_upload nocache\nfadvise_download nocache\n")
    server.thread.start()
    try:
        large, small = chunk_id(40), chunk_id(41)
        # Not a multiple of the 4 KiB alignment, more than one read block.
        data = os.urandom(2 * 1024 * 1024 + 12345)
        assert server.put(large, data)[0] == 201
        assert server.put(small, b"s" * 4096)[0] == 201
        path = os.path.join(server.vol, large[:3], large)
        assert _cached_pages(path) == 0
        assert _cached_pages(os.path.join(server.vol, small[:3], small)) == 1
        status, _, body = server.request("GET", "/" + large)
        assert status == 200 and body == data
        assert _cached_pages(path) == 0
        for first, last in ((5, 1024 * 1024 + 4999), (4095, 4096 * 300),
                            (1024 * 1024 - 1, len(data) - 1), (0, 0)):
            status, _, body = server.request(
                "GET", "/" + large, headers={"Range": f"bytes={first}-{last}"})
            assert status == 206 and body == data[first:last + 1]
        # Under 1 MiB, a range is served from the cache as usual.
        status, _, body = server.request("GET", "/" + large,
                                         headers={"Range": "bytes=10-19"})
        assert body == data[10:20]
        assert _cached_pages(path) < 64      # its page and some read-ahead
    finally:
        server.thread.stop()
        shutil.rmtree(root, ignore_errors=True)
