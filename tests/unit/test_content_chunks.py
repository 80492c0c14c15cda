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
