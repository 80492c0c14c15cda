"""Buckets on the SQLite account backend: each function works inside the
caller's transaction (`db` is the backend's connection).

`bucket_fields` mirrors 7.2's bucket hash (free fields, counters kept as
text and moved with integer arithmetic); `bucket_list` is each account's
list of buckets (those whose root container lives).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from .buckets import SEGMENTS_MARK
from .common import COUNTERS

SCHEMA = """
CREATE TABLE IF NOT EXISTS bucket_fields (
    bucket TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS bucket_list (
    account TEXT NOT NULL, bucket TEXT NOT NULL, PRIMARY KEY (account, bucket));
CREATE INDEX IF NOT EXISTS bucket_containers ON containers (account, bucket);
"""


def fields(db: sqlite3.Connection, bucket: str) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM bucket_fields WHERE "
                           "bucket = ?", (bucket,)))


def set_fields(db: sqlite3.Connection, bucket: str,
               values: Mapping[str, str]) -> None:
    db.executemany("INSERT OR REPLACE INTO bucket_fields VALUES (?, ?, ?)",
                   [(bucket, k, str(v)) for k, v in values.items()])


def delete_fields(db: sqlite3.Connection, bucket: str, keys) -> None:
    db.executemany("DELETE FROM bucket_fields WHERE bucket = ? AND key = ?",
                   [(bucket, k) for k in keys])


def add_counters(db: sqlite3.Connection, bucket: str,
                 deltas: Mapping[str, int]) -> None:
    db.executemany(
        "INSERT INTO bucket_fields VALUES (?, ?, ?) ON CONFLICT (bucket, key) "
        "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)",
        [(bucket, k, str(deltas[k]), deltas[k]) for k in COUNTERS])


def attach(db: sqlite3.Connection, account: str, container: str, bucket: str,
           deltas: Mapping[str, int], mtime: str) -> None:
    """A live container of `account` reported to `bucket` (account.md
    §4.11 step 8)."""
    set_fields(db, bucket, {"account": account, "mtime": mtime})
    if container == bucket:
        db.execute("INSERT OR IGNORE INTO bucket_list VALUES (?, ?)",
                   (account, bucket))
    add_counters(db, bucket, deltas)


def detach(db: sqlite3.Connection, account: str, container: str, bucket: str,
           deltas: Mapping[str, int]) -> None:
    """A deleted container leaves its bucket; the root container's
    deletion deletes the bucket."""
    if container == bucket:
        db.execute("DELETE FROM bucket_list WHERE account = ? AND bucket = ?",
                   (account, bucket))
        db.execute("DELETE FROM bucket_fields WHERE bucket = ?", (bucket,))
    elif fields(db, bucket):
        add_counters(db, bucket, deltas)


def count(db: sqlite3.Connection, account: str) -> int:
    return db.execute("SELECT COUNT(*) FROM bucket_list WHERE account = ?",
                      (account,)).fetchone()[0]


def names(db: sqlite3.Connection, account: str, limit: int, marker: str,
          end_marker: str, prefix: str) -> list[str]:
    sql = "SELECT bucket FROM bucket_list WHERE account = ? AND bucket > ?"
    args: list = [account, marker]
    if end_marker:
        sql += " AND bucket < ?"
        args.append(end_marker)
    if prefix:
        # substr(): LIKE would read % and _ in the prefix as wildcards.
        sql += " AND substr(bucket, 1, ?) = ?"
        args += [len(prefix), prefix]
    return [r[0] for r in db.execute(sql + " ORDER BY bucket LIMIT ?",
                                     args + [limit])]


def sums(db: sqlite3.Connection, account: str, bucket: str) -> dict[str, int]:
    """The counters of `bucket` recomputed from its live containers."""
    row = db.execute(
        "SELECT COALESCE(SUM(CASE WHEN instr(name, ?) THEN 0 ELSE objects "
        "END), 0), COALESCE(SUM(bytes), 0), COALESCE(SUM(damaged_objects), 0), "
        "COALESCE(SUM(missing_chunks), 0) FROM containers WHERE account = ? "
        "AND live AND bucket = ?", (SEGMENTS_MARK, account, bucket)).fetchone()
    return dict(zip(COUNTERS, row, strict=True))
