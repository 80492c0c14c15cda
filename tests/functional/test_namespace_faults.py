"""Whole-namespace behaviour when services fail, and hostile inputs at the
edges (rawx chunk ids). Uses the real sandbox of the `namespace` fixture."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import signal
import time
import uuid

import pytest

from oio.common.exceptions import OioException
from tests.utils import wait_until

MiB = 1024 * 1024


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _rawx_by_addr(namespace, addr: str):
    for spec in namespace.services("rawx"):
        if spec.addr == addr:
            return spec
    raise AssertionError(f"no rawx at {addr}")


def _chunk_addr(chunk: dict) -> str:
    return chunk["url"].split("/")[2]


@pytest.mark.parametrize("chunk_id", [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "NOT-HEX", "0" * 23, "0" * 65,
    "G" * 64])
def test_rawx_refuses_malformed_chunk_ids(namespace, chunk_id):
    spec = namespace.services("rawx")[0]
    conn = http.client.HTTPConnection(*spec.addr.split(":"), timeout=10)
    conn.request("GET", f"/{chunk_id}")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 400


def test_fetch_survives_a_stopped_rawx(namespace):
    api = namespace.api()
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(2 * MiB + 123)
    api.object_create("acct", container, data=data, obj_name=obj,
                      policy="THREECOPIES")
    _, chunks = api.object_locate("acct", container, obj)
    first = sorted(chunks, key=lambda c: c["pos"])[0]
    victim = _rawx_by_addr(namespace, _chunk_addr(first))
    namespace.sandbox.stop_service(victim.name)
    try:
        _, stream = api.object_fetch("acct", container, obj)
        assert b"".join(stream) == data
    finally:
        namespace.sandbox.start_service(victim.name)


@pytest.mark.parametrize("algo", ["md5", "xxh3_128"])
def test_upload_with_one_rawx_down_reaches_quorum(namespace, algo):
    if algo != "md5":
        pytest.importorskip("xxhash")
    api = namespace.api(chunk_checksum_algo=algo)
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(3 * MiB)
    # Stopped but possibly still scored: uploads may pick it and must
    # still succeed with 2 replicas out of 3.
    victim = namespace.services("rawx")[1]
    namespace.sandbox.stop_service(victim.name)
    try:
        chunks, size, md5 = api.object_create("acct", container, data=data,
                                              obj_name=obj, policy="THREECOPIES")
        assert size == len(data)
        assert md5.lower() == hashlib.md5(data).hexdigest()
        _, stream = api.object_fetch("acct", container, obj)
        assert b"".join(stream) == data
        # A copy that failed was made again on another rawx.
        _, chunks = api.object_locate("acct", container, obj)
        for pos in {c["pos"] for c in chunks}:
            hosts = {_chunk_addr(c) for c in chunks if c["pos"] == pos}
            assert len(hosts) == 3 and victim.addr not in hosts, pos
    finally:
        namespace.sandbox.start_service(victim.name)


def test_a_stalled_rawx_costs_one_timeout_per_ec_read(namespace, caplog):
    """A rawx that accepts connections but never answers (SIGSTOP): the read
    waits for it once, then the next metachunks read it last, and every byte
    comes back."""
    # EC 6+3 needs all 9 rawx: earlier tests stop some.
    namespace.sandbox.wait_all_up()
    api = namespace.api(read_timeout=1.0)
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(3 * 6 * MiB + 1234)     # 4 metachunks of EC 6+3
    api.object_create("acct", container, data=data, obj_name=obj,
                      policy="ECISAL")
    _, chunks = api.object_locate("acct", container, obj)
    first = next(c for c in chunks if c["pos"] == "0.0")
    victim = _chunk_addr(first)
    # It holds a fragment of every metachunk (9 rawx, 9 fragments each).
    assert sum(_chunk_addr(c) == victim for c in chunks) == 4
    pid = int(namespace.sandbox._ctl(
        "pid", _rawx_by_addr(namespace, victim).name).strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="oio.api.ec"):
            _, stream = api.object_fetch("acct", container, obj)
            assert hashlib.md5(b"".join(stream)).digest() == \
                hashlib.md5(data).digest()
    finally:
        os.kill(pid, signal.SIGCONT)
        # Scored again before the next tests.
        namespace.sandbox.wait_all_up()
    stalls = [r for r in caplog.records if victim in r.getMessage()]
    assert len(stalls) == 1, [r.getMessage() for r in stalls]


def test_rawx_dying_during_upload_never_leaves_half_objects(namespace):
    """Most rawx die in the middle of a multi-metachunk upload: it either
    succeeds with every byte readable, or fails and the object is not listed."""
    api = namespace.api()
    container, obj = _name("ct"), _name("obj")
    api.container_create("acct", container)
    victims = namespace.services("rawx")[2:]
    block = os.urandom(MiB)
    sent = []

    def source():
        for i in range(5):
            if i == 2:
                for spec in victims:
                    namespace.sandbox.stop_service(spec.name)
            sent.append(block)
            yield block

    try:
        try:
            api.object_create("acct", container, data=source(), obj_name=obj,
                              policy="THREECOPIES")
        except OioException:
            listing = api.object_list("acct", container)
            assert obj not in [o["name"] for o in listing["objects"]]
        else:
            _, stream = api.object_fetch("acct", container, obj)
            assert b"".join(stream) == b"".join(sent)
    finally:
        for spec in victims:
            namespace.sandbox.start_service(spec.name)


def test_a_stopped_rawx_drops_to_score_0_and_gets_no_new_chunks(namespace):
    """The sandbox's conscience agent sees the rawx die: its score falls to
    0 within seconds and the load balancer stops choosing it."""
    from oio.conscience.client import ConscienceClient

    api = namespace.api()
    conscience = ConscienceClient({"namespace": namespace.ns},
                                  endpoint=f"http://{namespace.proxy}")
    victim = namespace.services("rawx")[2]

    def score() -> int:
        for srv in conscience.all_services("rawx"):
            if srv["addr"] == victim.addr:
                return int(srv["score"])
        return -1

    namespace.sandbox.stop_service(victim.name)
    try:
        started = time.monotonic()
        wait_until(lambda: score() == 0, timeout=20)
        elapsed = time.monotonic() - started
        assert elapsed < 15, elapsed
        # The proxy's load balancer refreshes every second.
        wait_until(lambda: not any(
            _chunk_addr(c) == victim.addr for c in api.object_create(
                "acct", _name("ct"), data=b"probe", obj_name="p",
                policy="THREECOPIES")[0]), timeout=10)
        container = _name("ct")
        for i in range(10):
            chunks, _, _ = api.object_create("acct", container, data=b"x" * i,
                                             obj_name=f"o{i}",
                                             policy="THREECOPIES")
            assert victim.addr not in {_chunk_addr(c) for c in chunks}
    finally:
        namespace.sandbox.start_service(victim.name)
        namespace.sandbox.wait_all_up()


# EC42: 6 fragments on 9 rawx leave room for a replacement.
@pytest.mark.parametrize("policy,copies", [("THREECOPIES", 3), ("EC42", 6)])
@pytest.mark.parametrize("size", [0, 4096])
def test_small_uploads_with_one_rawx_down(namespace, policy, copies, size):
    """Small metachunks go out without sender threads: a dead rawx among
    their targets still fails only its copy, which is made again."""
    api = namespace.api()
    container = _name("ct")
    victim = namespace.services("rawx")[4]
    namespace.sandbox.stop_service(victim.name)
    try:
        for i in range(4):
            data = os.urandom(size)
            api.object_create("acct", container, data=data, obj_name=f"o{i}",
                              policy=policy)
            _, stream = api.object_fetch("acct", container, f"o{i}")
            assert b"".join(stream) == data
            _, chunks = api.object_locate("acct", container, f"o{i}")
            hosts = {_chunk_addr(c) for c in chunks}
            assert len(chunks) == copies and victim.addr not in hosts
    finally:
        namespace.sandbox.start_service(victim.name)
        namespace.sandbox.wait_all_up()


def _chunk_files(root: str) -> set[str]:
    return {name for _, _, names in os.walk(root) for name in names
            if len(name) == 64}


def test_upload_below_quorum_leaves_no_chunk(namespace):
    """With 8 of 9 rawx stopped, THREECOPIES uploads fail; a copy the live
    rawx kept is deleted, not left behind."""
    api = namespace.api()
    rawx = namespace.services("rawx")
    alive = rawx[0]
    volume = namespace.settings.data_path(alive)
    before = _chunk_files(volume)
    for spec in rawx[1:]:
        namespace.sandbox.stop_service(spec.name)
    try:
        for i in range(8):
            with pytest.raises(OioException):
                api.object_create("acct", _name("ct"), data=b"q" * 4096,
                                  obj_name=f"o{i}", policy="THREECOPIES")
        assert _chunk_files(volume) == before
    finally:
        for spec in rawx[1:]:
            namespace.sandbox.start_service(spec.name)
        namespace.sandbox.wait_all_up()


def test_ec_write_with_a_stalled_rawx_and_no_spare_fails_cleanly(namespace):
    """EC 6+3 on 9 rawx, one of them stalled (SIGSTOP) after being chosen:
    its fragment times out, no other rawx can take it, so the upload fails
    with a message naming both causes, lists nothing, and the fragments the
    other rawx kept are deleted."""
    from oio.common.exceptions import ServiceBusy

    namespace.sandbox.wait_all_up()
    api = namespace.api(write_timeout=1.0, read_timeout=1.0)
    container, obj = _name("ct"), _name("obj")
    api.container_create("acct", container)
    rawx = namespace.services("rawx")
    victim, others = rawx[0], rawx[1:]
    before = {spec.name: _chunk_files(namespace.settings.data_path(spec))
              for spec in others}
    pid = int(namespace.sandbox._ctl("pid", victim.name).strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(ServiceBusy) as caught:
            api.object_create("acct", container, data=os.urandom(100_000),
                              obj_name=obj, policy="ECISAL")
    finally:
        os.kill(pid, signal.SIGCONT)
        namespace.sandbox.wait_all_up()
    message = str(caught.value)
    assert victim.addr in message and "could not be rebuilt" in message
    listing = api.object_list("acct", container)
    assert obj not in [o["name"] for o in listing["objects"]]
    for spec in others:
        assert _chunk_files(namespace.settings.data_path(spec)) == \
            before[spec.name], spec.name
