"""Per-volume reverse indexes on SQLite (rdir.md §2, §4).

Each volume has its own directory under `db_path` holding one SQLite
database: a sorted key/value table with the 7.2.0 key layout (`chunk|…`,
`admin|…`, `container|…`), so that listings, markers and prefixes behave as
on the LevelDB of the C server. Every write is one transaction, in WAL mode
with synchronous=FULL: a reply means the record is on disk.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

from oio.common.utils import fsync_path

logger = logging.getLogger(__name__)

DB_FILE = "rdir.sqlite3"
CHUNK_PREFIX = "chunk|"
CONTAINER_PREFIX = "container|"
ADMIN_PREFIX = "admin|"
KEY_LOCK = ADMIN_PREFIX + "lock"
KEY_INCIDENT = ADMIN_PREFIX + "incident_date"
CLEAR_LOCK_HOLDER = "admin_clear"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
MAX_VOLUME_ID = 200          # leaves room for "meta2-" in a 255-byte name
MAX_CONTAINER_ID = 64
MAX_FIELD = 1023
SCAN_BATCH = 512

SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) " \
         "WITHOUT ROWID"


class RdirError(Exception):
    """An error with its HTTP status and the `status` of the JSON body."""

    def __init__(self, http_status: int, message: str,
                 status: int | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.status = http_status if status is None else status


def _bad(message: str) -> RdirError:
    return RdirError(400, message)


def _utf8(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"{what} is not valid UTF-8") from None
    return value


def check_volume_id(volume: str | None) -> str:
    """The volume ID if it can name a directory under db_path, else 400."""
    if not volume:
        raise _bad("Missing volume id ('vol' parameter)")
    _utf8(volume, "Volume id")
    if len(volume.encode("utf-8")) > MAX_VOLUME_ID:
        raise _bad(f"Volume id longer than {MAX_VOLUME_ID} bytes")
    if volume.startswith(".") or "/" in volume or "\\" in volume:
        raise _bad(f"Invalid volume id {volume!r}: no '/', '\\' or leading '.'")
    if any(ord(c) < 0x20 or c == "\x7f" for c in volume):
        raise _bad(f"Invalid volume id {volume!r}: control character")
    return volume


def rawx_db_name(volume: str) -> str:
    check_volume_id(volume)
    if volume.startswith("meta2-"):
        # Such a directory would be the index of a meta2 volume.
        raise _bad(f"Invalid volume id {volume!r}: 'meta2-' is reserved")
    return volume


def meta2_db_name(volume: str) -> str:
    check_volume_id(volume)
    return "meta2-" + volume.replace(":", "-", 1)


def _string(data: dict, key: str, max_len: int = MAX_FIELD,
            mandatory: bool = True, separator: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if mandatory:
            raise _bad(f"Missing field '{key}'")
        return None
    if not isinstance(value, str):
        raise _bad(f"Field '{key}' must be a string")
    if mandatory and not value:
        raise _bad(f"Field '{key}' is empty")
    _utf8(value, f"Field '{key}'")
    if len(value) > max_len:
        raise _bad(f"Field '{key}' longer than {max_len} characters")
    if not separator and "|" in value:
        raise _bad(f"Field '{key}' must not contain '|'")
    return value


def _integer(data: dict, key: str, default: int = 0) -> int:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"Field '{key}' must be an integer")
    if value != value or value in (float("inf"), float("-inf")):
        raise _bad(f"Field '{key}' must be an integer")
    return int(value)


def _object(data) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _bad("Expected a JSON object")
    return data


def parse_chunk_record(data) -> dict:
    """The canonical chunk record of a push/delete body (400 when invalid).

    `mtime` is max(mtime, rtime), 0 when neither is given."""
    data = _object(data)
    if not data:
        raise _bad("Missing body")
    record = {"container_id": _string(data, "container_id", MAX_CONTAINER_ID),
              "content_id": _string(data, "content_id"),
              "chunk_id": _string(data, "chunk_id")}
    record["mtime"] = max(_integer(data, "mtime"), _integer(data, "rtime"))
    return record


def chunk_key(record: dict) -> str:
    return (f"{CHUNK_PREFIX}{record['container_id']}|{record['content_id']}|"
            f"{record['chunk_id']}")


def encode_chunk(record: dict) -> str:
    out = {k: record[k] for k in ("container_id", "content_id", "chunk_id")}
    if record.get("mtime", 0) > 0:
        out["mtime"] = record["mtime"]
    return json.dumps(out, separators=(",", ":"))


def decode_chunk(value: str) -> dict | None:
    """The stored record, None when it cannot be parsed."""
    try:
        data = json.loads(value)
        record = parse_chunk_record(data)
    except (ValueError, RdirError):
        return None
    return record


def parse_meta2_record(data) -> dict:
    data = _object(data)
    if not data:
        raise _bad("Missing body")
    return {"container_id": _string(data, "container_id", separator=True),
            "container_url": _string(data, "container_url", separator=True),
            "extra_data": _string(data, "extra_data", mandatory=False,
                                  max_len=65536, separator=True),
            "mtime": _integer(data, "mtime")}


def clamp_limit(limit) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _bad("'limit' must be an integer")
    if limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


class _Db:
    """One open volume database; `lock` serializes its use."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def write(self, puts=(), deletes=()) -> None:
        """Apply deletes then puts in one durable transaction."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany("DELETE FROM kv WHERE k = ?",
                                  [(k,) for k in deletes])
            self.conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)",
                                  list(puts))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def scan(self, start: str, inclusive: bool = True) -> Iterator[tuple[str, str]]:
        """(key, value) in key order from `start`, read in batches."""
        op = ">=" if inclusive else ">"
        while True:
            rows = self.conn.execute(
                f"SELECT k, v FROM kv WHERE k {op} ? ORDER BY k LIMIT ?",
                (start, SCAN_BATCH)).fetchall()
            yield from rows
            if len(rows) < SCAN_BATCH:
                return
            start, op = rows[-1][0], ">"


class RdirBackend:
    """The indexes of the volumes of one rdir service, under `db_path`."""

    def __init__(self, db_path: str, service_id: str | None = None):
        if not os.path.isdir(db_path):
            raise FileNotFoundError(
                errno.ENOENT, "rdir db_path is not a directory", db_path)
        self.db_path = db_path
        self.service_id = service_id
        self._dbs: dict[str, _Db] = {}
        self._open_lock = threading.Lock()

    def close(self) -> None:
        with self._open_lock:
            for db in self._dbs.values():
                with db.lock:
                    db.close()
            self._dbs.clear()

    # Databases -------------------------------------------------------------
    def _db(self, name: str, create: bool) -> _Db:
        db = self._dbs.get(name)
        if db is not None:
            return db
        with self._open_lock:
            db = self._dbs.get(name)
            if db is not None:
                return db
            directory = os.path.join(self.db_path, name)
            path = os.path.join(directory, DB_FILE)
            if not os.path.isfile(path):
                if not create:
                    raise RdirError(404, "DB not found")
                os.makedirs(directory, exist_ok=True)
                db = _Db(path)
                fsync_path(directory)
                fsync_path(self.db_path)
            else:
                db = _Db(path)
            self._dbs[name] = db
            return db

    def opened_db_count(self) -> int:
        return sum(1 for name in list(self._dbs) if not name.startswith("meta2-"))

    def status(self) -> dict:
        out: dict = {"opened_db_count": self.opened_db_count()}
        if self.service_id:
            out["service_id"] = self.service_id
        return out

    # Rawx volumes: chunks ----------------------------------------------------
    def create(self, volume: str) -> None:
        self._db(rawx_db_name(volume), create=True)

    def chunk_push(self, volume: str, data, create: bool = False) -> None:
        record = parse_chunk_record(data)
        db = self._db(rawx_db_name(volume), create=create)
        with db.lock:
            db.write(puts=[(chunk_key(record), encode_chunk(record))])

    def chunk_push_many(self, volume: str, items: list,
                        create: bool = False) -> None:
        """Index every record of `items` in one transaction; nothing is
        written if one of them is invalid (RdirError 400)."""
        records = [parse_chunk_record(data) for data in items]
        db = self._db(rawx_db_name(volume), create=create)
        with db.lock:
            db.write(puts=[(chunk_key(r), encode_chunk(r)) for r in records])

    def chunk_delete(self, volume: str, data) -> None:
        record = parse_chunk_record(data)
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            db.write(deletes=[chunk_key(record)])

    def _incident(self, db: _Db) -> int:
        raw = db.get(KEY_INCIDENT)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            raise RdirError(500, "Invalid incident date") from None

    def _listing(self, db: _Db, prefix: str, marker: str | None, limit: int,
                 rebuild: bool, incident: int):
        """(records [(key without "chunk|", record)], truncated, marker)."""
        prefix_key = CHUNK_PREFIX + prefix
        after_key = CHUNK_PREFIX + (marker or "")
        out: list[tuple[str, dict]] = []
        first = True
        for key, value in db.scan(max(prefix_key, after_key)):
            if first:
                first = False
                # Only the key the seek lands on can be the marker itself.
                if marker is not None and key.startswith(after_key):
                    continue
            if not key.startswith(prefix_key):
                break
            record = decode_chunk(value)
            if record is None:
                logger.warning("Malformed record at [%s] in %s", key, db.path)
                continue
            if rebuild and record["mtime"] > incident:
                continue
            if len(out) >= limit:
                return out, True, out[-1][0]
            out.append((key[len(CHUNK_PREFIX):], record))
        return out, False, None

    def chunk_fetch(self, volume: str, marker: str | None = None,
                    limit: int | None = None, prefix: str | None = None,
                    rebuild: bool = False):
        """([[key, {"mtime": n}], …], truncated, marker) (rdir.md §4.5)."""
        limit = clamp_limit(limit)
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            incident = self._incident(db)
            if rebuild and incident <= 0:
                return [], False, None
            records, truncated, next_marker = self._listing(
                db, prefix or "", marker, limit, rebuild, incident)
        return ([[key, {"mtime": rec["mtime"]}] for key, rec in records],
                truncated, next_marker)

    def chunk_status(self, volume: str, marker: str | None = None,
                     limit: int | None = None, prefix: str | None = None):
        """(statistics of one page, truncated, marker) (rdir.md §4.6)."""
        limit = clamp_limit(limit)
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            incident = self._incident(db)
            records, truncated, next_marker = self._listing(
                db, prefix or "", marker, limit, False, incident)
        total = to_rebuild = 0
        containers: dict[str, dict] = {}
        for _key, rec in records:
            total += 1
            stats = containers.setdefault(rec["container_id"], {"total": 0})
            stats["total"] += 1
            if incident > 0 and rec["mtime"] <= incident:
                to_rebuild += 1
                stats["to_rebuild"] = stats.get("to_rebuild", 0) + 1
        out: dict = {"chunk": {"total": total}, "container": containers}
        if incident > 0:
            out["chunk"]["to_rebuild"] = to_rebuild
            out["rebuild"] = {"incident_date": incident}
        return out, truncated, next_marker

    # Rawx volumes: administration ------------------------------------------
    def admin_show(self, volume: str) -> dict:
        db = self._db(rawx_db_name(volume), create=False)
        out = {}
        with db.lock:
            for key, value in db.scan(ADMIN_PREFIX):
                if not key.startswith(ADMIN_PREFIX):
                    break
                out[key[len(ADMIN_PREFIX):]] = value
        return out

    def _take_lock(self, db: _Db, who: str) -> None:
        holder = db.get(KEY_LOCK)
        if holder is not None and holder != who:
            raise RdirError(403, f"Already locked by {holder}")
        if holder is None:
            db.write(puts=[(KEY_LOCK, who)])

    def admin_lock(self, volume: str, data) -> None:
        who = _string(_object(data), "who", separator=True)
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            self._take_lock(db, who)

    def admin_unlock(self, volume: str) -> None:
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            db.write(deletes=[KEY_LOCK])

    def admin_incident_get(self, volume: str) -> int:
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            return self._incident(db)

    def admin_incident_set(self, volume: str, data) -> None:
        data = _object(data)
        if "date" not in data:
            raise _bad("Missing field 'date'")
        date = data["date"]
        if isinstance(date, bool) or not isinstance(date, int):
            raise _bad("Field 'date' must be an integer (seconds)")
        db = self._db(rawx_db_name(volume), create=False)
        with db.lock:
            db.write(puts=[(KEY_INCIDENT, str(date))])

    def admin_clear(self, volume: str, clear_all: bool = False,
                    before_incident: bool = False, repair: bool = False) -> dict:
        """Bulk removal/repair under the `admin_clear` lock (rdir.md §4.11)."""
        db = self._db(rawx_db_name(volume), create=False)
        removed = repaired = errors = 0
        with db.lock:
            self._take_lock(db, CLEAR_LOCK_HOLDER)
            try:
                incident = self._incident(db) if before_incident else 0
                puts, deletes = [], []
                if clear_all or (before_incident and incident > 0) or repair:
                    for key, value in db.scan(CHUNK_PREFIX):
                        if not key.startswith(CHUNK_PREFIX):
                            break
                        if clear_all:
                            deletes.append(key)
                            removed += 1
                            continue
                        record = decode_chunk(value)
                        if record is None:
                            errors += 1
                            continue
                        if before_incident and 0 < incident and \
                                record["mtime"] <= incident:
                            deletes.append(key)
                            removed += 1
                            continue
                        if repair:
                            canonical = chunk_key(record)
                            if canonical != key:
                                deletes.append(key)
                            puts.append((canonical, encode_chunk(record)))
                            repaired += 1
                db.write(puts=puts, deletes=deletes + [KEY_INCIDENT])
            finally:
                db.write(deletes=[KEY_LOCK])
        return {"removed": removed, "repaired": repaired, "errors": errors}

    # Meta2 volumes -----------------------------------------------------------
    def meta2_create(self, volume: str) -> None:
        self._db(meta2_db_name(volume), create=True)

    def meta2_push(self, volume: str, data, create: bool = True) -> None:
        record = parse_meta2_record(data)
        db = self._db(meta2_db_name(volume), create=create)
        value = json.dumps(record, separators=(",", ":"))
        with db.lock:
            db.write(puts=[(CONTAINER_PREFIX + record["container_url"], value)])

    def meta2_delete(self, volume: str, data) -> None:
        record = parse_meta2_record(data)
        db = self._db(meta2_db_name(volume), create=False)
        with db.lock:
            db.write(deletes=[CONTAINER_PREFIX + record["container_url"]])

    def meta2_fetch(self, volume: str, data) -> dict:
        """{"records": […], "truncated": bool}, with the 7.2.0 paging:
        the record after the sought marker is skipped, and up to `limit + 1`
        records are returned (rdir.md §4.12)."""
        data = _object(data)
        prefix = _string(data, "prefix", mandatory=False, separator=True)
        marker = _string(data, "marker", mandatory=False, separator=True)
        limit = clamp_limit(data.get("limit"))
        try:
            db = self._db(meta2_db_name(volume), create=False)
        except RdirError as exc:
            if exc.http_status == 404:
                raise RdirError(400, exc.message) from None
            raise
        prefix_key = CONTAINER_PREFIX + prefix if prefix is not None else None
        records: list = []
        truncated = False
        with db.lock:
            if marker is not None:
                scan = db.scan(CONTAINER_PREFIX + marker)
                next(scan, None)
            else:
                scan = db.scan(prefix_key or "")
            for key, value in scan:
                if prefix_key is not None and not key.startswith(prefix_key):
                    break
                if len(records) > limit:
                    truncated = True
                    break
                try:
                    records.append(json.loads(value))
                except ValueError:
                    logger.warning("Malformed record at [%s] in %s", key,
                                   db.path)
        return {"records": records, "truncated": truncated}
