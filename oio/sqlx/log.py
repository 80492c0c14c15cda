"""The replication state kept inside each replicated base.

Two tables travel with the data (in the same transactions, in full copies):

- `_repli_state (k, v)`: `version`, the number of changes applied since the
  base was created, and `epoch`, the epoch of the master that made the
  last one. (epoch, version) orders replicas: the one with the greater
  pair is the more advanced (its last change is newer or it has more).
- `_repli_log (version, epoch, changes)`: the last changes, so that a
  replica that missed a few replays them instead of copying the base.

A change is identified by (version, epoch): two replicas holding a change
with the same version and epoch hold the same change, since one master per
epoch makes it. The master appends the entry in the transaction of the
change itself; a replica applies an entry only on top of the entry before
it (same version and epoch), else it is behind or has diverged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import changes

SCHEMA = """
CREATE TABLE IF NOT EXISTS _repli_state (
    k TEXT PRIMARY KEY NOT NULL, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _repli_log (
    version INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,
    changes BLOB NOT NULL);
"""
# Entries kept for replay: beyond this, a lagging replica gets a full copy.
LOG_KEEP = 2048
# Trim the log once per this many versions (one DELETE for many inserts).
TRIM_EVERY = 64


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """(epoch, version) of the last change of a replica; ordered."""

    epoch: int = 0
    version: int = 0

    def as_list(self) -> list[int]:
        return [self.version, self.epoch]

    @classmethod
    def of(cls, pair) -> Position:
        """From `[version, epoch]` (the wire order)."""
        version, epoch = pair
        return cls(int(epoch), int(version))


@dataclass(slots=True)
class Entry:
    version: int
    epoch: int
    changes: bytes

    def as_list(self) -> list:
        return [self.version, self.epoch, self.changes.decode()]

    @classmethod
    def of(cls, item) -> Entry:
        version, epoch, blob = item
        if isinstance(blob, str):
            blob = blob.encode()
        return cls(int(version), int(epoch), blob)


class Diverged(Exception):
    """The replica's history is not a prefix of the sender's."""


class Behind(Exception):
    """The replica lacks changes before the ones sent."""


def ensure(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def position(db: sqlite3.Connection) -> Position:
    """The replica's last change; (0, 0) for a fresh base (or one made
    before replication existed)."""
    try:
        rows = dict(db.execute("SELECT k, v FROM _repli_state").fetchall())
    except sqlite3.OperationalError:   # no table: never replicated
        return Position()
    return Position(rows.get("epoch", 0), rows.get("version", 0))


def append(db: sqlite3.Connection, pos: Position, blob: bytes) -> Position:
    """Inside the caller's open transaction: log the change `blob` as the
    next version, made in epoch `pos.epoch` (the master's); return the new
    position."""
    last = position(db)
    new = Position(pos.epoch, last.version + 1)
    _record(db, new, blob)
    return new


def _record(db: sqlite3.Connection, pos: Position, blob: bytes) -> None:
    db.execute("INSERT OR REPLACE INTO _repli_log (version, epoch, changes) "
               "VALUES (?, ?, ?)", (pos.version, pos.epoch, blob))
    db.executemany("INSERT OR REPLACE INTO _repli_state (k, v) VALUES (?, ?)",
                   (("version", pos.version), ("epoch", pos.epoch)))
    if pos.version % TRIM_EVERY == 0:
        db.execute("DELETE FROM _repli_log WHERE version <= ?",
                   (pos.version - LOG_KEEP,))


def log_statements(db: sqlite3.Connection, lease, statements: list
                   ) -> tuple | None:
    """Inside a master's open transaction, before its COMMIT: log the
    statements it ran as the base's next version, in `lease`'s epoch.
    Returns (lease, entry, previous position), what the master ships once
    committed; None without a lease (a base with one replica) or without
    a change."""
    if lease is None or not statements:
        return None
    prev = position(db)
    blob = changes.encode(statements)
    pos = append(db, Position(lease.epoch, 0), blob)
    return lease, Entry(pos.version, pos.epoch, blob), prev


def apply_in_transaction(db: sqlite3.Connection, prev: Position,
                         entries: list[Entry]) -> Position:
    """`apply` in a transaction of its own: durable, or nothing of it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        pos = apply(db, prev, entries)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return pos


def entry_at(db: sqlite3.Connection, version: int) -> Entry | None:
    row = db.execute("SELECT version, epoch, changes FROM _repli_log "
                     "WHERE version = ?", (version,)).fetchone()
    return Entry(row[0], row[1], bytes(row[2])) if row else None


def entries_after(db: sqlite3.Connection, after: Position,
                  limit: int = LOG_KEEP) -> list[Entry]:
    """The entries that follow `after` here, for a replica at `after`.
    Diverged when `after` is not in our history; Behind-like LookupError
    when our log no longer holds what follows it."""
    mine = position(db)
    if after.version > mine.version:
        raise Diverged(f"replica at {after} is ahead of {mine}")
    if after.version == mine.version:
        if after.epoch != mine.epoch:
            raise Diverged(f"replica at {after} differs from {mine}")
        return []
    if after.version > 0:
        known = entry_at(db, after.version)
        if known is None:
            raise LookupError(f"version {after.version} no longer logged")
        if known.epoch != after.epoch:
            raise Diverged(f"replica at {after} differs from ours")
    rows = db.execute("SELECT version, epoch, changes FROM _repli_log "
                      "WHERE version > ? ORDER BY version LIMIT ?",
                      (after.version, limit)).fetchall()
    if not rows or rows[0][0] != after.version + 1:
        raise LookupError(f"version {after.version + 1} no longer logged")
    return [Entry(v, e, bytes(c)) for v, e, c in rows]


def apply(db: sqlite3.Connection, prev: Position,
          entries: list[Entry]) -> Position:
    """Inside the caller's open transaction: replay `entries`, which follow
    `prev`. Entries we hold already are skipped (a resent batch). Raises
    Behind when we are before `prev`, Diverged when our history differs."""
    mine = position(db)
    for entry in entries:
        if entry.version <= mine.version:
            known = entry_at(db, entry.version)
            if known is not None and known.epoch == entry.epoch:
                prev = Position(entry.epoch, entry.version)
                continue
            if known is None and entry.version == mine.version \
                    and entry.epoch == mine.epoch:
                prev = Position(entry.epoch, entry.version)
                continue
            raise Diverged(f"we hold another change {entry.version}")
        if mine != prev:
            if mine.version < prev.version:
                raise Behind(f"at {mine}, the changes follow {prev}")
            raise Diverged(f"at {mine}, the changes follow {prev}")
        changes.replay(db, changes.decode(entry.changes))
        mine = Position(entry.epoch, entry.version)
        _record(db, mine, entry.changes)
        prev = mine
    return mine


def stamp(db: sqlite3.Connection, pos: Position) -> None:
    """Make this base's position `pos`, in a transaction of its own, with
    no log entry: replicas behind it will need a full copy."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR REPLACE INTO _repli_state (k, v) "
                       "VALUES (?, ?)",
                       (("version", pos.version), ("epoch", pos.epoch)))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def copy_position(path: str) -> Position:
    """The position of the SQLite file `path` (a received copy)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return position(db)
    finally:
        db.close()
