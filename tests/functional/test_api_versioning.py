"""Versioned containers through ObjectStorageApi (sys.m2.policy.version)."""

from __future__ import annotations

import uuid

import pytest

from oio.common import exceptions as exc


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def versions_of(api, account, container, name):
    listing = api.object_list(account, container, versions=True, deleted=True)
    return [o for o in listing["objects"] if o["name"] == name]


def test_unlimited_versions_and_delete_markers(api):
    account, container, obj = _name("acct"), _name("ct"), "doc"
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "-1"})
    for body in (b"v1", b"v2", b"v3"):
        api.object_create(account, container, data=body, obj_name=obj)
    versions = versions_of(api, account, container, obj)
    assert len(versions) == 3
    oldest = min(int(v["version"]) for v in versions)
    _, stream = api.object_fetch(account, container, obj, version=oldest)
    assert b"".join(stream) == b"v1"
    assert b"".join(api.object_fetch(account, container, obj)[1]) == b"v3"
    # Deleting without a version adds a delete marker: the object is gone
    # for readers, its versions are kept.
    assert api.object_delete(account, container, obj) is True
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch(account, container, obj)
    assert api.object_list(account, container)["objects"] == []
    versions = versions_of(api, account, container, obj)
    assert len(versions) == 4 and any(v["deleted"] for v in versions)
    marker = [v for v in versions if v["deleted"]][0]
    # Removing the marker brings the latest version back.
    api.object_delete(account, container, obj, version=marker["version"])
    assert b"".join(api.object_fetch(account, container, obj)[1]) == b"v3"
    api.object_delete(account, container, obj, version=oldest)
    assert len(versions_of(api, account, container, obj)) == 2
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch(account, container, obj, version=oldest)


def test_no_versioning_keeps_one_version(api):
    account, container, obj = _name("acct"), _name("ct"), "doc"
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "0"})
    for body in (b"a", b"b"):
        api.object_create(account, container, data=body, obj_name=obj)
    assert len(versions_of(api, account, container, obj)) == 1
    assert b"".join(api.object_fetch(account, container, obj)[1]) == b"b"
    api.object_delete(account, container, obj)
    assert versions_of(api, account, container, obj) == []


@pytest.mark.parametrize("delete_exceeding, kept", [(None, 3), ("1", 2)])
def test_limited_versions(api, delete_exceeding, kept):
    """N > 1 keeps every version until a purge, unless exceeding versions
    are to be deleted at once."""
    account, container, obj = _name("acct"), _name("ct"), "doc"
    system = {"sys.m2.policy.version": "2"}
    if delete_exceeding:
        system["sys.m2.policy.version.delete_exceeding"] = delete_exceeding
    api.container_create(account, container, system=system)
    for body in (b"1", b"2", b"3"):
        api.object_create(account, container, data=body, obj_name=obj)
    assert len(versions_of(api, account, container, obj)) == kept
    assert b"".join(api.object_fetch(account, container, obj)[1]) == b"3"


def test_container_purge(api):
    account, container = _name("acct"), _name("ct")
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "-1"})
    for body in (b"1", b"2", b"3", b"4"):
        api.object_create(account, container, data=body, obj_name="a")
    for body in (b"1", b"2"):
        api.object_create(account, container, data=body, obj_name="b")
    api.container_purge(account, container)          # -1: keeps everything
    assert len(versions_of(api, account, container, "a")) == 4
    api.container_purge(account, container, maxvers=2)
    assert len(versions_of(api, account, container, "a")) == 2
    assert len(versions_of(api, account, container, "b")) == 2
    assert b"".join(api.object_fetch(account, container, "a")[1]) == b"4"
    api.container_set_properties(account, container,
                                 system={"sys.m2.policy.version": "1"})
    api.container_purge(account, container)
    assert len(versions_of(api, account, container, "a")) == 1
    with pytest.raises(exc.NoSuchContainer):
        api.container_purge(account, _name("missing"))
