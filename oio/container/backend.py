"""SQLite storage of one container: schema, queries, and the single write path.

One file per container, `<datadir>/<cid[:3]>/<cid>.1.meta2`. Every change
goes through `ContainerBase.write()`, so that replication can later ship the
committed changes from one place. The journal is WAL with
`synchronous=FULL`: a commit is on disk (WAL fsynced) before we answer.

A base object is not thread-safe by itself: callers hold `base.lock` around
any use (see `BaseCache`).

Group commit: one container takes one write at a time, and each commit
waits for the disk, so writes to a busy container used to queue behind
each other's fsync. `BaseCache.run_batched` queues them instead: the first
writer runs every queued one in a single transaction, each inside its own
savepoint (an error undoes that write only), commits once and wakes the
others with their own results. Nothing is visible before it is durable, and
what a write does after its commit (its events) waits for the batch's
commit (`ContainerBase.after_commit`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from oio.common.utils import fsync_path
from oio.sqlx import changes
from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS admin (
    k TEXT PRIMARY KEY NOT NULL,
    v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    ctime INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    PRIMARY KEY (alias, version)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_content ON aliases(content);
CREATE TABLE IF NOT EXISTS contents (
    id TEXT PRIMARY KEY NOT NULL,
    hash TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    ctime INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    chunk_method TEXT NOT NULL,
    policy TEXT NOT NULL,
    missing INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    content TEXT NOT NULL,
    id TEXT NOT NULL,
    pos TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    ctime INTEGER NOT NULL,
    PRIMARY KEY (content, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS properties (
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (alias, version, key)) WITHOUT ROWID;
""" + repli_log.SCHEMA

# Pages of SQLite cache per open base (negative: KiB). Many bases stay open.
CACHE_KIB = 1024
# Writes run in one transaction at most: bounds the wait of the last one.
MAX_BATCH = 32


class BaseNotFound(LookupError):
    """No such container base on this service."""


@dataclass(slots=True)
class Alias:
    """One row of `aliases` (a version of an object, maybe a delete marker)."""

    name: str
    version: int
    content: str
    deleted: bool
    ctime: int
    mtime: int


@dataclass(slots=True)
class Header:
    """One row of `contents` (the data description of a version)."""

    id: str
    hash: str | None
    size: int
    ctime: int
    mtime: int
    mime_type: str
    chunk_method: str
    policy: str
    missing: int = 0


@dataclass(slots=True)
class Chunk:
    """One row of `chunks`: `id` is the chunk URL."""

    id: str
    pos: str
    hash: str
    size: int
    ctime: int = 0


ALIAS_COLS = "alias, version, content, deleted, ctime, mtime"
HEADER_COLS = "id, hash, size, ctime, mtime, mime_type, chunk_method, policy, missing"


def _alias(row) -> Alias:
    return Alias(row[0], row[1], row[2], bool(row[3]), row[4], row[5])


def _header(row) -> Header:
    return Header(*row)


def base_path(datadir: str, cid: str) -> str:
    """Path of the base file of container `cid` (64 upper hex)."""
    return os.path.join(datadir, cid[:3], f"{cid}.1.meta2")


class ContainerBase:
    """The SQLite base of one container, with its admin table in memory."""

    def __init__(self, path: str, cid: str, create: bool = False):
        self.path = path
        self.cid = cid
        self.lock = threading.Lock()
        self.closed = False
        self.admin: dict[str, str] = {}
        # Called after each commit; replication plugs in here.
        self.on_commit: Callable[[ContainerBase], None] | None = None
        # The replication of this service (None: no replicas anywhere).
        self.replicator = None
        # The statements of the running write transaction.
        self._recorder: changes.Recorder | None = None
        # Writes waiting for a batch (BaseCache.run_batched).
        self.queue = WriteQueue()
        # While a batch runs: what its writes do once it is committed, and
        # the number of savepoints opened (their names).
        self._deferred: list[tuple[Callable, tuple]] | None = None
        self._savepoints = 0
        if not create and not os.path.exists(path):
            raise BaseNotFound(cid)
        if create:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "rwc" if create else "rw"
        try:
            self.db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True,
                                      isolation_level=None,
                                      check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise BaseNotFound(cid) from exc
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            if create:
                # One transaction: one sync, not one per table.
                self.db.executescript(f"BEGIN;{SCHEMA}COMMIT;")
            elif not self._has_log():
                # A base from before replication: give it its log tables.
                repli_log.ensure(self.db)
            self._load_admin()
        except sqlite3.DatabaseError:
            self.db.close()
            raise
        if not create and self.admin.get("sys.m2.init") != "1":
            # A file left by an interrupted creation is not a container.
            self.db.close()
            raise BaseNotFound(cid)

    def _has_log(self) -> bool:
        return self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = '_repli_log'"
        ).fetchone() is not None

    @property
    def name(self) -> str:
        """The base's name as elections know it: `<CID>.1`."""
        return f"{self.cid}.1"

    def peers(self, admin: dict | None = None) -> list[str]:
        """Every replica of the base (`sys.peers`)."""
        raw = (admin if admin is not None else self.admin).get("sys.peers")
        return sorted({p for p in (raw or "").split(",") if p})

    def _load_admin(self) -> None:
        try:
            rows = self.db.execute("SELECT k, v FROM admin").fetchall()
        except sqlite3.OperationalError:
            rows = []
        self.admin = dict(rows)

    @property
    def initialized(self) -> bool:
        return self.admin.get("sys.m2.init") == "1"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.db.close()

    # -- writes --------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[Writer]:
        """One write transaction; commits durably, rolls back on error.
        Within a batch, a savepoint of the batch's transaction."""
        if self._deferred is not None:
            with self._savepoint() as writer:
                yield writer
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._recorder = changes.Recorder(self.db)
        writer = Writer(self)
        peers_before = self.admin.get("sys.peers")
        try:
            yield writer
            writer.flush_admin()
            shipment = self._log_changes(self._peers_after(writer))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        finally:
            self._recorder = None
        self._apply_admin(writer)
        try:
            self._ship(shipment)
        finally:
            # A change of the replicas reaches the old ones first.
            self._peers_maybe_changed(peers_before)
        if self.on_commit is not None:
            self.on_commit(self)

    def _peers_after(self, writer: Writer) -> list[str]:
        """The replicas once this write is committed (a creation sets them)."""
        merged = dict(self.admin)
        merged.update(writer.admin_changes)
        return self.peers(merged)

    def _log_changes(self, peers: list[str]):
        """Inside the transaction, before its COMMIT: on a master of a
        replicated base, log what the transaction changed as its next
        version. Returns what `_ship` needs after the commit (or None)."""
        if self.replicator is None:
            return None
        lease = self.replicator.lease(self.name, len(peers) > 1)
        statements = self._recorder.take() if self._recorder else []
        return repli_log.log_statements(self.db, lease, statements)

    def _ship(self, shipment) -> None:
        """After the local commit: the other replicas get the change, and
        the write is acknowledged once a majority has it (NoQuorum else)."""
        if shipment is not None:
            lease, entry, prev = shipment
            self.replicator.ship(lease, entry, prev)

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[Writer]:
        self._savepoints += 1
        name = f"w{self._savepoints}"
        self.db.execute(f"SAVEPOINT {name}")
        mark = self._recorder.mark()
        writer = Writer(self)
        try:
            yield writer
            writer.flush_admin()
        except BaseException:
            if self.db.in_transaction:  # else SQLite dropped the batch
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                self._recorder.rewind(mark)
            raise
        self.db.execute(f"RELEASE {name}")
        self._apply_admin(writer)

    def _apply_admin(self, writer: Writer) -> None:
        self.admin.update(writer.admin_changes)
        for key in writer.admin_deleted:
            self.admin.pop(key, None)

    def _peers_maybe_changed(self, before: str | None) -> None:
        """The base moved (its replicas rewritten): tell the replication."""
        if self.replicator is not None and \
                self.admin.get("sys.peers") != before and before is not None:
            self.replicator.peers_changed(self.name, self.peers())

    def after_commit(self, func: Callable, *args) -> None:
        """`func(*args)` once what was written so far is committed: now,
        or after the commit of the running batch."""
        if self._deferred is None:
            func(*args)
        else:
            self._deferred.append((func, args))

    def run_batch(self, jobs: list[WriteJob]) -> list[WriteJob]:
        """Run `jobs` in one transaction; each gets its result or error.
        The jobs that could not run (SQLite dropped the transaction) are
        returned, to run in another one."""
        admin = dict(self.admin)
        peers_before = admin.get("sys.peers")
        self.db.execute("BEGIN IMMEDIATE")
        self._deferred, self._savepoints = [], 0
        self._recorder = changes.Recorder(self.db)
        done: list[WriteJob] = []
        left: list[WriteJob] = []
        try:
            for index, job in enumerate(jobs):
                job.run(self)
                done.append(job)
                if not self.db.in_transaction:
                    # A full disk or an I/O error rolled everything back.
                    left = jobs[index + 1:]
                    raise sqlite3.OperationalError(
                        "transaction rolled back by an earlier error")
            shipment = self._log_changes(self.peers())
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.admin = admin
            self._deferred = None
            for job in done:
                job.fail_committed(exc)
            return left
        finally:
            self._recorder = None
        deferred, self._deferred = self._deferred, None
        try:
            self._ship(shipment)
        except BaseException as exc:  # noqa: BLE001 - no quorum: all fail
            for job in done:
                job.fail_committed(exc)
            return []
        finally:
            self._peers_maybe_changed(peers_before)
        if self.on_commit is not None:
            self.on_commit(self)
        for func, args in deferred:
            try:
                func(*args)
            except Exception:  # noqa: BLE001 - the writes are committed
                logger.exception("after the commit of %s", self.cid)
        return []

    # -- reads ---------------------------------------------------------------
    def q(self, sql: str, args: tuple = ()) -> list:
        return self.db.execute(sql, args).fetchall()

    def latest_alias(self, name: str) -> Alias | None:
        row = self.db.execute(
            f"SELECT {ALIAS_COLS} FROM aliases WHERE alias=? "
            "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        return _alias(row) if row else None

    def get_alias(self, name: str, version: int) -> Alias | None:
        row = self.db.execute(
            f"SELECT {ALIAS_COLS} FROM aliases WHERE alias=? AND version=?",
            (name, version)).fetchone()
        return _alias(row) if row else None

    def alias_by_content(self, content: str) -> Alias | None:
        row = self.db.execute(
            f"SELECT {ALIAS_COLS} FROM aliases WHERE content=? "
            "ORDER BY version DESC LIMIT 1", (content,)).fetchone()
        return _alias(row) if row else None

    def versions(self, name: str) -> list[Alias]:
        """Every version of `name`, newest first."""
        return [_alias(r) for r in self.db.execute(
            f"SELECT {ALIAS_COLS} FROM aliases WHERE alias=? "
            "ORDER BY version DESC", (name,))]

    def header(self, content: str) -> Header | None:
        row = self.db.execute(
            f"SELECT {HEADER_COLS} FROM contents WHERE id=?",
            (content,)).fetchone()
        return _header(row) if row else None

    def content_used(self, content: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM contents WHERE id=? UNION ALL "
            "SELECT 1 FROM aliases WHERE content=? LIMIT 1",
            (content, content)).fetchone() is not None

    def chunks(self, content: str) -> list[Chunk]:
        return [Chunk(*r) for r in self.db.execute(
            "SELECT id, pos, hash, size, ctime FROM chunks WHERE content=?",
            (content,))]

    def properties(self, name: str, version: int) -> dict[str, str]:
        return dict(self.db.execute(
            "SELECT key, value FROM properties WHERE alias=? AND version=?",
            (name, version)))

    def has_chunks(self) -> bool:
        return self.db.execute(
            "SELECT 1 FROM chunks LIMIT 1").fetchone() is not None

    def alias_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM aliases").fetchone()[0]

    def page_stats(self) -> dict[str, str]:
        out = {}
        for name in ("page_count", "freelist_count", "page_size"):
            out[f"stats.{name}"] = str(
                self.db.execute(f"PRAGMA {name}").fetchone()[0])
        return out

    def recount(self) -> tuple[int, int]:
        """(objects, bytes) recomputed from the tables (markers excluded)."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(c.size), 0) FROM aliases a "
            "JOIN contents c ON c.id = a.content WHERE a.deleted = 0"
        ).fetchone()
        return row[0], row[1]

    def list_rows(self, start: str, inclusive: bool, all_versions: bool,
                  after_version: int | None, limit: int) -> list[tuple]:
        """Listing candidates from `start`, ordered by name then version desc:
        (Alias, header columns...) tuples. Without `all_versions` only the
        latest version of each name."""
        op = ">=" if inclusive else ">"
        cols = ("a.alias, a.version, a.content, a.deleted, a.ctime, a.mtime, "
                "c.hash, c.size, c.policy, c.chunk_method, c.mime_type")
        if not all_versions:
            # SQLite returns the other columns of the MAX(version) row.
            sql = (f"SELECT {cols} FROM (SELECT alias, MAX(version) AS version,"
                   " content, deleted, ctime, mtime FROM aliases "
                   f"WHERE alias {op} ? GROUP BY alias ORDER BY alias LIMIT ?) a"
                   " LEFT JOIN contents c ON c.id = a.content ORDER BY a.alias")
            return self.q(sql, (start, limit))
        if after_version is not None:
            sql = (f"SELECT {cols} FROM aliases a LEFT JOIN contents c "
                   "ON c.id = a.content WHERE (a.alias = ? AND a.version < ?) "
                   "OR a.alias > ? ORDER BY a.alias, a.version DESC LIMIT ?")
            return self.q(sql, (start, after_version, start, limit))
        sql = (f"SELECT {cols} FROM aliases a LEFT JOIN contents c "
               f"ON c.id = a.content WHERE a.alias {op} ? "
               "ORDER BY a.alias, a.version DESC LIMIT ?")
        return self.q(sql, (start, limit))

    def oldest_aliases(self, limit: int) -> list[Alias]:
        return [_alias(r) for r in self.db.execute(
            f"SELECT {ALIAS_COLS} FROM aliases ORDER BY alias, version "
            "LIMIT ?", (limit,))]


class Writer:
    """Statements of one write transaction (see `ContainerBase.write`)."""

    def __init__(self, base: ContainerBase):
        self.base = base
        self.db = base._recorder or base.db
        self.admin_changes: dict[str, str] = {}
        self.admin_deleted: set[str] = set()

    def admin_get(self, key: str, default: str | None = None) -> str | None:
        if key in self.admin_changes:
            return self.admin_changes[key]
        if key in self.admin_deleted:
            return default
        return self.base.admin.get(key, default)

    # Admin rows are written once, at the end of the transaction: counters
    # change several times per operation.
    def set_admin(self, key: str, value: str) -> None:
        self.admin_changes[key] = value
        self.admin_deleted.discard(key)

    def del_admin(self, key: str) -> None:
        self.admin_changes.pop(key, None)
        self.admin_deleted.add(key)

    def flush_admin(self) -> None:
        if self.admin_changes:
            self.db.executemany(
                "INSERT OR REPLACE INTO admin (k, v) VALUES (?, ?)",
                list(self.admin_changes.items()))
        if self.admin_deleted:
            self.db.executemany("DELETE FROM admin WHERE k=?",
                                [(k,) for k in self.admin_deleted])

    def add_counter(self, key: str, delta: int) -> None:
        if delta:
            self.set_admin(key, str(int(self.admin_get(key, "0") or 0) + delta))

    def insert_alias(self, alias: Alias) -> None:
        self.db.execute(
            f"INSERT INTO aliases ({ALIAS_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
            (alias.name, alias.version, alias.content, int(alias.deleted),
             alias.ctime, alias.mtime))

    def update_alias(self, name: str, version: int, content: str | None = None,
                     mtime: int | None = None) -> None:
        if content is not None:
            self.db.execute("UPDATE aliases SET content=? WHERE alias=? AND "
                            "version=?", (content, name, version))
        if mtime is not None:
            self.db.execute("UPDATE aliases SET mtime=? WHERE alias=? AND "
                            "version=?", (mtime, name, version))

    def insert_header(self, h: Header) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO contents ({HEADER_COLS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (h.id, h.hash, h.size, h.ctime, h.mtime, h.mime_type,
             h.chunk_method, h.policy, h.missing))

    def update_header(self, content: str, **fields) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE contents SET {sets} WHERE id=?",
                        (*fields.values(), content))

    def insert_chunks(self, content: str, chunks: list[Chunk]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO chunks (content, id, pos, hash, size, ctime)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(content, c.id, c.pos, c.hash, c.size, c.ctime) for c in chunks])

    def delete_chunks(self, content: str, positions: list[str] | None = None
                      ) -> None:
        if positions is None:
            self.db.execute("DELETE FROM chunks WHERE content=?", (content,))
        else:
            self.db.executemany(
                "DELETE FROM chunks WHERE content=? AND pos=?",
                [(content, p) for p in positions])

    def set_properties(self, name: str, version: int,
                       props: dict[str, str | None]) -> None:
        for key, value in props.items():
            if value is None or value == "":
                self.db.execute("DELETE FROM properties WHERE alias=? AND "
                                "version=? AND key=?", (name, version, key))
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO properties (alias, version, key, "
                    "value) VALUES (?, ?, ?, ?)", (name, version, key, value))

    def delete_properties(self, name: str, version: int,
                          keys: list[str] | None = None) -> None:
        if keys is None:
            self.db.execute("DELETE FROM properties WHERE alias=? AND "
                            "version=?", (name, version))
        else:
            self.db.executemany(
                "DELETE FROM properties WHERE alias=? AND version=? AND key=?",
                [(name, version, k) for k in keys])

    def delete_alias(self, alias: Alias) -> tuple[Header | None, list[Chunk]]:
        """Remove a version, its properties, and its content header and chunks
        when no other version references them. Returns what was removed."""
        self.db.execute("DELETE FROM aliases WHERE alias=? AND version=?",
                        (alias.name, alias.version))
        self.delete_properties(alias.name, alias.version)
        if alias.deleted:
            return None, []
        still_used = self.db.execute(
            "SELECT 1 FROM aliases WHERE content=? LIMIT 1",
            (alias.content,)).fetchone()
        if still_used:
            return None, []
        header = self.base.header(alias.content)
        chunks = self.base.chunks(alias.content)
        self.db.execute("DELETE FROM contents WHERE id=?", (alias.content,))
        self.delete_chunks(alias.content)
        return header, chunks


class WriteJob:
    """One write waiting in a base's queue (`BaseCache.run_batched`)."""

    __slots__ = ("fn", "result", "error", "retry", "lead", "wake")

    def __init__(self, fn: Callable[[ContainerBase], object]):
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self.retry = False       # the base was closed meanwhile
        self.lead = False        # this job's thread runs the next batch
        self.wake = threading.Event()

    def run(self, base: ContainerBase) -> None:
        try:
            self.result = self.fn(base)
        except BaseException as exc:  # noqa: BLE001 - its caller's
            self.error = exc

    def fail_committed(self, exc: BaseException) -> None:
        """The batch's commit failed: a write that had succeeded did not."""
        if self.error is None:
            self.error = exc

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class WriteQueue:
    """The writes waiting for a base, and whether a thread runs a batch."""

    __slots__ = ("mutex", "jobs", "busy")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.jobs: list[WriteJob] = []
        self.busy = False


class BaseCache:
    """A bounded LRU of open container bases.

    `run(cid, fn)` calls `fn(base)` with the base lock held, so that one base
    is used by one thread at a time while different bases work in parallel.
    """

    def __init__(self, datadir: str, max_open: int = 256):
        self.datadir = datadir
        self.max_open = max(1, max_open)
        self._bases: OrderedDict[str, ContainerBase] = OrderedDict()
        self._lock = threading.Lock()
        # Serialises creations and destructions of base files.
        self._files_lock = threading.Lock()
        self.on_commit: Callable[[ContainerBase], None] | None = None
        # The service's Replicator, given to every base opened.
        self.replicator = None

    def path(self, cid: str) -> str:
        return base_path(self.datadir, cid)

    def _get(self, cid: str, create: bool) -> ContainerBase:
        with self._lock:
            base = self._bases.get(cid)
            if base is not None:
                self._bases.move_to_end(cid)
                return base
        with self._files_lock:
            with self._lock:
                base = self._bases.get(cid)
                if base is not None:
                    return base
            base = ContainerBase(self.path(cid), cid, create=create)
            base.on_commit = self.on_commit
            base.replicator = self.replicator
            with self._lock:
                self._bases[cid] = base
                evicted = []
                while len(self._bases) > self.max_open:
                    evicted.append(self._bases.popitem(last=False)[1])
        for old in evicted:
            with old.lock:
                old.close()
        return base

    def run(self, cid: str, fn: Callable[[ContainerBase], object],
            create: bool = False):
        """`fn(base)` under the base lock; BaseNotFound when it does not exist
        (unless `create`)."""
        while True:
            base = self._get(cid, create)
            with base.lock:
                if base.closed:
                    continue  # evicted meanwhile: open it again
                if not create and not base.initialized:
                    raise BaseNotFound(cid)
                return fn(base)

    def run_batched(self, cid: str, fn: Callable[[ContainerBase], object]):
        """Like `run(cid, fn)` for a write of an existing base, sharing its
        transaction and its commit with the writes queued meanwhile.

        `fn` must write through `base.write()` and defer what follows its
        commit with `base.after_commit()`: it may run in another thread, in
        a savepoint of a longer transaction."""
        while True:
            base = self._get(cid, False)
            job = WriteJob(fn)
            queue = base.queue
            with queue.mutex:
                queue.jobs.append(job)
                job.lead = not queue.busy
                queue.busy = True
            if not job.lead:
                job.wake.wait()
            if job.lead:
                self._lead(base)
            if job.retry:
                continue  # evicted meanwhile: open it again
            return job.outcome()

    @staticmethod
    def _lead(base: ContainerBase) -> None:
        """Run the queued writes of `base` (ours first), then hand the queue
        to the next writer."""
        queue = base.queue
        with queue.mutex:
            jobs = queue.jobs[:MAX_BATCH]
            del queue.jobs[:MAX_BATCH]
        try:
            with base.lock:
                if base.closed:
                    for job in jobs:
                        job.retry = True
                elif not base.initialized:
                    for job in jobs:
                        job.error = BaseNotFound(base.cid)
                elif len(jobs) == 1:
                    jobs[0].run(base)   # alone: a transaction of its own
                else:
                    left = jobs
                    while left:
                        left = base.run_batch(left)
        except BaseException as exc:  # noqa: BLE001 - e.g. BEGIN refused
            for job in jobs:
                job.fail_committed(exc)
        finally:
            with queue.mutex:
                if queue.jobs:
                    successor = queue.jobs[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    queue.busy = False
            for job in jobs:
                job.lead = False
                job.wake.set()

    def destroy(self, cid: str, check: Callable[[ContainerBase], None]) -> None:
        """Run `check(base)` then remove the base files, atomically with
        respect to other users of the base."""
        base = self._get(cid, False)
        with self._files_lock, base.lock:
            if base.closed or not base.initialized:
                raise BaseNotFound(cid)
            check(base)
            with self._lock:
                if self._bases.get(cid) is base:
                    del self._bases[cid]
            base.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(base.path + suffix)

    def backup(self, cid: str, dest_path: str) -> None:
        """A consistent copy of the base of `cid` into `dest_path`, fsync'd
        (SQLite online backup, under the base lock)."""
        def copy(base: ContainerBase) -> None:
            dest = sqlite3.connect(dest_path)
            try:
                base.db.backup(dest)
            finally:
                dest.close()
        self.run(cid, copy)
        fsync_path(dest_path)

    def install(self, cid: str, file_path: str) -> None:
        """Make the SQLite file `file_path` (same filesystem) the base of
        `cid`, durably; FileExistsError when `cid` already has a base."""
        path = self.path(cid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fsync_path(file_path)
        with self._files_lock:
            if os.path.exists(path):
                raise FileExistsError(path)
            os.rename(file_path, path)
        fsync_path(os.path.dirname(path))

    def close(self) -> None:
        with self._lock:
            bases = list(self._bases.values())
            self._bases.clear()
        for base in bases:
            with base.lock:
                base.close()

    # -- replication (oio/sqlx/store.py) ---------------------------------------
    def position(self, cid: str) -> Position | None:
        try:
            return self.run(cid, lambda base: repli_log.position(base.db))
        except BaseNotFound:
            return None

    def apply(self, cid: str, prev: Position, entries: list[Entry]
              ) -> Position:
        """Replay a master's changes (a replica's side of replication); the
        base is created when missing and the changes start from scratch."""
        origin = prev == Position()

        def apply(base: ContainerBase) -> Position:
            try:
                return repli_log.apply_in_transaction(base.db, prev, entries)
            finally:
                # What the changes did to the admin table, in memory too.
                before = base.admin.get("sys.peers")
                base._load_admin()
                base._peers_maybe_changed(before)
        try:
            return self.run(cid, apply, create=origin)
        except BaseNotFound:
            raise LookupError(f"no base {cid} here") from None

    def entries_after(self, cid: str, after: Position) -> list[Entry]:
        try:
            return self.run(cid, lambda base: repli_log.entries_after(
                base.db, after))
        except BaseNotFound:
            raise LookupError(f"no base {cid} here") from None

    def dump(self, cid: str) -> tuple[int, int]:
        """(fd, size) of a consistent copy of the base: an unlinked
        temporary file that the caller reads, then closes."""
        path = os.path.join(self.tmp_dir(), f"dump.{os.getpid()}."
                            f"{threading.get_ident()}.{cid}")
        os.makedirs(self.tmp_dir(), exist_ok=True)
        try:
            self.backup(cid, path)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except BaseNotFound:
            raise LookupError(f"no base {cid} here") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return fd, os.fstat(fd).st_size

    def tmp_dir(self) -> str:
        return os.path.join(self.datadir, "tmp")

    def install_copy(self, cid: str, file_path: str) -> Position:
        """Replace the base of `cid` (if any) by the SQLite file `file_path`
        (same filesystem), durably, and return its position."""
        check = sqlite3.connect(f"file:{file_path}?mode=ro", uri=True)
        try:
            if check.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ValueError(f"the copy of {cid} is corrupted")
            pos = repli_log.position(check)
        finally:
            check.close()
        path = self.path(cid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fsync_path(file_path)
        with self._files_lock:
            with self._lock:
                base = self._bases.pop(cid, None)
            if base is not None:
                with base.lock:
                    base.close()
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
            os.rename(file_path, path)
        fsync_path(os.path.dirname(path))
        return pos

    def remove(self, cid: str) -> None:
        """Delete the local base of `cid` if any (no check)."""
        with self._files_lock:
            with self._lock:
                base = self._bases.pop(cid, None)
            if base is not None:
                with base.lock:
                    base.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(cid) + suffix)

    def local_path(self, cid: str) -> str | None:
        path = self.path(cid)
        return path if os.path.exists(path) else None

    def peers(self, cid: str) -> list[str] | None:
        try:
            return self.run(cid, lambda base: base.peers())
        except BaseNotFound:
            return None

