"""The election tree's layout (spec replication.md §3), the choice of
election types, where the namespace's ensembles come from, and the
multiRead answers we decode ourselves: no ZooKeeper needed."""

from __future__ import annotations

import hashlib
import struct

import pytest
from kazoo.exceptions import NoNodeError

from oio.zk import admin, layout
from oio.zk.client import CHILDREN, DATA, _MultiRead, zk_hosts

NS = "OPENIO"
CID = "0123456789ABCDEF" * 4


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest().upper()


# election keys and directories (§3.2) ---------------------------------------
@pytest.mark.parametrize("base, kind", [
    (NS, "meta0"), ("AB00", "meta1"), (f"{CID}.1", "meta2")])
def test_election_key_is_the_sha256_of_base_at_type(base, kind):
    key = layout.election_key(base, kind)
    assert key == sha(f"{base}@{kind}")
    assert len(key) == 64 and key == key.upper()


def test_election_dirs_use_the_digits_of_the_key_not_of_the_cid():
    key = layout.election_key(f"{CID}.1", "meta2")
    assert layout.election_dir(NS, "meta2", key) == \
        f"/hc/ns/{NS}/el/meta2/{key[:2]}/{key[2:4]}"
    assert key[:4] != CID[:4]  # so the test tells them apart
    key1 = layout.election_key("AB00", "meta1")
    assert layout.election_dir(NS, "meta1", key1) == \
        f"/hc/ns/{NS}/el/meta1/{key1[:3]}"
    assert layout.election_dir(NS, "meta0", "ANY") == f"/hc/ns/{NS}/el/meta0"


def test_meta0_registration_node():
    assert layout.meta0_node(NS, "127.0.0.1:6003") == \
        f"/hc/ns/{NS}/srv/meta0/{sha('127.0.0.1:6003@')}"


@pytest.mark.parametrize("name, parsed", [
    ("ABCD-0000000042", ("ABCD", 42)),
    ("AB-CD-0000000000", ("AB-CD", 0)),
    ("ABCD-42", None),             # ZooKeeper's sequences have 10 digits
    ("ABCD-00000000x2", None),
    ("-0000000001", None),
    ("ABCD", None),
])
def test_split_member(name, parsed):
    assert layout.split_member(name) == parsed


# the tree `openio zk bootstrap` creates (§3.1) -------------------------------
def test_bootstrap_dirs_count_and_order():
    dirs = list(layout.bootstrap_dirs(NS))
    root = f"/hc/ns/{NS}"
    # 6 roots + el/meta0 + el/meta1 and its 4096 + el/meta2, 256, 65536.
    assert len(dirs) == 6 + 1 + (1 + 16 ** 3) + (1 + 256 + 256 * 256) == 69897
    assert len(set(dirs)) == len(dirs)
    assert dirs[:6] == ["/hc", "/hc/ns", root, f"{root}/srv",
                        f"{root}/srv/meta0", f"{root}/el"]
    # Every parent comes before its children: one transaction can hold both.
    seen: set[str] = set()
    for path in dirs:
        parent = path.rsplit("/", 1)[0]
        assert parent in seen or path == "/hc"
        seen.add(path)
    assert f"{root}/el/meta1/FFF" in seen and f"{root}/el/meta1/1000" not in seen
    assert f"{root}/el/meta2/FF/FF" in seen and f"{root}/el/meta2/0" not in seen


def test_every_election_dir_is_created_by_bootstrap():
    dirs = set(layout.bootstrap_dirs(NS))
    for kind, base in (("meta0", NS), ("meta1", "AB00"),
                       ("meta2", f"{CID}.1")):
        key = layout.election_key(base, kind)
        assert layout.election_dir(NS, kind, key) in dirs


def test_leaf_dirs_are_the_election_dirs():
    leaves = {k: list(admin.leaf_dirs(NS, k)) for k in layout.ELECTION_TYPES}
    assert leaves["meta0"] == [f"/hc/ns/{NS}/el/meta0"]
    assert len(leaves["meta1"]) == 4096 and len(leaves["meta2"]) == 65536
    assert leaves["meta2"][0].endswith("/el/meta2/00/00")
    assert leaves["meta2"][-1].endswith("/el/meta2/FF/FF")
    assert leaves["meta2"] == sorted(leaves["meta2"])
    every = set(layout.bootstrap_dirs(NS))
    assert all(d in every for ds in leaves.values() for d in ds)


# choosing election types (§7.3: substrings of the argument) -------------------
@pytest.mark.parametrize("arg, kinds", [
    ("meta0", ("meta0",)), ("meta2", ("meta2",)),
    ("meta1,meta2", ("meta1", "meta2")), ("meta2 meta0", ("meta0", "meta2")),
    ("xmeta1x", ("meta1",)),
])
def test_select_types_by_substring(arg, kinds):
    assert admin.select_types(arg) == kinds


@pytest.mark.parametrize("arg", ["meta", "meta3", "rawx", ""])
def test_select_types_refuses_what_names_no_type(arg):
    with pytest.raises(ValueError, match="Unknown service type"):
        admin.select_types(arg)


def test_smart_reset_picks_older_duplicates_within_one_key():
    group = "/g"
    names = ["AAA-0000000001", "AAA-0000000002", "AAA-0000000003",
             "BBB-0000000001", "BBB-0000000002"]
    data = {f"{group}/{n}": (value, None) for n, value in zip(
        names, [b"s1", b"s2", b"s1", b"s1", b"s2"], strict=True)}
    # s1 twice in AAA; in BBB, s1 and s2 are different services.
    assert admin._duplicates(names, data, group) == ["AAA-0000000001"]


def test_error_text_names_the_usual_errors():
    assert admin.error_text(NoNodeError()) == "no node"
    assert admin.error_text(RuntimeError("boom")) == "boom"


# where the ensembles come from (§2.1) ----------------------------------------
def test_zk_hosts_from_the_namespace_configuration(tmp_path, monkeypatch):
    conf = tmp_path / "sds.conf"
    conf.write_text(
        "[NS1]\nproxy=127.0.0.1:1\n"
        "zookeeper=10.0.0.1:2181,10.0.0.2:2181;10.0.1.1:2181\n"
        "zookeeper.meta2=10.0.2.1:2181\n"
        "[NS2]\nproxy=127.0.0.1:1\n")
    monkeypatch.setenv("OIO_SDS_CONF", str(conf))
    assert zk_hosts("NS1") == ["10.0.0.1:2181,10.0.0.2:2181", "10.0.1.1:2181"]
    assert zk_hosts("NS1", "meta2") == ["10.0.2.1:2181"]
    assert zk_hosts("NS1", "meta1") == zk_hosts("NS1")
    assert zk_hosts("NS2") == []
    assert zk_hosts("NOPE") == []


# multiRead, which kazoo does not have ------------------------------------------
def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!i", len(raw)) + raw


def test_multiread_request_and_answer():
    from kazoo.protocol.serialization import GetChildren, GetData

    request = _MultiRead([GetChildren("/a", None), GetData("/a/b", None)])
    assert request.type == 22
    raw = bytes(request.serialize())
    assert raw == (struct.pack("!iBi", CHILDREN, 0, -1) + _string("/a")
                   + b"\0" + struct.pack("!iBi", DATA, 0, -1)
                   + _string("/a/b") + b"\0" + struct.pack("!iBi", -1, 1, -1))
    stat = struct.pack("!qqqqiiiqiiq", 1, 2, 3, 4, 5, 6, 7, 0, 9, 0, 11)
    answer = (b"junk" + struct.pack("!iBi", CHILDREN, 0, 0)
              + struct.pack("!i", 2) + _string("x") + _string("y")
              + struct.pack("!iBi", DATA, 0, 0) + _string("v1") + stat
              + struct.pack("!iBi", -1, 0, NoNodeError.code)
              + struct.pack("!i", NoNodeError.code)
              + struct.pack("!iBi", -1, 1, -1))
    children, (data, znode), missing = _MultiRead.deserialize(answer, 4)
    assert children == ["x", "y"]
    assert data == b"v1" and znode.data_length == 9 and znode.version == 5
    assert isinstance(missing, NoNodeError)


# batches, and their fallbacks, on a fake kazoo client ---------------------------
class _Answer:
    """What kazoo's async_result() gives, already settled or set later."""

    def __init__(self, value=None, exc=None):
        self.value, self.exc = value, exc

    def set(self, value):
        self.value = value

    def set_exception(self, exc):
        self.exc = exc

    def get(self, timeout=None):
        if self.exc is not None:
            raise self.exc
        return self.value


class _Txn:
    def __init__(self, zk):
        self.zk, self.ops = zk, []

    def create(self, path, value, acl):
        self.ops.append(("create", path, value))

    def delete(self, path):
        self.ops.append(("delete", path))

    def commit_async(self):
        from kazoo.exceptions import RolledBackError

        self.zk.transactions += 1
        answers, undo = [], []
        for op in self.ops:
            data = self.zk.nodes.get(op[1])
            answers.append(self.zk.apply(op))
            if isinstance(answers[-1], Exception):
                break
            undo.append(("delete", op[1]) if op[0] == "create"
                        else ("create", op[1], data))
        failed = answers[-1] if answers and isinstance(
            answers[-1], Exception) else None
        if failed is not None:  # all or nothing
            for op in reversed(undo):
                self.zk.apply(op)
            answers += [RolledBackError()] * (len(self.ops) - len(answers))
            answers = [a if a is failed else RolledBackError()
                       for a in answers]
        return _Answer(answers)


class FakeZk:
    """Nodes in a dict; multiRead optional, as on servers before 3.6."""

    chroot = None

    def __init__(self, paths, multiread=True):
        from types import SimpleNamespace

        self.nodes: dict[str, bytes] = {"/": b""}
        self.kids: dict[str, set[str]] = {"/": set()}
        for path in paths:
            self.apply(("create", path, b""))
        self.multiread = multiread
        self.transactions = self.single = 0
        self.handler = SimpleNamespace(async_result=_Answer)

    def _children(self, path):
        if path not in self.nodes:
            return NoNodeError()
        return sorted(self.kids[path])

    def exists(self, path):
        return None if path not in self.nodes else self._data(path)[1]

    def _data(self, path):
        from kazoo.protocol.states import ZnodeStat

        if path not in self.nodes:
            return NoNodeError()
        data = self.nodes[path]
        return data, ZnodeStat(0, 0, 0, 0, 0, 0, 0, 0, len(data), 0, 0)

    def apply(self, op):
        from kazoo.exceptions import NodeExistsError, NotEmptyError

        path = op[1]
        parent, _, name = path.rpartition("/")
        parent = parent or "/"
        if op[0] == "create":
            if path in self.nodes:
                return NodeExistsError()
            if parent not in self.nodes:
                return NoNodeError()
            self.nodes[path] = op[2]
            self.kids[path] = set()
            self.kids[parent].add(name)
            return path
        if path not in self.nodes:
            return NoNodeError()
        if self.kids[path]:
            return NotEmptyError()
        del self.nodes[path], self.kids[path]
        self.kids[parent].discard(name)
        return True

    def _call(self, request, pending):
        from kazoo.exceptions import UnimplementedError

        if not self.multiread:
            pending.set_exception(UnimplementedError())
            return
        pending.set([self._children(op.path) if op.type == CHILDREN
                     else self._data(op.path) for op in request.operations])

    def _single(self, answer):
        self.single += 1
        if isinstance(answer, Exception):
            return _Answer(exc=answer)
        return _Answer(answer)

    def get_children_async(self, path):
        return self._single(self._children(path))

    def get_async(self, path):
        return self._single(self._data(path))

    def create_async(self, path, value, acl):
        return self._single(self.apply(("create", path, value)))

    def delete_async(self, path):
        return self._single(self.apply(("delete", path)))

    def transaction(self):
        return _Txn(self)


@pytest.mark.parametrize("multiread", [True, False])
def test_read_many_in_batches_or_node_by_node(multiread):
    from oio.zk.client import read_many

    zk = FakeZk(["/a", "/a/b", "/a/c"], multiread=multiread)
    reads = [(CHILDREN, "/a"), (DATA, "/a/b"), (CHILDREN, "/x")] * 700
    answers = read_many(zk, reads, batch=64)
    assert len(answers) == len(reads)
    assert sorted(answers[0]) == ["b", "c"]
    assert answers[1][0] == b"" and isinstance(answers[2], NoNodeError)
    assert zk.single == (0 if multiread else len(reads))


def test_write_many_redoes_a_failed_transaction_node_by_node():
    from kazoo.exceptions import NodeExistsError

    from oio.zk.client import write_many

    zk = FakeZk(["/a", "/a/3"])
    writes = [("create", f"/a/{i}", b"x") for i in range(10)]
    answers = write_many(zk, writes, batch=4)
    # Batches 0-3 (fails on /a/3, redone node by node), 4-7, 8-9.
    assert zk.transactions == 3 and zk.single == 4
    assert [isinstance(a, NodeExistsError) for a in answers] == \
        [i == 3 for i in range(10)]
    assert all(f"/a/{i}" in zk.nodes for i in range(10))


def test_admin_commands_on_the_fake():
    zk = FakeZk([])
    result = admin.bootstrap(zk, NS)
    assert (result.created, result.existing, result.failed) == (69897, 0, [])
    group = f"/hc/ns/{NS}/el/meta2/12/34"
    for i, peer in enumerate((b"p1", b"p2", b"p1")):
        zk.apply(("create", f"{group}/1234AB-{i:010d}", peer))
    assert admin.stat(zk, NS, ("meta2",)).rows == [
        (group, f"1234AB-{i:010d}", 2, repr(p))
        for i, p in enumerate(("p1", "p2", "p1"))]
    smudged = admin.smudge(zk, NS, ("meta1", "meta2"), "v").rows
    assert smudged == [(group, "1234AB-0000000003", "OK")]
    smart = admin.reset(zk, NS, ("meta2",), smart=True).rows
    assert smart == [(group, "1234AB-0000000000", "Deleted")]
    assert admin.reset(zk, NS, ("meta2",), min_services=4).rows == [
        (group, f"1234AB-{i:010d}", "Too few nodes") for i in (1, 2, 3)]
    again = admin.bootstrap(zk, NS, lazy=True)
    assert again.skipped and again.created == 0
    deleted, failed = admin.armageddon(zk, NS)
    assert (deleted, failed) == (69894 + 3, [])
    assert list(zk.nodes) == ["/", "/hc", "/hc/ns", f"/hc/ns/{NS}"]
