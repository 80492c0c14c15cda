"""Erasure-coded objects against the sandbox (9 rawx, 1 MiB chunks, so an
EC 6+3 metachunk holds 6 MiB): round trips, ranges, and reads through lost,
stopped and corrupted fragments."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from oio.common import exceptions as exc
from oio.common.storage_method import STORAGE_METHODS
from tests.utils import chunk_file

MiB = 1024 * 1024
K, M = 6, 3
METACHUNK = K * MiB


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


@pytest.fixture(autouse=True)
def every_rawx_up(namespace):
    """EC 6+3 needs all 9 rawx: wait for those other tests restarted."""
    namespace.sandbox.wait_all_up()


def _read(api, container, name, **kwargs) -> bytes:
    return b"".join(api.object_fetch("ec", container, name, **kwargs)[1])


def _fragments(api, container, name) -> dict[int, list[dict]]:
    """The fragments of each metachunk, by metachunk."""
    _, chunks = api.object_locate("ec", container, name)
    out: dict[int, list[dict]] = {}
    for chunk in chunks:
        out.setdefault(int(chunk["pos"].split(".")[0]), []).append(chunk)
    for frags in out.values():
        frags.sort(key=lambda c: int(c["pos"].split(".")[1]))
    return out


@pytest.mark.parametrize("policy", ["EC", "ECISAL", "EC21"])
@pytest.mark.parametrize("size", [0, 1, METACHUNK - 1, METACHUNK + 1,
                                  2 * METACHUNK + 3 * MiB + 7])
def test_round_trip(api, policy, size):
    container, name = _name("ct"), "obj"
    data = os.urandom(size)
    chunks, written, md5 = api.object_create("ec", container, data=data,
                                             obj_name=name, policy=policy)
    method = STORAGE_METHODS.load(
        api.object_get_properties("ec", container, name)["chunk_method"])
    assert written == size and md5 == hashlib.md5(data).hexdigest()
    metachunk = method.metachunk_size(MiB)
    metachunks = max(1, -(-size // metachunk))
    assert len(chunks) == metachunks * method.expected_chunks
    for chunk in chunks:       # meta2 records the metachunk size and hash
        pos, index = (int(x) for x in chunk["pos"].split("."))
        start = pos * metachunk
        piece = data[start:start + metachunk]
        assert chunk["size"] == len(piece)
        assert chunk["hash"] == hashlib.md5(piece).hexdigest()
        assert 0 <= index < method.expected_chunks
    assert _read(api, container, name) == data


def test_ranges_across_segments_fragments_and_metachunks(api):
    container, name = _name("ct"), "obj"
    size = 2 * METACHUNK + MiB + 5
    data = os.urandom(size)
    api.object_create("ec", container, data=data, obj_name=name,
                      policy="ECISAL")
    ranges = [(0, 0), (MiB - 1, MiB), (MiB - 10, 3 * MiB + 10),
              (METACHUNK - 1, METACHUNK), (METACHUNK - 3, 2 * METACHUNK + 2),
              (size - 1, size - 1), (size - MiB - 7, size - 1),
              (None, 5), (2 * METACHUNK + MiB, None)]
    for start, end in ranges:
        first = size - end if start is None else start
        last = size - 1 if start is None or end is None else end
        got = _read(api, container, name, ranges=[(start, end)])
        assert got == data[first:last + 1], (start, end)
    got = _read(api, container, name, ranges=[(5, 10), (METACHUNK, METACHUNK + 3)])
    assert got == data[5:11] + data[METACHUNK:METACHUNK + 4]
    with pytest.raises(exc.UnsatisfiableRange):
        api.object_fetch("ec", container, name, ranges=[(size, size + 10)])


def _big_object(api, policy="ECISAL"):
    container, name = _name("ct"), "obj"
    data = os.urandom(METACHUNK + 2 * MiB + 11)       # two metachunks
    api.object_create("ec", container, data=data, obj_name=name, policy=policy)
    return container, name, data


def test_reads_through_m_deleted_fragments(api):
    container, name, data = _big_object(api)
    for frags in _fragments(api, container, name).values():
        for chunk in (frags[0], frags[4], frags[7]):   # data and parity
            api.blob_client.chunk_delete(chunk["url"])
    assert _read(api, container, name) == data
    assert _read(api, container, name, ranges=[(MiB - 3, METACHUNK + 5)]) == \
        data[MiB - 3:METACHUNK + 6]
    assert api.object_head("ec", container, name, trust_level=1) is True
    assert api.object_head("ec", container, name, trust_level=2) is False


def test_m_plus_one_lost_fragments_fail_cleanly(api):
    container, name, data = _big_object(api)
    frags = _fragments(api, container, name)[1]
    for chunk in frags[:M + 1]:
        api.blob_client.chunk_delete(chunk["url"])
    received = []
    with pytest.raises((exc.UnrecoverableContent, exc.ServiceUnavailable)):
        for block in api.object_fetch("ec", container, name)[1]:
            received.append(block)
    # What came before the error is exactly the first metachunk.
    assert b"".join(received) == data[:len(b"".join(received))]
    assert len(b"".join(received)) <= METACHUNK
    assert api.object_head("ec", container, name, trust_level=1) is False


def test_reads_through_m_corrupted_fragment_files(api, namespace, caplog):
    container, name, data = _big_object(api)
    for frags in _fragments(api, container, name).values():
        for chunk in (frags[1], frags[5], frags[6]):
            path = chunk_file(namespace, chunk["url"])
            with open(path, "r+b") as f:                # flip payload bytes
                f.seek(os.path.getsize(path) // 2)
                f.write(b"\xff" * 64)
    with caplog.at_level("WARNING", logger="oio.api.ec"):
        assert _read(api, container, name) == data
    # The broken fragments were found and reported, not just lucky reads.
    reported = {r.getMessage().split()[2] for r in caplog.records
                if "corrupted" in r.getMessage()}
    assert len(reported) == 6
    assert _read(api, container, name, ranges=[(METACHUNK + 5, METACHUNK + 9)]) \
        == data[METACHUNK + 5:METACHUNK + 10]


def test_reads_with_m_rawx_stopped(api, namespace):
    container, name, data = _big_object(api, policy="EC")
    frags = _fragments(api, container, name)[0]
    stopped = []
    for chunk in (frags[2], frags[3], frags[8]):
        addr = chunk["url"].split("/")[2]
        spec = next(s for s in namespace.services("rawx") if s.addr == addr)
        namespace.sandbox.stop_service(spec.name)
        stopped.append(spec)
    try:
        assert _read(api, container, name) == data
    finally:
        for spec in stopped:
            namespace.sandbox.start_service(spec.name)


def test_failed_fragment_is_rebuilt_on_another_rawx(api, namespace):
    """A fragment whose rawx failed is rebuilt from the others and put on
    a rawx that holds nothing of the metachunk."""
    from oio.api.ec import ECMetachunkReader, ECMetachunkWriter
    from oio.api.io import Source
    from oio.api.rebuild import replace_missing
    from oio.common.fullpath import encode_fullpath
    from oio.common.utils import cid_from_name, generate_chunk_id

    method = STORAGE_METHODS.load("ec/algo=isa_l_rs_vand,k=4,m=2")
    rawx = [s.addr for s in namespace.services("rawx")]
    chunks = [{"url": f"http://{addr}/{generate_chunk_id()}", "pos": f"0.{i}"}
              for i, addr in enumerate(rawx[:5])]
    chunks.append({"url": f"http://127.0.0.1:1/{generate_chunk_id()}",
                   "pos": "0.5"})                     # nobody listens there
    cid = cid_from_name("ec", "rebuild")
    sysmeta = {"id": "0123456789ABCDEF0123456789ABCDEF", "version": 1,
               "content_path": "obj", "chunk_method": method.name and
               "ec/algo=isa_l_rs_vand,k=4,m=2", "policy": "EC42",
               "container_id": cid,
               "full_path": encode_fullpath("ec", "rebuild", "obj", 1,
                                            "0123456789ABCDEF0123456789ABCDEF")}
    data = os.urandom(3 * MiB + 5)
    writer = ECMetachunkWriter(sysmeta, chunks, None, method,
                               pool_manager=api.pool_manager)
    size, md5, written = writer.stream(Source(data=data), None)
    assert len(written) == 5 and md5 == hashlib.md5(data).hexdigest()
    missing = writer.failed_chunks()
    assert [c["pos"] for c in missing] == ["0.5"]
    new = replace_missing(api.pool_manager, api._lb, method, sysmeta,
                          written, missing, size, md5, "test-rebuild")
    assert len(new) == 1 and new[0]["pos"] == "0.5"
    assert new[0]["url"].split("/")[2] in rawx[5:]
    assert new[0]["hash"] == md5 and new[0]["size"] == size
    every = written + new
    # Any m = 2 fragments may now go.
    for lost in ((0, 1), (4, 5), (1, 5)):
        kept = [c for c in every if int(c["pos"][2]) not in lost]
        got = b"".join(ECMetachunkReader(api.pool_manager, method, kept, 0,
                                         size - 1, size, "test-read"))
        assert got == data, lost


def test_rawx_killed_during_upload_never_leaves_a_fragile_object(api, namespace):
    """EC 4+2 over 9 rawx, one rawx stopped mid-upload: the object either
    fails (and is not listed) or has all its fragments on distinct rawx."""
    container, name = _name("ct"), "obj"
    api.container_create("ec", container)
    block = os.urandom(MiB)
    sent = []
    victim = namespace.services("rawx")[4]

    def source():
        for i in range(10):                 # two metachunks and a half
            if i == 3:
                namespace.sandbox.stop_service(victim.name)
            sent.append(block)
            yield block

    try:
        try:
            api.object_create("ec", container, data=source(), obj_name=name,
                              policy="EC42")
        except exc.OioException:
            listing = api.object_list("ec", container)
            assert name not in [o["name"] for o in listing["objects"]]
            return
        for pos, frags in _fragments(api, container, name).items():
            hosts = {c["url"].split("/")[2] for c in frags}
            assert len(frags) == 6 and len(hosts) == 6, pos
        assert _read(api, container, name) == b"".join(sent)
    finally:
        namespace.sandbox.start_service(victim.name)
    assert api.object_head("ec", container, name, trust_level=2)


@pytest.mark.parametrize("policy", ["ECISAL", "THREECOPIES"])
def test_faster_chunk_checksum_on_request(api, policy):
    pytest.importorskip("xxhash")
    container, name = _name("ct"), "obj"
    data = os.urandom(METACHUNK + 5)
    chunks, _, md5 = api.object_create("ec", container, data=data,
                                       obj_name=name, policy=policy,
                                       chunk_checksum_algo="xxh3_128")
    # The object hash (and EC metachunk hashes) stay MD5 for every reader.
    assert md5 == hashlib.md5(data).hexdigest()
    assert api.object_get_properties("ec", container, name)["hash"].lower() \
        == md5
    for chunk in chunks:
        meta = api.blob_client.chunk_head(chunk["url"], check_hash=True)
        assert meta["chunk_hash_algo"] == "xxh3_128"
    assert _read(api, container, name) == data
    assert api.object_head("ec", container, name, trust_level=2)
    with pytest.raises(exc.OioException) as info:
        api.object_create("ec", container, data=b"x", obj_name="bad",
                          policy=policy, chunk_checksum_algo="crc7")
    assert "crc7" in str(info.value)


@pytest.mark.parametrize("policy,xattr", [
    ("THREECOPIES", "user.grid.chunk.hash"),
    ("ECISAL", "user.grid.metachunk.hash")])
def test_reads_skip_chunks_whose_hash_is_not_meta2s(api, namespace, policy,
                                                    xattr, caplog):
    """A chunk whose stored hash differs from meta2's record (a stale or
    foreign chunk) is skipped and reported; the read uses another."""
    from oio.api.io import ChunkReader

    container, name = _name("ct"), "obj"
    data = os.urandom(MiB + 3)
    api.object_create("ec", container, data=data, obj_name=name,
                      policy=policy)
    _, chunks = api.object_locate("ec", container, name)
    first = min(chunks, key=lambda c: c["pos"])      # "0", or "0.0"
    assert first["pos"] in ("0", "0.0")
    os.setxattr(chunk_file(namespace, first["url"]), xattr, b"0" * 32)
    with caplog.at_level("WARNING"):
        if policy == "THREECOPIES":
            # The bad replica first, on purpose.
            replicas = [first] + [c for c in chunks
                                  if c["pos"] == "0" and c is not first]
            got = b"".join(ChunkReader(api.pool_manager, replicas, 0, MiB - 1,
                                       "test-hash"))
            assert got == data[:MiB]
        else:
            # Data fragments are read first: fragment 0 is always tried.
            assert _read(api, container, name) == data
    assert any(first["url"] in r.getMessage() and "hash" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("policy", ["ECISAL", "THREECOPIES"])
def test_client_killed_during_upload_leaves_no_object(api, namespace, policy):
    import subprocess
    import sys

    container = _name("ct")
    api.container_create("ec", container)
    script = (
        "import os, sys, time\n"
        "from oio import ObjectStorageApi\n"
        "api = ObjectStorageApi(sys.argv[1], endpoint=sys.argv[2])\n"
        "def source():\n"
        "    block = os.urandom(1024 * 1024)\n"
        "    for i in range(100):\n"
        "        if i == 8:\n"
        "            print('streaming', flush=True)\n"
        "        yield block\n"
        "        time.sleep(0.02)\n"
        "api.object_create('ec', sys.argv[3], data=source(), obj_name='o',\n"
        "                  policy=sys.argv[4])\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", script, namespace.ns, f"http://{namespace.proxy}",
         container, policy], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "streaming"  # a metachunk in
        proc.kill()
    finally:
        proc.wait(10)
    listing = api.object_list("ec", container)
    assert listing["objects"] == []
    with pytest.raises(exc.NoSuchObject):
        api.object_locate("ec", container, "o")


@pytest.mark.parametrize("new_size", [0, 1, MiB + 7, METACHUNK, METACHUNK + 3])
def test_truncate_ec_object(api, new_size):
    container, name = _name("ct"), "obj"
    data = os.urandom(METACHUNK + 2 * MiB + 11)
    api.object_create("ec", container, data=data, obj_name=name,
                      policy="ECISAL")
    api.object_truncate("ec", container, name, size=new_size)
    assert _read(api, container, name) == data[:new_size]
    meta = api.object_get_properties("ec", container, name)
    assert int(meta["length"]) == new_size
    assert meta["chunk_method"].startswith("ec/")
    assert api.object_head("ec", container, name, trust_level=2)


def test_link_and_change_policy_of_ec_objects(api):
    container, name = _name("ct"), "obj"
    data = os.urandom(METACHUNK + 5)
    api.object_create("ec", container, data=data, obj_name=name,
                      policy="THREECOPIES")
    api.object_change_policy("ec", container, name, "ECISAL")
    meta = api.object_get_properties("ec", container, name)
    assert meta["policy"] == "ECISAL" and meta["chunk_method"].startswith("ec/")
    assert _read(api, container, name) == data
    api.object_link("ec", container, name, "ec", container, "link")
    _, chunks = api.object_locate("ec", container, "link")
    assert len(chunks) == 2 * 9
    assert _read(api, container, "link") == data
    api.object_change_policy("ec", container, name, "TWOCOPIES")
    assert _read(api, container, name) == data
    assert _read(api, container, "link") == data
