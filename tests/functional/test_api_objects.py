"""ObjectStorageApi against a whole real namespace (1 MiB chunks)."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from oio.common import exceptions as exc

MiB = 1024 * 1024


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


@pytest.mark.parametrize("size, policy, nb_chunks", [
    (0, "SINGLE", 1), (1, "THREECOPIES", 3), (MiB, "TWOCOPIES", 2),
    (3 * MiB + 5, "THREECOPIES", 12), (2 * MiB + 1, "SINGLE", 3),
])
def test_put_get_round_trip(api, size, policy, nb_chunks):
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(size)
    chunks, got_size, md5 = api.object_create("acct", container, data=data,
                                              obj_name=obj, policy=policy)
    assert (got_size, md5) == (size, hashlib.md5(data).hexdigest())
    assert len(chunks) == nb_chunks
    meta, stream = api.object_fetch("acct", container, obj)
    assert b"".join(stream) == data
    assert meta["policy"] == policy and int(meta["size"]) == size
    assert meta["hash"] == md5.upper()


def test_sources_file_path_iterable_and_str(api, tmp_path):
    container = _name("ct")
    path = tmp_path / "file.bin"
    data = os.urandom(MiB + 100)
    path.write_bytes(data)
    _, size, _ = api.object_create("acct", container, str(path))
    assert size == len(data)
    assert b"".join(api.object_fetch("acct", container, "file.bin")[1]) == data
    with open(path, "rb") as src:
        api.object_create("acct", container, src, obj_name="fileobj")
    blocks = [b"a" * 1000, b"", b"b" * (MiB + 3)]
    api.object_create("acct", container, data=iter(blocks), obj_name="gen")
    assert b"".join(api.object_fetch("acct", container, "gen")[1]) == b"".join(
        blocks)
    api.object_create("acct", container, data="héllo", obj_name="text")
    assert b"".join(api.object_fetch("acct", container, "text")[1]) == \
        "héllo".encode()


def test_ranges(api):
    container, obj = _name("ct"), _name("obj")
    data = os.urandom(2 * MiB + 10)
    api.object_create("acct", container, data=data, obj_name=obj)
    for ranges, expected in [
            ([(MiB - 3, MiB + 3)], data[MiB - 3:MiB + 4]),
            ([(None, 5)], data[-5:]),
            ([(2 * MiB, None)], data[2 * MiB:]),
            ([(0, 0), (10, 12)], data[0:1] + data[10:13]),
            ([(2 * MiB + 5, 10 * MiB)], data[2 * MiB + 5:])]:
        _, stream = api.object_fetch("acct", container, obj, ranges=ranges)
        assert b"".join(stream) == expected
    with pytest.raises(exc.UnsatisfiableRange) as err:
        api.object_fetch("acct", container, obj, ranges=[(len(data), None)])
    assert err.value.http_status == 416


@pytest.mark.parametrize("name", [
    "dir/sub/obj", "ünïcödé ☃", "with space+plus%percent", "x" * 1023,
    "?query&and#hash"])
def test_odd_names(api, name):
    container = _name("ct")
    api.object_create("acct", container, data=b"data", obj_name=name)
    assert b"".join(api.object_fetch("acct", container, name)[1]) == b"data"
    listed = [o["name"] for o in api.object_list("acct", container)["objects"]]
    assert listed == [name]


@pytest.mark.parametrize("name", ["x" * 1025, "ü" * 600])
def test_names_too_long(api, name):
    with pytest.raises(exc.BadRequest):
        api.object_create("acct", _name("ct"), data=b"data", obj_name=name)


def test_empty_name(api):
    with pytest.raises(exc.MissingName):
        api.object_create("acct", _name("ct"), data=b"data", obj_name="")


def test_missing_things(api):
    container = _name("ct")
    with pytest.raises(exc.NoSuchContainer):
        api.object_fetch("acct", container, "nothing")
    with pytest.raises(exc.NoSuchContainer):
        api.object_list("acct", container)
    with pytest.raises(exc.NoSuchContainer):
        api.container_show("acct", container)
    api.container_create("acct", container)
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch("acct", container, "nothing")
    with pytest.raises(exc.NoSuchObject):
        api.object_locate("acct", container, "nothing")
    with pytest.raises(exc.NoSuchObject):
        api.object_delete("acct", container, "nothing")
    assert api.object_head("acct", container, "nothing") is False
    with pytest.raises(exc.FileNotFound):
        api.object_create("acct", container, "/nonexistent/file")


def test_container_lifecycle_listing_properties_delete(api):
    container = _name("ct")
    assert api.container_create("acct", container, properties={"a": "1"}) is True
    assert api.container_create("acct", container) is False
    assert api.container_get_properties("acct", container)["properties"] == {
        "a": "1"}
    for i in range(5):
        api.object_create("acct", container, data=b"%d" % i, obj_name=f"o{i}",
                          properties={"n": str(i)})
    page = api.object_list("acct", container, limit=2)
    assert [o["name"] for o in page["objects"]] == ["o0", "o1"]
    assert page["truncated"] is True
    rest = api.object_list("acct", container, marker=page["next_marker"])
    assert [o["name"] for o in rest["objects"]] == ["o2", "o3", "o4"]
    assert api.object_get_properties("acct", container, "o3")["properties"] == {
        "n": "3"}
    api.object_set_properties("acct", container, "o3", {"color": "blue"})
    props = api.object_get_properties("acct", container, "o3")["properties"]
    assert props == {"n": "3", "color": "blue"}
    api.object_del_properties("acct", container, "o3", ["n"])
    assert api.object_get_properties("acct", container, "o3")["properties"] == {
        "color": "blue"}
    assert api.object_head("acct", container, "o3") is True
    assert api.object_head("acct", container, "o3", trust_level=2) is True
    with pytest.raises(exc.ContainerNotEmpty):
        api.container_delete("acct", container)
    for i in range(5):
        assert api.object_delete("acct", container, f"o{i}") is True
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch("acct", container, "o0")
    api.container_delete("acct", container)
    with pytest.raises(exc.NoSuchContainer):
        api.container_show("acct", container)


def test_etag_mismatch_creates_nothing(api):
    container, obj = _name("ct"), _name("obj")
    with pytest.raises(exc.EtagMismatch):
        api.object_create("acct", container, data=b"abc", obj_name=obj,
                          etag="0" * 32)
    with pytest.raises((exc.NoSuchContainer, exc.NoSuchObject)):
        api.object_locate("acct", container, obj)


def test_unknown_policy(api):
    with pytest.raises(exc.ClientException) as err:
        api.object_create("acct", _name("ct"), data=b"abc", obj_name="o",
                          policy="NOPE")
    assert err.value.status == 480


def test_autocreate_off(api):
    with pytest.raises(exc.NoSuchContainer):
        api.object_create("acct", _name("ct"), data=b"abc", obj_name="o",
                          autocreate=False)


def test_container_list_follows_the_containers(api):
    import time

    account = _name("acct")
    for name in ("alpha", "beta/1", "beta/2"):
        api.object_create(account, name, data=b"12345", obj_name="o")
    api.container_create(account, "empty")

    def listing():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                entries = api.container_list(account)
            except exc.NoSuchAccount:
                entries = []
            if len(entries) == 4 and all(e[1] == 1 for e in entries
                                         if e[0] != "empty"):
                return entries
            time.sleep(0.05)
        raise AssertionError(f"account listing never caught up: {entries}")

    entries = listing()
    assert [e[0] for e in entries] == ["alpha", "beta/1", "beta/2", "empty"]
    assert entries[0][:4] == ["alpha", 1, 5, 0]
    assert [e[0] for e in api.container_list(account, delimiter="/")] == [
        "alpha", "beta/", "empty"]
    assert api.account_show(account)["bytes"] == 15
    api.container_delete(account, "empty")
    deadline = time.monotonic() + 10
    while "empty" in [e[0] for e in api.container_list(account)]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(exc.NoSuchAccount):
        api.container_list(_name("nobody"))


def test_object_head_trust_levels_follow_missing_chunks(api):
    container = _name("ct")
    data = b"h" * 1_500_000                      # two metachunks of 3 copies
    api.object_create("acct", container, data=data, obj_name="o",
                      policy="THREECOPIES")
    _, chunks = api.object_locate("acct", container, "o")
    assert all(api.object_head("acct", container, "o", trust_level=level)
               for level in (0, 1, 2))
    second = [c for c in chunks if c["pos"] == "1"]
    api.blob_client.chunk_delete(second[0]["url"])
    # One copy of the second metachunk is gone: readable, not complete.
    assert api.object_head("acct", container, "o", trust_level=1) is True
    assert api.object_head("acct", container, "o", trust_level=2) is False
    for chunk in second[1:]:
        api.blob_client.chunk_delete(chunk["url"])
    assert api.object_head("acct", container, "o", trust_level=0) is True
    assert api.object_head("acct", container, "o", trust_level=1) is False
    assert api.object_head("acct", container, "missing", trust_level=1) is False
    with pytest.raises(ValueError):
        api.object_head("acct", container, "o", trust_level=3)


def test_concurrent_writes_into_one_container_stay_consistent(api):
    """16 threads create, overwrite, annotate and delete objects in one
    container: meta2 commits them by batches (group commit). The container's
    counters must match its listing, and every object its last write."""
    from concurrent.futures import ThreadPoolExecutor

    container = _name("ct")
    api.container_create("acct", container)

    def work(i):
        name = f"o{i % 24:02d}"        # 48 writers on 24 names: overwrites
        data = os.urandom(100 + i)
        api.object_create("acct", container, data=data, obj_name=name,
                          policy="SINGLE")
        api.object_set_properties("acct", container, name, {"w": str(i)})
        if i % 3 == 0:
            api.object_create("acct", container, data=b"x",
                              obj_name=f"gone{i}", policy="SINGLE")
            api.object_delete("acct", container, f"gone{i}")
        return i

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(work, range(48))) == list(range(48))
    listed = api.object_list("acct", container)["objects"]
    assert sorted(o["name"] for o in listed) == [f"o{n:02d}" for n in range(24)]
    system = api.container_get_properties("acct", container)["system"]
    assert int(system["sys.m2.objects"]) == 24
    assert int(system["sys.m2.usage"]) == sum(o["size"] for o in listed)
    for obj in listed:
        meta, stream = api.object_fetch("acct", container, obj["name"])
        body = b"".join(stream)
        assert len(body) == obj["size"]
        assert hashlib.md5(body).hexdigest() == meta["hash"].lower()
        # The property set after the last create of this name survives.
        writer = int(api.object_get_properties(
            "acct", container, obj["name"])["properties"]["w"])
        assert writer % 24 == int(obj["name"][1:])


def test_object_create_keeps_the_content_id_given(api):
    """7.2's object_create(content_id=...): the object and its chunks
    carry that ID; without it, one is generated."""
    account, container = _name("acct"), _name("ct")
    wanted = uuid.uuid4().hex.upper()
    for content_id in (wanted, None):
        name = _name("obj")
        chunks, _, _ = api.object_create(account, container, data=b"data",
                                         obj_name=name, content_id=content_id)
        meta = api.object_get_properties(account, container, name)
        if content_id:
            assert meta["id"] == content_id
        headers, _ = api.blob_client.chunk_get(chunks[0]["url"])
        assert headers["content_id"] == meta["id"]
