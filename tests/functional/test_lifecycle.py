"""Lifecycle rules applied to a real namespace (oio/container/lifecycle.py):
expiration, transition between storage policies, old versions, sharded
buckets."""

from __future__ import annotations

import time
import uuid

import pytest

from oio.common import exceptions as exc
from oio.container.lifecycle import (
    LIFECYCLE_PROPERTY_KEY,
    TAGGING_KEY,
    ContainerLifecycle,
)

LATER = 2 * 86400   # seconds: "now" two days ahead


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def _conf(body: str, filter_: str = "") -> str:
    return ("<LifecycleConfiguration><Rule><ID>r1</ID>"
            f"<Filter>{filter_}</Filter><Status>Enabled</Status>{body}"
            "</Rule></LifecycleConfiguration>")


def wait_listed(api, account: str, count: int = 1, **kwargs) -> None:
    """Wait for the account service to list `count` containers: it learns
    about them asynchronously (account first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if len(api.container_list(account, **kwargs)) >= count:
                return
        except exc.NoSuchAccount:
            pass
        assert time.monotonic() < deadline, "containers never listed"
        time.sleep(0.1)


def _results(lifecycle, **kwargs) -> dict:
    return {(meta["name"], int(meta["version"])): result
            for meta, _, _, result in lifecycle.execute(**kwargs)}


def test_expiration_by_days_deletes_old_objects_of_the_prefix(api):
    account, container = _name("acct"), _name("lc")
    api.container_create(account, container, properties={
        LIFECYCLE_PROPERTY_KEY: _conf("<Expiration><Days>1</Days></Expiration>",
                                      "<Prefix>logs/</Prefix>")})
    for name in ("logs/a", "logs/b", "keep/c"):
        api.object_create(account, container, obj_name=name, data=name)
    lifecycle = ContainerLifecycle(api, account, container)
    assert lifecycle.load()
    assert set(_results(lifecycle).values()) == {"Kept"}
    assert len(api.object_list(account, container)["objects"]) == 3

    results = _results(lifecycle, now=time.time() + LATER)
    assert sorted(r for r in results.values()) == ["Deleted", "Deleted",
                                                    "Kept"]
    names = [o["name"] for o in api.object_list(account, container)["objects"]]
    assert names == ["keep/c"]


def test_configuration_is_a_container_property(api):
    account, container = _name("acct"), _name("lc")
    api.container_create(account, container)
    lifecycle = ContainerLifecycle(api, account, container)
    assert lifecycle.load() is False and lifecycle.get_configuration() is None
    lifecycle.save(_conf("<Expiration><Date>2030-01-01T00:00:00</Date>"
                         "</Expiration>"))
    stored = api.container_get_properties(account, container)["properties"]
    assert stored[LIFECYCLE_PROPERTY_KEY] == str(lifecycle)
    assert "<Date>2030-01-01T00:00:00</Date>" in stored[LIFECYCLE_PROPERTY_KEY]
    with pytest.raises(exc.NoSuchContainer):
        ContainerLifecycle(api, account, _name("none")).load()


def test_transition_rewrites_tagged_objects_in_another_policy(api):
    account, container = _name("acct"), _name("lc")
    tags = ('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            "<TagSet><Tag><Key>tier</Key><Value>safe</Value></Tag></TagSet>"
            "</Tagging>")
    api.object_create(account, container, obj_name="tagged", data=b"x" * 100,
                      policy="SINGLE", properties={TAGGING_KEY: tags})
    api.object_create(account, container, obj_name="plain", data=b"y",
                      policy="SINGLE")
    lifecycle = ContainerLifecycle(api, account, container)
    lifecycle.save(_conf(
        "<Transition><Days>1</Days><StorageClass>THREECOPIES</StorageClass>"
        "</Transition>", "<Tag><Key>tier</Key><Value>safe</Value></Tag>"))

    results = _results(lifecycle, now=time.time() + LATER)
    assert sorted(results.values()) == ["Kept",
                                        "Policy changed to THREECOPIES"]
    meta, chunks = api.object_locate(account, container, "tagged")
    assert meta["policy"] == "THREECOPIES" and len(chunks) == 3
    assert b"".join(api.object_fetch(account, container, "tagged")[1]) == \
        b"x" * 100
    assert api.object_get_properties(account, container, "plain")[
        "policy"] == "SINGLE"
    # Once moved, the rule has nothing left to do.
    again = _results(lifecycle, now=time.time() + LATER)
    assert "Policy already changed to THREECOPIES" in again.values()


def test_noncurrent_versions_beyond_the_count_are_deleted(api):
    account, container = _name("acct"), _name("lc")
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "-1"})
    for body in (b"v1", b"v2", b"v3", b"v4"):
        api.object_create(account, container, obj_name="doc", data=body)
    lifecycle = ContainerLifecycle(api, account, container)
    lifecycle.save(_conf("<NoncurrentVersionExpiration><NoncurrentCount>1"
                         "</NoncurrentCount></NoncurrentVersionExpiration>"))
    results = [r[3] for r in lifecycle.execute()]
    assert results == ["Kept", "Kept", "Deleted", "Deleted"]
    versions = api.object_list(account, container, versions=True)["objects"]
    assert len(versions) == 2
    assert b"".join(api.object_fetch(account, container, "doc")[1]) == b"v4"


def test_expiration_in_a_versioned_container_leaves_a_delete_marker(api):
    account, container = _name("acct"), _name("lc")
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "-1"})
    api.object_create(account, container, obj_name="doc", data=b"v1")
    lifecycle = ContainerLifecycle(api, account, container)
    lifecycle.save(_conf("<Expiration><Days>1</Days></Expiration>"))
    assert [r[3] for r in lifecycle.execute(now=time.time() + LATER)] == \
        ["Deleted"]
    with pytest.raises(exc.NoSuchObject):
        api.object_locate(account, container, "doc")
    versions = api.object_list(account, container, versions=True,
                               deleted=True)["objects"]
    assert len(versions) == 2   # the data and the delete marker


def test_recursive_pass_covers_the_sub_containers_of_a_bucket(api):
    account, bucket = _name("acct"), _name("lc")
    sub = f"{bucket}%2Fdocs"
    api.object_create(account, bucket, obj_name="top", data=b"t")
    api.object_create(account, sub, obj_name="report", data=b"r")
    wait_listed(api, account, prefix=sub)
    lifecycle = ContainerLifecycle(api, account, bucket, recursive=True)
    lifecycle.save(_conf("<Expiration><Days>1</Days></Expiration>",
                         "<Prefix>docs/</Prefix>"))
    results = {meta["name"]: (meta["container"], result) for meta, _, _, result
               in lifecycle.execute(now=time.time() + LATER)}
    assert results == {"top": (bucket, "Kept"),
                       "docs/report": (sub, "Deleted")}
    assert api.object_list(account, sub)["objects"] == []
