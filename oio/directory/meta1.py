"""meta1: references (account, container) → linked services and properties.

Storage (`Meta1Base`, `BaseSet`): one SQLite file per prefix group, the
first `meta1_digits` hex digits of the container ID, as meta0 assigns them
(`<datadir>/meta1-<group>.db`, WAL, `synchronous=FULL`). Every write to a
base is one transaction through `Meta1Base.write`, the place that will ship
changes to replicas. `Meta1` holds the logic and only sees that interface.

Each operation runs under its base's lock, so "read, then write" steps
(create if missing, link if nothing is linked yet) are atomic: concurrent
container creations converge on the first services linked.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from oio.common.utils import cid_from_name, fsync_path, timestamp_us
from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position

from .errors import already_linked, bad_request, check_cid, in_use, no_reference

SCHEMA = repli_log.SCHEMA + """
CREATE TABLE IF NOT EXISTS refs (
    cid TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL,
    ctime INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS services (
    cid TEXT NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL,
    host TEXT NOT NULL, args TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cid, type, seq, host)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS props (
    cid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (cid, key)) WITHOUT ROWID;
"""
MAX_NAME = 1023        # bytes of an account or reference name
MAX_TYPE = 31
MAX_HOST = 255
MAX_ARGS = 1024
MAX_SEQ = 2 ** 31 - 1
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# An address (ip:port, [v6]:port) or a service ID.
_HOST = re.compile(r"^[A-Za-z0-9_.:\[\]-]+$")

Statement = tuple[str, tuple]


# -- validation ------------------------------------------------------------
def _is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (from JSON escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_type(kind: object) -> str:
    if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE \
            or not _TYPE.match(kind):
        raise bad_request(f"Invalid or missing service type {kind!r}")
    return kind


def _check_host(host: str) -> str:
    if not host or len(host) > MAX_HOST or not _HOST.match(host):
        raise bad_request(f"Invalid service host {host!r}")
    return host


def check_entries(entry: object, kind: str) -> list[dict]:
    """A directory entry {"seq", "type", "host", "args"} → one entry per
    host (`host` may be a comma-separated list of replicas)."""
    if not isinstance(entry, dict):
        raise bad_request("Expected a service entry object")
    etype = entry.get("type", kind)
    if etype != kind:
        raise bad_request(f"Service type mismatch: {etype!r} != {kind!r}")
    seq = entry.get("seq", 1)
    if isinstance(seq, bool) or not isinstance(seq, int) \
            or not 0 <= seq <= MAX_SEQ:
        raise bad_request("Invalid service seq: expected an integer")
    args = entry.get("args") or ""
    if not isinstance(args, str) or len(args) > MAX_ARGS \
            or not _is_utf8(args):
        raise bad_request("Invalid service args: expected a string")
    host = entry.get("host")
    if not isinstance(host, str):
        raise bad_request("Invalid service host: expected a string")
    return [{"seq": seq, "type": kind, "host": _check_host(h), "args": args}
            for h in host.split(",")]


def check_entry_list(entries: object, kind: str) -> list[dict]:
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise bad_request("Expected a non-empty list of service entries")
    return [e for entry in entries for e in check_entries(entry, kind)]


def check_names(names: object) -> list[str] | None:
    """A list of property names, or None."""
    if names is None:
        return None
    if not isinstance(names, list) or not all(
            isinstance(n, str) and _is_utf8(n) for n in names):
        raise bad_request("Expected a list of property names")
    return names


def _props_statements(cid: str, props: object) -> list[Statement]:
    if not isinstance(props, dict):
        raise bad_request("Expected an object of properties")
    out = []
    for key, value in props.items():
        # No length cap: 7.2 keeps keys of 1 MiB as well.
        if not key or not _is_utf8(key):
            raise bad_request("Invalid property name")
        if value is None or value == "":     # deletes the property
            out.append(("DELETE FROM props WHERE cid = ? AND key = ?",
                        (cid, key)))
        elif isinstance(value, str) and _is_utf8(value):
            out.append(("INSERT OR REPLACE INTO props (cid, key, value) "
                        "VALUES (?, ?, ?)", (cid, key, value)))
        else:
            raise bad_request(f"Invalid value of property {key!r}: "
                              "expected a string")
    return out


# -- storage ---------------------------------------------------------------
class Meta1Base:
    """One SQLite file, the references of one prefix group. Not thread-safe
    by itself: `BaseSet.use` hands it out under its group's lock."""

    def __init__(self, path: str, name: str = ""):
        self.path = path
        # The base's name in elections: its group, padded to 4 digits.
        self.name = name
        # Called after each commit with the statements.
        self.on_commit: Callable[[Meta1Base, list[Statement]], None] | None = None
        # The service's Replicator, and every replica of this base (None:
        # not replicated).
        self.replicator = None
        self.peers: Callable[[], list[str] | None] = lambda: None
        self.db = sqlite3.connect(path, isolation_level=None,
                                  check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            # One transaction: one sync, not one per table of a new base.
            self.db.executescript(f"BEGIN;{SCHEMA}COMMIT;")
        except sqlite3.DatabaseError:
            self.db.close()
            raise

    def q(self, sql: str, args: tuple = ()) -> list:
        return self.db.execute(sql, args).fetchall()

    def write(self, statements: list[Statement]) -> None:
        """The only write path: all statements in one durable transaction;
        on the master of a replicated base, logged as its next version and
        acknowledged once a majority of the replicas has it."""
        if not statements:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                self.db.execute(sql, args)
            shipment = self._log(statements)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        if shipment is not None:
            self.replicator.ship(*shipment)
        if self.on_commit is not None:
            self.on_commit(self, statements)

    def _log(self, statements: list[Statement]):
        if self.replicator is None:
            return None
        peers = self.peers() or []
        lease = self.replicator.lease(self.name, len(peers) > 1)
        return repli_log.log_statements(self.db, lease, statements)

    def apply(self, prev: Position, entries: list[Entry]) -> Position:
        """Replay a master's changes (a replica's side)."""
        return repli_log.apply_in_transaction(self.db, prev, entries)

    def close(self) -> None:
        self.db.close()


class BaseSet:
    """The bases of a meta1, opened on demand. At most about `max_open`
    stay open (idle ones closed, least recently used first), since a
    namespace with 4 digits has 65,536 of them.

    Each group has a lock that outlives its connection: an operation holds
    it from its first read to its commit, and a base is only closed under
    it, so two threads never work on one group through two connections."""

    def __init__(self, datadir: str, digits: int, max_open: int = 256):
        os.makedirs(datadir, exist_ok=True)
        self.datadir = datadir
        self.digits = digits
        self.max_open = max(1, max_open)
        self._open: OrderedDict[str, Meta1Base] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()      # guards the two dicts
        # Replication: the service's Replicator, and the replicas of a base
        # by its name (from the meta0 map).
        self.replicator = None
        self.peers_of: Callable[[str], list[str] | None] = lambda name: None

    def group_of(self, cid: str) -> str:
        return cid[:self.digits].upper() or "ALL"

    def name_of(self, group: str) -> str:
        """The base's name in elections: 4 hex digits (OpenIO's)."""
        return "0000" if group == "ALL" else group.ljust(4, "0")

    def group_of_name(self, name: str) -> str:
        return name[:self.digits].upper() or "ALL"

    def path_of(self, group: str) -> str:
        return os.path.join(self.datadir, f"meta1-{group}.db")

    def _group_lock(self, group: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(group, threading.Lock())

    def _open_base(self, group: str, create: bool) -> Meta1Base | None:
        """Called under the group's lock."""
        with self._lock:
            base = self._open.get(group)
            if base is not None:
                self._open.move_to_end(group)
                return base
        path = self.path_of(group)
        if not create and not os.path.exists(path):
            return None
        name = self.name_of(group)
        base = Meta1Base(path, name)
        base.replicator = self.replicator
        base.peers = lambda: self.peers_of(name)
        with self._lock:
            self._open[group] = base
        return base

    def _evict(self, keep: str) -> None:
        """Close the oldest bases beyond `max_open`, skipping busy ones
        (never waiting for a lock: no deadlock between two evictors)."""
        with self._lock:
            excess = len(self._open) - self.max_open
            victims = [g for g in self._open if g != keep][:max(0, excess)]
        for group in victims:
            lock = self._group_lock(group)
            if not lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    base = self._open.pop(group, None)
                if base is not None:
                    base.close()
            finally:
                lock.release()

    @contextlib.contextmanager
    def use(self, cid: str, create: bool = False) -> Iterator[Meta1Base | None]:
        """The base of the CID's group, locked for the whole block; None if
        it does not exist and not `create`."""
        with self.use_group(self.group_of(cid), create) as base:
            yield base

    @contextlib.contextmanager
    def use_group(self, group: str, create: bool = False
                  ) -> Iterator[Meta1Base | None]:
        with self._group_lock(group):
            yield self._open_base(group, create)
        self._evict(keep=group)

    def drop(self, group: str, replace_with: str | None = None) -> None:
        """Close the base of `group` and delete its file, or replace it by
        the SQLite file `replace_with` (same filesystem), durably."""
        with self._group_lock(group):
            with self._lock:
                base = self._open.pop(group, None)
            if base is not None:
                base.close()
            path = self.path_of(group)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
            if replace_with is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            else:
                fsync_path(replace_with)
                os.rename(replace_with, path)
            fsync_path(self.datadir)

    def close(self) -> None:
        with self._lock:
            groups = list(self._open)
        for group in groups:
            with self._group_lock(group):
                with self._lock:
                    base = self._open.pop(group, None)
                if base is not None:
                    base.close()


# -- logic -----------------------------------------------------------------
def _services(base: Meta1Base, cid: str, kind: str | None = None) -> list[dict]:
    sql = "SELECT seq, type, host, args FROM services WHERE cid = ?"
    args: tuple = (cid,)
    if kind:
        sql += " AND type = ?"
        args += (kind,)
    rows = base.q(sql + " ORDER BY type, seq, host", args)
    return [{"seq": s, "type": t, "host": h, "args": a} for s, t, h, a in rows]


def _insert_services(cid: str, entries: list[dict]) -> list[Statement]:
    return [("INSERT OR REPLACE INTO services (cid, type, seq, host, args) "
             "VALUES (?, ?, ?, ?, ?)",
             (cid, e["type"], e["seq"], e["host"], e["args"])) for e in entries]


class Meta1:
    """References and their services. CIDs are validated here too (64 hex,
    upper-cased), so the class is safe to call with raw input."""

    def __init__(self, datadir: str, meta1_digits: int = 4,
                 clock: Callable[[], float] = time.time, max_open: int = 256,
                 namespace: str = "", events=None):
        self.digits = max(0, min(4, meta1_digits))
        self.bases = BaseSet(datadir, self.digits, max_open)
        self.clock = clock
        self.namespace = namespace
        # A notifier (`emit(type, payload)` then `sync()`, e.g. an
        # EventSpool): told the whole service list of a reference each time
        # it changes.
        self.events = events

    def _announce(self, base: Meta1Base, cid: str, account: str,
                  name: str) -> None:
        """`account.services` (events.md §3.8): the account learns that a
        container exists, the rdir which meta2 hosts it."""
        if self.events is None:
            return
        self.events.emit("account.services", {
            "event": "account.services", "when": timestamp_us(),
            "url": {"ns": self.namespace, "account": account, "user": name,
                    "id": cid},
            "data": _services(base, cid)})
        self.events.sync()

    def close(self) -> None:
        self.bases.close()

    @contextlib.contextmanager
    def _existing(self, cid: str) -> Iterator[tuple[Meta1Base, str, str]]:
        """(base, account, name) of an existing reference, locked;
        404/406 otherwise."""
        with self.bases.use(cid) as base:
            row = None if base is None else base.q(
                "SELECT account, name FROM refs WHERE cid = ?", (cid,))
            if not row:
                raise no_reference(cid)
            yield base, row[0][0], row[0][1]

    # References ------------------------------------------------------------
    def create(self, cid: str, account: object, name: object,
               properties: object = None, announce: bool = True) -> bool:
        """True when created, False when it existed (properties are only
        set on creation). `announce=False` when a link follows at once
        (its event is the one)."""
        cid = check_cid(cid)
        for what, value in (("account", account), ("reference", name)):
            if not isinstance(value, str) or not value:
                raise bad_request(f"Missing {what} name")
            if not _is_utf8(value):
                raise bad_request(f"Invalid {what} name, not UTF-8")
            if len(value.encode("utf-8")) > MAX_NAME:
                raise bad_request(f"Invalid {what} name: too long")
        if cid_from_name(account, name) != cid:
            raise bad_request("The container ID does not match account "
                              "and reference")
        statements = _props_statements(cid, properties or {})
        with self.bases.use(cid, create=True) as base:
            if base.q("SELECT 1 FROM refs WHERE cid = ?", (cid,)):
                return False
            base.write([("INSERT INTO refs (cid, account, name, ctime) "
                         "VALUES (?, ?, ?, ?)",
                         (cid, account, name, int(self.clock())))]
                       + statements)
            # As 7.2: the (empty) service list of the new reference, which
            # the account service takes as a container of a new account.
            if announce:
                self._announce(base, cid, account, name)
        return True

    def show(self, cid: str, kind: str | None = None) -> dict:
        cid = check_cid(cid)
        if kind is not None:
            kind = check_type(kind)
        with self._existing(cid) as (base, account, name):
            return {"cid": cid, "account": account, "name": name,
                    "srv": _services(base, cid, kind)}

    def destroy(self, cid: str, force: bool = False) -> None:
        """403/407 while services are linked, unless `force`."""
        cid = check_cid(cid)
        with self._existing(cid) as (base, account, name):
            linked = _services(base, cid)
            if not force and linked:
                raise in_use(cid)
            base.write([(f"DELETE FROM {table} WHERE cid = ?", (cid,))
                        for table in ("services", "props", "refs")])
            if linked:
                self._announce(base, cid, account, name)

    def list(self, prefix: str, limit: int = 1000,
             marker: str = "") -> list[dict]:
        """References whose CID starts with the 4-digit `prefix`, sorted,
        after `marker` (admin)."""
        prefix = prefix.upper()
        with self.bases.use(prefix) as base:
            if base is None:
                return []
            rows = base.q(
                "SELECT cid, account, name FROM refs WHERE cid > ? AND "
                "cid >= ? AND cid < ? ORDER BY cid LIMIT ?",
                (marker.upper(), prefix, prefix + "G", max(0, limit)))
        return [{"cid": c, "account": a, "name": n} for c, a, n in rows]

    # Services --------------------------------------------------------------
    def link(self, cid: str, kind: str, candidates: object) -> list[dict]:
        """The services linked for `kind`: the existing ones if any (the
        candidates are then ignored), else the candidates, now linked."""
        cid, kind = check_cid(cid), check_type(kind)
        entries = check_entry_list(candidates, kind)
        with self._existing(cid) as (base, account, name):
            existing = _services(base, cid, kind)
            if existing:
                return existing
            base.write(_insert_services(cid, entries))
            self._announce(base, cid, account, name)
            return _services(base, cid, kind)

    def force(self, cid: str, kind: str, entry: object,
              replace: bool = False) -> None:
        """Link exactly `entry` for `kind` (409/455 if something is linked
        for `kind` and not `replace`; with `replace`, the old set goes)."""
        cid, kind = check_cid(cid), check_type(kind)
        entries = check_entry_list(entry, kind)
        with self._existing(cid) as (base, account, name):
            if not replace and _services(base, cid, kind):
                raise already_linked(kind)
            base.write([("DELETE FROM services WHERE cid = ? AND type = ?",
                         (cid, kind))] + _insert_services(cid, entries))
            self._announce(base, cid, account, name)

    def unlink(self, cid: str, kind: str) -> None:
        cid, kind = check_cid(cid), check_type(kind)
        with self._existing(cid) as (base, account, name):
            if not _services(base, cid, kind):
                return
            base.write([("DELETE FROM services WHERE cid = ? AND type = ?",
                         (cid, kind))])
            self._announce(base, cid, account, name)

    # Properties ------------------------------------------------------------
    def get_properties(self, cid: str, keys: object = None) -> dict[str, str]:
        """Every property, or those named in `keys` (None or [] for all)."""
        cid = check_cid(cid)
        keys = check_names(keys)
        with self._existing(cid) as (base, _, _):
            rows = base.q("SELECT key, value FROM props WHERE cid = ? "
                          "ORDER BY key", (cid,))
        if keys:
            wanted = set(keys)
            rows = [(k, v) for k, v in rows if k in wanted]
        return dict(rows)

    def set_properties(self, cid: str, props: object,
                       flush: bool = False) -> None:
        """Set properties (a value of "" or null deletes one); `flush`
        deletes every other property first."""
        cid = check_cid(cid)
        statements = _props_statements(cid, props)
        if flush:
            statements.insert(0, ("DELETE FROM props WHERE cid = ?", (cid,)))
        with self._existing(cid) as (base, _, _):
            base.write(statements)

    def del_properties(self, cid: str, keys: object) -> None:
        """Delete the named properties; None or [] deletes them all."""
        cid = check_cid(cid)
        keys = check_names(keys)
        if keys:
            statements = [("DELETE FROM props WHERE cid = ? AND key = ?",
                           (cid, k)) for k in keys]
        else:
            statements = [("DELETE FROM props WHERE cid = ?", (cid,))]
        with self._existing(cid) as (base, _, _):
            base.write(statements)
