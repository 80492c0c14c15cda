"""The replication log inside a base: changes recorded, replayed, refused."""

from __future__ import annotations

import sqlite3

import pytest

from oio.sqlx import changes
from oio.sqlx import log as repli_log
from oio.sqlx.log import Behind, Diverged, Entry, Position
from oio.sqlx.promises import Promises


def base() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    repli_log.ensure(db)
    return db


def write(db, epoch: int, *pairs) -> Entry:
    """A master's transaction: record, log, commit."""
    db.execute("BEGIN IMMEDIATE")
    rec = changes.Recorder(db)
    for k, v in pairs:
        rec.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (k, v))
        rec.execute("SELECT v FROM kv WHERE k = ?", (k,))   # not recorded
    blob = changes.encode(rec.take())
    pos = repli_log.append(db, Position(epoch, 0), blob)
    db.execute("COMMIT")
    return Entry(pos.version, pos.epoch, blob)


def apply(db, prev: Position, entries: list[Entry]) -> Position:
    db.execute("BEGIN IMMEDIATE")
    try:
        pos = repli_log.apply(db, prev, entries)
        db.execute("COMMIT")
        return pos
    except BaseException:
        db.execute("ROLLBACK")
        raise


def content(db) -> list:
    return db.execute("SELECT k, v FROM kv ORDER BY k").fetchall()


def test_recorder_keeps_writes_only_and_follows_savepoints():
    db = base()
    rec = changes.Recorder(db)
    rec.execute("INSERT INTO kv VALUES ('a', '1')")
    mark = rec.mark()
    rec.executemany("INSERT INTO kv VALUES (?, ?)", [("b", "2"), ("c", "3")])
    rec.execute("SELECT * FROM kv")
    rec.rewind(mark)
    assert [sql for sql, _ in rec.statements] == ["INSERT INTO kv VALUES ('a', '1')"]


def test_encode_decode_round_trip_shares_sql_texts():
    statements = [("INSERT INTO kv VALUES (?, ?)", ("a", "1")),
                  ("INSERT INTO kv VALUES (?, ?)", ("b", None)),
                  ("DELETE FROM kv WHERE k = ?", ("c",))]
    blob = changes.encode(statements)
    assert blob.count(b"INSERT") == 1
    assert changes.decode(blob) == statements
    with pytest.raises(ValueError):
        changes.decode(b'{"q": [], "o": [[3, []]]}')
    with pytest.raises(ValueError):
        changes.decode(b"not json")


def test_replay_refuses_anything_but_data_changes():
    db = base()
    for sql in ("ATTACH DATABASE '/tmp/x' AS x", "PRAGMA journal_mode=OFF",
                "DROP TABLE kv", "SELECT 1"):
        with pytest.raises(ValueError):
            changes.replay(db, [(sql, ())])
    changes.replay(db, [("  insert into kv values (?, ?)", ("k", "v"))])
    assert content(db) == [("k", "v")]


def test_a_replica_replays_the_masters_changes_to_the_same_state():
    master, replica = base(), base()
    e1 = write(master, 7, ("a", "1"), ("b", "2"))
    e2 = write(master, 7, ("a", "3"))
    assert (e1.version, e2.version) == (1, 2)
    pos = apply(replica, Position(), [e1, e2])
    assert pos == Position(7, 2) == repli_log.position(master)
    assert content(replica) == content(master) == [("a", "3"), ("b", "2")]
    # A resent batch is skipped, not applied twice.
    assert apply(replica, Position(), [e1, e2]) == Position(7, 2)


def test_a_replica_behind_or_diverged_refuses_and_changes_nothing():
    master, replica = base(), base()
    e1 = write(master, 7, ("a", "1"))
    e2 = write(master, 7, ("b", "2"))
    with pytest.raises(Behind):
        apply(replica, Position(7, 1), [e2])
    assert content(replica) == []
    # Another master's change 1 (another epoch): diverged.
    other = base()
    write(other, 5, ("z", "9"))
    apply(replica, Position(), [Entry(1, 5, write_blob(("z", "9")))])
    with pytest.raises(Diverged):
        apply(replica, Position(7, 1), [e2])
    with pytest.raises(Diverged):
        apply(replica, Position(), [e1])
    assert content(replica) == [("z", "9")]


def write_blob(*pairs) -> bytes:
    return changes.encode([("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)",
                            p) for p in pairs])


def test_entries_after_serves_a_lagging_replica_or_says_why_not():
    master = base()
    entries = [write(master, 3, (f"k{i}", "v")) for i in range(5)]
    assert [e.version for e in repli_log.entries_after(
        master, Position(3, 2))] == [3, 4, 5]
    assert repli_log.entries_after(master, Position(3, 5)) == []
    assert repli_log.entries_after(master, Position())[0] == entries[0]
    with pytest.raises(Diverged):
        repli_log.entries_after(master, Position(2, 2))
    with pytest.raises(Diverged):
        repli_log.entries_after(master, Position(3, 9))
    master.execute("DELETE FROM _repli_log WHERE version <= 2")
    with pytest.raises(LookupError):
        repli_log.entries_after(master, Position(3, 1))


def test_positions_order_by_epoch_then_version():
    assert Position(2, 1) > Position(1, 50)
    assert Position(2, 3) > Position(2, 2)
    assert Position.of([4, 9]) == Position(epoch=9, version=4)
    assert Position(9, 4).as_list() == [4, 9]


def test_the_log_is_trimmed_but_keeps_what_replay_needs():
    db = base()
    for i in range(repli_log.LOG_KEEP + 2 * repli_log.TRIM_EVERY):
        write(db, 1, (f"k{i}", "v"))
    count, low = db.execute("SELECT COUNT(*), MIN(version) FROM _repli_log"
                            ).fetchone()
    assert repli_log.LOG_KEEP <= count <= repli_log.LOG_KEEP + \
        repli_log.TRIM_EVERY
    last = repli_log.position(db).version
    assert len(repli_log.entries_after(db, Position(1, last - 100))) == 100
    assert low > 1


def test_stamp_sets_a_position_with_no_entry():
    db = base()
    repli_log.stamp(db, Position(9, 1))
    assert repli_log.position(db) == Position(9, 1)
    with pytest.raises(LookupError):
        repli_log.entries_after(db, Position())


def test_promises_only_grow_and_survive_a_restart(tmp_path):
    promises = Promises(str(tmp_path))
    assert promises.get("B") == 0
    assert promises.promise("B", 5, "m1")
    assert promises.promise("B", 5, "m1")          # the same candidate again
    assert not promises.promise("B", 5, "m2")      # another: same epoch
    assert not promises.promise("B", 4, "m3")      # lower
    assert promises.accept("B", 5, "m1")
    assert not promises.accept("B", 4, "m0")       # a stale master
    assert promises.accept("B", 6, "m4") and promises.get("B") == 6
    promises.close()
    again = Promises(str(tmp_path))
    assert again.get("B") == 6 and again.get("other") == 0
    assert not again.promise("B", 6, "m1")


def test_promises_from_many_threads_share_commits_and_never_block(tmp_path):
    import threading

    promises = Promises(str(tmp_path))
    errors = []

    def campaign(n: int) -> None:
        try:
            for epoch in range(1, 30):
                assert promises.promise(f"B{n % 7}", epoch * 100 + n, f"m{n}") \
                    in (True, False)
                promises.accept(f"C{n}", epoch, "m")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=campaign, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads), "promises deadlocked"
    assert not errors
    for n in range(16):
        assert promises.get(f"C{n}") == 29
    highest = {f"B{k}": promises.get(f"B{k}") for k in range(7)}
    promises.close()
    again = Promises(str(tmp_path))
    assert {b: again.get(b) for b in highest} == highest
