"""Accounts, their containers and buckets, on SQLite (account.md §3, §4).

Container statistics are the absolute values last reported by meta2;
account and bucket counters are kept as the sum of their live containers,
moved by the difference at each update, and recomputed by `refresh` and
`refresh_bucket`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable

from . import buckets_sqlite as bsql
from .buckets import (
    REPLICATION_ENABLED,
    bucket_deltas,
    bucket_entry,
    cast_bucket,
    check_bucket_name,
    check_metadata,
    listing_limit,
    listing_page,
)
from .common import COUNTERS, AccountError, format_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, ctime TEXT NOT NULL,
    objects INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
    damaged_objects INTEGER NOT NULL DEFAULT 0,
    missing_chunks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS metadata (
    account TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (account, key));
CREATE TABLE IF NOT EXISTS containers (
    account TEXT NOT NULL, name TEXT NOT NULL,
    mtime TEXT NOT NULL DEFAULT '0', dtime TEXT NOT NULL DEFAULT '0',
    objects INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
    damaged_objects INTEGER NOT NULL DEFAULT 0,
    missing_chunks INTEGER NOT NULL DEFAULT 0,
    bucket TEXT, live INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, name));
CREATE INDEX IF NOT EXISTS live_containers ON containers (account, live, name);
""" + bsql.SCHEMA


def _counter(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise AccountError(400, f"Invalid counter {value!r}") from None


class AccountBackend:
    def __init__(self, datadir: str, autocreate: bool = True,
                 clock: Callable[[], float] = time.time):
        os.makedirs(datadir, exist_ok=True)
        self.autocreate = autocreate
        self.clock = clock
        self.db = sqlite3.connect(os.path.join(datadir, "accounts.db"),
                                  isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    def _tx(self, func):
        """Run `func(db)` in one transaction, the only way data changes."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = func(self.db)
                self.db.execute("COMMIT")
                return result
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # Accounts --------------------------------------------------------------
    def _create(self, db, account: str) -> bool:
        cur = db.execute("INSERT OR IGNORE INTO accounts (id, ctime) "
                         "VALUES (?, ?)", (account, format_time(self.clock())))
        return cur.rowcount == 1

    def create_account(self, account: str) -> bool:
        return self._tx(lambda db: self._create(db, account))

    def _require(self, db, account: str, create: bool = False) -> None:
        exists = db.execute("SELECT 1 FROM accounts WHERE id = ?",
                            (account,)).fetchone()
        if exists:
            return
        if create and self.autocreate:
            self._create(db, account)
            return
        raise AccountError(404, "Account not found")

    def delete_account(self, account: str) -> None:
        def delete(db):
            self._require(db, account)
            if db.execute("SELECT 1 FROM containers WHERE account = ? AND live "
                          "LIMIT 1", (account,)).fetchone():
                raise AccountError(409, "Account not empty")
            for table, column in (("metadata", "account"),
                                  ("containers", "account"), ("accounts", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (account,))
        self._tx(delete)

    def list_accounts(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM accounts ORDER BY id")]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]

    def update_metadata(self, account: str, metadata: dict | None,
                        to_delete: list | None) -> None:
        if metadata is not None and not isinstance(metadata, dict):
            raise AccountError(400, "Invalid metadata")
        if to_delete is not None and not isinstance(to_delete, list):
            raise AccountError(400, "Invalid to_delete")

        def update(db):
            self._require(db, account, create=True)
            for key in to_delete or ():
                db.execute("DELETE FROM metadata WHERE account = ? AND key = ?",
                           (account, str(key)))
            for key, value in (metadata or {}).items():
                db.execute("INSERT OR REPLACE INTO metadata VALUES (?, ?, ?)",
                           (account, str(key), str(value)))
        self._tx(update)

    def show(self, account: str) -> dict:
        row = self.db.execute(
            "SELECT id, ctime, objects, bytes, damaged_objects, missing_chunks "
            "FROM accounts WHERE id = ?", (account,)).fetchone()
        if row is None:
            raise AccountError(404, "Account not found")
        info = dict(zip(("id", "ctime") + COUNTERS, row, strict=True))
        info["containers"] = self.db.execute(
            "SELECT COUNT(*) FROM containers WHERE account = ? AND live",
            (account,)).fetchone()[0]
        info["buckets"] = bsql.count(self.db, account)
        info["metadata"] = dict(self.db.execute(
            "SELECT key, value FROM metadata WHERE account = ?", (account,)))
        return info

    # Containers ------------------------------------------------------------
    def list_containers(self, account: str, limit: int = 1000, marker: str = "",
                        end_marker: str = "", prefix: str = "",
                        delimiter: str = "") -> list[list]:
        """[name, objects, bytes, is_prefix, mtime] of live containers."""
        self.show(account)   # 404 on an unknown account
        limit = 1000 if limit <= 0 else min(limit, 10000)
        out: list[list] = []
        cursor = max(marker, prefix) if prefix else marker
        inclusive = bool(prefix) and prefix > marker
        while len(out) < limit:
            op = ">=" if inclusive else ">"
            sql = (f"SELECT name, objects, bytes, mtime FROM containers WHERE "
                   f"account = ? AND live AND name {op} ?")
            args: list = [account, cursor]
            if end_marker:
                sql += " AND name < ?"
                args.append(end_marker)
            rows = self.db.execute(sql + " ORDER BY name LIMIT ?",
                                   args + [limit - len(out)]).fetchall()
            if not rows:
                break
            inclusive = False
            for name, objects, size, mtime in rows:
                if prefix and not name.startswith(prefix):
                    return out
                cursor = name
                if delimiter:
                    cut = name.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = name[:cut + len(delimiter)]
                        if common != marker:
                            out.append([common, 0, 0, 1, 0])
                        # Jump past every name sharing this prefix.
                        cursor = common[:-1] + chr(ord(common[-1]) + 1)
                        inclusive = True
                        break
                out.append([name, objects, size, 0, float(mtime)])
                if len(out) >= limit:
                    break
        return out

    def update_container(self, account: str, name: str, data: dict) -> None:
        """Apply a container update (account.md §4.11); 409 when stale."""
        if not account or not name:
            raise AccountError(400, "Missing account or container")
        mtime = format_time(data.get("mtime"))
        dtime = format_time(data.get("dtime"))
        new = {k: _counter(data.get(k)) for k in COUNTERS}
        bucket = data.get("bucket")

        def update(db):
            self._require(db, account, create=True)
            row = db.execute(
                "SELECT mtime, dtime, objects, bytes, damaged_objects, "
                "missing_chunks, bucket FROM containers WHERE account = ? AND "
                "name = ?", (account, name)).fetchone()
            old_m, old_d = (row[0], row[1]) if row else ("0", "0")
            old = dict(zip(COUNTERS, row[2:6], strict=True)) if row else dict.fromkeys(
                COUNTERS, 0)
            if not (float(dtime) > float(old_d) or float(mtime) > float(old_m)):
                raise AccountError(409, "No update needed, event older than "
                                   "last container update")
            m, d = max(mtime, old_m, key=float), max(dtime, old_d, key=float)
            if float(d) > float(m):
                deltas = {k: -old[k] for k in COUNTERS}
                stored, live = dict.fromkeys(COUNTERS, 0), 0
            elif float(m) > float(old_m):
                deltas = {k: new[k] - old[k] for k in COUNTERS}
                stored, live = new, 1
            else:
                raise AccountError(409, "No update needed, event older than "
                                   "last container update")
            old_bucket = row[6] if row else None
            bucket_name = bucket or old_bucket
            db.execute(
                "INSERT OR REPLACE INTO containers (account, name, mtime, dtime, "
                "objects, bytes, damaged_objects, missing_chunks, bucket, live) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, name, m, d, *(stored[k] for k in COUNTERS),
                 bucket_name if live else None, live))
            db.execute(
                "UPDATE accounts SET objects = objects + ?, bytes = bytes + ?, "
                "damaged_objects = damaged_objects + ?, "
                "missing_chunks = missing_chunks + ? WHERE id = ?",
                (*(deltas[k] for k in COUNTERS), account))
            if not bucket_name:
                return
            moved = bucket_deltas(name, deltas, stored,
                                  attached=bool(old_bucket))
            if live:
                bsql.attach(db, account, name, bucket_name, moved, m)
            else:
                bsql.detach(db, account, name, bucket_name, moved)
        self._tx(update)

    def reset_container(self, account: str, name: str, mtime) -> None:
        row = self.db.execute("SELECT live FROM containers WHERE account = ? "
                              "AND name = ?", (account, name)).fetchone()
        if not row or not row[0]:
            raise AccountError(404, f"Container {name} not found")
        self.update_container(account, name, {"mtime": mtime})

    def show_container(self, account: str, name: str) -> dict:
        row = self.db.execute(
            "SELECT name, mtime, dtime, objects, bytes, damaged_objects, "
            "missing_chunks, bucket FROM containers WHERE account = ? AND "
            "name = ?", (account, name)).fetchone()
        out: dict = {REPLICATION_ENABLED: False}
        if row:
            out.update(zip(("name", "mtime", "dtime") + COUNTERS, row[:7],
                           strict=True))
            if row[7]:
                out["bucket"] = row[7]
                out[REPLICATION_ENABLED] = cast_bucket(
                    bsql.fields(self.db, row[7]))[REPLICATION_ENABLED]
        return out

    def refresh(self, account: str) -> None:
        def refresh(db):
            self._require(db, account)
            sums = db.execute(
                "SELECT COALESCE(SUM(objects), 0), COALESCE(SUM(bytes), 0), "
                "COALESCE(SUM(damaged_objects), 0), "
                "COALESCE(SUM(missing_chunks), 0) FROM containers WHERE "
                "account = ? AND live", (account,)).fetchone()
            db.execute("UPDATE accounts SET objects = ?, bytes = ?, "
                       "damaged_objects = ?, missing_chunks = ? WHERE id = ?",
                       (*sums, account))
        self._tx(refresh)

    def flush(self, account: str) -> None:
        def flush(db):
            self._require(db, account)
            db.execute("DELETE FROM containers WHERE account = ?", (account,))
            db.execute("UPDATE accounts SET objects = 0, bytes = 0, "
                       "damaged_objects = 0, missing_chunks = 0 WHERE id = ?",
                       (account,))
        self._tx(flush)

    # Buckets ---------------------------------------------------------------
    def list_buckets(self, account: str, limit: int = 1000, marker: str = "",
                     end_marker: str = "", prefix: str = ""
                     ) -> tuple[list[dict], str | None]:
        """One page of the account's buckets ({name, objects, bytes,
        mtime}) and the marker of the next page (None at the end)."""
        limit = listing_limit(limit)
        with self._lock:
            page, next_marker = listing_page(bsql.names(
                self.db, account, limit, marker, end_marker, prefix), limit)
            return [bucket_entry(name, bsql.fields(self.db, name))
                    for name in page], next_marker

    def show_bucket(self, bucket: str) -> dict:
        check_bucket_name(bucket)
        with self._lock:
            stored = bsql.fields(self.db, bucket)
        if not stored:
            raise AccountError(404, "Bucket not found")
        return cast_bucket(stored)

    def update_bucket(self, bucket: str, metadata: dict | None,
                      to_delete: list | None) -> dict:
        """Delete then set free fields of a bucket (known or not, as 7.2);
        the resulting bucket."""
        check_bucket_name(bucket)
        values, keys = check_metadata(metadata, to_delete)

        def update(db):
            bsql.delete_fields(db, bucket, keys)
            bsql.set_fields(db, bucket, values)
            return cast_bucket(bsql.fields(db, bucket))
        return self._tx(update)

    def refresh_bucket(self, bucket: str) -> None:
        """Recompute the counters of a bucket from its owner's live
        containers attached to it; one transaction, so no update slips
        between the sums and their writing."""
        check_bucket_name(bucket)

        def refresh(db):
            owner = bsql.fields(db, bucket).get("account")
            if not owner:
                raise AccountError(404, f"Bucket {bucket} not found")
            bsql.set_fields(db, bucket, bsql.sums(db, owner, bucket))
        self._tx(refresh)
