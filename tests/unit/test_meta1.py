"""meta1's references, services and properties on real SQLite files."""

import os
import threading

import pytest

from oio.common.utils import cid_from_name
from oio.directory.errors import DirectoryError
from oio.directory.meta1 import Meta1

CID = cid_from_name("acct", "ref")
M2 = {"seq": 1, "type": "meta2", "host": "127.0.0.1:6005", "args": ""}


def error_of(call) -> tuple[int, int]:
    with pytest.raises(DirectoryError) as err:
        call()
    return err.value.http_status, err.value.status


@pytest.fixture
def meta1(tmp_path):
    m1 = Meta1(str(tmp_path), meta1_digits=2)
    yield m1
    m1.close()


@pytest.fixture
def ref(meta1):
    assert meta1.create(CID, "acct", "ref") is True
    return meta1


def test_reference_lifecycle(meta1):
    assert meta1.create(CID.lower(), "acct", "ref", {"k": "v"}) is True
    assert meta1.create(CID, "acct", "ref", {"k": "other"}) is False
    assert meta1.show(CID.lower()) == {"cid": CID, "account": "acct",
                                       "name": "ref", "srv": []}
    assert meta1.get_properties(CID) == {"k": "v"}
    assert meta1.link(CID, "meta2", [M2]) == [M2]
    assert error_of(lambda: meta1.destroy(CID)) == (403, 407)
    meta1.unlink(CID, "meta2")
    meta1.destroy(CID)
    assert error_of(lambda: meta1.show(CID)) == (404, 406)
    # a new reference under the same CID starts clean
    assert meta1.create(CID, "acct", "ref") is True
    assert meta1.get_properties(CID) == {}


def test_destroy_force_drops_everything(ref):
    ref.link(CID, "meta2", [M2])
    ref.set_properties(CID, {"a": "1"})
    ref.destroy(CID, force=True)
    ref.create(CID, "acct", "ref")
    assert ref.show(CID)["srv"] == [] and ref.get_properties(CID) == {}


def test_link_keeps_what_is_linked(ref):
    replicas = dict(M2, host="127.0.0.1:1,127.0.0.1:2")
    linked = ref.link(CID, "meta2", [replicas])
    assert [e["host"] for e in linked] == ["127.0.0.1:1", "127.0.0.1:2"]
    assert ref.link(CID, "meta2", [M2]) == linked      # candidates ignored
    rdir = {"seq": 1, "type": "rdir", "host": "OPENIO-rdir-1", "args": "x"}
    assert ref.link(CID, "rdir", rdir) == [rdir]
    assert ref.show(CID, "rdir")["srv"] == [rdir]
    assert len(ref.show(CID)["srv"]) == 3


def test_concurrent_links_converge(ref):
    results, barrier = [], threading.Barrier(8)

    def link(n):
        barrier.wait()
        results.append(ref.link(CID, "meta2", [dict(M2, host=f"10.0.0.{n}:1")]))

    threads = [threading.Thread(target=link, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert len(results[0]) == 1


def test_force_and_replace(ref):
    ref.force(CID, "meta2", M2)
    other = dict(M2, seq=2, host="127.0.0.1:9,127.0.0.1:10")
    assert error_of(lambda: ref.force(CID, "meta2", other)) == (409, 455)
    ref.force(CID, "meta2", other, replace=True)
    assert [(e["seq"], e["host"]) for e in ref.show(CID, "meta2")["srv"]] == [
        (2, "127.0.0.1:10"), (2, "127.0.0.1:9")]
    ref.unlink(CID, "meta2")
    ref.unlink(CID, "meta2")      # nothing linked: not an error
    assert ref.show(CID)["srv"] == []


def test_properties(ref):
    ref.set_properties(CID, {"a": "1", "b": "2", "c": "3"})
    assert ref.get_properties(CID, ["a", "zz"]) == {"a": "1"}
    assert ref.get_properties(CID, []) == {"a": "1", "b": "2", "c": "3"}
    ref.set_properties(CID, {"a": "", "b": None, "d": "4"})
    assert ref.get_properties(CID) == {"c": "3", "d": "4"}
    ref.set_properties(CID, {"e": "5"}, flush=True)
    assert ref.get_properties(CID) == {"e": "5"}
    ref.set_properties(CID, {"f": "6"})
    ref.del_properties(CID, ["e", "missing"])
    assert ref.get_properties(CID) == {"f": "6"}
    ref.del_properties(CID, None)
    assert ref.get_properties(CID) == {}


def test_list_by_prefix(meta1):
    names = [f"c{i}" for i in range(40)]
    for name in names:
        meta1.create(cid_from_name("a", name), "a", name)
    prefix = CID[:4]
    meta1.create(CID, "acct", "ref")
    listed = meta1.list(prefix)
    assert {"cid": CID, "account": "acct", "name": "ref"} in listed
    assert all(e["cid"].startswith(prefix) for e in listed)
    everything = [e for p in {cid_from_name("a", n)[:4] for n in names}
                  for e in meta1.list(p)]
    assert sorted(e["name"] for e in everything if e["account"] == "a") == \
        sorted(names)
    first = cid_from_name("a", "c0")
    assert meta1.list(first[:4].lower(), limit=1) == [
        {"cid": first, "account": "a", "name": "c0"}]
    assert meta1.list(first[:4], marker=first) == [
        e for e in meta1.list(first[:4]) if e["cid"] > first]
    assert meta1.list("0000") == [] or all(
        e["cid"].startswith("0000") for e in meta1.list("0000"))


def test_one_base_per_group_and_eviction(tmp_path):
    meta1 = Meta1(str(tmp_path), meta1_digits=2, max_open=2)
    cids = {}
    for n in range(12):
        cid = cid_from_name("a", f"n{n}")
        cids[cid] = f"n{n}"
        meta1.create(cid, "a", f"n{n}", {"n": str(n)})
    groups = {c[:2] for c in cids}
    files = {f for f in os.listdir(tmp_path) if f.endswith(".db")}
    assert files == {f"meta1-{g}.db" for g in groups}
    for cid, name in cids.items():      # reopened after eviction
        assert meta1.show(cid)["name"] == name
    meta1.close()
    again = Meta1(str(tmp_path), meta1_digits=2)
    assert all(again.get_properties(c) == {"n": n[1:]} for c, n in cids.items())


@pytest.mark.parametrize("call", [
    lambda m: m.show(CID), lambda m: m.destroy(CID),
    lambda m: m.link(CID, "meta2", [M2]), lambda m: m.force(CID, "meta2", M2),
    lambda m: m.unlink(CID, "meta2"), lambda m: m.get_properties(CID),
    lambda m: m.set_properties(CID, {"a": "b"}),
    lambda m: m.del_properties(CID, []),
])
def test_unknown_reference(meta1, call):
    assert error_of(lambda: call(meta1)) == (404, 406)


@pytest.mark.parametrize("cid, account, name", [
    ("nothex", "acct", "ref"), ("../" * 20, "acct", "ref"), (None, "a", "r"),
    (CID + "0", "acct", "ref"), ("G" * 64, "acct", "ref"),
    (CID, "", "ref"), (CID, "acct", None), (CID, "acct", "x" * 1024),
    (CID, "other", "ref"), (CID, "a", "\udcff"),
])
def test_create_validates(meta1, cid, account, name):
    assert error_of(lambda: meta1.create(cid, account, name)) == (400, 400)


@pytest.mark.parametrize("call", [
    lambda m: m.create(CID, "acct", "ref", {"k": 1}),
    lambda m: m.create(CID, "acct", "ref", ["k"]),
    lambda m: m.show(CID, "../x"),
    lambda m: m.show(CID, ""),
    lambda m: m.link(CID, "meta2", []),
    lambda m: m.link(CID, "meta2", None),
    lambda m: m.link(CID, "t" * 32, [M2]),
    lambda m: m.link(CID, "meta2", [dict(M2, type="rawx")]),
    lambda m: m.link(CID, "meta2", [dict(M2, seq=True)]),
    lambda m: m.link(CID, "meta2", [dict(M2, seq="1")]),
    lambda m: m.link(CID, "meta2", [dict(M2, seq=-1)]),
    lambda m: m.link(CID, "meta2", [dict(M2, host="a b:1")]),
    lambda m: m.link(CID, "meta2", [dict(M2, host="a:1,")]),
    lambda m: m.link(CID, "meta2", [dict(M2, host=None)]),
    lambda m: m.link(CID, "meta2", [dict(M2, args=3)]),
    lambda m: m.link(CID, "meta2", ["127.0.0.1:1"]),
    lambda m: m.force(CID, "meta2", "127.0.0.1:1"),
    lambda m: m.set_properties(CID, {"k": 1}),
    lambda m: m.set_properties(CID, {"": "v"}),
    lambda m: m.set_properties(CID, {"k": "\ud800"}),
    lambda m: m.get_properties(CID, "k"),
    lambda m: m.del_properties(CID, [1]),
    lambda m: m.del_properties(CID, {"k": "v"}),
])
def test_bad_input(ref, call):
    assert error_of(lambda: call(ref)) == (400, 400)


def test_eviction_under_concurrent_use(tmp_path):
    """Threads on many groups with 2 open bases at most: no operation sees
    a closed base, every link converges."""
    meta1 = Meta1(str(tmp_path), meta1_digits=2, max_open=2)
    cids = [cid_from_name("a", f"n{n}") for n in range(16)]
    for n, cid in enumerate(cids):
        meta1.create(cid, "a", f"n{n}")
    errors, barrier = [], threading.Barrier(6)

    def work(t):
        barrier.wait()
        try:
            for cid in cids * 2:
                meta1.link(cid, "meta2", [dict(M2, host=f"10.0.0.{t}:1")])
                meta1.set_properties(cid, {f"t{t}": "x"})
        except Exception as exc:   # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for cid in cids:
        assert len(meta1.show(cid)["srv"]) == 1
        assert len(meta1.get_properties(cid)) == 6


def test_service_changes_are_announced(tmp_path):
    from oio.container.events import RecordingNotifier

    events = RecordingNotifier()
    m1 = Meta1(str(tmp_path), meta1_digits=2, namespace="NS", events=events)
    try:
        m1.create(CID, "acct", "ref")
        m1.link(CID, "meta2", [M2])
        m1.link(CID, "meta2", [dict(M2, host="127.0.0.1:7000")])  # no change
        m1.unlink(CID, "meta2")
        m1.unlink(CID, "meta2")                                  # no change
        m1.force(CID, "meta2", M2)
        m1.create(CID, "acct", "ref")                             # existed
        # The creation is announced too, as 7.2 does (the account service
        # then knows the account).
        assert events.types() == ["account.services"] * 4
        created, first, unlinked, forced = (e[1] for e in events.events)
        assert created["data"] == []
        assert created["url"] == first["url"] == {
            "ns": "NS", "account": "acct", "user": "ref", "id": CID}
        assert first["data"] == [M2] and forced["data"] == [M2]
        assert unlinked["data"] == []
        assert first["when"] > 10**15                      # microseconds
    finally:
        m1.close()


def test_a_creation_followed_by_a_link_is_announced_once(tmp_path):
    """The proxy creates a container's reference then links its meta2:
    one `account.services` event, as 7.2's single create-and-link."""
    from oio.container.events import RecordingNotifier

    events = RecordingNotifier()
    m1 = Meta1(str(tmp_path), meta1_digits=2, namespace="NS", events=events)
    try:
        assert m1.create(CID, "acct", "ref", announce=False)
        m1.link(CID, "meta2", [M2])
        assert [e[1]["data"] for e in events.events] == [[M2]]
    finally:
        m1.close()


def test_properties_of_a_mebibyte_as_7_2(tmp_path):
    """7.2 keeps reference properties whose key or value is 1 MiB."""
    m1 = Meta1(str(tmp_path), meta1_digits=2)
    try:
        m1.create(CID, "acct", "ref")
        big = "k" * (1 << 20)
        m1.set_properties(CID, {big: "v", "key": "w" * (1 << 20)})
        props = m1.get_properties(CID)
        assert props[big] == "v" and len(props["key"]) == 1 << 20
        with pytest.raises(DirectoryError, match="Invalid property name"):
            m1.set_properties(CID, {"": "v"})
    finally:
        m1.close()
