"""meta0 and meta1 logic on real SQLite files."""

import pytest

from oio.common.utils import cid_from_name
from oio.directory.errors import DirectoryError
from oio.directory.meta0 import NB_PREFIXES, Meta0
from oio.directory.meta1 import Meta1

CID = cid_from_name("acct", "ref")


def test_meta0_init_spreads_and_persists(tmp_path):
    meta0 = Meta0(str(tmp_path), meta1_digits=2)
    meta0.init(["127.0.0.1:2", "127.0.0.1:1"], replicas=1)
    mapping = meta0.list()
    assert len(mapping) == NB_PREFIXES
    # prefixes sharing their first 2 digits share their meta1
    assert mapping["AB00"] == mapping["ABFF"]
    assert {a for v in mapping.values() for a in v} == {"127.0.0.1:1",
                                                        "127.0.0.1:2"}
    with pytest.raises(DirectoryError) as err:
        meta0.init(["127.0.0.1:3"])
    assert err.value.http_status == 409
    meta0.force({"abcd": ["127.0.0.1:9"]})
    meta0.close()
    again = Meta0(str(tmp_path))
    assert again.get("ABCD") == ["127.0.0.1:9"] and again.initialized


@pytest.mark.parametrize("call", [
    lambda m: m.init([]), lambda m: m.init(["x:1"], replicas=2),
    lambda m: m.force({"XYZ": ["a:1"]}), lambda m: m.force({"ABCD": []}),
    lambda m: m.get("../.."),
])
def test_meta0_bad_input(tmp_path, call):
    with pytest.raises(DirectoryError) as err:
        call(Meta0(str(tmp_path)))
    assert err.value.http_status == 400


def test_meta1_reference_lifecycle(tmp_path):
    meta1 = Meta1(str(tmp_path), meta1_digits=2)
    assert meta1.create(CID, "acct", "ref", {"k": "v"}) is True
    assert meta1.create(CID.lower(), "acct", "ref") is False
    entry = {"seq": 1, "type": "meta2", "host": "127.0.0.1:6005", "args": ""}
    assert meta1.link(CID, "meta2", [entry]) == [entry]
    other = dict(entry, host="127.0.0.1:9")
    assert meta1.link(CID, "meta2", [other]) == [entry]   # keeps the existing
    shown = meta1.show(CID)
    assert (shown["account"], shown["name"], shown["srv"]) == ("acct", "ref",
                                                               [entry])
    with pytest.raises(DirectoryError) as err:
        meta1.force(CID, "meta2", other)
    assert err.value.status == 455
    meta1.force(CID, "meta2", other, replace=True)
    assert meta1.show(CID, "meta2")["srv"] == [other]
    with pytest.raises(DirectoryError) as err:
        meta1.destroy(CID)
    assert (err.value.http_status, err.value.status) == (403, 407)
    assert meta1.get_properties(CID) == {"k": "v"}
    meta1.set_properties(CID, {"a": "1", "k": None})
    assert meta1.get_properties(CID) == {"a": "1"}
    meta1.del_properties(CID, [])
    assert meta1.get_properties(CID) == {}
    assert meta1.list(CID[:4]) == [{"cid": CID, "account": "acct",
                                    "name": "ref"}]
    meta1.unlink(CID, "meta2")
    meta1.destroy(CID)
    with pytest.raises(DirectoryError) as err:
        meta1.show(CID)
    assert (err.value.http_status, err.value.status) == (404, 406)


@pytest.mark.parametrize("cid, account, name", [
    ("nothex", "acct", "ref"), ("../" * 20, "acct", "ref"),
    (CID, "", "ref"), (CID, "acct", "x" * 1024), (CID, "other", "ref"),
])
def test_meta1_create_validates(tmp_path, cid, account, name):
    with pytest.raises(DirectoryError) as err:
        Meta1(str(tmp_path)).create(cid, account, name)
    assert err.value.http_status == 400
