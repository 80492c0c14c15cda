"""Group commit of meta2 writes (backend.BaseCache.run_batched) and of the
event spool (EventSpool.sync), on real SQLite files."""

import sqlite3
import threading
import time

import pytest

from oio.container.backend import ContainerBase
from oio.container.events import RecordingNotifier
from oio.container.meta2 import Meta2, Meta2Error
from oio.event.spool import EventSpool

from .meta2_fakes import FakeNsInfo
from .test_meta2_logic import CID, admin, put

WRITERS = 6


@pytest.fixture
def m2(tmp_path):
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(),
                events=RecordingNotifier())
    svc.container_create(CID, "acct", "box")
    yield svc
    svc.close()


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.001)


def queued_behind_held_lock(m2, work, count=WRITERS):
    """Start `count` threads running `work(i)` while the base lock is held,
    release it once all of them wait: the first runs alone, the others in
    one batch. [(result or exception)] in thread order."""
    base = m2.bases._get(CID, False)
    outcomes = [None] * count

    def run(i):
        try:
            outcomes[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - checked by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    with base.lock:
        for thread in threads:
            thread.start()
        # The leader took its own job and waits for the lock; the rest queue.
        wait_for(lambda: len(base.queue.jobs) == count - 1)
    for thread in threads:
        thread.join(10)
    return outcomes


@pytest.fixture
def batches(monkeypatch):
    """Sizes of the batches run in one transaction."""
    sizes = []
    original = ContainerBase.run_batch

    def spy(self, jobs):
        sizes.append(len(jobs))
        return original(self, jobs)
    monkeypatch.setattr(ContainerBase, "run_batch", spy)
    return sizes


def test_queued_writes_share_one_transaction(m2, batches):
    before = len(m2.events.events)
    outcomes = queued_behind_held_lock(
        m2, lambda i: put(m2, f"obj-{i}", size=10))
    assert all(isinstance(v, int) for v in outcomes), outcomes
    assert batches == [WRITERS - 1]
    assert admin(m2, "sys.m2.objects") == str(WRITERS)
    assert admin(m2, "sys.m2.usage") == str(10 * WRITERS)
    new = [p["url"]["path"] for t, p in m2.events.events[before:]
           if t == "storage.content.new"]
    assert sorted(new) == sorted(f"obj-{i}" for i in range(WRITERS))
    for i in range(WRITERS):
        assert m2.content_locate(CID, f"obj-{i}").alias.name == f"obj-{i}"


def test_a_failing_write_fails_alone(m2, batches):
    put(m2, "taken", version=5)

    def work(i):
        # Thread 3 reuses a saved version: CONTENT_EXISTS, its own error.
        return put(m2, "taken" if i == 3 else f"ok-{i}",
                   version=5 if i == 3 else None)
    outcomes = queued_behind_held_lock(m2, work)
    assert batches == [WRITERS - 1]
    assert isinstance(outcomes[3], Meta2Error)
    assert [isinstance(v, int) for i, v in enumerate(outcomes) if i != 3] \
        == [True] * (WRITERS - 1)
    assert admin(m2, "sys.m2.objects") == str(WRITERS)   # 5 new + "taken"


class Failing:
    """The base's connection, where one statement fails (a full disk)."""

    def __init__(self, db, statement):
        self.db = db
        self.statement = statement

    def execute(self, sql, *args):
        if sql == self.statement:
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


@pytest.mark.parametrize("statement", ["COMMIT", "BEGIN IMMEDIATE"])
def test_a_failed_transaction_fails_every_write_and_emits_nothing(
        m2, batches, statement):
    base = m2.bases._get(CID, False)
    counters = dict(base.admin)
    before = len(m2.events.events)
    real_db = base.db
    base.db = Failing(real_db, statement)
    try:
        outcomes = queued_behind_held_lock(
            m2, lambda i: put(m2, f"lost-{i}"))
    finally:
        base.db = real_db
    assert batches == [WRITERS - 1]
    assert all(isinstance(v, sqlite3.OperationalError) for v in outcomes)
    assert not real_db.in_transaction
    assert base.admin == counters           # the in-memory copy too
    assert admin(m2, "sys.m2.objects") == counters["sys.m2.objects"]
    assert m2.events.events[before:] == []
    put(m2, "after")                         # the base still works
    assert admin(m2, "sys.m2.objects") == "1"


def test_writes_after_a_dropped_transaction_run_in_a_new_one(m2, batches):
    def work(i):
        if i == 2:
            def drop(base):
                # What SQLite does by itself on some I/O errors.
                base.db.execute("ROLLBACK")
                raise sqlite3.OperationalError("disk I/O error")
            return m2._write(CID, drop)
        return put(m2, f"obj-{i}")
    outcomes = queued_behind_held_lock(m2, work)
    # Thread 0 ran alone; 1 was undone with 2; 3, 4, 5 ran again.
    assert batches == [WRITERS - 1, WRITERS - 3]
    assert isinstance(outcomes[0], int)
    assert isinstance(outcomes[1], sqlite3.OperationalError)
    assert isinstance(outcomes[2], sqlite3.OperationalError)
    assert all(isinstance(v, int) for v in outcomes[3:])
    assert admin(m2, "sys.m2.objects") == str(WRITERS - 2)


def test_writes_queued_on_an_evicted_base_reopen_it(m2):
    base = m2.bases._get(CID, False)
    outcomes = [None] * 3

    def run(i):
        outcomes[i] = put(m2, f"obj-{i}")
    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    with base.lock:
        for thread in threads:
            thread.start()
        wait_for(lambda: len(base.queue.jobs) == 2)
        # As the LRU does: closed under its lock, dropped from the cache.
        base.close()
        with m2.bases._lock:
            del m2.bases._bases[CID]
    for thread in threads:
        thread.join(10)
    assert all(isinstance(v, int) for v in outcomes)
    assert admin(m2, "sys.m2.objects") == "3"


# -- the event spool ------------------------------------------------------------
@pytest.fixture
def spool(tmp_path):
    # No thread: nothing is sent, the file keeps what sync() wrote.
    s = EventSpool(str(tmp_path / "events.spool"), ["beanstalk://127.0.0.1:1"],
                   start=False)
    yield s
    s._db.close()


def stored(spool):
    return [row[0] for row in spool._db.execute(
        "SELECT body FROM events ORDER BY id")]


def test_spool_sync_writes_what_was_queued_in_order(spool):
    for i in range(3):
        spool.emit("x", {"n": i})
    assert stored(spool) == []               # queued, not yet on disk
    spool.sync()
    assert stored(spool) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    spool.sync()                              # nothing new: no write
    assert len(stored(spool)) == 3


def test_spool_concurrent_syncs_share_commits(spool, monkeypatch):
    commits = []
    original = spool._insert
    release = threading.Event()

    def slow_insert(bodies):
        commits.append(len(bodies))
        if len(commits) == 1:
            release.wait(10)                 # a long fsync
        original(bodies)
    monkeypatch.setattr(spool, "_insert", slow_insert)

    def producer(i):
        spool.emit("x", {"n": i})
        spool.sync()
    first = threading.Thread(target=producer, args=(0,))
    first.start()
    wait_for(lambda: commits)
    others = [threading.Thread(target=producer, args=(i,))
              for i in range(1, 8)]
    for thread in others:
        thread.start()
    wait_for(lambda: spool._queued == 8)
    release.set()
    for thread in [first] + others:
        thread.join(10)
    assert commits == [1, 7]                 # 8 events, 2 fsyncs
    assert len(stored(spool)) == 8


def test_spool_failed_write_keeps_events_for_the_next_sync(spool, monkeypatch):
    original = spool._insert
    calls = []

    def failing_once(bodies):
        calls.append(list(bodies))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        original(bodies)
    monkeypatch.setattr(spool, "_insert", failing_once)
    spool.emit("x", {"n": 0})
    with pytest.raises(sqlite3.OperationalError):
        spool.sync()
    spool.emit("x", {"n": 1})
    spool.sync()
    assert stored(spool) == [b'{"n":0}', b'{"n":1}']
    assert spool.pending() == 2              # on disk, not sent yet


def test_spool_failed_commit_leaves_no_open_transaction(spool):
    real = spool._db
    spool._db = Failing(real, "COMMIT")
    spool.emit("x", {"n": 0})
    with pytest.raises(sqlite3.OperationalError):
        spool.sync()
    spool._db = real
    assert not real.in_transaction
    spool.sync()                              # the disk came back
    assert stored(spool) == [b'{"n":0}']


def test_write_behind_spool_keeps_events_a_failed_write_refused(tmp_path):
    spool = EventSpool(str(tmp_path / "wb.spool"), ["beanstalk://127.0.0.1:1"],
                       start=False, write_behind=True)
    try:
        for i in range(3):
            spool.notify("storage.chunk.new", {"n": i}, "req")
        original = spool._insert

        def refuse(bodies):
            raise sqlite3.OperationalError("database or disk is full")
        spool._insert = refuse
        with pytest.raises(sqlite3.OperationalError):
            spool._store_incoming()
        spool._insert = original
        spool._store_incoming()
        assert [b'"n":0' in b for b in stored(spool)] == [True, False, False]
        assert len(stored(spool)) == 3
        assert b'"n":2' in stored(spool)[2]
    finally:
        spool._db.close()
