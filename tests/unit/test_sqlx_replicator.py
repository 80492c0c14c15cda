"""A replica's side of replication: promises fence stale masters, changes
apply in order, behind and diverged replicas say so (no ZooKeeper: the
peers' calls are made directly)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from oio.sqlx import changes
from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position
from oio.sqlx.replicator import Replicator


class MemoryStore:
    """A BaseStore of one-table bases in memory."""

    kind = "meta2"

    def __init__(self):
        self.dbs: dict[str, sqlite3.Connection] = {}
        self.lock = threading.Lock()

    def _db(self, base, create=False):
        db = self.dbs.get(base)
        if db is None and create:
            db = sqlite3.connect(":memory:", isolation_level=None,
                                 check_same_thread=False)
            db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
            repli_log.ensure(db)
            self.dbs[base] = db
        return db

    def check_base(self, base):
        return base

    def peers(self, base):
        return None

    def position(self, base):
        db = self._db(base)
        return None if db is None else repli_log.position(db)

    def apply(self, base, prev, entries):
        with self.lock:
            db = self._db(base, create=prev == Position())
            if db is None:
                raise LookupError(base)
            db.execute("BEGIN IMMEDIATE")
            try:
                pos = repli_log.apply(db, prev, entries)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return pos

    def entries_after(self, base, after):
        return repli_log.entries_after(self._db(base), after)


def entry(version: int, epoch: int, key: str) -> Entry:
    blob = changes.encode([("INSERT INTO kv (k, v) VALUES (?, ?)", (key, "v"))])
    return Entry(version, epoch, blob)


def body(epoch, master, prev, entries):
    return {"epoch": epoch, "master": master, "prev": prev.as_list(),
            "entries": [e.as_list() for e in entries], "peers": []}


def replica(tmp_path):
    return Replicator("meta2", "NS", "me:1", MemoryStore(), str(tmp_path))


def test_changes_apply_in_order_and_create_the_base(tmp_path):
    repl = replica(tmp_path)

    async def scenario():
        status, answer = await repl.on_apply(
            "B", body(10, "m:1", Position(), [entry(1, 10, "a")]))
        assert status == 200 and answer["position"] == [1, 10]
        # Behind: the changes follow a version we do not have.
        status, answer = await repl.on_apply(
            "B", body(10, "m:1", Position(10, 2), [entry(3, 10, "c")]))
        assert (status, answer["status"], answer["position"]) == (409, 470,
                                                                  [1, 10])
        # Diverged: another epoch's change 1.
        status, answer = await repl.on_apply(
            "B", body(11, "m:2", Position(), [entry(1, 11, "x")]))
        assert (status, answer["status"]) == (409, 472)
        # Missing base, changes not from its start.
        status, answer = await repl.on_apply(
            "OTHER", body(10, "m:1", Position(10, 4), [entry(5, 10, "e")]))
        assert (status, answer["status"]) == (409, 471)
    asyncio.run(scenario())
    rows = repl.store.dbs["B"].execute("SELECT k FROM kv").fetchall()
    assert rows == [("a",)]


def test_a_promise_fences_the_older_master(tmp_path):
    repl = replica(tmp_path)

    async def scenario():
        assert (await repl.on_promise("B", 20, "new:1"))["accepted"]
        # The same epoch for another candidate: refused.
        answer = await repl.on_promise("B", 20, "other:1")
        assert not answer["accepted"] and answer["promised"] == 20
        # The old master's change is refused: it cannot reach a quorum.
        status, answer = await repl.on_apply(
            "B", body(19, "old:1", Position(), [entry(1, 19, "a")]))
        assert status == 503
        status, _ = await repl.on_apply(
            "B", body(20, "new:1", Position(), [entry(1, 20, "a")]))
        assert status == 200
        # A newer epoch seen in a change raises the bar too.
        status, _ = await repl.on_apply(
            "B", body(25, "newer:1", Position(20, 1), [entry(2, 25, "b")]))
        assert status == 200
        assert not (await repl.on_promise("B", 24, "late:1"))["accepted"]
    asyncio.run(scenario())
    repl.promises.close()
    # Promises survive a restart.
    again = replica(tmp_path)
    assert again.promises.get("B") == 25


def test_log_serves_a_catch_up_or_says_why_not(tmp_path):
    repl = replica(tmp_path)

    async def scenario():
        entries = [entry(i, 10, f"k{i}") for i in range(1, 5)]
        await repl.on_apply("B", body(10, "m:1", Position(), entries))
        status, answer = await repl.on_log("B", Position(10, 2))
        assert status == 200 and [e[0] for e in answer["entries"]] == [3, 4]
        status, answer = await repl.on_log("B", Position(9, 2))
        assert (status, answer["status"]) == (409, 472)
    asyncio.run(scenario())


class FakeZk:
    """What an Election needs of the ZooKeeper bridge, without a server."""

    hosts = "fake:2181"

    def __init__(self):
        self.connected = asyncio.Event()

    def watcher(self, callback):
        return lambda _event: callback()


def test_a_master_that_loses_zookeeper_stops_acknowledging(tmp_path):
    import pytest
    from kazoo.client import KazooState

    from oio.sqlx import errors
    from oio.sqlx.election import MASTER, Election

    repl = replica(tmp_path)
    repl.zk_hosts = "fake:2181"          # replication enabled

    async def scenario():
        zk = FakeZk()
        election = Election(zk, "NS", "meta2", "B", "me:1",
                            ["me:1", "b:1", "c:1"], repl._campaign)
        repl.elections["B"] = election
        election.node, election.epoch = "/x/K-0000000001", 7
        election._transition(MASTER, "ELECTED")
        assert repl.lease("B", True).epoch == 7
        # The connection is lost (not yet the session): no more writes.
        repl._on_session(KazooState.SUSPENDED)
        assert election.state != MASTER
        with pytest.raises(errors.NotMaster):
            repl.lease("B", True)
        # A base with one replica is not concerned.
        assert repl.lease("single", False) is None
    asyncio.run(scenario())
