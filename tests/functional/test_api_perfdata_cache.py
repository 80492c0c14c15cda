"""The `perfdata` and `cache` keywords of ObjectStorageApi, against the
sandbox."""

from __future__ import annotations

import uuid

import pytest

from oio.common import exceptions as exc
from oio.common.utils import cid_from_name


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def test_perfdata_of_an_upload_and_a_download(api):
    account, container = _name("acct"), _name("ct")
    data = b"p" * 1_500_000                       # two 1 MiB metachunks
    perfdata: dict = {}
    chunks, size, _ = api.object_create(account, container, data=data,
                                        obj_name="o", policy="THREECOPIES",
                                        perfdata=perfdata)
    assert perfdata["data_size"] == size == len(data)
    proxy, rawx = perfdata["proxy"], perfdata["rawx"]
    assert proxy["overall"] > 0 and "meta2" in proxy and "resolve" in proxy
    for chunk in chunks:
        assert rawx["connect." + chunk["url"]] > 0
        assert rawx["upload." + chunk["url"]] >= rawx["connect." + chunk["url"]]
    assert len([k for k in rawx if k.startswith("upload.http")]) == 6
    assert rawx["upload.AVG"] > 0 and rawx["upload.SD"] >= 0
    assert "upload.RSD" in rawx and rawx["overall"] > 0

    perfdata = {}
    meta, stream = api.object_fetch(account, container, "o", perfdata=perfdata)
    assert b"".join(stream) == data
    assert perfdata["data_size"] == len(data)
    assert 0 < perfdata["ttfb"] <= perfdata["ttlb"]
    downloads = [k for k in perfdata["rawx"] if k.startswith("download.http")]
    assert len(downloads) == 2                     # one replica per metachunk
    assert perfdata["proxy"]["overall"] > 0


def test_perfdata_given_to_the_api_collects_every_call(namespace):
    perfdata: dict = {}
    api = namespace.api(perfdata=perfdata)
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"x", obj_name="o")
    after_create = perfdata["proxy"]["overall"]
    api.object_get_properties(account, container, "o")
    assert perfdata["proxy"]["overall"] > after_create


def _proxy_time(api, call) -> float:
    """Seconds spent talking to the proxy during `call()`."""
    perfdata: dict = {}
    call(perfdata)
    return perfdata.get("proxy", {}).get("overall", 0.0)


def test_cache_serves_metadata_and_forgets_it_on_changes(namespace):
    cache: dict = {}
    api, other = namespace.api(cache=cache), namespace.api()
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"v1", obj_name="o",
                      properties={"k": "1"})
    cid = cid_from_name(account, container)
    assert api.object_get_properties(account, container, "o")[
        "properties"] == {"k": "1"}
    assert f"meta/{cid}/o" in cache
    # Served from the cache: no request to the proxy at all.
    assert _proxy_time(api, lambda pd: api.object_get_properties(
        account, container, "o", perfdata=pd)) == 0.0
    assert _proxy_time(api, lambda pd: api.object_locate(
        account, container, "o", perfdata=pd)) > 0.0      # chunks not cached
    assert _proxy_time(api, lambda pd: api.object_locate(
        account, container, "o", perfdata=pd)) == 0.0
    _, chunks = api.object_locate(account, container, "o")
    assert all("score" in c for c in chunks)

    # Another client's change is not seen until the entry goes...
    other.object_set_properties(account, container, "o", {"k": "2"})
    assert api.object_get_properties(account, container, "o")[
        "properties"] == {"k": "1"}
    # ...but this client's own changes drop it.
    api.object_set_properties(account, container, "o", {"k": "3"})
    assert f"meta/{cid}/o" not in cache
    assert api.object_get_properties(account, container, "o")[
        "properties"] == {"k": "3"}
    # A version asked for explicitly bypasses the cache.
    version = api.object_get_properties(account, container, "o")["version"]
    assert _proxy_time(api, lambda pd: api.object_get_properties(
        account, container, "o", version=version, perfdata=pd)) > 0.0

    # Containers too.
    api.container_set_properties(account, container, {"c": "1"})
    assert api.container_get_properties(account, container)[
        "properties"] == {"c": "1"}
    assert f"meta/{cid}" in cache
    api.container_set_properties(account, container, {"c": "2"})
    assert api.container_get_properties(account, container)[
        "properties"] == {"c": "2"}
    api.object_delete(account, container, "o")
    assert f"meta/{cid}/o" not in cache


def test_fetch_retries_when_the_cached_chunks_are_gone(namespace):
    cache: dict = {}
    api, other = namespace.api(cache=cache), namespace.api()
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"old data", obj_name="o")
    assert b"".join(api.object_fetch(account, container, "o")[1]) == \
        b"old data"
    # Someone else replaces the object and its old chunks disappear.
    _, old_chunks = other.object_locate(account, container, "o")
    other.object_create(account, container, data=b"new data", obj_name="o")
    for chunk in old_chunks:       # if the content cleaner did not already
        try:
            other.blob_client.chunk_delete(chunk["url"])
        except exc.NotFound:
            pass
    meta, stream = api.object_fetch(account, container, "o")
    assert b"".join(stream) == b"new data"
    assert meta["hash"].lower() == \
        other.object_get_properties(account, container, "o")["hash"].lower()


def test_container_flush_forgets_its_objects(namespace):
    cache: dict = {}
    api = namespace.api(cache=cache)
    account, container = _name("acct"), _name("ct")
    for name in ("a", "b"):
        api.object_create(account, container, data=b"x", obj_name=name)
        api.object_locate(account, container, name)
    cid = cid_from_name(account, container)
    assert {f"meta/{cid}/a", f"meta/{cid}/b"} <= set(cache)
    api.container_flush(account, container)
    assert not [k for k in cache if k.startswith(f"meta/{cid}")]
