"""meta1: references (account, container) → linked services and properties.

One SQLite base per prefix group (the first `meta1_digits` hex digits of
the container ID), as the bases a meta0 assigns. Every write runs in one
transaction through `Meta1._write`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable

from oio.common.utils import cid_from_name

from .errors import already_linked, bad_request, check_cid, in_use, no_reference

SCHEMA = """
CREATE TABLE IF NOT EXISTS refs (
    cid TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL,
    ctime INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS services (
    cid TEXT NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL,
    host TEXT NOT NULL, args TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cid, type, seq, host));
CREATE TABLE IF NOT EXISTS props (
    cid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (cid, key));
"""
MAX_NAME = 1023
MAX_TYPE = 31


def check_entry(entry: object, kind: str | None = None) -> dict:
    """A service entry {"seq", "type", "host", "args"}, validated."""
    if not isinstance(entry, dict):
        raise bad_request("Expected a service entry object")
    etype = entry.get("type", kind)
    host = entry.get("host")
    if not isinstance(etype, str) or not etype or len(etype) > MAX_TYPE:
        raise bad_request("Invalid service type")
    if kind is not None and etype != kind:
        raise bad_request(f"Service type mismatch: {etype} != {kind}")
    if not isinstance(host, str) or not host or len(host) > 255:
        raise bad_request("Invalid service host")
    try:
        seq = int(entry.get("seq", 1))
    except (TypeError, ValueError):
        raise bad_request("Invalid service seq") from None
    args = entry.get("args") or ""
    if not isinstance(args, str):
        raise bad_request("Invalid service args")
    return {"seq": seq, "type": etype, "host": host, "args": args}


def check_type(kind: object) -> str:
    if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE:
        raise bad_request("Invalid or missing service type")
    return kind


class Meta1:
    def __init__(self, datadir: str, meta1_digits: int = 4,
                 clock: Callable[[], float] = time.time):
        os.makedirs(datadir, exist_ok=True)
        self.datadir = datadir
        self.digits = max(0, min(4, meta1_digits))
        self.clock = clock
        self._bases: dict[str, sqlite3.Connection] = {}
        self._lock = threading.RLock()

    def close(self) -> None:
        for db in self._bases.values():
            db.close()
        self._bases.clear()

    def _base(self, cid: str, create: bool = True) -> sqlite3.Connection | None:
        group = cid[:self.digits] or "ALL"
        db = self._bases.get(group)
        if db is None:
            path = os.path.join(self.datadir, f"meta1-{group}.db")
            if not create and not os.path.exists(path):
                return None
            db = sqlite3.connect(path, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            self._bases[group] = db
        return db

    def _write(self, cid: str, statements: list[tuple[str, tuple]]) -> None:
        db = self._base(cid)
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    db.execute(sql, args)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _ref(self, cid: str) -> tuple[str, str] | None:
        db = self._base(cid, create=False)
        if db is None:
            return None
        return db.execute("SELECT account, name FROM refs WHERE cid = ?",
                          (cid,)).fetchone()

    def _require(self, cid: str) -> tuple[str, str]:
        cid = check_cid(cid)
        ref = self._ref(cid)
        if ref is None:
            raise no_reference(cid)
        return ref

    # References ------------------------------------------------------------
    def create(self, cid: str, account: object, name: object,
               properties: dict | None = None) -> bool:
        """True when created, False when it existed."""
        cid = check_cid(cid)
        for what, value in (("account", account), ("reference", name)):
            if not isinstance(value, str) or not value or \
                    len(value.encode()) > MAX_NAME:
                raise bad_request(f"Invalid {what} name")
        if cid_from_name(account, name) != cid:
            raise bad_request("The container ID does not match account "
                              "and reference")
        if self._ref(cid) is not None:
            return False
        statements = [("INSERT OR IGNORE INTO refs (cid, account, name, ctime) "
                       "VALUES (?, ?, ?, ?)", (cid, account, name,
                                               int(self.clock())))]
        statements += self._props_statements(cid, properties or {})
        self._write(cid, statements)
        return True

    def show(self, cid: str, kind: str | None = None) -> dict:
        account, name = self._require(cid)
        cid = cid.upper()
        return {"cid": cid, "account": account, "name": name,
                "srv": self.services(cid, kind)}

    def services(self, cid: str, kind: str | None = None) -> list[dict]:
        db = self._base(cid)
        sql = "SELECT seq, type, host, args FROM services WHERE cid = ?"
        args: tuple = (cid,)
        if kind:
            sql += " AND type = ?"
            args += (kind,)
        rows = db.execute(sql + " ORDER BY type, seq, host", args).fetchall()
        return [{"seq": s, "type": t, "host": h, "args": a} for s, t, h, a in rows]

    def destroy(self, cid: str, force: bool = False) -> None:
        self._require(cid)
        cid = cid.upper()
        if self.services(cid) and not force:
            raise in_use(cid)
        self._write(cid, [(f"DELETE FROM {table} WHERE cid = ?", (cid,))
                          for table in ("services", "props", "refs")])

    def list(self, prefix: str) -> list[dict]:
        """References whose container ID starts with `prefix` (admin)."""
        prefix = prefix.upper()
        if len(prefix) >= self.digits:
            groups = [prefix[:self.digits] or "ALL"]
        else:
            groups = sorted(
                name[len("meta1-"):-len(".db")]
                for name in os.listdir(self.datadir)
                if name.startswith("meta1-" + prefix) and name.endswith(".db"))
        out = []
        for group in groups:
            base = self._base(group.ljust(self.digits, "0") if group != "ALL"
                              else "", create=False)
            if base is None:
                continue
            for cid, account, name in base.execute(
                    "SELECT cid, account, name FROM refs WHERE cid LIKE ? "
                    "ORDER BY cid", (prefix + "%",)):
                out.append({"cid": cid, "account": account, "name": name})
        return out

    # Services --------------------------------------------------------------
    def link(self, cid: str, kind: str, candidates: object) -> list[dict]:
        """The services linked for `kind`: the existing ones, else the
        candidates, now linked."""
        self._require(cid)
        cid, kind = cid.upper(), check_type(kind)
        existing = self.services(cid, kind)
        if existing:
            return existing
        if not isinstance(candidates, list) or not candidates:
            raise bad_request("Expected a non-empty list of candidates")
        entries = [check_entry(c, kind) for c in candidates]
        self._write(cid, [
            ("INSERT OR REPLACE INTO services (cid, type, seq, host, args) "
             "VALUES (?, ?, ?, ?, ?)",
             (cid, kind, e["seq"], e["host"], e["args"])) for e in entries])
        return self.services(cid, kind)

    def force(self, cid: str, kind: str, entry: object,
              replace: bool = False) -> None:
        self._require(cid)
        cid, kind = cid.upper(), check_type(kind)
        entries = entry if isinstance(entry, list) else [entry]
        entries = [check_entry(e, kind) for e in entries]
        if not entries:
            raise bad_request("Expected a service entry")
        if self.services(cid, kind) and not replace:
            raise already_linked(kind)
        statements = [("DELETE FROM services WHERE cid = ? AND type = ?",
                       (cid, kind))]
        statements += [
            ("INSERT OR REPLACE INTO services (cid, type, seq, host, args) "
             "VALUES (?, ?, ?, ?, ?)",
             (cid, kind, e["seq"], e["host"], e["args"])) for e in entries]
        self._write(cid, statements)

    def unlink(self, cid: str, kind: str) -> None:
        self._require(cid)
        cid, kind = cid.upper(), check_type(kind)
        self._write(cid, [("DELETE FROM services WHERE cid = ? AND type = ?",
                           (cid, kind))])

    # Properties ------------------------------------------------------------
    @staticmethod
    def _props_statements(cid: str, props: object) -> list[tuple[str, tuple]]:
        if not isinstance(props, dict):
            raise bad_request("Expected an object of properties")
        out = []
        for key, value in props.items():
            if not isinstance(key, str) or not key:
                raise bad_request("Invalid property name")
            if value is None or value == "":
                out.append(("DELETE FROM props WHERE cid = ? AND key = ?",
                            (cid, key)))
            elif isinstance(value, str):
                out.append(("INSERT OR REPLACE INTO props (cid, key, value) "
                            "VALUES (?, ?, ?)", (cid, key, value)))
            else:
                raise bad_request(f"Invalid value of property {key}")
        return out

    def get_properties(self, cid: str, keys: object = None) -> dict:
        self._require(cid)
        cid = cid.upper()
        rows = self._base(cid).execute(
            "SELECT key, value FROM props WHERE cid = ?", (cid,)).fetchall()
        props = dict(rows)
        if keys:
            if not isinstance(keys, list):
                raise bad_request("Expected a list of property names")
            props = {k: v for k, v in props.items() if k in keys}
        return props

    def set_properties(self, cid: str, props: object, flush: bool = False) -> None:
        self._require(cid)
        cid = cid.upper()
        statements = []
        if flush:
            statements.append(("DELETE FROM props WHERE cid = ?", (cid,)))
        statements += self._props_statements(cid, props)
        self._write(cid, statements)

    def del_properties(self, cid: str, keys: object) -> None:
        self._require(cid)
        cid = cid.upper()
        if keys is None:
            keys = []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise bad_request("Expected a list of property names")
        if not keys:   # no name: every property
            self._write(cid, [("DELETE FROM props WHERE cid = ?", (cid,))])
            return
        self._write(cid, [("DELETE FROM props WHERE cid = ? AND key = ?",
                           (cid, k)) for k in keys])
