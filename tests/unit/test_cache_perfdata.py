"""oio.common.cache (client metadata cache) and oio.common.perfdata."""

from __future__ import annotations

import math

import pytest

from oio.common import perfdata as perf
from oio.common.cache import (
    del_cached_container_metadata,
    del_cached_container_objects,
    del_cached_object_metadata,
    get_cached_container_metadata,
    get_cached_object_metadata,
    set_cached_container_metadata,
    set_cached_object_metadata,
)
from oio.common.utils import cid_from_name

META = {"id": "AB" * 8, "version": "1", "policy": "SINGLE",
        "properties": {"color": "red"}}
CHUNKS = [{"url": "http://127.0.0.1:6010/" + "A" * 64, "pos": "0",
           "size": 1, "hash": "0" * 32, "score": 80}]


def test_no_cache_means_no_effect():
    assert get_cached_object_metadata("a", "c", "o") == (None, None)
    assert get_cached_container_metadata("a", "c") is None
    set_cached_object_metadata(META, CHUNKS, "a", "c", "o")
    del_cached_object_metadata("a", "c", "o")


def test_object_entries():
    cache: dict = {}
    set_cached_object_metadata(META, CHUNKS, "a", "c", "o", properties=True,
                               cache=cache)
    key = f"meta/{cid_from_name('a', 'c')}/o"
    assert list(cache) == [key]
    meta, chunks = get_cached_object_metadata("a", "c", "o", properties=True,
                                              cache=cache)
    assert meta["properties"] == {"color": "red"}
    assert chunks == [{k: v for k, v in CHUNKS[0].items() if k != "score"}]
    meta, _ = get_cached_object_metadata("a", "c", "o", cache=cache)
    assert meta["properties"] == {}
    # The cid works as well as the names; copies are returned.
    meta["policy"] = "changed"
    again, _ = get_cached_object_metadata(cid=cid_from_name("a", "c"),
                                          path="o", cache=cache)
    assert again["policy"] == "SINGLE"
    # A versioned request never uses the cache.
    assert get_cached_object_metadata("a", "c", "o", version="1",
                                      cache=cache) == (None, None)
    set_cached_object_metadata(META, None, "a", "c", "p", version="1",
                               cache=cache)
    assert len(cache) == 1
    del_cached_object_metadata("a", "c", "o", cache=cache)
    assert cache == {}
    with pytest.raises(ValueError):
        get_cached_object_metadata("a", "c", "", cache=cache)


def test_properties_needed_but_not_cached_is_a_miss():
    cache: dict = {}
    set_cached_object_metadata(META, CHUNKS, "a", "c", "o", cache=cache)
    assert get_cached_object_metadata("a", "c", "o", properties=True,
                                      cache=cache) == (None, None)
    # Metadata of another version replaces the whole entry.
    set_cached_object_metadata(dict(META, id="CD" * 8), None, "a", "c", "o",
                               cache=cache)
    assert get_cached_object_metadata("a", "c", "o", cache=cache)[1] is None


def test_container_entries():
    cache: dict = {}
    body = {"properties": {"k": "v"}, "system": {}}
    set_cached_container_metadata(body, "a", "c", cache=cache)
    assert get_cached_container_metadata("a", "c", cache=cache) == body
    set_cached_object_metadata(META, CHUNKS, "a", "c", "o", cache=cache)
    set_cached_object_metadata(META, CHUNKS, "a", "other", "o", cache=cache)
    del_cached_container_metadata("a", "c", cache=cache)
    assert len(cache) == 2
    set_cached_container_metadata(body, "a", "c", cache=cache)
    del_cached_container_objects("a", "c", cache=cache)
    assert list(cache) == [f"meta/{cid_from_name('a', 'other')}/o"]


def test_perfdata_header_and_stats():
    data: dict = {}
    perf.add_header(data, "proxy", "resolve=1500,meta2=2500,bad,x=y")
    perf.add_header(data, "proxy", "meta2=500")
    assert data == {"proxy": {"resolve": 0.0015, "meta2": 0.003}}
    perf.add(None, "rawx", "x", 1.0)
    for url, seconds in (("u1", 1.0), ("u2", 3.0)):
        perf.add(data, "rawx", "upload." + url, seconds)
    perf.compute_stats(data, "upload.")
    perf.compute_stats(data, "upload.")        # stats are not counted twice
    rawx = data["rawx"]
    assert rawx["upload.AVG"] == 2.0 and rawx["upload.SD"] == 1.0
    assert math.isclose(rawx["upload.RSD"], 0.5)
    perf.compute_stats(data, "download.")       # nothing to compute
    assert "download.AVG" not in rawx


def test_checksum_algorithms():
    from oio.common import checksums

    assert checksums.is_default(None) and checksums.is_default("MD5")
    assert checksums.new_hasher(None).name == "md5"
    with pytest.raises(checksums.UnknownChecksum):
        checksums.new_hasher("crc7")
    xxhash = pytest.importorskip("xxhash")
    hasher = checksums.new_hasher("xxh3_128")
    hasher.update(b"abc")
    assert hasher.hexdigest() == xxhash.xxh3_128(b"abc").hexdigest()
