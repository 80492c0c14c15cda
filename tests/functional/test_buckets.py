"""Buckets in a real namespace: meta2's container events carry the
`sys.m2.bucket.name` property to the account service, whose bucket follows
the uploads and deletions of every container attached to it (account.md
§4.11 step 8, §5)."""

from __future__ import annotations

import uuid

import pytest

from oio.common import exceptions as exc
from oio.common.constants import M2_PROP_BUCKET_NAME
from tests.utils import wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def _bucket(api, bucket: str) -> dict | None:
    try:
        return api.account.bucket_show(bucket)
    except exc.NotFound:
        return None


def _counts(api, bucket: str, objects: int, size: int) -> bool:
    info = _bucket(api, bucket)
    return info is not None and (info["objects"], info["bytes"]) == (
        objects, size)


def test_bucket_follows_its_containers(api):
    account, bucket = _name("acct"), _name("bk")
    shard = bucket + "%2Fshard"
    system = {M2_PROP_BUCKET_NAME: bucket}
    assert api.container_create(account, bucket, system=system)
    wait_until(lambda: _bucket(api, bucket) is not None, timeout=20)
    shown = api.account.bucket_show(bucket)
    assert shown["account"] == account and shown["objects"] == 0
    assert shown["replication_enabled"] is False

    api.container_create(account, shard, system=system)
    api.object_create(account, bucket, data=b"a" * 10, obj_name="o1")
    api.object_create(account, shard, data=b"b" * 32, obj_name="o2")
    api.object_create(account, shard, data=b"c" * 5, obj_name="o3")
    wait_until(lambda: _counts(api, bucket, 3, 47), timeout=20)
    # Only the root container is listed as a bucket of the account.
    body = api.account.bucket_list(account)
    assert [b["name"] for b in body["listing"]] == [bucket]
    assert body["buckets"] == 1 and body["truncated"] is False
    assert api.account.container_show(account, shard)["bucket"] == bucket

    api.object_delete(account, shard, "o2")
    wait_until(lambda: _counts(api, bucket, 2, 15), timeout=20)
    api.account.bucket_refresh(bucket)
    assert _counts(api, bucket, 2, 15)

    # The replication flag is the bucket's, seen through each container.
    updated = api.account.bucket_update(bucket, {"replication_enabled": "true"},
                                        None)
    assert updated["replication_enabled"] is True
    assert api.account.container_show(account, shard)[
        "replication_enabled"] is True

    # The root container deleted: the bucket goes with it.
    api.object_delete(account, shard, "o3")
    api.container_delete(account, shard)
    api.object_delete(account, bucket, "o1")
    api.container_delete(account, bucket)
    wait_until(lambda: _bucket(api, bucket) is None, timeout=20)
    assert api.account.bucket_list(account)["listing"] == []


def test_a_container_set_into_a_bucket_joins_with_its_content(api):
    account, bucket = _name("acct"), _name("bk")
    api.container_create(account, bucket,
                         system={M2_PROP_BUCKET_NAME: bucket})
    other = bucket + "-old"
    api.object_create(account, other, data=b"x" * 7, obj_name="o")
    wait_until(lambda: _bucket(api, bucket) is not None, timeout=20)
    api.container_set_properties(account, other,
                                 system={M2_PROP_BUCKET_NAME: bucket})
    # The next state event of the container carries the bucket.
    api.object_create(account, other, data=b"y" * 3, obj_name="p")
    wait_until(lambda: _counts(api, bucket, 2, 10), timeout=20)


def test_unknown_bucket(api):
    with pytest.raises(exc.NotFound):
        api.account.bucket_show(_name("nobucket"))
    with pytest.raises(exc.NotFound):
        api.account.bucket_refresh(_name("nobucket"))
