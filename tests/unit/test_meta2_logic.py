"""meta2 logic on real SQLite files in a temp dir, without sockets."""

import itertools
import os

import pytest

from oio.common.utils import cid_from_name
from oio.container.backend import base_path
from oio.container.events import RecordingNotifier
from oio.container.listing import ListParams
from oio.container.meta2 import (
    DELETED_CONTENT_ID,
    ContentMeta,
    Meta2,
    Meta2Error,
    Versioning,
)

from .meta2_fakes import FakeNsInfo

CID = cid_from_name("acct", "box")
_ids = itertools.count(1)


@pytest.fixture
def m2(tmp_path):
    events = RecordingNotifier()
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(), events=events)
    svc.container_create(CID, "acct", "box")
    yield svc
    svc.close()


def chunks(size=4, copies=1, mc=1, ec=None):
    out = []
    for m in range(mc):
        if ec:
            for i in range(ec):
                out.append({"url": f"http://r{i}/{next(_ids):064X}",
                            "pos": f"{m}.{i}", "size": size, "hash": "a" * 32})
        else:
            for _ in range(copies):
                out.append({"url": f"http://r/{next(_ids):064X}",
                            "pos": str(m), "size": size, "hash": "a" * 32})
    return out


def put(m2, name, version=None, size=4, policy="SINGLE", props=None,
        body_chunks=None, **kw):
    version = version or next(_ids) * 1000
    meta = ContentMeta(f"{next(_ids):032X}", version, size, "b" * 32, policy,
                       None, None)
    body = {"chunks": body_chunks or chunks(size),
            "properties": props or {}}
    m2.content_create(CID, name, meta, body, **kw)
    return version


def status(exc_info):
    return exc_info.value.status


def admin(m2, key):
    return m2.container_properties(CID)[key]


def names(m2, **kw):
    res = m2.container_list(CID, ListParams(**kw))
    return [o["name"] for o in res.objects], res.prefixes, res.truncated, \
        res.next_marker


# -- containers ---------------------------------------------------------------
def test_create_twice_and_file_layout(m2, tmp_path):
    assert not m2.container_create(CID, "acct", "box")
    assert os.path.exists(base_path(str(tmp_path), CID))
    assert base_path(str(tmp_path), CID).endswith(f"{CID[:3]}/{CID}.1.meta2")
    props = m2.container_properties(CID)
    for key in ("sys.m2.objects", "sys.m2.usage", "sys.m2.objects.damaged",
                "sys.m2.chunks.missing", "sys.m2.version"):
        assert props[key] == "0"
    assert props["sys.account"] == "acct"
    assert props["sys.user.name"] == "box"
    assert props["sys.name"] == f"{CID}.1"
    assert props["sys.status"] == "0"


def test_missing_container_is_431(m2):
    other = cid_from_name("acct", "nope")
    for call in (lambda: m2.container_properties(other),
                 lambda: m2.content_locate(other, "x"),
                 lambda: m2.container_list(other, ListParams()),
                 lambda: m2.container_destroy(other)):
        with pytest.raises(Meta2Error) as exc:
            call()
        assert status(exc) == 431


def test_create_with_unknown_policy(m2):
    other = cid_from_name("acct", "x")
    with pytest.raises(Meta2Error) as exc:
        m2.container_create(other, "acct", "x", None,
                            {"sys.m2.policy.storage": "NOPE"})
    assert status(exc) == 480


def test_container_properties(m2):
    m2.container_set_properties(CID, {"color": "blue", "a": "1"},
                                {"sys.m2.quota": "10"})
    props = m2.container_properties(CID)
    assert props["user.color"] == "blue" and props["sys.m2.quota"] == "10"
    m2.container_set_properties(CID, {"z": "2", "a": "3"}, None, flush=True)
    props = m2.container_properties(CID)
    assert "user.color" not in props and props["user.z"] == "2"
    # Its event names the cleared properties too, as 7.2's does.
    kind, event = m2.events.events[-1]
    assert kind == "storage.container.update"
    assert event["data"]["properties"] == {"color": None, "a": "3", "z": "2"}
    m2.container_del_properties(CID, ["z"])
    assert "user.z" not in m2.container_properties(CID)
    with pytest.raises(Meta2Error) as exc:
        m2.container_set_properties(CID, {}, {})
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        m2.container_set_properties(CID, None, {"bad": "x"})
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        m2.container_set_properties(CID, {"k": 1}, None)
    assert status(exc) == 400


def test_destroy_non_empty_then_empty(m2):
    put(m2, "obj")
    with pytest.raises(Meta2Error) as exc:
        m2.container_destroy(CID)
    assert status(exc) == 438
    m2.content_delete(CID, "obj")
    m2.container_destroy(CID)
    with pytest.raises(Meta2Error) as exc:
        m2.container_properties(CID)
    assert status(exc) == 431
    assert m2.container_create(CID, "acct", "box")


def test_destroy_force(m2):
    put(m2, "obj")
    m2.container_destroy(CID, force=True)
    with pytest.raises(Meta2Error):
        m2.content_locate(CID, "obj")


def test_frozen_refuses_writes(m2):
    put(m2, "obj")
    m2.set_status(CID, 2**32 - 1)
    with pytest.raises(Meta2Error) as exc:
        put(m2, "other")
    assert status(exc) == 436
    assert m2.content_locate(CID, "obj").alias.name == "obj"
    with pytest.raises(Meta2Error) as exc:
        m2.set_status(CID, 2**32 - 1)
    assert status(exc) == 436
    m2.set_status(CID, 0)
    put(m2, "other")


def test_lru_eviction_keeps_working(tmp_path):
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(), max_open=2)
    cids = [cid_from_name("a", f"c{i}") for i in range(5)]
    for i, cid in enumerate(cids):
        svc.container_create(cid, "a", f"c{i}")
    for cid in cids:
        assert svc.container_properties(cid)["sys.m2.objects"] == "0"
    assert len(svc.bases._bases) == 2
    svc.close()


# -- objects and stats ----------------------------------------------------------
def test_create_locate_and_stats(m2):
    v = put(m2, "dir/obj", size=42, props={"color": "blue",
                                          "__OIO_CHUNK__http://r/1": "{}"})
    found = m2.content_locate(CID, "dir/obj")
    assert found.alias.version == v and found.header.size == 42
    assert found.header.hash == "B" * 32
    assert found.properties == {"color": "blue"}
    assert all(c.hash == "A" * 32 for c in found.chunks)
    assert admin(m2, "sys.m2.objects") == "1"
    assert admin(m2, "sys.m2.usage") == "42"
    assert admin(m2, "sys.m2.version") == "1"
    by_id = m2.content_locate(CID, content=found.alias.content.lower())
    assert by_id.alias.version == v


def test_missing_object_is_420(m2):
    with pytest.raises(Meta2Error) as exc:
        m2.content_locate(CID, "nope")
    assert status(exc) == 420
    put(m2, "obj", version=10)
    with pytest.raises(Meta2Error) as exc:
        m2.content_locate(CID, "obj", version=11)
    assert status(exc) == 420


@pytest.mark.parametrize("name", ["", "x" * 1024, "bad\udcff"])
def test_bad_names(m2, name):
    with pytest.raises(Meta2Error) as exc:
        put(m2, name)
    assert status(exc) == 400


def test_bad_chunks_and_headers(m2):
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", body_chunks=[{"url": "http://r/1", "pos": 0, "size": 1,
                                   "hash": "a" * 32}])
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", body_chunks=[{"url": "http://r/1", "pos": "0",
                                   "size": "1", "hash": "a" * 32}])
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", policy="NOPE")
    assert status(exc) == 480
    with pytest.raises(Meta2Error) as exc:
        m2.content_create(CID, "o", ContentMeta("AB", 1, None), {
            "chunks": chunks()})
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        m2.content_create(CID, "o", ContentMeta("XYZ", 1, 4), {
            "chunks": chunks()})
    assert status(exc) == 400


def test_chunk_set_broken_or_damaged(m2):
    # Too small for the declared size: irreparable.
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", size=10, body_chunks=chunks(size=4))
    assert status(exc) == 425
    # Metachunks 0 and 2 only.
    body = chunks(size=4, mc=3)
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", size=8, body_chunks=[body[0], body[2]])
    assert status(exc) == 425
    # Two copies out of three: accepted, counted as damaged.
    put(m2, "o", size=4, policy="THREECOPIES",
        body_chunks=chunks(size=4, copies=2))
    assert admin(m2, "sys.m2.objects.damaged") == "1"
    assert admin(m2, "sys.m2.chunks.missing") == "1"
    assert "storage.content.broken" in m2.events.types()
    m2.content_delete(CID, "o")
    assert admin(m2, "sys.m2.objects.damaged") == "0"
    assert admin(m2, "sys.m2.chunks.missing") == "0"


def test_ec_chunks(m2):
    put(m2, "ec", size=100, policy="EC21", body_chunks=chunks(size=100, ec=3))
    found = m2.content_locate(CID, "ec")
    assert [c.pos for c in found.chunks] == ["0.0", "0.1", "0.2"]
    with pytest.raises(Meta2Error) as exc:  # fewer than k fragments
        put(m2, "ec2", size=100, policy="EC21",
            body_chunks=chunks(size=100, ec=1))
    assert status(exc) == 425


# -- versioning ----------------------------------------------------------------
def test_versioning_off_overwrites(m2):
    put(m2, "o", version=10, size=4)
    put(m2, "o", version=20, size=6)
    assert [a.version for a in m2.bases.run(CID, lambda b: b.versions("o"))] \
        == [20]
    assert admin(m2, "sys.m2.objects") == "1"
    assert admin(m2, "sys.m2.usage") == "6"
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", version=20)
    assert status(exc) == 421
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", version=5)
    assert status(exc) == 424
    m2.content_delete(CID, "o")
    with pytest.raises(Meta2Error) as exc:
        m2.content_locate(CID, "o")
    assert status(exc) == 420


def test_ctime_inherited(m2):
    put(m2, "o", version=10)
    first = m2.content_locate(CID, "o").alias.ctime
    m2.bases.run(CID, lambda b: b.db.execute(
        "UPDATE aliases SET ctime=1 WHERE alias='o'"))
    put(m2, "o", version=20)
    assert m2.content_locate(CID, "o").alias.ctime == 1
    assert first > 1


def test_versioning_unlimited_and_markers(m2):
    m2.container_set_properties(CID, None, {"sys.m2.policy.version": "-1"})
    put(m2, "o", version=10)
    put(m2, "o", version=20)
    put(m2, "o", version=15)  # older versions are welcome
    assert admin(m2, "sys.m2.objects") == "3"
    m2.content_delete(CID, "o")
    with pytest.raises(Meta2Error) as exc:
        m2.content_locate(CID, "o")
    assert status(exc) == 426
    marker = m2.content_locate(CID, "o", deleted=True)
    assert marker.alias.deleted and marker.alias.version == 21
    assert marker.alias.content == DELETED_CONTENT_ID and marker.chunks == []
    # get_properties-like read of a marker works.
    assert m2.content_locate(CID, "o", chunks=False).alias.deleted
    assert m2.content_locate(CID, "o", version=20).alias.version == 20
    assert admin(m2, "sys.m2.objects") == "3"
    # A delete on a marker removes the marker.
    m2.content_delete(CID, "o")
    assert m2.content_locate(CID, "o").alias.version == 20
    # A precise version is really deleted.
    m2.content_delete(CID, "o", version=15)
    assert admin(m2, "sys.m2.objects") == "2"
    with pytest.raises(Meta2Error) as exc:
        m2.content_delete(CID, "o", version=15)
    assert status(exc) == 420


def test_delete_marker_flag(m2):
    put(m2, "o", version=10)
    with pytest.raises(Meta2Error) as exc:
        m2.content_delete(CID, "o", delete_marker=True)
    assert status(exc) == 400
    vers = Versioning(force=-1)
    m2.content_delete(CID, "o", version=10, delete_marker=True,
                      versioning=vers)
    assert admin(m2, "sys.m2.policy.version") == "-1"
    assert m2.content_locate(CID, "o", deleted=True).alias.version == 11
    with pytest.raises(Meta2Error) as exc:
        m2.content_delete(CID, "o", version=10, delete_marker=True)
    assert status(exc) == 421
    with pytest.raises(Meta2Error) as exc:
        m2.content_delete(CID, "o", delete_marker=True)
    assert status(exc) == 400


def test_simulate_versioning(m2):
    put(m2, "o", version=10)
    put(m2, "o", version=20, versioning=Versioning(simulate=True))
    assert len(m2.bases.run(CID, lambda b: b.versions("o"))) == 2
    assert "sys.m2.policy.version" not in m2.container_properties(CID)


def test_limited_versions_delete_exceeding(m2):
    m2.container_set_properties(CID, None, {
        "sys.m2.policy.version": "2",
        "sys.m2.policy.version.delete_exceeding": "1"})
    for v in (10, 20, 30):
        put(m2, "o", version=v)
    versions = m2.bases.run(CID, lambda b: b.versions("o"))
    assert [a.version for a in versions] == [30, 20]
    assert admin(m2, "sys.m2.objects") == "2"


def test_purge(m2):
    m2.container_set_properties(CID, None, {"sys.m2.policy.version": "-1"})
    for v in (10, 20, 30):
        put(m2, "o", version=v)
    m2.purge(CID, maxvers=1)
    assert [a.version for a in m2.bases.run(CID, lambda b: b.versions("o"))] \
        == [30]


def test_reused_content_id(m2):
    meta = ContentMeta("AB" * 16, 10, 4, None, "SINGLE")
    m2.content_create(CID, "a", meta, {"chunks": chunks()})
    meta = ContentMeta("AB" * 16, 10, 4, None, "SINGLE")
    with pytest.raises(Meta2Error) as exc:
        m2.content_create(CID, "b", meta, {"chunks": chunks()})
    assert status(exc) == 421


def test_version_arg_must_match(m2):
    with pytest.raises(Meta2Error) as exc:
        put(m2, "o", version=10, version_arg=11)
    assert status(exc) == 400


def test_append(m2):
    put(m2, "o", version=10, size=4)
    meta = ContentMeta(f"{next(_ids):032X}", 99, 3, None, "SINGLE")
    m2.content_create(CID, "o", meta, {"chunks": chunks(size=3)}, append=True)
    found = m2.content_locate(CID, "o")
    assert found.alias.version == 10 and found.header.size == 7
    assert [c.pos for c in found.chunks] == ["0", "1"]
    assert found.header.hash == ""
    assert admin(m2, "sys.m2.usage") == "7"


def _missing(m2):
    return (admin(m2, "sys.m2.objects.damaged"),
            admin(m2, "sys.m2.chunks.missing"))


def _append(m2, name, copies):
    meta = ContentMeta(f"{next(_ids):032X}", 99, 4, None, "THREECOPIES")
    m2.content_create(CID, name, meta, {"chunks": chunks(copies=copies)},
                      append=True)


def test_append_and_truncate_count_missing_chunks(m2):
    # As 7.2's container test_missing_chunks_append_truncate.
    three = {"policy": "THREECOPIES"}
    put(m2, "full", body_chunks=chunks(copies=3), **three)
    _append(m2, "full", copies=2)            # the appended metachunk lacks one
    assert _missing(m2) == ("1", "1")
    put(m2, "broken", body_chunks=chunks(copies=2), **three)
    _append(m2, "broken", copies=2)          # already damaged: one object
    assert _missing(m2) == ("2", "3")
    assert m2.content_locate(CID, "broken").header.missing == 2
    m2.content_truncate(CID, "full", 4)      # the damaged metachunk goes
    assert _missing(m2) == ("1", "2")
    m2.content_truncate(CID, "broken", 4)    # metachunk 0 still lacks one
    assert _missing(m2) == ("1", "1")
    m2.content_delete(CID, "broken")
    assert _missing(m2) == ("0", "0")


def test_policy_none_is_plain_whatever_the_default(tmp_path):
    # As 7.2: NONE names a plain policy, not the namespace's default (EC).
    ns_info = FakeNsInfo(storage_policy="EC21")
    del ns_info.policies["NONE"]
    svc = Meta2(str(tmp_path), "OPENIO", ns_info)
    svc.container_create(CID, "acct", "plain")
    try:
        put(svc, "o", policy="NONE")
        assert svc.content_locate(CID, "o").header.policy == "NONE"
        assert svc.get_policy(None).name == "EC21"
    finally:
        svc.close()


def test_change_policy(m2):
    put(m2, "o", version=10, size=4)
    old = m2.content_locate(CID, "o")
    meta = ContentMeta("CD" * 16, 10, 4, "b" * 32, "THREECOPIES")
    m2.content_create(CID, "o", meta, {"chunks": chunks(copies=3)},
                      change_policy=True)
    new = m2.content_locate(CID, "o")
    assert new.header.policy == "THREECOPIES" and new.alias.content == "CD" * 16
    assert len(new.chunks) == 3 and new.alias.mtime == old.alias.mtime
    meta = ContentMeta("EF" * 16, 10, 5, "b" * 32, "SINGLE")
    with pytest.raises(Meta2Error) as exc:
        m2.content_create(CID, "o", meta, {"chunks": chunks(size=5)},
                          change_policy=True)
    assert status(exc) == 400


def test_drain_and_truncate(m2):
    body = chunks(size=4, mc=3)
    put(m2, "t", version=10, size=12, body_chunks=body)
    with pytest.raises(Meta2Error) as exc:
        m2.content_truncate(CID, "t", 6)
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        m2.content_truncate(CID, "t", 20)
    assert status(exc) == 400
    m2.content_truncate(CID, "t", 8)
    found = m2.content_locate(CID, "t")
    assert found.header.size == 8 and len(found.chunks) == 2
    assert admin(m2, "sys.m2.usage") == "8"
    m2.content_drain(CID, "t")
    with pytest.raises(Meta2Error) as exc:
        m2.content_locate(CID, "t")
    assert status(exc) == 427
    assert m2.content_locate(CID, "t", chunks=False).header.chunk_method \
        == "drained"
    m2.container_destroy(CID)  # no chunk left: empty


# -- properties -------------------------------------------------------------------
def test_object_properties(m2):
    put(m2, "o", version=10, props={"a": "1", "b": "2"})
    m2.content_set_properties(CID, "o", {"c": "3", "a": None})
    assert m2.content_locate(CID, "o").properties == {"b": "2", "c": "3"}
    m2.content_set_properties(CID, "o", {"d": "4"}, flush=True)
    assert m2.content_locate(CID, "o").properties == {"d": "4"}
    m2.content_del_properties(CID, ["d"], "o")
    assert m2.content_locate(CID, "o").properties == {}
    m2.content_set_properties(CID, "o", {"x": "1", "y": "2"})
    m2.content_del_properties(CID, [], "o")
    assert m2.content_locate(CID, "o").properties == {}
    with pytest.raises(Meta2Error) as exc:
        m2.content_del_properties(CID, "x", "o")
    assert status(exc) == 400
    with pytest.raises(Meta2Error) as exc:
        m2.content_set_properties(CID, "nope", {"a": "b"})
    assert status(exc) == 420


def test_delete_many(m2):
    put(m2, "a")
    res = m2.content_delete_many(CID, ["a", "b"])
    assert res == [{"name": "a", "status": 204, "message": "ok"},
                   {"name": "b", "status": 420, "message": "Alias not found"}]


def test_flush(m2):
    for name in ("a", "b", "c"):
        put(m2, name)
    assert m2.container_flush(CID, limit=2)
    assert not m2.container_flush(CID, limit=2)
    assert admin(m2, "sys.m2.objects") == "0"
    assert admin(m2, "sys.m2.usage") == "0"


def test_flush_limit_from_the_namespace_conf(tmp_path):
    # meta2.flush_limit of sds.conf applies when the conscience has none.
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(),
                local_options={"meta2.flush_limit": "2"})
    svc.container_create(CID, "acct", "flushed")
    try:
        for name in ("a", "b", "c"):
            put(svc, name)
        assert svc.container_flush(CID)
        assert not svc.container_flush(CID)
    finally:
        svc.close()


def test_touch_recompute(m2):
    put(m2, "a", size=5)
    m2.bases.run(CID, lambda b: None)
    m2.container_set_properties(CID, None, {"sys.m2.usage": "999"})
    m2.container_touch(CID, recompute=True, damaged=2, missing=3)
    props = m2.container_properties(CID)
    assert props["sys.m2.usage"] == "5"
    assert props["sys.m2.objects.damaged"] == "2"
    assert props["sys.m2.chunks.missing"] == "3"


def test_prepare(m2):
    got = m2.content_prepare(CID, 10)
    assert got["policy"] == "SINGLE"
    assert got["chunk_method"] == "plain/nb_copy=1"
    assert got["chunk_size"] == 1024 * 1024
    m2.container_set_properties(CID, None,
                                {"sys.m2.policy.storage": "THREECOPIES"})
    assert m2.content_prepare(CID, 10)["policy"] == "THREECOPIES"
    assert m2.content_prepare(CID, 10, "EC21")["chunk_method"] == \
        "ec/algo=liberasurecode_rs_vand,k=2,m=1"
    with pytest.raises(Meta2Error) as exc:
        m2.content_prepare(CID, 10, "NOPE")
    assert status(exc) == 480


def test_events_go_through_the_notifier(m2):
    put(m2, "a")
    m2.content_set_properties(CID, "a", {"k": "v"})
    m2.content_delete(CID, "a")
    types = m2.events.types()
    assert types[0] == "storage.container.new"
    for kind in ("storage.content.new", "storage.content.update",
                 "storage.content.deleted", "storage.container.state"):
        assert kind in types
    deleted = next(p for t, p in m2.events.events
                   if t == "storage.content.deleted")
    assert deleted["url"]["path"] == "a"
    assert [b["type"] for b in deleted["data"]][:3] == [
        "aliases", "contents_headers", "chunks"]


# -- listing ----------------------------------------------------------------------
@pytest.fixture
def five(m2):
    for name in ("1/a", "1/b", "1/c", "2/d", "2/e"):
        put(m2, name)
    return m2


@pytest.mark.parametrize("kw, objs, prefixes, truncated, marker", [
    ({}, ["1/a", "1/b", "1/c", "2/d", "2/e"], [], False, None),
    ({"delimiter": "/"}, [], ["1/", "2/"], False, None),
    ({"delimiter": "/", "limit": 1}, [], ["1/"], True, "1/a"),
    ({"delimiter": "/", "limit": 1, "marker": "1/a"}, [], ["2/"], True, "2/d"),
    ({"delimiter": "/", "limit": 1, "marker": "1/"}, [], ["2/"], True, "2/d"),
    ({"limit": 2}, ["1/a", "1/b"], [], True, "1/b"),
    ({"limit": 5}, ["1/a", "1/b", "1/c", "2/d", "2/e"], [], False, "2/e"),
    ({"prefix": "2/"}, ["2/d", "2/e"], [], False, None),
    ({"prefix": "1/", "marker": "1/a"}, ["1/b", "1/c"], [], False, None),
    ({"end_marker": "1/c"}, ["1/a", "1/b"], [], False, None),
    ({"prefix": "1", "delimiter": "/"}, [], ["1/"], False, None),
])
def test_listing_examples(five, kw, objs, prefixes, truncated, marker):
    assert names(five, **kw) == (objs, prefixes, truncated, marker)


def test_listing_versions_and_deleted(m2):
    m2.container_set_properties(CID, None, {"sys.m2.policy.version": "-1"})
    put(m2, "a", version=10)
    put(m2, "a", version=20)
    put(m2, "b", version=10)
    m2.content_delete(CID, "b")
    assert names(m2)[0] == ["a"]
    res = m2.container_list(CID, ListParams(deleted=True))
    assert [(o["name"], o["deleted"]) for o in res.objects] == [
        ("a", False), ("b", True)]
    marker = res.objects[1]
    assert marker["id"] == DELETED_CONTENT_ID and marker["size"] is None
    assert marker["mime-type"].startswith("application/x-deleted")
    res = m2.container_list(CID, ListParams(all_versions=True))
    assert [(o["name"], o["version"]) for o in res.objects] == [
        ("a", 20), ("a", 10), ("b", 11), ("b", 10)]
    res = m2.container_list(CID, ListParams(all_versions=True, limit=1))
    assert res.truncated and res.next_marker == "a"


def test_listing_entry_shape_and_properties(m2):
    put(m2, "a", version=10, size=4, props={"k": "v"})
    put(m2, "b", version=10, size=4)
    res = m2.container_list(CID, ListParams(properties=True))
    entry = res.objects[0]
    assert list(entry) == ["name", "version", "ctime", "mtime", "deleted",
                           "id", "content", "policy", "chunk-method", "hash",
                           "size", "mime-type", "properties"]
    assert entry["properties"] == {"k": "v"} and entry["hash"] == "B" * 32
    assert "properties" not in res.objects[1]


def test_listing_many_pages(m2):
    wanted = sorted(f"d{i // 50}/o{i:04d}" for i in range(600))
    for name in wanted:
        put(m2, name)
    got, marker = [], ""
    while True:
        res = m2.container_list(CID, ListParams(limit=97, marker=marker))
        got += [o["name"] for o in res.objects]
        if not res.truncated:
            break
        marker = res.next_marker
    assert got == wanted
    res = m2.container_list(CID, ListParams(delimiter="/"))
    assert res.prefixes == sorted(f"d{i}/" for i in range(12))


def test_update_replaces_a_metachunk(m2):
    put(m2, "u", version=10, size=8, body_chunks=chunks(size=4, mc=2))
    found = m2.content_locate(CID, "u")
    new = [{"url": "http://r/NEW", "pos": "1", "size": 2, "hash": "c" * 32}]
    m2.content_update(CID, "u", ContentMeta(found.alias.content, 99, 6), new)
    after = m2.content_locate(CID, "u")
    assert after.header.size == 6 and after.header.hash == ""
    assert [(c.pos, c.id) for c in after.chunks][-1] == ("1", "http://r/NEW")
    assert len(after.chunks) == 2
    assert admin(m2, "sys.m2.usage") == "6"


def test_raw_update_on_frozen(m2):
    from oio.container.raw_beans import parse_raw_beans as parse_chunk_beans
    put(m2, "r", version=10)
    found = m2.content_locate(CID, "r")
    chunk = found.chunks[0]
    bean = {"type": "chunk", "id": chunk.id, "hash": chunk.hash,
            "size": chunk.size, "pos": "0", "content": found.alias.content}
    old = parse_chunk_beans([bean], 0)
    new = parse_chunk_beans([dict(bean, id="http://r/COPY")], 0)
    m2.set_status(CID, 2**32 - 1)
    with pytest.raises(Meta2Error) as exc:
        m2.raw_update(CID, old, new)
    assert status(exc) == 436
    m2.raw_update(CID, old, new, allow_frozen=True)
    assert [c.id for c in m2.content_locate(CID, "r").chunks] == [
        "http://r/COPY"]
    with pytest.raises(Meta2Error):
        parse_chunk_beans([dict(bean, size="1")], 0)


def test_content_events_are_split_as_7_2_does():
    from oio.container.meta2 import split_content_beans

    alias = {"type": "aliases", "name": "o"}
    header = {"type": "contents_headers", "chunk-method": "plain/nb_copy=3"}
    prop = {"type": "properties", "key": "k", "value": "v"}
    chunks = [{"type": "chunks", "id": f"http://r/{i}"} for i in range(40)]
    beans = [alias, header, *chunks, prop]
    # Without chunks: one event, chunk beans removed.
    assert split_content_beans("storage.content.new", beans) == [
        [alias, header, prop]]
    parts = split_content_beans("storage.content.deleted", beans)
    assert len(parts) == 1 + 3
    assert parts[0] == [alias, header, prop]
    assert [len(p) for p in parts[1:]] == [18, 18, 10]
    assert all(p[:2] == [alias, header] for p in parts[1:])
    assert [c for p in parts[1:] for c in p[2:]] == chunks
    small = [alias, header, *chunks[:3]]
    assert split_content_beans("storage.content.drained", small) == [small]


def test_big_deletion_events_fit_in_beanstalkd(m2):
    put(m2, "big", size=4 * 100, body_chunks=chunks(4, copies=3, mc=100))
    m2.content_delete(CID, "big")
    deleted = [p for t, p in m2.events.events
               if t == "storage.content.deleted"]
    assert len(deleted) == 1 + 300 // 16 + 1
    assert [p["part"] for p in deleted] == list(range(len(deleted)))
    assert {p["parts"] for p in deleted} == {len(deleted)}
    import json
    assert max(len(json.dumps(p)) for p in deleted) < 65535
    assert sum(1 for p in deleted for b in p["data"]
               if b["type"] == "chunks") == 300
