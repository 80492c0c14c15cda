"""Chunk selection of the content tools, and the rebuild items they take."""

from __future__ import annotations

import pytest

from oio.blob.operator import parse_chunk_item
from oio.content.chunk import Chunk, ChunksHelper
from oio.content.content import compare_chunk_quality

ID = "A" * 64


def _chunks() -> ChunksHelper:
    return ChunksHelper([
        {"url": f"http://r2/{ID}", "pos": "10", "size": 1, "hash": "ab"},
        {"url": f"http://r1/{ID}", "pos": "2", "size": 1, "hash": "ab"},
        {"url": "http://r3/" + "B" * 64, "pos": "2", "size": 1, "hash": "ab"},
        {"url": "http://r1/" + "C" * 64, "pos": "0.1", "size": 1, "hash": "c"},
    ])


def test_chunks_are_sorted_by_numeric_position():
    assert [c.pos for c in _chunks()] == ["0.1", "2", "2", "10"]


def test_filter_and_exclude_by_id_host_and_position():
    chunks = _chunks()
    assert len(chunks.filter(id=ID)) == 2
    assert chunks.filter(id=ID).one() is None          # two rawx hold it
    assert chunks.filter(id=ID, host="r1").one().pos == "2"
    assert len(chunks.filter(pos=2)) == 2
    assert [c.host for c in chunks.filter(metapos=2).exclude(host="r1")] \
        == ["r3"]
    assert chunks.filter(subpos=1).one().ec
    with pytest.raises(TypeError):
        chunks.filter(colour="red")


def test_chunk_fields():
    chunk = Chunk({"url": f"http://127.0.0.1:6010/{ID}", "pos": "3.4",
                   "size": "7", "hash": "abc", "score": "20"})
    assert (chunk.metapos, chunk.subpos, chunk.size, chunk.checksum,
            chunk.host, chunk.id, chunk.score) == \
        (3, 4, 7, "ABC", "127.0.0.1:6010", ID, 20)
    chunk.url = "http://other/X"
    assert chunk.real_url == "http://other/X" and chunk.id == "X"


@pytest.mark.parametrize("item, expected", [
    ("0", (None, None, "0")),
    ("12.3", (None, None, "12.3")),
    (ID, (ID, None, None)),
    (f"http://rawx-1/{ID}", (ID, "rawx-1", None)),
    (f"127.0.0.1:6010/{ID}", (ID, "127.0.0.1:6010", None)),
])
def test_rebuild_items(item, expected):
    assert parse_chunk_item(item) == expected


@pytest.mark.parametrize("item", ["", "http:///x", "http://rawx/"])
def test_bad_rebuild_items(item):
    with pytest.raises(ValueError):
        parse_chunk_item(item)


def test_quality_gain():
    current = {"final_dist": 1, "expected_slot": "rawx-eu",
               "final_slot": "rawx"}
    assert compare_chunk_quality(current, {"final_dist": 2,
                                           "final_slot": "rawx-eu"}) == 2
    assert compare_chunk_quality({"final_dist": 2, "expected_slot": "a",
                                  "final_slot": "a"},
                                 {"final_dist": 2, "final_slot": "b"}) == -1


class _Prepared:
    """A container client that only prepares (as OpenIO's test_new_ec
    mocks it) and knows the container's names."""

    def __init__(self, meta: dict, chunks: list[dict]):
        self.answer = meta, chunks
        self.prepared: dict = {}
        self.pool_manager = None

    def content_prepare(self, **kwargs):
        self.prepared = kwargs
        return self.answer

    def container_get_properties(self, cid):
        return {"system": {"sys.account": "acct", "sys.user.name": "ct"}}


def test_factory_new_builds_the_content_of_a_prepare():
    from oio.content.ec import ECContent
    from oio.content.factory import ContentFactory

    meta = {"chunk_method": "ec/algo=liberasurecode_rs_vand,k=6,m=2",
            "hash": "", "id": "F4B1", "length": "1000", "name": "titi",
            "policy": "EC", "version": "1450341162332663"}
    chunks = [{"url": f"http://127.0.0.1:601{i}/0_{i}", "pos": f"0.{3 - i}",
               "size": 1048576, "hash": "0" * 32} for i in range(4)]
    client = _Prepared(meta, chunks)
    factory = ContentFactory({"namespace": "OPENIO"}, container_client=client,
                             blob_client=object())
    content = factory.new("CID", "titi", 1000, "EC")
    assert client.prepared == {"cid": "CID", "path": "titi", "size": 1000,
                               "stgpol": "EC"}
    assert type(content) is ECContent
    assert (content.content_id, content.length, content.checksum) == \
        ("F4B1", 1000, "")
    assert (content.account, content.container_name) == ("acct", "ct")
    assert [c.raw() for c in content.chunks] == chunks[::-1]
