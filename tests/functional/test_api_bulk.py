"""Bulk and maintenance methods of ObjectStorageApi (issue 3 slice)."""

from __future__ import annotations

import uuid

import pytest

from oio.common import exceptions as exc
from tests.utils import container_listed, wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def test_container_create_many(api):
    account = _name("acct")
    names = [f"c{i:03d}" for i in range(150)]       # more than one batch
    api.container_create(account, "c000")
    result = api.container_create_many(account, names, properties={"k": "v"})
    assert [n for n, _ in result] == names
    assert [ok for _, ok in result] == [False] + [True] * 149
    assert api.container_get_properties(account, "c149")["properties"] == {
        "k": "v"}


def test_object_delete_many(api):
    account, container = _name("acct"), _name("ct")
    for i in range(5):
        api.object_create(account, container, data=b"x", obj_name=f"o{i}")
    result = api.object_delete_many(account, container,
                                    ["o0", "o1", "missing", "o4"])
    assert result == [("o0", True), ("o1", True), ("missing", False),
                      ("o4", True)]
    left = [o["name"] for o in api.object_list(account, container)["objects"]]
    assert left == ["o2", "o3"]


@pytest.mark.parametrize("fast", [False, True])
def test_container_flush(api, fast):
    account, container = _name("acct"), _name("ct")
    for i in range(12):
        api.object_create(account, container, data=b"abc", obj_name=f"o{i}")
    api.container_flush(account, container, fast=fast)
    assert api.object_list(account, container)["objects"] == []
    api.container_delete(account, container)
    with pytest.raises(exc.NoSuchContainer):
        api.container_flush(account, _name("missing"), fast=fast)


def test_object_drain_keeps_metadata(api):
    account, container, obj = _name("acct"), _name("ct"), _name("obj")
    api.object_create(account, container, data=b"payload", obj_name=obj,
                      properties={"color": "blue"})
    api.object_drain(account, container, obj)
    props = api.object_get_properties(account, container, obj)
    assert props["properties"] == {"color": "blue"}
    with pytest.raises(exc.ClientException) as err:
        api.object_fetch(account, container, obj)
    assert (err.value.http_status, err.value.status) == (410, 427)


def test_deprecated_aliases(api):
    account, container, obj = _name("acct"), _name("ct"), _name("obj")
    api.object_create(account, container, data=b"x", obj_name=obj)
    api.object_update(account, container, obj, {"a": "1"})
    assert api.object_show(account, container, obj)["properties"] == {"a": "1"}
    meta, chunks = api.object_analyze(account, container, obj)
    assert meta["name"] == obj and chunks
    api.container_update(account, container, {"b": "2"})
    assert api.container_get_properties(account, container)["properties"] == {
        "b": "2"}


def test_refresh_restores_account_counters(api):
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"12345", obj_name="o")

    def counted():
        try:
            return api.account_show(account)["bytes"] == 5
        except exc.NoSuchAccount:    # not reported yet
            return False
    wait_until(counted)
    api.account_flush(account)
    assert api.account_show(account)["bytes"] == 0
    # Flushed: the container is unknown to the account service until meta2
    # reports it again.
    with pytest.raises(exc.NoSuchContainer):
        api.container_refresh(account, container)
    api.container_touch(account, container)
    wait_until(counted)
    api.account_refresh(account)
    wait_until(counted)
    with pytest.raises(exc.NoSuchAccount):
        api.account_refresh(_name("nobody"))


def test_object_link_shares_the_chunks(api, namespace):
    account, container = _name("acct"), _name("ct")
    data = b"linked data " * 100000     # over 1 MiB: two metachunks
    api.object_create(account, container, data=data, obj_name="target",
                      properties={"p": "1"})
    meta = api.object_link(account, container, "target", "other", container,
                           "link")
    assert meta["name"] == "link"
    _, stream = api.object_fetch("other", container, "link")
    assert b"".join(stream) == data
    assert api.object_get_properties("other", container, "link")[
        "properties"] == {"p": "1"}
    _, target_chunks = api.object_locate(account, container, "target")
    _, link_chunks = api.object_locate("other", container, "link")
    assert {c["url"] for c in target_chunks}.isdisjoint(
        {c["url"] for c in link_chunks})
    # The link survives the deletion of its target.
    api.object_delete(account, container, "target")
    assert b"".join(api.object_fetch("other", container, "link")[1]) == data
    replaced = api.object_link("other", container, "link", "other", container,
                               "link2", properties_directive="REPLACE",
                               properties={"q": "2"})
    assert replaced["properties"] == {"q": "2"}
    with pytest.raises(exc.NoSuchObject):
        api.object_link(account, container, "missing", "other", container, "x")


def test_object_change_policy(api):
    account, container, obj = _name("acct"), _name("ct"), "doc"
    data = b"0123456789" * 150000        # 1.5 MB: two metachunks
    api.object_create(account, container, data=data, obj_name=obj,
                      policy="SINGLE", properties={"k": "v"})
    before, chunks = api.object_locate(account, container, obj)
    assert len(chunks) == 2
    api.object_change_policy(account, container, obj, "THREECOPIES")
    after, chunks = api.object_locate(account, container, obj)
    assert after["policy"] == "THREECOPIES" and len(chunks) == 6
    assert after["version"] == before["version"]
    assert after["hash"] == before["hash"]
    assert after["properties"] == {"k": "v"}
    assert b"".join(api.object_fetch(account, container, obj)[1]) == data
    with pytest.raises(exc.Conflict):
        api.object_change_policy(account, container, obj, "THREECOPIES")
    with pytest.raises(exc.NoSuchObject):
        api.object_change_policy(account, container, "missing", "SINGLE")


def test_object_create_with_change_policy_as_7_2(api):
    """7.2's object_create(change_policy=True, version=...) rewrites that
    version with another policy; the same data is required, and a version
    that does not exist is not found (NoSuchContainer, as 7.2 raises)."""
    account, container, obj = _name("acct"), _name("ct"), "doc"
    api.object_create(account, container, data=b"data", obj_name=obj,
                      policy="SINGLE")
    version = api.object_get_properties(account, container, obj)["version"]
    api.object_create(account, container, data=b"data", obj_name=obj,
                      policy="TWOCOPIES", version=version, change_policy=True)
    meta, chunks = api.object_locate(account, container, obj)
    assert (meta["policy"], str(meta["version"])) == ("TWOCOPIES",
                                                      str(version))
    assert len(chunks) == 2
    with pytest.raises(exc.ClientException):
        api.object_create(account, container, data=b"other", obj_name=obj,
                          policy="SINGLE", version=version,
                          change_policy=True)
    for missing in ({"version": "12344567890"}, {}):
        with pytest.raises(exc.NoSuchContainer):
            api.object_create(account, container, data=b"data", obj_name=obj,
                              policy="SINGLE", change_policy=True, **missing)
    assert api.object_list(account, container)["objects"][0]["policy"] == \
        "TWOCOPIES"


@pytest.mark.parametrize("new_size", [0, 10, 1024 * 1024, 1024 * 1024 + 7, 2621440,
                                      2 * 1024 * 1024 + 100])
def test_object_truncate(api, new_size):
    account, container, obj = _name("acct"), _name("ct"), "doc"
    data = bytes(range(256)) * (10 * 1024)       # 2.5 MiB: three metachunks
    api.object_create(account, container, data=data, obj_name=obj)
    api.object_truncate(account, container, obj, size=new_size)
    meta, stream = api.object_fetch(account, container, obj)
    assert b"".join(stream) == data[:new_size]
    assert int(meta["length"]) == new_size


def test_object_truncate_errors(api):
    account, container, obj = _name("acct"), _name("ct"), "doc"
    api.object_create(account, container, data=b"abc", obj_name=obj)
    with pytest.raises(exc.OioException):
        api.object_truncate(account, container, obj, size=4)     # growing
    with pytest.raises(exc.NoSuchObject):
        api.object_truncate(account, container, "missing", size=0)


def test_resolve_cid(api):
    from oio.common.utils import cid_from_name

    account, container = _name("acct"), _name("ct ü/x")
    api.container_create(account, container)
    assert api.resolve_cid(cid_from_name(account, container)) == (account,
                                                                  container)
    with pytest.raises(exc.NotFound):
        api.resolve_cid(cid_from_name(account, "never-created"))


def test_container_touch_recompute_counts_missing_chunks(api):
    account, container = _name("acct"), _name("ct")
    api.object_create(account, container, data=b"whole", obj_name="ok",
                      policy="THREECOPIES")
    api.object_create(account, container, data=b"single", obj_name="src",
                      policy="SINGLE")
    meta, chunks = api.object_locate(account, container, "src")
    # Register an object whose policy wants three copies but has one.
    prep, _ = api.container.content_prepare(account, container, "damaged",
                                            size=1, stgpol="THREECOPIES")
    api.container.content_create(
        account, container, "damaged", size=meta["length"],
        checksum=meta["hash"], content_id=prep["id"], version=prep["version"],
        stgpol="THREECOPIES", chunk_method=prep["chunk_method"],
        data={"chunks": [{k: chunks[0][k] for k in ("url", "pos", "size",
                                                     "hash")}],
              "properties": {}})
    api.container_touch(account, container, recompute=True)
    system = api.container_get_properties(account, container)["system"]
    assert system["sys.m2.objects.damaged"] == "1"
    assert system["sys.m2.chunks.missing"] == "2"
    assert system["sys.m2.objects"] == "3"
    api.object_delete(account, container, "damaged")
    api.container_touch(account, container, recompute=True)
    system = api.container_get_properties(account, container)["system"]
    assert system["sys.m2.objects.damaged"] == "0"
    assert system["sys.m2.chunks.missing"] == "0"
    with pytest.raises(exc.NoSuchContainer):
        api.container_touch(account, _name("missing"), recompute=True)
    # The account learns about the container asynchronously.
    wait_until(lambda: container_listed(api, account, container), timeout=10)
    api.container_refresh(account, container, attempts=1)
