"""The replicated metachunk writer against small real HTTP servers playing
rawx: quorum, failures, hash checks, trailers, buffer reuse."""

import hashlib

import pytest

from oio.api.io import Source
from oio.api.replication import ReplicatedMetachunkWriter
from oio.common import exceptions as exc
from oio.common.http_server import Request, Response
from oio.common.http_urllib3 import get_pool_manager
from oio.common.storage_method import STORAGE_METHODS
from tests.utils import ServerThread, free_port

HASH = "x-oio-chunk-meta-chunk-hash"
SIZE = "x-oio-chunk-meta-chunk-size"


def fake_rawx(mode="ok", store=None):
    """A rawx that hashes what it gets; `mode` breaks it in one way."""
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
            store.setdefault(req.path, []).append(
                {"size": size, "md5": md5.hexdigest(),
                 "headers": dict(req.headers),
                 "trailers": dict(getattr(req, "trailers", None) or {})})
        if mode == "fail":
            return Response(500)
        digest = "0" * 32 if mode == "badhash" else md5.hexdigest().upper()
        return Response(201, headers={HASH: digest, SIZE: str(size)})
    return handler


def write(addrs, data, method="plain/nb_copy=3", **kwargs):
    chunks = [{"url": f"http://{a}/{'A' * 63}{i}", "pos": "0"}
              for i, a in enumerate(addrs)]
    writer = ReplicatedMetachunkWriter(
        None, chunks, kwargs.pop("checksum", None), STORAGE_METHODS.load(method),
        headers={"x-test": "1"}, pool_manager=get_pool_manager(),
        connection_timeout=1, write_timeout=5, chunk_buffer_max=65536, **kwargs)
    return writer, writer.stream(Source(data=data), None)


@pytest.fixture
def rawx():
    servers = []

    def start(mode="ok", store=None):
        server = ServerThread(fake_rawx(mode, store)).start()
        servers.append(server)
        return server.addr
    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("modes, ok", [
    (("ok", "ok", "ok"), 3),
    (("ok", "ok", "fail"), 2),
    (("ok", "badhash", "ok"), 2),
])
def test_quorum_reached(rawx, modes, ok):
    store = {}
    data = bytes(range(256)) * 1200          # 300 KiB: many reused buffers
    _, (size, digest, written) = write([rawx(m, store) for m in modes], data)
    assert (size, digest) == (len(data), hashlib.md5(data).hexdigest())
    assert len(written) == ok
    assert {c["hash"] for c in written} == {digest}
    assert {c["size"] for c in written} == {len(data)}
    received = [r for runs in store.values() for r in runs]
    assert {(r["size"], r["md5"]) for r in received} == {(len(data), digest)}
    assert all(r["headers"].get("x-test") == "1" for r in received)
    # The rawx can refuse a corrupted chunk itself: hash and size trailers.
    assert all(r["trailers"] == {HASH: digest, SIZE: str(len(data))}
               for r in received)


def test_failed_copies_are_reported(rawx):
    chunks_before = [rawx("ok"), rawx("badhash"), rawx("fail")]
    writer, (_, _, written) = write(chunks_before, b"z" * 1000, quorum=1)
    errors = {c["url"].split("/")[2]: c.get("error") for c in writer.meta_chunk}
    assert errors[chunks_before[0]] is None
    assert "checksum mismatch" in errors[chunks_before[1]]
    assert "HTTP 500" in errors[chunks_before[2]]
    assert len(written) == 1
    # Kept by its rawx but not what was sent: an orphan to delete.
    assert [c["url"].split("/")[2] for c in writer.rejected()] == \
        [chunks_before[1]]


def test_quorum_lost_raises_service_busy(rawx):
    dead = f"127.0.0.1:{free_port()}"   # nothing listens there
    with pytest.raises(exc.ServiceBusy) as err:
        write([rawx("ok"), rawx("fail"), dead], b"y" * 100_000)
    assert "quorum not reached (1/2)" in str(err.value)


def test_two_copies_need_one(rawx):
    dead = f"127.0.0.1:{free_port()}"
    _, (_, _, written) = write([rawx("ok"), dead], b"q" * 5000,
                               "plain/nb_copy=2")
    assert len(written) == 1


def test_empty_metachunk(rawx):
    _, (size, digest, written) = write([rawx()], b"", "plain/nb_copy=1")
    assert size == 0 and written[0]["size"] == 0
    assert digest == written[0]["hash"] == hashlib.md5(b"").hexdigest()


def test_object_hash_fed_beside_chunk_hash(rawx):
    obj = hashlib.md5(b"prefix")
    data = b"k" * 200_000
    _, (_, digest, _) = write([rawx()], data, "plain/nb_copy=1", checksum=obj)
    assert digest == hashlib.md5(data).hexdigest()
    assert obj.hexdigest() == hashlib.md5(b"prefix" + data).hexdigest()


def test_without_local_chunk_hash_replies_must_agree(rawx):
    data = b"n" * 70_000
    obj = hashlib.md5()
    _, (_, digest, written) = write([rawx(), rawx(), rawx("badhash")], data,
                                    chunk_checksum_algo=None, checksum=obj)
    assert digest == hashlib.md5(data).hexdigest() == obj.hexdigest()
    assert len(written) == 2


def test_without_local_chunk_hash_the_majority_wins(rawx):
    """The first reply is not the reference: two copies agreeing reject a
    third that differs, wherever it is."""
    data = b"m" * 70_000
    addrs = [rawx("badhash"), rawx(), rawx()]
    writer, (_, digest, written) = write(addrs, data, chunk_checksum_algo=None)
    assert digest == hashlib.md5(data).hexdigest()
    assert [c["url"].split("/")[2] for c in written] == addrs[1:]
    assert [c["url"].split("/")[2] for c in writer.rejected()] == addrs[:1]


def test_without_local_chunk_hash_a_tie_writes_nothing(rawx):
    """Two copies that differ, the third failed: which one holds the data
    is unknown, so neither counts."""
    with pytest.raises(exc.ServiceBusy) as err:
        write([rawx(), rawx("badhash"), rawx("fail")], b"t" * 70_000,
              chunk_checksum_algo=None)
    assert "replies disagree" in str(err.value)


def test_who_checks_the_chunk_hash():
    from oio.api.replication import check_single_metachunk, replies_vote

    assert replies_vote(STORAGE_METHODS.load("plain/nb_copy=3"))
    assert not replies_vote(STORAGE_METHODS.load("plain/nb_copy=2"))
    assert not replies_vote(STORAGE_METHODS.load(
        "ec/algo=liberasurecode_rs_vand,k=4,m=2"))
    md5 = hashlib.md5(b"o").hexdigest()
    check_single_metachunk([{"hash": md5.upper()}, {"hash": md5}], md5)
    with pytest.raises(exc.CorruptedChunk):
        check_single_metachunk([{"hash": "0" * 32}], md5)


def test_source_error_aborts_every_copy(rawx):
    store = {}

    def broken():
        yield b"a" * 70_000
        raise OSError("disk on fire")
    with pytest.raises(exc.SourceReadError):
        write([rawx("ok", store), rawx("ok", store)], broken(),
              "plain/nb_copy=2")
    # Both uploads were cut before their end: no rawx published a chunk.
    assert all(r["size"] < 70_000 or not r["trailers"]
               for runs in store.values() for r in runs)
