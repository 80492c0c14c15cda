"""Chunk allocation of content/prepare*: metachunks, positions, URLs, headers."""

import json
from dataclasses import dataclass, field

import pytest

from oio.common.http_server import HttpError
from oio.proxy.prepare import (
    CHUNK_PROPERTY_PREFIX,
    allocate,
    chunk_urls,
    content_headers,
    metachunk_count,
    metachunk_size,
    parse_prepare_body,
)

MiB = 1024 * 1024


@dataclass
class FakeSecurity:
    kind: str
    params: dict = field(default_factory=dict)


@dataclass
class FakePolicy:
    name: str
    data_security: FakeSecurity

    def nb_chunks(self):
        if self.data_security.kind == "ec":
            return int(self.data_security.params["k"]) + int(
                self.data_security.params["m"])
        return int(self.data_security.params.get("nb_copy", 1))

    def chunk_method(self):
        return f"plain/nb_copy={self.nb_chunks()}"


@dataclass
class FakeSelection:
    service: dict
    quality: dict
    flawed: bool = False


class FakeLb:
    """Returns the first nb_chunks services, in order."""

    def __init__(self, services):
        self.services = services
        self.calls = 0

    def poll_policy(self, policy, avoid=(), known=()):
        self.calls += 1
        out = []
        for svc in self.services[:policy.nb_chunks()]:
            quality = {"final_slot": "rawx", "expected_dist": 1,
                       "final_dist": 1, "warn_dist": 0, "expected_slot": "rawx"}
            out.append(FakeSelection(svc, quality))
        return out


def rawx(n, service_id=None, score=80, tls=None):
    tags = {"tag.loc": f"host{n}"}
    if service_id:
        tags["tag.service_id"] = service_id
    if tls:
        tags["tag.tls"] = tls
    return {"addr": f"127.0.0.1:{6000 + n}", "score": score, "tags": tags,
            "id": service_id or f"127.0.0.1:{6000 + n}"}


PLAIN3 = FakePolicy("THREECOPIES", FakeSecurity("plain", {"nb_copy": "3"}))
EC63 = FakePolicy("EC", FakeSecurity(
    "ec", {"k": "6", "m": "3", "algo": "liberasurecode_rs_vand"}))


def test_parse_body():
    body = parse_prepare_body({"size": "42", "position": 2, "policy": "X"})
    assert (body.size, body.position, body.policy) == (42, 2, "X")
    assert parse_prepare_body({"size": 0}).position == 0


@pytest.mark.parametrize("body,message", [
    (None, "Missing size estimation"),
    ({}, "Missing size estimation"),
    ({"size": "abc"}, "Invalid size format"),
    ({"size": True}, "Invalid size format"),
    ({"size": -1}, "Invalid size format"),
    ({"size": 1, "position": "x"}, "Invalid position format"),
    ({"size": 1, "policy": 3}, "Invalid policy format"),
])
def test_parse_body_errors(body, message):
    with pytest.raises(HttpError) as exc:
        parse_prepare_body(body)
    assert exc.value.http_status == 400
    assert exc.value.status == 400
    assert exc.value.message.startswith(message)


def test_metachunk_arithmetic():
    assert metachunk_size(PLAIN3, MiB) == MiB
    assert metachunk_size(EC63, MiB) == 6 * MiB
    assert metachunk_count(0, MiB) == 1
    assert metachunk_count(1, MiB) == 1
    assert metachunk_count(MiB, MiB) == 1
    assert metachunk_count(MiB + 1, MiB) == 2
    assert metachunk_count(13 * MiB, 6 * MiB) == 3


def test_allocate_plain():
    lb = FakeLb([rawx(1), rawx(2, "rawx-2", score=150), rawx(3, score=-1)])
    alloc = allocate(lb, PLAIN3, MiB, 2 * MiB + 5, position=3)
    assert lb.calls == 3
    assert [c["pos"] for c in alloc.chunks] == ["3"] * 3 + ["4"] * 3 + ["5"] * 3
    first = alloc.chunks[0]
    assert list(first) == ["url", "real_url", "pos", "size", "hash", "score"]
    assert first["size"] == MiB
    assert first["hash"] == "0" * 32
    assert first["url"].startswith("http://127.0.0.1:6001/")
    assert first["url"] == first["real_url"]
    chunk_id = first["url"].rsplit("/", 1)[1]
    assert len(chunk_id) == 64 and chunk_id == chunk_id.upper()
    # service ID in url, address in real_url; scores clamped to 0..100
    second = alloc.chunks[1]
    assert second["url"].startswith("http://rawx-2/")
    assert second["real_url"].startswith("http://127.0.0.1:6002/")
    assert second["score"] == 100
    assert alloc.chunks[2]["score"] == 0
    # chunk IDs are all distinct
    assert len({c["url"] for c in alloc.chunks}) == 9
    # one quality property per chunk, keys in the upstream order
    assert len(alloc.properties) == 9
    value = alloc.properties[CHUNK_PROPERTY_PREFIX + first["url"]]
    assert value == ('{"expected_dist":1,"final_dist":1,"warn_dist":0,'
                     '"expected_slot":"rawx","final_slot":"rawx"}')


def test_allocate_ec_positions():
    lb = FakeLb([rawx(n) for n in range(1, 10)])
    alloc = allocate(lb, EC63, MiB, 7 * MiB)
    assert lb.calls == 2
    assert [c["pos"] for c in alloc.chunks] == (
        [f"0.{i}" for i in range(9)] + [f"1.{i}" for i in range(9)])
    # size is the chunk size, not the metachunk size
    assert {c["size"] for c in alloc.chunks} == {MiB}


def test_allocate_lb_error():
    lb_mod = pytest.importorskip("oio.conscience.lb")

    class Failing:
        def poll_policy(self, policy, avoid=(), known=()):
            raise lb_mod.LbError(481, "not enough services")

    with pytest.raises(HttpError) as exc:
        allocate(Failing(), PLAIN3, MiB, 1, position=2)
    assert exc.value.http_status == 500
    assert exc.value.status == 481
    assert exc.value.message.startswith("at position 2: ")


def test_chunk_urls_tls():
    svc = rawx(1, "rawx-1", tls="127.0.0.1:7001")
    assert chunk_urls(svc, "AB") == ("http://rawx-1/AB",
                                     "http://127.0.0.1:6001/AB")
    assert chunk_urls(svc, "AB", tls=True) == ("http://rawx-1/AB",
                                               "https://127.0.0.1:7001/AB")
    plain = rawx(2)
    assert chunk_urls(plain, "CD", tls=True)[1] == "http://127.0.0.1:6002/CD"


def test_content_headers():
    headers = content_headers(
        content_id="ABCD", path="dir/photo 1.jpg", version=17, size=42,
        policy="THREECOPIES", chunk_method="plain/nb_copy=3", chunk_size=MiB,
        now=1700000000.5)
    assert list(headers.items()) == [
        ("x-oio-ns-chunk-size", str(MiB)),
        ("x-oio-content-meta-id", "ABCD"),
        ("x-oio-content-meta-name", "dir%2Fphoto%201.jpg"),
        ("x-oio-content-meta-version", "17"),
        ("x-oio-content-meta-deleted", "False"),
        ("x-oio-content-meta-ctime", "1700000000"),
        ("x-oio-content-meta-mtime", "1700000000"),
        ("x-oio-content-meta-size", "42"),
        ("x-oio-content-meta-length", "42"),
        ("x-oio-content-meta-policy", "THREECOPIES"),
        ("x-oio-content-meta-chunk-method", "plain/nb_copy=3"),
        ("x-oio-content-meta-mime-type", "application/octet-stream"),
        ("x-oio-content-meta-hash-method", "md5"),
        # Empty, as 7.2 sends it: its ContentFactory.new needs the key.
        ("x-oio-content-meta-hash", ""),
    ]
    json.dumps(headers)
