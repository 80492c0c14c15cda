"""The replicated metachunk writer against small real HTTP servers playing
rawx: quorum, failures, hash checks."""

import hashlib

import pytest

from oio.api.replication import ReplicatedMetachunkWriter
from oio.common import exceptions as exc
from oio.common.http_server import Request, Response
from oio.common.http_urllib3 import get_pool_manager
from oio.common.storage_method import guess_storage_method
from tests.utils import ServerThread, free_port


def fake_rawx(mode="ok", store=None):
    async def handler(req: Request) -> Response:
        md5 = hashlib.md5()
        size = 0
        while True:
            block = await req.read()
            if not block:
                break
            md5.update(block)
            size += len(block)
        if store is not None:
            store[req.path] = size
        if mode == "fail":
            return Response(500)
        digest = "0" * 32 if mode == "badhash" else md5.hexdigest().upper()
        return Response(201, headers={"x-oio-chunk-meta-chunk-hash": digest,
                                      "x-oio-chunk-meta-chunk-size": str(size)})
    return handler


def write(addrs, data, method="plain/nb_copy=3"):
    chunks = [{"url": f"http://{a}/{'A' * 63}{i}", "pos": "0"}
              for i, a in enumerate(addrs)]
    writer = ReplicatedMetachunkWriter(
        chunks, guess_storage_method(method), lambda c: {"x-test": "1"},
        get_pool_manager(), connection_timeout=1, write_timeout=5)
    writer.start()
    try:
        for i in range(0, len(data), 65536):
            writer.write(data[i:i + 65536])
    except BaseException:
        writer.abort()
        raise
    return writer, writer.finish()


@pytest.mark.parametrize("modes, ok", [
    (("ok", "ok", "ok"), 3),
    (("ok", "ok", "fail"), 2),
    (("ok", "badhash", "ok"), 2),
])
def test_quorum_reached(modes, ok):
    store = {}
    servers = [ServerThread(fake_rawx(m, store)).start() for m in modes]
    try:
        data = b"x" * 300_000
        _, written = write([s.addr for s in servers], data)
        assert len(written) == ok
        assert {c["hash"] for c in written} == {hashlib.md5(data).hexdigest()}
        assert {c["size"] for c in written} == {len(data)}
        assert set(store.values()) == {len(data)}
    finally:
        for server in servers:
            server.stop()


def test_quorum_lost_raises_service_busy():
    servers = [ServerThread(fake_rawx(m)).start() for m in ("ok", "fail")]
    dead = f"127.0.0.1:{free_port()}"   # nothing listens there
    try:
        with pytest.raises(exc.ServiceBusy) as err:
            write([servers[0].addr, servers[1].addr, dead], b"y" * 100_000)
        assert "quorum not reached (1/2)" in str(err.value)
    finally:
        for server in servers:
            server.stop()


def test_empty_metachunk():
    servers = [ServerThread(fake_rawx()).start()]
    try:
        _, written = write([servers[0].addr], b"", "plain/nb_copy=1")
        assert written[0]["size"] == 0
        assert written[0]["hash"] == hashlib.md5(b"").hexdigest()
    finally:
        servers[0].stop()
