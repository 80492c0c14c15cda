"""Contract of every public ObjectStorageApi method of the 7.2 seed
(shared/seed/oio-python-api-7.x.txt) against a real sandbox namespace:
normal use, each documented keyword, and the documented errors.

What test_api_objects.py, test_api_bulk.py and test_api_versioning.py
already check is not repeated here. container_snapshot, the `cache=`
keyword and perfdata are out of scope (being written).
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
import warnings

import pytest

from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from tests.utils import wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


@pytest.fixture
def acct():
    return _name("acct")


@pytest.fixture
def ct():
    return _name("ct")


def _listed(api, account, **kwargs) -> list[list]:
    try:
        return api.container_list(account, **kwargs)
    except exc.NoSuchAccount:      # not reported by meta2 yet
        return []


def _wait_listed(api, account, names) -> list[list]:
    """Wait until the account service lists exactly `names`."""
    names = sorted(names)
    entries: list[list] = []

    def done():
        entries[:] = _listed(api, account)
        return [e[0] for e in entries] == names
    wait_until(done, timeout=10)
    return entries


def _fetch(api, account, container, obj, **kwargs) -> bytes:
    return b"".join(api.object_fetch(account, container, obj, **kwargs)[1])


def _versioned(api, account, container) -> None:
    api.container_create(account, container,
                         system={"sys.m2.policy.version": "-1"})


# Accounts ------------------------------------------------------------------
def test_account_create_show_list_delete(api, acct):
    assert api.account_create(acct) is True
    assert api.account_create(acct) is False
    info = api.account_show(acct)
    assert info["id"] == acct
    for key in ("ctime", "bytes", "objects", "containers", "metadata"):
        assert key in info, key
    assert (info["bytes"], info["objects"], info["containers"]) == (0, 0, 0)
    assert acct in api.account_list()
    assert api.container_list(acct) == []
    assert api.account_delete(acct) is None
    assert acct not in api.account_list()
    with pytest.raises(exc.NoSuchAccount):
        api.account_show(acct)
    with pytest.raises(exc.NoSuchAccount):
        api.account_delete(acct)


def test_account_delete_not_empty(api, acct, ct):
    api.container_create(acct, ct)
    _wait_listed(api, acct, [ct])
    with pytest.raises(exc.Conflict):
        api.account_delete(acct)
    assert api.account_show(acct)["containers"] == 1


def test_account_properties(api, acct):
    api.account_create(acct)
    assert api.account_set_properties(acct, {"a": "1", "b": "2"}) is None
    info = api.account_get_properties(acct)
    assert info["properties"] == {"a": "1", "b": "2"}
    assert "metadata" not in info and info["id"] == acct
    api.account_set_properties(acct, {"a": "3"})
    assert api.account_get_properties(acct)["properties"] == {"a": "3",
                                                              "b": "2"}
    assert api.account_del_properties(acct, ["a", "never-set"]) is None
    assert api.account_get_properties(acct)["properties"] == {"b": "2"}
    # account_show gives the same under the old name.
    assert api.account_show(acct)["metadata"] == {"b": "2"}
    with pytest.raises(exc.NoSuchAccount):
        api.account_get_properties(_name("nobody"))


def test_account_set_properties_autocreates(api, acct):
    """The account service creates a missing account on update
    (autocreate is on by default, account.md §4.5)."""
    api.account_set_properties(acct, {"k": "v"})
    assert api.account_get_properties(acct)["properties"] == {"k": "v"}


def test_account_flush(api, acct):
    for name in ("c1", "c2"):
        api.object_create(acct, name, data=b"12345", obj_name="o")
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [
        ["c1", 1, 5], ["c2", 1, 5]], timeout=10)
    assert api.account_flush(acct) is None
    assert api.container_list(acct) == []
    info = api.account_show(acct)
    assert (info["containers"], info["objects"], info["bytes"]) == (0, 0, 0)
    # Only the account service forgets: the containers are still there.
    assert _fetch(api, acct, "c1", "o") == b"12345"
    with pytest.raises(exc.NoSuchAccount):
        api.account_flush(_name("nobody"))


def test_account_refresh_every_account(api, acct, ct):
    api.object_create(acct, ct, data=b"abc", obj_name="o")
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [[ct, 1, 3]],
               timeout=10)
    assert api.account_refresh() is None           # None: every account
    wait_until(lambda: api.account_show(acct)["bytes"] == 3, timeout=10)
    assert api.all_accounts_refresh() is None
    wait_until(lambda: api.account_show(acct)["objects"] == 1, timeout=10)
    api.account_refresh(acct)
    wait_until(lambda: api.account_show(acct)["bytes"] == 3, timeout=10)


# Containers ----------------------------------------------------------------
def test_container_create_properties_and_system(api, acct, ct):
    assert api.container_create(
        acct, ct, properties={"color": "blue"},
        system={"sys.m2.policy.version": "3",
                "sys.m2.policy.storage": "SINGLE"}) is True
    props = api.container_get_properties(acct, ct)
    assert props["properties"] == {"color": "blue"}
    assert props["system"]["sys.m2.policy.version"] == "3"
    assert props["system"]["sys.account"] == acct
    assert props["system"]["sys.user.name"] == ct
    # The container's storage policy applies to new objects.
    api.object_create(acct, ct, data=b"x", obj_name="o")
    assert api.object_get_properties(acct, ct, "o")["policy"] == "SINGLE"
    # Existing: False, and the new properties are not applied.
    assert api.container_create(acct, ct, properties={"color": "red"}) is False
    assert api.container_show(acct, ct)["properties"] == {"color": "blue"}


def test_container_create_errors(api, acct):
    with pytest.raises(exc.ClientException) as err:
        api.container_create(acct, _name("ct"),
                             system={"sys.m2.policy.storage": "NOPE"})
    assert err.value.status == 480
    with pytest.raises(exc.BadRequest):
        api.container_create(acct, _name("ct"), system={"bad.key": "1"})


def test_container_create_many(api, acct):
    api.container_create(acct, "b")
    result = api.container_create_many(acct, ["a", "b", "c"],
                                       properties={"k": "v"})
    assert result == [("a", True), ("b", False), ("c", True)]
    assert api.container_show(acct, "a")["properties"] == {"k": "v"}
    assert api.container_show(acct, "b")["properties"] == {}
    _wait_listed(api, acct, ["a", "b", "c"])


def test_container_delete(api, acct, ct):
    with pytest.raises(exc.NoSuchContainer):
        api.container_delete(acct, ct)
    api.container_create(acct, ct, properties={"k": "v"})
    _wait_listed(api, acct, [ct])
    assert api.container_delete(acct, ct) is None
    with pytest.raises(exc.NoSuchContainer):
        api.container_get_properties(acct, ct)
    _wait_listed(api, acct, [])
    # The name is free again, with none of the old properties.
    assert api.container_create(acct, ct) is True
    assert api.container_show(acct, ct)["properties"] == {}


def test_container_delete_with_only_delete_markers(api, acct, ct):
    """A container holding only delete markers counts as empty."""
    _versioned(api, acct, ct)
    api.object_create(acct, ct, data=b"x", obj_name="o")
    with pytest.raises(exc.ContainerNotEmpty):
        api.container_delete(acct, ct)
    api.object_delete(acct, ct, "o")        # a delete marker, the data kept
    with pytest.raises(exc.ContainerNotEmpty):
        api.container_delete(acct, ct)


def test_container_flush_fast_versions_and_markers(api, acct, ct):
    _versioned(api, acct, ct)
    for body in (b"1", b"2"):
        api.object_create(acct, ct, data=body, obj_name="o")
    api.object_create(acct, ct, data=b"x", obj_name="p")
    api.object_delete(acct, ct, "p")
    assert api.container_flush(acct, ct, fast=True) is None
    listing = api.object_list(acct, ct, versions=True, deleted=True)
    assert listing["objects"] == []
    system = api.container_get_properties(acct, ct)["system"]
    assert (system["sys.m2.objects"], system["sys.m2.usage"]) == ("0", "0")
    api.container_delete(acct, ct)


def test_container_flush_slow_empty_and_paged(api, acct, ct):
    api.container_create(acct, ct)
    assert api.container_flush(acct, ct) is None     # already empty
    names = [f"o{i}" for i in range(3)]
    for name in names:
        api.object_create(acct, ct, data=b"abc", obj_name=name)
    api.container_flush(acct, ct, fast=False)
    assert api.object_list(acct, ct)["objects"] == []


def test_container_purge_maxvers_zero_keeps_one(api, acct, ct):
    _versioned(api, acct, ct)
    for body in (b"1", b"2", b"3"):
        api.object_create(acct, ct, data=body, obj_name="o")
    assert api.container_purge(acct, ct, maxvers=0) is None
    listing = api.object_list(acct, ct, versions=True)
    assert len(listing["objects"]) == 1
    assert _fetch(api, acct, ct, "o") == b"3"


def test_container_refresh(api, acct, ct):
    api.object_create(acct, ct, data=b"1234", obj_name="o")
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [[ct, 1, 4]],
               timeout=10)
    assert api.container_refresh(acct, ct) is None
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [[ct, 1, 4]],
               timeout=10)
    with pytest.raises(exc.NoSuchContainer):
        api.container_refresh(acct, _name("never"))


def test_container_refresh_removes_a_ghost(api, acct, ct):
    """A container the account service lists but meta2 does not know is
    removed from the account."""
    api.container_create(acct, ct)
    _wait_listed(api, acct, [ct])
    api.account.container_update(acct, "ghost", {"mtime": time.time(),
                                                 "objects": 0, "bytes": 0})
    assert "ghost" in [e[0] for e in api.container_list(acct)]
    api.container_refresh(acct, "ghost")
    _wait_listed(api, acct, [ct])


def test_container_touch(api, acct, ct):
    api.object_create(acct, ct, data=b"12", obj_name="o")
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [[ct, 1, 2]],
               timeout=10)
    api.account_flush(acct)
    assert api.container_list(acct) == []
    assert api.container_touch(acct, ct) is None
    wait_until(lambda: [e[:3] for e in _listed(api, acct)] == [[ct, 1, 2]],
               timeout=10)
    # As 7.2: the proxy answers 403 (status 406) for a missing reference,
    # which its API does not turn into NoSuchContainer (docs/api.md).
    with pytest.raises(exc.Forbidden, match="Reference not found"):
        api.container_touch(acct, _name("never"))
    with pytest.raises(exc.NoSuchContainer):
        api.container_touch(acct, _name("never"), recompute=True)


def test_container_show_and_get_properties(api, acct, ct):
    api.container_create(acct, ct, properties={"a": "1"})
    shown = api.container_show(acct, ct)
    assert shown["properties"] == {"a": "1"}
    props = api.container_get_properties(acct, ct, properties=["ignored"])
    assert set(props) >= {"properties", "system"}
    assert props["properties"] == {"a": "1"}
    assert all(not k.startswith("user.") for k in props["system"])
    for key in ("sys.m2.ctime", "sys.m2.objects", "sys.m2.usage",
                "sys.status"):
        assert key in props["system"], key
    missing = _name("never")
    with pytest.raises(exc.NoSuchContainer):
        api.container_show(acct, missing)
    with pytest.raises(exc.NoSuchContainer):
        api.container_get_properties(acct, missing)


def test_container_set_properties(api, acct, ct):
    api.container_create(acct, ct, properties={"a": "1", "b": "2"})
    api.container_set_properties(acct, ct, {"b": "3", "c": "4"})
    assert api.container_get_properties(acct, ct)["properties"] == {
        "a": "1", "b": "3", "c": "4"}
    api.container_set_properties(acct, ct, {"a": ""})       # "" deletes
    assert api.container_get_properties(acct, ct)["properties"] == {
        "b": "3", "c": "4"}
    api.container_set_properties(acct, ct, {"z": "9"}, clear=True)
    assert api.container_get_properties(acct, ct)["properties"] == {"z": "9"}
    api.container_set_properties(acct, ct,
                                 system={"sys.m2.policy.version": "2"})
    props = api.container_get_properties(acct, ct)
    assert props["system"]["sys.m2.policy.version"] == "2"
    assert props["properties"] == {"z": "9"}            # untouched
    with pytest.raises(exc.BadRequest):
        api.container_set_properties(acct, ct, system={"nosys": "1"})
    with pytest.raises(exc.BadRequest):           # nothing to set
        api.container_set_properties(acct, ct)
    with pytest.raises(exc.NoSuchContainer):
        api.container_set_properties(acct, _name("never"), {"a": "1"})


def test_container_del_properties(api, acct, ct):
    api.container_create(acct, ct, properties={"a": "1", "b": "2", "c": "3"},
                         system={"sys.m2.policy.version": "1"})
    api.container_del_properties(acct, ct, ["a", "never-set"])
    assert api.container_get_properties(acct, ct)["properties"] == {
        "b": "2", "c": "3"}
    api.container_del_properties(acct, ct, [])              # [] = all
    props = api.container_get_properties(acct, ct)
    assert props["properties"] == {}
    assert props["system"]["sys.m2.policy.version"] == "1"
    with pytest.raises(exc.NoSuchContainer):
        api.container_del_properties(acct, _name("never"), ["a"])


def test_container_list_keywords(api, acct):
    names = ["alpha", "beta-1", "beta-2", "dir/a", "dir/b", "Not_S3"]
    for name in names:
        api.container_create(acct, name)
    entries = _wait_listed(api, acct, names)
    for entry in entries:
        assert len(entry) == 5
        assert entry[1:4] == [0, 0, 0]
        assert isinstance(entry[4], float) and entry[4] > 0

    def names_of(**kwargs):
        return [e[0] for e in api.container_list(acct, **kwargs)]

    assert names_of() == sorted(names)
    assert names_of(limit=2) == ["Not_S3", "alpha"]
    assert names_of(marker="alpha") == ["beta-1", "beta-2", "dir/a", "dir/b"]
    assert names_of(marker="alpha", limit=1) == ["beta-1"]
    assert names_of(end_marker="beta-2") == ["Not_S3", "alpha", "beta-1"]
    assert names_of(marker="alpha", end_marker="dir/a") == ["beta-1",
                                                            "beta-2"]
    assert names_of(prefix="beta") == ["beta-1", "beta-2"]
    assert names_of(prefix="nothing") == []
    assert names_of(delimiter="/") == ["Not_S3", "alpha", "beta-1", "beta-2",
                                       "dir/"]
    prefix_entry = api.container_list(acct, delimiter="/")[-1]
    assert prefix_entry[:4] == ["dir/", 0, 0, 1]
    assert names_of(prefix="dir/", delimiter="/") == ["dir/a", "dir/b"]
    assert names_of(delimiter="-") == ["Not_S3", "alpha", "beta-", "dir/a",
                                       "dir/b"]
    assert names_of(s3_buckets_only=True) == ["alpha", "beta-1", "beta-2"]
    with pytest.raises(exc.NoSuchAccount):
        api.container_list(_name("nobody"))


def test_container_update_deprecated(api, acct, ct):
    api.container_create(acct, ct, properties={"a": "1"})
    api.container_update(acct, ct, {"b": "2"})
    assert api.container_show(acct, ct)["properties"] == {"a": "1", "b": "2"}
    api.container_update(acct, ct, {"c": "3"}, clear=True)
    assert api.container_show(acct, ct)["properties"] == {"c": "3"}
    with pytest.raises(exc.NoSuchContainer):
        api.container_update(acct, _name("never"), {"a": "1"})


def test_container_update_with_no_metadata_deletes_all(api, acct, ct):
    """7.2.0: empty metadata → container_del_properties(..., [])."""
    api.container_create(acct, ct, properties={"a": "1"})
    api.container_update(acct, ct, {})
    assert api.container_show(acct, ct)["properties"] == {}


# Objects: writes -----------------------------------------------------------
def test_object_create_return_shapes(api, acct, ct):
    data = b"hello contract"
    chunks, size, md5 = api.object_create(acct, ct, data=data, obj_name="o",
                                          policy="THREECOPIES")
    assert (size, md5) == (len(data), hashlib.md5(data).hexdigest())
    assert len(chunks) == 3
    for chunk in chunks:
        assert {"url", "pos", "size", "hash"} <= set(chunk)
        assert chunk["pos"] == "0" and int(chunk["size"]) == len(data)
        assert chunk["hash"].lower() == md5
    result = api.object_create_ext(acct, ct, data=data, obj_name="p")
    assert len(result) == 4
    chunks, size, md5, meta = result
    assert (size, md5) == (len(data), hashlib.md5(data).hexdigest())
    for key in ("id", "version", "policy", "chunk_method", "mime_type"):
        assert key in meta, key
    shown = api.object_get_properties(acct, ct, "p")
    assert str(shown["version"]) == str(meta["version"])
    assert shown["id"] == meta["id"]


@pytest.mark.parametrize("policy, copies", [
    ("SINGLE", 1), ("TWOCOPIES", 2), ("THREECOPIES", 3)])
def test_object_create_policies(api, acct, ct, policy, copies):
    chunks, _, _ = api.object_create(acct, ct, data=b"p" * 2048,
                                     obj_name="o", policy=policy)
    assert len(chunks) == copies
    assert len({c["url"].split("/")[2] for c in chunks}) == copies
    meta, located = api.object_locate(acct, ct, "o")
    assert meta["policy"] == policy and len(located) == copies


def test_object_create_sources_and_names(api, acct, ct, tmp_path):
    path = tmp_path / "from-path.txt"
    path.write_bytes(b"path data")
    api.object_create(acct, ct, str(path))                # name = base name
    assert _fetch(api, acct, ct, "from-path.txt") == b"path data"
    api.object_create(acct, ct, file_or_path=path, obj_name="renamed")
    assert _fetch(api, acct, ct, "renamed") == b"path data"
    with open(path, "rb") as src:                          # file object name
        api.object_create(acct, ct, src)
    assert api.object_head(acct, ct, "from-path.txt")
    api.object_create(acct, ct, io.BytesIO(b"buffer"), obj_name="buf")
    assert _fetch(api, acct, ct, "buf") == b"buffer"
    api.object_create(acct, ct, data=(b"%d" % i for i in range(5)),
                      obj_name="gen")
    assert _fetch(api, acct, ct, "gen") == b"01234"
    api.object_create(acct, ct, data="ünï", obj_name="str")
    assert _fetch(api, acct, ct, "str") == "ünï".encode()
    api.object_create(acct, ct, data=b"", obj_name="empty")
    assert _fetch(api, acct, ct, "empty") == b""
    with pytest.raises(exc.MissingName):                # no name at all
        api.object_create(acct, ct, io.BytesIO(b"x"))
    with pytest.raises(exc.MissingData):
        api.object_create(acct, ct, obj_name="nodata")
    with pytest.raises(exc.FileNotFound):
        api.object_create(acct, ct, str(tmp_path / "missing"))


def test_object_create_etag_mime_properties(api, acct, ct):
    data = b"typed data"
    md5 = hashlib.md5(data).hexdigest()
    api.object_create(acct, ct, data=data, obj_name="lower", etag=md5)
    api.object_create(acct, ct, data=data, obj_name="upper",
                      etag=md5.upper(), mime_type="text/plain",
                      properties={"a": "1"}, metadata={"b": "2"})
    meta = api.object_get_properties(acct, ct, "upper")
    assert meta["mime_type"] == "text/plain"
    assert meta["hash"] == md5.upper()
    assert meta["properties"] == {"a": "1", "b": "2"}
    default = api.object_get_properties(acct, ct, "lower")
    assert default["mime_type"] == "application/octet-stream"
    assert default["properties"] == {}


def test_object_create_bad_policy_creates_nothing(api, acct, ct):
    api.container_create(acct, ct)
    with pytest.raises(exc.ClientException) as err:
        api.object_create(acct, ct, data=b"abc", obj_name="o",
                          policy="NO_SUCH_POLICY")
    assert err.value.status == 480
    assert api.object_list(acct, ct)["objects"] == []


def test_object_create_append(api, acct, ct):
    api.object_create(acct, ct, data=b"abc", obj_name="o",
                      properties={"k": "v"})
    version = api.object_get_properties(acct, ct, "o")["version"]
    _, size, _ = api.object_create(acct, ct, data=b"defg", obj_name="o",
                                   append=True)
    assert size == 4
    meta, stream = api.object_fetch(acct, ct, "o")
    assert b"".join(stream) == b"abcdefg"
    assert int(meta["length"]) == 7
    assert meta["version"] == version                  # same version
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "k": "v"}
    # Appending to a missing object creates it.
    api.object_create(acct, ct, data=b"new", obj_name="fresh", append=True)
    assert _fetch(api, acct, ct, "fresh") == b"new"


def test_object_create_autocreate_and_container_properties(api, acct, ct):
    api.object_create(
        acct, ct, data=b"x", obj_name="o",
        container_properties={"properties": {"owner": "me"},
                              "system": {"sys.m2.policy.version": "-1"}})
    props = api.container_get_properties(acct, ct)
    assert props["properties"] == {"owner": "me"}
    assert props["system"]["sys.m2.policy.version"] == "-1"
    # The container exists: autocreate=False is fine.
    api.object_create(acct, ct, data=b"y", obj_name="p", autocreate=False)
    assert _fetch(api, acct, ct, "p") == b"y"
    # container_properties only apply to a container being created.
    api.object_create(acct, ct, data=b"z", obj_name="q",
                      container_properties={"properties": {"owner": "you"}})
    assert api.container_show(acct, ct)["properties"] == {"owner": "me"}


def test_object_create_timeouts_and_deadline(api, acct, ct):
    from oio.common.utils import monotonic_time

    api.object_create(acct, ct, data=b"t", obj_name="o",
                      deadline=monotonic_time() + 30, read_timeout=10.0,
                      connection_timeout=5.0)
    assert _fetch(api, acct, ct, "o", read_timeout=10.0,
                  connection_timeout=5.0) == b"t"
    with pytest.raises(exc.DeadlineReached):
        api.object_create(acct, ct, data=b"late", obj_name="late",
                          deadline=monotonic_time() - 1)
    assert not api.object_head(acct, ct, "late")


def _reqid_log_lines(namespace, reqid: str) -> dict[str, list[str]]:
    """Access-log lines mentioning `reqid`, by service log file."""
    import glob
    import os

    found: dict[str, list[str]] = {}
    for path in glob.glob(os.path.join(namespace.settings.log_dir, "*.log")):
        with open(path, errors="replace") as log:
            lines = [line.rstrip("\n") for line in log
                     if reqid in line and "req_id=" in line]
        if lines:
            found[os.path.basename(path)] = lines
    return found


def _check_reqid(namespace, reqid: str) -> None:
    """The proxy, meta2 and rawx services saw `reqid`, and only it."""
    def seen():
        found = _reqid_log_lines(namespace, reqid)
        return found if all(any(kind in name for name in found)
                            for kind in ("oioproxy", "meta2", "rawx")) \
            else None
    found = wait_until(seen, timeout=5)
    for lines in found.values():
        for line in lines:
            assert line.rsplit("req_id=", 1)[1].strip() == reqid, line


def test_object_create_request_id_keyword(api, namespace, acct, ct):
    reqid = "contract-kw-" + uuid.uuid4().hex[:12]
    api.object_create(acct, ct, data=b"r", obj_name="o", reqid=reqid)
    _check_reqid(namespace, reqid)


def test_object_create_request_id_header(api, namespace, acct, ct):
    """A request ID given as headers={"X-oio-req-id": ...} is the one every
    service sees."""
    reqid = "contract-hd-" + uuid.uuid4().hex[:12]
    api.object_create(acct, ct, data=b"r", obj_name="o",
                      headers={"X-oio-req-id": reqid})
    _check_reqid(namespace, reqid)


def test_object_create_empty_name_and_missing_container(api, acct, ct):
    with pytest.raises(exc.MissingName):
        api.object_create_ext(acct, ct, data=b"x", obj_name="")
    with pytest.raises(exc.NoSuchContainer):
        api.object_create_ext(acct, ct, data=b"x", obj_name="o",
                              autocreate=False)


# Objects: reads ------------------------------------------------------------
def test_object_fetch_version_and_properties(api, acct, ct):
    _versioned(api, acct, ct)
    first = api.object_create_ext(acct, ct, data=b"one", obj_name="o",
                                  properties={"v": "1"})[3]
    api.object_create(acct, ct, data=b"two", obj_name="o",
                      properties={"v": "2"})
    meta, stream = api.object_fetch(acct, ct, "o", version=first["version"])
    assert b"".join(stream) == b"one"
    assert meta["properties"] == {"v": "1"}
    assert str(meta["version"]) == str(first["version"])
    meta, stream = api.object_fetch(acct, ct, "o",
                                    version=str(first["version"]),
                                    ranges=[(1, 2)])
    assert b"".join(stream) == b"ne"
    meta, stream = api.object_fetch(acct, ct, "o", properties=False)
    assert b"".join(stream) == b"two"
    assert not meta.get("properties")
    for key in ("id", "name", "version", "length", "hash", "policy",
                "chunk_method", "mime_type", "container_id", "ns"):
        assert key in meta, key
    assert meta["container_id"] == cid_from_name(acct, ct).upper()
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch(acct, ct, "o", version=1)
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch(acct, ct, "missing")


def test_object_fetch_ranges_errors(api, acct, ct):
    api.object_create(acct, ct, data=b"0123456789", obj_name="o")
    assert _fetch(api, acct, ct, "o", ranges=[(8, 20)]) == b"89"
    assert _fetch(api, acct, ct, "o", ranges=[(None, 3), (0, 1)]) == (
        b"78901")
    with pytest.raises(exc.UnsatisfiableRange):
        api.object_fetch(acct, ct, "o", ranges=[(10, 12)])
    with pytest.raises(exc.UnsatisfiableRange):
        api.object_fetch(acct, ct, "o", ranges=[(100, None)])
    with pytest.raises(exc.NoSuchContainer):
        api.object_fetch(acct, _name("never"), "o")


def test_object_get_properties_and_show(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"abc", obj_name="o",
                                properties={"a": "1"})[3]
    api.object_create(acct, ct, data=b"defgh", obj_name="o",
                      mime_type="text/x-test")
    meta = api.object_get_properties(acct, ct, "o")
    for key in ("id", "name", "version", "length", "hash", "hash_method",
                "chunk_method", "mime_type", "policy", "ctime", "deleted",
                "properties"):
        assert key in meta, key
    assert meta["name"] == "o" and int(meta["length"]) == 5
    assert meta["properties"] == {}
    assert meta["hash_method"] == "md5"
    assert meta["mime_type"] == "text/x-test"
    shown = api.object_show(acct, ct, "o")
    assert shown["id"] == meta["id"] and shown["version"] == meta["version"]
    older = api.object_show(acct, ct, "o", version=old["version"])
    assert older["properties"] == {"a": "1"} and int(older["length"]) == 3
    older = api.object_get_properties(acct, ct, "o", version=old["version"])
    assert int(older["length"]) == 3
    with pytest.raises(exc.NoSuchObject):
        api.object_get_properties(acct, ct, "missing")
    with pytest.raises(exc.NoSuchObject):
        api.object_show(acct, ct, "o", version=1)
    with pytest.raises(exc.NoSuchContainer):
        api.object_get_properties(acct, _name("never"), "o")
    with pytest.raises(exc.NoSuchContainer):
        api.object_show(acct, _name("never"), "o")


def test_object_head(api, acct, ct):
    api.object_create(acct, ct, data=b"h" * 100, obj_name="o",
                      policy="TWOCOPIES")
    assert api.object_head(acct, ct, "o") is True
    assert api.object_head(acct, ct, "o", trust_level=0) is True
    assert api.object_head(acct, ct, "o", trust_level=2) is True
    assert api.object_head(acct, ct, "missing", trust_level=2) is False
    assert api.object_head(acct, _name("never"), "o") is False
    assert api.object_head(acct, _name("never"), "o", trust_level=2) is False
    # One chunk gone from its rawx: still known (0), not whole (2).
    _, chunks = api.object_locate(acct, ct, "o")
    api.blob_client.chunk_delete(chunks[0].get("real_url") or chunks[0]["url"])
    assert api.object_head(acct, ct, "o", trust_level=0) is True
    assert api.object_head(acct, ct, "o", trust_level=2) is False
    # Level 1 (NotImplementedError in 7.2.0, written here): readable.
    assert api.object_head(acct, ct, "o", trust_level=1) is True
    api.blob_client.chunk_delete(chunks[1].get("real_url") or chunks[1]["url"])
    assert api.object_head(acct, ct, "o", trust_level=1) is False
    assert api.object_head(acct, ct, "o", trust_level=0) is True
    with pytest.raises(ValueError):
        api.object_head(acct, ct, "o", trust_level=3)


def test_object_list_result_and_keywords(api, acct, ct):
    api.container_create(acct, ct, properties={"cp": "1"})
    names = ["a", "b/1", "b/2", "c", "d/x/y"]
    for name in names:
        api.object_create(acct, ct, data=name.encode(), obj_name=name,
                          properties={"n": name})
    listing = api.object_list(acct, ct)
    assert {"objects", "prefixes", "properties", "system",
            "truncated"} <= set(listing)
    assert listing["truncated"] is False and "next_marker" not in listing
    assert listing["properties"] == {"cp": "1"}
    assert listing["system"]["sys.m2.objects"] == "5"
    assert listing["prefixes"] == []
    assert [o["name"] for o in listing["objects"]] == names
    entry = listing["objects"][0]
    for key in ("name", "version", "size", "hash", "ctime", "mtime",
                "deleted", "policy", "chunk_method", "mime_type", "content",
                "is_latest"):
        assert key in entry, key
    assert "chunk-method" not in entry and "mime-type" not in entry
    assert entry["is_latest"] is True and entry["deleted"] is False
    assert entry["size"] == 1 and entry["hash"] == hashlib.md5(
        b"a").hexdigest().upper()
    assert not entry.get("properties")

    def names_of(**kwargs):
        return [o["name"] for o in api.object_list(acct, ct,
                                                   **kwargs)["objects"]]

    page = api.object_list(acct, ct, limit=2)
    assert [o["name"] for o in page["objects"]] == ["a", "b/1"]
    assert page["truncated"] is True and page["next_marker"] == "b/1"
    assert names_of(marker="b/1", limit=2) == ["b/2", "c"]
    assert names_of(end_marker="c") == ["a", "b/1", "b/2"]
    assert names_of(marker="a", end_marker="c") == ["b/1", "b/2"]
    assert names_of(prefix="b/") == ["b/1", "b/2"]
    assert names_of(prefix="zzz") == []
    delimited = api.object_list(acct, ct, delimiter="/")
    assert [o["name"] for o in delimited["objects"]] == ["a", "c"]
    assert delimited["prefixes"] == ["b/", "d/"]
    nested = api.object_list(acct, ct, prefix="d/", delimiter="/")
    assert nested["objects"] == [] and nested["prefixes"] == ["d/x/"]
    with_props = api.object_list(acct, ct, prefix="c", properties=True)
    assert with_props["objects"][0]["properties"] == {"n": "c"}


def test_object_list_versions_and_deleted(api, acct, ct):
    _versioned(api, acct, ct)
    for body in (b"1", b"2"):
        api.object_create(acct, ct, data=body, obj_name="o")
    api.object_create(acct, ct, data=b"x", obj_name="gone")
    api.object_delete(acct, ct, "gone")
    assert [o["name"] for o in api.object_list(acct, ct)["objects"]] == ["o"]
    # Every version, delete markers included (with or without `deleted`),
    # by name then version descending.
    listing = api.object_list(acct, ct, versions=True)
    assert [o["name"] for o in listing["objects"]] == ["gone"] * 2 + ["o"] * 2
    versions = [o for o in listing["objects"] if o["name"] == "o"]
    assert int(versions[0]["version"]) > int(versions[1]["version"])
    assert [o["is_latest"] for o in versions] == [True, False]
    full = api.object_list(acct, ct, versions=True, deleted=True)
    assert full["objects"] == listing["objects"]
    gone = [o for o in full["objects"] if o["name"] == "gone"]
    assert len(gone) == 2 and sum(o["deleted"] for o in gone) == 1
    marker = max(gone, key=lambda o: int(o["version"]))
    assert marker["deleted"] is True and marker["is_latest"] is True
    deleted_only = api.object_list(acct, ct, deleted=True)
    assert [(o["name"], o["deleted"]) for o in deleted_only["objects"]] == [
        ("gone", True), ("o", False)]


def test_object_locate(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"first", obj_name="o",
                                policy="TWOCOPIES", properties={"a": "1"})[3]
    api.object_create(acct, ct, data=b"second!", obj_name="o",
                      policy="SINGLE", properties={"b": "2"})
    meta, chunks = api.object_locate(acct, ct, "o")
    assert isinstance(chunks, list) and len(chunks) == 1
    assert meta["policy"] == "SINGLE" and meta["properties"] == {"b": "2"}
    for key in ("url", "pos", "size", "hash"):
        assert key in chunks[0], key
    meta, _ = api.object_locate(acct, ct, "o", properties=False)
    assert not meta.get("properties")
    meta, chunks = api.object_locate(acct, ct, "o", version=old["version"])
    assert meta["policy"] == "TWOCOPIES" and len(chunks) == 2
    assert meta["properties"] == {"a": "1"}
    meta, info = api.object_locate(acct, ct, "o", chunk_info=True)
    assert not isinstance(info, list)             # a generator
    info = list(info)
    assert len(info) == 1
    assert int(info[0]["chunk_size"]) == 7
    assert info[0]["chunk_hash"].upper() == hashlib.md5(
        b"second!").hexdigest().upper()
    assert info[0]["full_path"]
    with pytest.raises(exc.NoSuchObject):
        api.object_locate(acct, ct, "o", version=1)
    with pytest.raises(exc.NoSuchContainer):
        api.object_locate(acct, _name("never"), "o")


# Objects: metadata ---------------------------------------------------------
def test_object_set_properties(api, acct, ct):
    api.object_create(acct, ct, data=b"x", obj_name="o",
                      properties={"a": "1", "b": "2"})
    assert api.object_set_properties(acct, ct, "o", {"b": "3", "c": "4"}) \
        is None
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "a": "1", "b": "3", "c": "4"}
    api.object_set_properties(acct, ct, "o", {"z": "9"}, clear=True)
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "z": "9"}
    api.object_set_properties(acct, ct, "o", {"z": ""})       # "" deletes
    assert api.object_get_properties(acct, ct, "o")["properties"] == {}
    with pytest.raises(exc.NoSuchObject):
        api.object_set_properties(acct, ct, "missing", {"a": "1"})
    with pytest.raises(exc.NoSuchContainer):
        api.object_set_properties(acct, _name("never"), "o", {"a": "1"})


def test_object_properties_of_a_version(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"1", obj_name="o")[3]
    api.object_create(acct, ct, data=b"2", obj_name="o")
    api.object_set_properties(acct, ct, "o", {"old": "yes"},
                              version=old["version"])
    assert api.object_get_properties(acct, ct, "o")["properties"] == {}
    assert api.object_show(acct, ct, "o", version=old["version"])[
        "properties"] == {"old": "yes"}
    assert api.object_del_properties(acct, ct, "o", ["old"],
                                     version=old["version"]) is True
    assert api.object_show(acct, ct, "o", version=old["version"])[
        "properties"] == {}
    with pytest.raises(exc.NoSuchObject):
        api.object_set_properties(acct, ct, "o", {"a": "1"}, version=1)


def test_object_del_properties(api, acct, ct):
    api.object_create(acct, ct, data=b"x", obj_name="o",
                      properties={"a": "1", "b": "2", "c": "3"})
    assert api.object_del_properties(acct, ct, "o", ["a", "never"]) is True
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "b": "2", "c": "3"}
    assert api.object_del_properties(acct, ct, "o", ("b",)) is True
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "c": "3"}
    with pytest.raises(exc.NoSuchObject):
        api.object_del_properties(acct, ct, "missing", ["a"])
    with pytest.raises(exc.NoSuchContainer):
        api.object_del_properties(acct, _name("never"), "o", ["a"])


def test_object_update_deprecated(api, acct, ct):
    api.object_create(acct, ct, data=b"x", obj_name="o",
                      properties={"a": "1"})
    api.object_update(acct, ct, "o", {"b": "2"})
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "a": "1", "b": "2"}
    api.object_update(acct, ct, "o", {"c": "3"}, clear=True)
    assert api.object_get_properties(acct, ct, "o")["properties"] == {
        "c": "3"}
    api.object_update(acct, ct, "o", {}, clear=True)       # clear all
    assert api.object_get_properties(acct, ct, "o")["properties"] == {}
    with pytest.raises(exc.NoSuchObject):
        api.object_update(acct, ct, "missing", {"a": "1"})


# Objects: links, truncation, policies, drain, touch, deletion ---------------
def test_object_link_keywords(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"old data", obj_name="t",
                                properties={"p": "old"},
                                mime_type="text/plain")[3]
    api.object_create(acct, ct, data=b"new data!", obj_name="t",
                      properties={"p": "new"})
    # Same container, an older version of the target, properties copied.
    meta = api.object_link(acct, ct, "t", acct, ct, "link-old",
                           target_version=old["version"],
                           properties_directive="COPY")
    assert meta["name"] == "link-old"
    got, stream = api.object_fetch(acct, ct, "link-old")
    assert b"".join(stream) == b"old data"
    assert got["properties"] == {"p": "old"}
    assert got["mime_type"] == "text/plain"
    assert got["hash"] == hashlib.md5(b"old data").hexdigest().upper()
    # Another account and container, properties replaced.
    other_acct, other_ct = _name("acct"), _name("ct")
    api.object_link(acct, ct, "t", other_acct, other_ct, "l",
                    properties_directive="REPLACE", properties={"r": "1"})
    assert _fetch(api, other_acct, other_ct, "l") == b"new data!"
    assert api.object_get_properties(other_acct, other_ct, "l")[
        "properties"] == {"r": "1"}
    # 7.2 also takes them as `metadata`, and a link replaces a link.
    api.object_link(acct, ct, "t", other_acct, other_ct, "l",
                    properties_directive="REPLACE", metadata={"m": "2"})
    assert api.object_get_properties(other_acct, other_ct, "l")[
        "properties"] == {"m": "2"}
    # REPLACE without properties: none.
    api.object_link(acct, ct, "t", acct, ct, "bare",
                    properties_directive="REPLACE")
    assert api.object_get_properties(acct, ct, "bare")["properties"] == {}
    # Missing targets.
    with pytest.raises(exc.NoSuchObject):
        api.object_link(acct, ct, "t", acct, ct, "x", target_version=1)
    with pytest.raises(exc.NoSuchContainer):
        api.object_link(acct, _name("never"), "t", acct, ct, "x")
    assert not api.object_head(acct, ct, "x")


def test_object_fastcopy_deprecated(api, acct, ct):
    api.object_create(acct, ct, data=b"fast", obj_name="t")
    api.object_fastcopy(acct, ct, "t", acct, ct, "copy")
    assert _fetch(api, acct, ct, "copy") == b"fast"
    with pytest.raises(exc.NoSuchObject):
        api.object_fastcopy(acct, ct, "missing", acct, ct, "copy2")


def test_object_truncate_keywords_and_errors(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"0123456789", obj_name="o")[3]
    api.object_create(acct, ct, data=b"abcdefghij", obj_name="o")
    assert api.object_truncate(acct, ct, "o", size=4,
                               version=old["version"]) is None
    assert _fetch(api, acct, ct, "o", version=old["version"]) == b"0123"
    assert _fetch(api, acct, ct, "o") == b"abcdefghij"
    api.object_truncate(acct, ct, "o", size=10)         # same size: no-op
    assert _fetch(api, acct, ct, "o") == b"abcdefghij"
    with pytest.raises(exc.OioException):
        api.object_truncate(acct, ct, "o", size=11)      # beyond the size
    assert _fetch(api, acct, ct, "o") == b"abcdefghij"
    with pytest.raises(exc.NoSuchObject):
        api.object_truncate(acct, ct, "o", size=0, version=1)
    with pytest.raises(exc.NoSuchContainer):
        api.object_truncate(acct, _name("never"), "o", size=0)


def test_object_change_policy_contract(api, acct, ct):
    api.object_create(acct, ct, data=b"policy data", obj_name="o",
                      policy="SINGLE", mime_type="text/plain")
    result = api.object_change_policy(acct, ct, "o", "TWOCOPIES")
    chunks, size, md5, _meta = result
    assert size == 11 and md5 == hashlib.md5(b"policy data").hexdigest()
    assert len(chunks) == 2
    meta = api.object_get_properties(acct, ct, "o")
    assert meta["policy"] == "TWOCOPIES"
    assert meta["mime_type"] == "text/plain"
    with pytest.raises(exc.ClientException) as err:
        api.object_change_policy(acct, ct, "o", "NO_SUCH_POLICY")
    assert err.value.status == 480
    assert _fetch(api, acct, ct, "o") == b"policy data"
    assert api.object_get_properties(acct, ct, "o")["policy"] == "TWOCOPIES"
    with pytest.raises(exc.NoSuchContainer):
        api.object_change_policy(acct, _name("never"), "o", "SINGLE")


def test_object_drain_contract(api, acct, ct):
    api.object_create(acct, ct, data=b"drain me", obj_name="o")
    assert api.object_drain(acct, ct, "o") is None
    with pytest.raises(exc.ClientException) as err:
        api.object_locate(acct, ct, "o")
    assert (err.value.http_status, err.value.status) == (410, 427)
    # Metadata operations and deletion still work.
    api.object_set_properties(acct, ct, "o", {"k": "v"})
    api.object_touch(acct, ct, "o")
    assert api.object_delete(acct, ct, "o") is True
    with pytest.raises(exc.NotFound):
        api.object_drain(acct, ct, "o")


def test_object_touch(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"1", obj_name="o")[3]
    api.object_create(acct, ct, data=b"2", obj_name="o")
    assert api.object_touch(acct, ct, "o") is None
    assert api.object_touch(acct, ct, "o", version=old["version"]) is None
    with pytest.raises(exc.NotFound):
        api.object_touch(acct, ct, "missing")
    with pytest.raises(exc.NotFound):
        api.object_touch(acct, ct, "o", version=1)
    with pytest.raises(exc.NotFound):
        api.object_touch(acct, _name("never"), "o")


def test_object_delete_contract(api, acct, ct):
    api.object_create(acct, ct, data=b"x", obj_name="o")
    meta = api.object_get_properties(acct, ct, "o")
    with pytest.raises(exc.NoSuchObject):
        api.object_delete(acct, ct, "o", version=int(meta["version"]) + 1)
    assert api.object_delete(acct, ct, "o", version=meta["version"]) is True
    assert not api.object_head(acct, ct, "o")
    with pytest.raises(exc.NoSuchObject):
        api.object_delete(acct, ct, "o")
    with pytest.raises(exc.NoSuchContainer):
        api.object_delete(acct, _name("never"), "o")


def test_object_delete_many_contract(api, acct, ct):
    _versioned(api, acct, ct)
    for name in ("a", "b"):
        api.object_create(acct, ct, data=b"x", obj_name=name)
    # Takes any iterable (a tuple here); versioned: delete markers.
    assert api.object_delete_many(acct, ct, ("a", "b", "c")) == [
        ("a", True), ("b", True), ("c", False)]
    assert api.object_list(acct, ct)["objects"] == []
    listing = api.object_list(acct, ct, versions=True)["objects"]
    assert sorted((o["name"], o["deleted"]) for o in listing) == [
        ("a", False), ("a", True), ("b", False), ("b", True)]
    assert api.object_delete_many(acct, ct, []) == []


def test_object_delete_many_missing_container(api, acct):
    assert api.object_delete_many(acct, _name("never"), ["a", "b"]) == [
        ("a", False), ("b", False)]


# Misc ------------------------------------------------------------------------
def test_resolve_cid_contract(api, acct, ct):
    api.object_create(acct, ct, data=b"x", obj_name="o")
    meta, _ = api.object_fetch(acct, ct, "o")
    assert api.resolve_cid(meta["container_id"]) == (acct, ct)
    assert api.resolve_cid(meta["container_id"].lower()) == (acct, ct)
    with pytest.raises(exc.NotFound):
        api.resolve_cid("0" * 64)


def test_blob_client_property(api, acct, ct):
    from oio.blob.client import BlobClient

    assert isinstance(api.blob_client, BlobClient)
    assert api.blob_client is api.blob_client
    api.object_create(acct, ct, data=b"blob", obj_name="o", policy="SINGLE")
    _, chunks = api.object_locate(acct, ct, "o")
    meta, stream = api.blob_client.chunk_get(chunks[0]["url"])
    assert b"".join(stream) == b"blob"
    assert meta["content_path"] == "o"


def test_proxy_client_property(api):
    """A ProxyClient addressing the proxy without the namespace prefix: 7.2.0's
    own container_purge calls proxy_client._request("GET", "config")."""
    from oio.common.client import ProxyClient

    client = api.proxy_client
    assert isinstance(client, ProxyClient)
    assert api.proxy_client is client
    _, config = client._request("GET", "config")
    assert "meta2.max_versions" in config


def test_object_analyze_deprecated(api, acct, ct):
    api.object_create(acct, ct, data=b"analyze", obj_name="o",
                      policy="TWOCOPIES")
    meta, chunks = api.object_analyze(acct, ct, "o", properties=False)
    assert meta["name"] == "o" and len(chunks) == 2
    _, info = api.object_analyze(acct, ct, "o", chunk_info=True)
    assert all("chunk_hash" in c for c in info)
    with pytest.raises(exc.NoSuchObject):
        api.object_analyze(acct, ct, "missing")


@pytest.mark.parametrize("call", [
    lambda api, a, c: api.object_update(a, c, "o", {"k": "v"}),
    lambda api, a, c: api.object_analyze(a, c, "o"),
    lambda api, a, c: api.object_fastcopy(a, c, "o", a, c, "o2"),
    lambda api, a, c: api.object_show(a, c, "o"),
    lambda api, a, c: api.container_update(a, c, {"k": "v"}),
    lambda api, a, c: api.all_accounts_refresh(),
], ids=["object_update", "object_analyze", "object_fastcopy", "object_show",
        "container_update", "all_accounts_refresh"])
def test_deprecated_aliases_warn(api, acct, ct, call):
    api.object_create(acct, ct, data=b"x", obj_name="o")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(api, acct, ct)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_object_link_returns_the_link_description(api, acct, ct):
    """7.2.0 returns the link's metadata with the target's length, hash,
    hash method, MIME type and chunk method."""
    data = b"describe me"
    api.object_create(acct, ct, data=data, obj_name="t",
                      mime_type="text/plain", policy="TWOCOPIES")
    meta = api.object_link(acct, ct, "t", acct, ct, "l")
    assert str(meta["length"]) == str(len(data))
    assert meta["hash"].upper() == hashlib.md5(data).hexdigest().upper()
    assert meta["mime_type"] == "text/plain"
    assert meta["chunk_method"] == "plain/nb_copy=2"
    assert meta["policy"] == "TWOCOPIES"
    shown = api.object_get_properties(acct, ct, "l")
    assert str(meta["version"]) == str(shown["version"])
    assert meta["id"] == shown["id"]


def test_object_change_policy_and_drain_of_a_version(api, acct, ct):
    _versioned(api, acct, ct)
    old = api.object_create_ext(acct, ct, data=b"old", obj_name="o",
                                policy="SINGLE")[3]
    api.object_create(acct, ct, data=b"new", obj_name="o", policy="SINGLE")
    *_, meta = api.object_change_policy(acct, ct, "o", "TWOCOPIES",
                                        version=old["version"])
    assert str(meta["version"]) == str(old["version"])
    assert api.object_show(acct, ct, "o", version=old["version"])[
        "policy"] == "TWOCOPIES"
    assert api.object_show(acct, ct, "o")["policy"] == "SINGLE"
    assert _fetch(api, acct, ct, "o", version=old["version"]) == b"old"
    # Drain the old version only.
    assert api.object_drain(acct, ct, "o", version=old["version"]) is None
    with pytest.raises(exc.ClientException) as err:
        api.object_fetch(acct, ct, "o", version=old["version"])
    assert (err.value.http_status, err.value.status) == (410, 427)
    assert _fetch(api, acct, ct, "o") == b"new"
    with pytest.raises(exc.NotFound):
        api.object_drain(acct, ct, "o", version=1)


def test_object_locate_chunk_info_reports_a_missing_chunk(api, acct, ct):
    api.object_create(acct, ct, data=b"abc", obj_name="o",
                      policy="TWOCOPIES")
    _, chunks = api.object_locate(acct, ct, "o")
    api.blob_client.chunk_delete(chunks[0]["url"])
    _, info = api.object_locate(acct, ct, "o", chunk_info=True)
    by_url = {c["url"]: c for c in info}
    assert "error" in by_url[chunks[0]["url"]]
    assert "chunk_hash" not in by_url[chunks[0]["url"]]
    assert "error" not in by_url[chunks[1]["url"]]
    assert int(by_url[chunks[1]["url"]]["chunk_size"]) == 3
    # Reads fail over to the remaining copy.
    assert _fetch(api, acct, ct, "o") == b"abc"
