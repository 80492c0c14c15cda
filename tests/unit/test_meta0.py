"""meta0's prefix map on a real SQLite file."""

import json
import sqlite3

import pytest

from oio.directory.errors import DirectoryError
from oio.directory.meta0 import NB_PREFIXES, Meta0

A, B, C = "127.0.0.1:6001", "127.0.0.1:6002", "[::1]:6003"


def error_of(call) -> tuple[int, int]:
    with pytest.raises(DirectoryError) as err:
        call()
    return err.value.http_status, err.value.status


@pytest.mark.parametrize("digits, same, other", [
    (2, ("AB00", "ABFF"), "AC00"),
    (4, ("ABCD", "ABCD"), "ABCE"),
    (0, ("0000", "FFFF"), None),
])
def test_init_spreads_prefix_groups(tmp_path, digits, same, other):
    meta0 = Meta0(str(tmp_path), meta1_digits=digits)
    meta0.init([B, A, A], replicas=1)          # duplicates are ignored
    mapping = meta0.list()
    assert meta0.initialized and len(mapping) == NB_PREFIXES
    assert mapping[same[0]] == mapping[same[1]]
    if other:
        assert mapping[other] != mapping[same[0]]
        assert {a for v in mapping.values() for a in v} == {A, B}


def test_init_replicas_are_distinct_and_consecutive(tmp_path):
    meta0 = Meta0(str(tmp_path), meta1_digits=4)
    meta0.init([A, B, C], replicas=2)
    for addrs in (meta0.get("0000"), meta0.get("0001"), meta0.get("FFFF")):
        assert len(addrs) == len(set(addrs)) == 2
    # Consecutive, host by host in turn: distinct hosts first.
    assert meta0.get("0000") == ["127.0.0.1:6001", C]


def test_double_init_needs_force(tmp_path):
    meta0 = Meta0(str(tmp_path))
    meta0.init([A])
    assert error_of(lambda: meta0.init([B])) == (409, 433)
    assert meta0.get("1234") == [A]
    meta0.init([B], force=True)
    assert meta0.get("1234") == [B]


def test_force_and_persistence(tmp_path):
    meta0 = Meta0(str(tmp_path), meta1_digits=2)
    meta0.force({"abcd": [C]})                  # before init: partial map
    assert not meta0.initialized and meta0.get("ABCD") == [C]
    assert meta0.get("0000") is None
    meta0.init([A], force=True)
    meta0.force({"ABCD": [B, A]})
    meta0.close()
    again = Meta0(str(tmp_path))
    assert again.initialized and again.get("abcd") == [B, A]
    assert again.get("ABCE") == [A]
    # WAL journal, one row per prefix
    db = sqlite3.connect(again.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM prefixes").fetchone()[0] == NB_PREFIXES


def test_encoded_list_follows_changes(tmp_path):
    meta0 = Meta0(str(tmp_path))
    meta0.init([A])
    first = meta0.encoded_list()
    assert meta0.encoded_list() is first           # encoded once
    meta0.force({"0000": [B]})
    decoded = json.loads(meta0.encoded_list())
    assert decoded["0000"] == [B] and decoded["0001"] == [A]


@pytest.mark.parametrize("call", [
    lambda m: m.init([]),
    lambda m: m.init("127.0.0.1:1"),
    lambda m: m.init(None),
    lambda m: m.init([A], replicas=2),
    lambda m: m.init([A], replicas=0),
    lambda m: m.init([A], replicas=True),
    lambda m: m.init(["127.0.0.1"]),
    lambda m: m.init(["127.0.0.1:0"]),
    lambda m: m.init(["127.0.0.1:70000"]),
    lambda m: m.init(["a b:1"]),
    lambda m: m.init([":6000"]),
    lambda m: m.init([42]),
    lambda m: m.force({}),
    lambda m: m.force([]),
    lambda m: m.force({"XYZ": [A]}),
    lambda m: m.force({"GGGG": [A]}),
    lambda m: m.force({"ABCD": []}),
    lambda m: m.force({"ABCD": A}),
    lambda m: m.force({"ABCD": ["nope"]}),
    lambda m: m.get("../.."),
    lambda m: m.get(None),
    lambda m: m.get("12345"),
])
def test_bad_input(tmp_path, call):
    meta0 = Meta0(str(tmp_path))
    assert error_of(lambda: call(meta0)) == (400, 400)


def test_failed_force_writes_nothing(tmp_path):
    meta0 = Meta0(str(tmp_path))
    meta0.init([A])
    with pytest.raises(DirectoryError):
        meta0.force({"0000": [B], "0001": ["bad"]})
    assert meta0.get("0000") == [A]


def test_reads_bases_of_the_json_format(tmp_path):
    Meta0(str(tmp_path)).close()
    db = sqlite3.connect(tmp_path / "meta0.db")
    db.execute("INSERT INTO prefixes VALUES ('0000', ?)", (json.dumps([A, B]),))
    db.commit()
    db.close()
    assert Meta0(str(tmp_path)).get("0000") == [A, B]


def test_init_puts_the_replicas_of_a_base_on_distinct_hosts(tmp_path):
    from oio.directory.meta0 import Meta0

    meta0 = Meta0(str(tmp_path), meta1_digits=2)
    addrs = [f"10.0.0.{h}:{p}" for h in (1, 2, 3) for p in (6005, 6006)]
    mapping = meta0.spread(addrs, replicas=3)
    for replicas in mapping.values():
        assert len({a.rsplit(":", 1)[0] for a in replicas}) == 3
    # Every service takes its share of the bases.
    counts = {a: 0 for a in addrs}
    for prefix, replicas in mapping.items():
        if prefix.endswith("00"):
            for addr in replicas:
                counts[addr] += 1
    assert max(counts.values()) - min(counts.values()) <= 2
