"""container_snapshot against the sandbox: a frozen copy whose chunks are
hard links of the source's, under their own predictable chunk IDs."""

from __future__ import annotations

import uuid

import pytest

from oio.common import exceptions as exc
from oio.common.constants import OIO_DB_FROZEN
from oio.common.utils import cid_from_name, compute_chunk_id
from tests.utils import container_listed, wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


def _all_versions(api, account, container):
    listing = api.object_list(account, container, versions=True, deleted=True)
    return sorted((o["name"], int(o["version"]), bool(o.get("deleted")),
                   o["hash"], o["size"]) for o in listing["objects"])


def _read(api, account, container, name, version=None) -> bytes:
    return b"".join(api.object_fetch(account, container, name,
                                     version=version)[1])


def test_snapshot_copies_every_version_with_linked_chunks(api):
    account, container = _name("acct"), _name("src")
    snap_account, snap = _name("snapacct"), _name("snap")
    api.container_create(account, container, properties={"team": "blue"},
                         system={"sys.m2.policy.version": "-1"})
    big = bytes(range(256)) * 6000                 # 1.5 MB: two metachunks
    api.object_create(account, container, data=b"first", obj_name="doc")
    api.object_create(account, container, data=b"second", obj_name="doc",
                      properties={"rev": "2"})
    api.object_create(account, container, data=big, obj_name="dir/big",
                      policy="THREECOPIES")
    api.object_create(account, container, data=b"", obj_name="empty")
    api.object_create(account, container, data=b"gone", obj_name="gone")
    api.object_delete(account, container, "gone")      # a delete marker

    api.container_snapshot(account, container, snap_account, snap,
                           batch_size=2)               # several raw_updates

    assert _all_versions(api, snap_account, snap) == \
        _all_versions(api, account, container)
    for entry in api.object_list(account, container, versions=True)["objects"]:
        if entry["deleted"]:
            continue
        version = entry["version"]
        assert _read(api, snap_account, snap, entry["name"], version) == \
            _read(api, account, container, entry["name"], version)
    assert _read(api, snap_account, snap, "dir/big") == big
    assert api.object_get_properties(snap_account, snap, "doc")[
        "properties"] == {"rev": "2"}
    assert api.container_get_properties(snap_account, snap)[
        "properties"] == {"team": "blue"}

    # Every chunk of the snapshot is its own link, named as OpenIO names it.
    snap_cid = cid_from_name(snap_account, snap)
    meta, chunks = api.object_locate(snap_account, snap, "dir/big")
    _, src_chunks = api.object_locate(account, container, "dir/big")
    assert len(chunks) == len(src_chunks) == 6
    assert {c["url"] for c in chunks}.isdisjoint(c["url"] for c in src_chunks)
    for chunk in chunks:
        assert chunk["url"].rsplit("/", 1)[1] == compute_chunk_id(
            snap_cid, "dir/big", meta["version"], chunk["pos"], meta["policy"])
        head = api.blob_client.chunk_head(chunk["url"])
        assert head["container_id"] == snap_cid
        assert head["content_path"] == "dir/big"

    # The snapshot outlives the source's chunks.
    for chunk in src_chunks:
        api.blob_client.chunk_delete(chunk["url"])
    assert _read(api, snap_account, snap, "dir/big") == big

    # The snapshot is read-only; the source is writable again.
    with pytest.raises(exc.ClientException) as info:
        api.object_create(snap_account, snap, data=b"x", obj_name="new")
    assert "frozen" in str(info.value).lower()
    api.object_create(account, container, data=b"x", obj_name="new")

    wait_until(lambda: container_listed(api, snap_account, snap),
               timeout=10)


def test_snapshot_errors(api):
    account, container = _name("acct"), _name("src")
    api.object_create(account, container, data=b"data", obj_name="o")
    with pytest.raises(exc.NoSuchContainer):
        api.container_snapshot(account, _name("missing"), account, _name("s"))
    with pytest.raises(exc.BadRequest):
        api.container_snapshot(account, container, account, container)
    taken = _name("taken")
    api.container_create(account, taken)
    with pytest.raises(exc.BadRequest) as info:
        api.container_snapshot(account, container, account, taken)
    assert "already exists" in str(info.value)
    # A failed snapshot leaves the source enabled.
    api.object_create(account, container, data=b"more", obj_name="o2")
    assert api.container_get_properties(account, container)["system"][
        "sys.status"] == "0"


def test_snapshot_of_a_frozen_source_is_refused_and_left_frozen(api):
    account, container = _name("acct"), _name("src")
    api.object_create(account, container, data=b"data", obj_name="o")
    api.container.container_freeze(account, container)
    with pytest.raises(exc.ClientException):
        api.container_snapshot(account, container, account, _name("s"))
    # Someone else froze it: the refused snapshot does not thaw it.
    assert api.container_get_properties(account, container)["system"][
        "sys.status"] == str(OIO_DB_FROZEN)
    api.container.container_enable(account, container)
    api.object_create(account, container, data=b"x", obj_name="o2")


def test_snapshot_and_recount_with_a_drained_object(api):
    """A drained object has no chunk (locate answers 410): the snapshot
    copies its alias, the recount does not call it damaged."""
    account, container, snap = _name("acct"), _name("src"), _name("snap")
    api.object_create(account, container, data=b"kept", obj_name="kept")
    api.object_create(account, container, data=b"gone", obj_name="drained")
    api.object_drain(account, container, "drained")
    api.container_touch(account, container, recompute=True)
    system = api.container_get_properties(account, container)["system"]
    assert system["sys.m2.objects.damaged"] == "0"
    api.container_snapshot(account, container, account, snap)
    names = {o["name"] for o in api.object_list(account, snap)["objects"]}
    assert names == {"kept", "drained"}
    assert _read(api, account, snap, "kept") == b"kept"
