"""The directory's bases as the replication layer sees them
(oio/sqlx/store.py): meta1's prefix bases and meta0's one base.

A meta1 base is named after its prefix group padded to 4 hex digits
(`AB00` with 2 digits), as OpenIO names them; its replicas are the meta1
services the meta0 map assigns to its prefixes. meta0's base is named after
the namespace; its replicas are every meta0 registered in ZooKeeper.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable

from oio.common.utils import is_hexa
from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position

from .meta1 import BaseSet


def _checked_position(path: str) -> Position:
    """The position of a received copy, after checking it is sane."""
    check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if check.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise ValueError("the copy is corrupted")
        return repli_log.position(check)
    finally:
        check.close()


def dump_file(db: sqlite3.Connection, tmp_dir: str) -> tuple[int, int]:
    """(fd, size) of a consistent copy of `db` (SQLite online backup), an
    unlinked file the caller reads, then closes."""
    os.makedirs(tmp_dir, exist_ok=True)
    path = os.path.join(tmp_dir, f"dump.{uuid.uuid4().hex}")
    try:
        dest = sqlite3.connect(path)
        try:
            db.backup(dest)
        finally:
            dest.close()
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return fd, os.fstat(fd).st_size


class Meta1Store:
    """BaseStore over meta1's BaseSet."""

    kind = "meta1"

    def __init__(self, bases: BaseSet):
        self.bases = bases

    def check_base(self, base: str) -> str:
        if not is_hexa(base, 4):
            raise ValueError("expected 4 hexadecimal digits")
        return base.upper()

    def _group(self, base: str) -> str:
        return self.bases.group_of_name(base)

    def peers(self, base: str) -> list[str] | None:
        return self.bases.peers_of(base)

    def position(self, base: str) -> Position | None:
        with self.bases.use_group(self._group(base)) as db:
            return None if db is None else repli_log.position(db.db)

    def apply(self, base: str, prev: Position, entries: list[Entry]
              ) -> Position:
        origin = prev == Position()
        with self.bases.use_group(self._group(base), create=origin) as db:
            if db is None:
                raise LookupError(f"no base {base} here")
            return db.apply(prev, entries)

    def stamp(self, base: str, pos: Position) -> None:
        with self.bases.use_group(self._group(base)) as db:
            if db is not None and db.q("SELECT 1 FROM refs LIMIT 1"):
                repli_log.stamp(db.db, pos)

    def entries_after(self, base: str, after: Position) -> list[Entry]:
        with self.bases.use_group(self._group(base)) as db:
            if db is None:
                raise LookupError(f"no base {base} here")
            return repli_log.entries_after(db.db, after)

    def dump(self, base: str) -> tuple[int, int]:
        with self.bases.use_group(self._group(base)) as db:
            if db is None:
                raise LookupError(f"no base {base} here")
            return dump_file(db.db, self.tmp_dir())

    def install(self, base: str, path: str) -> Position:
        pos = _checked_position(path)
        self.bases.drop(self._group(base), replace_with=path)
        return pos

    def remove(self, base: str) -> None:
        self.bases.drop(self._group(base))

    def local_path(self, base: str) -> str | None:
        path = self.bases.path_of(self._group(base))
        return path if os.path.exists(path) else None

    def vacuum(self, base: str) -> None:
        with self.bases.use_group(self._group(base)) as db:
            if db is not None:
                db.db.execute("VACUUM")

    def tmp_dir(self) -> str:
        return os.path.join(self.bases.datadir, "tmp")


class Meta0Store:
    """BaseStore over meta0's one base, named after the namespace."""

    kind = "meta0"

    def __init__(self, meta0, namespace: str,
                 peers: Callable[[], list[str] | None]):
        self.meta0 = meta0
        self.namespace = namespace
        self._peers = peers

    def check_base(self, base: str) -> str:
        if base != self.namespace:
            raise ValueError(f"meta0 serves the base {self.namespace} only")
        return base

    def peers(self, base: str) -> list[str] | None:
        return self._peers()

    def position(self, base: str) -> Position | None:
        return self.meta0.position()

    def apply(self, base: str, prev: Position, entries: list[Entry]
              ) -> Position:
        return self.meta0.apply(prev, entries)

    def stamp(self, base: str, pos: Position) -> None:
        self.meta0.stamp(pos)

    def entries_after(self, base: str, after: Position) -> list[Entry]:
        return self.meta0.entries_after(after)

    def dump(self, base: str) -> tuple[int, int]:
        os.makedirs(self.tmp_dir(), exist_ok=True)
        path = os.path.join(self.tmp_dir(), f"dump.{uuid.uuid4().hex}")
        try:
            self.meta0.backup(path)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return fd, os.fstat(fd).st_size

    def install(self, base: str, path: str) -> Position:
        pos = _checked_position(path)
        self.meta0.replace(path)
        return pos

    def remove(self, base: str) -> None:
        raise ValueError("the meta0 base cannot be removed")

    def local_path(self, base: str) -> str | None:
        return self.meta0.path

    def vacuum(self, base: str) -> None:
        self.meta0.vacuum()

    def tmp_dir(self) -> str:
        return os.path.join(self.meta0.datadir, "tmp")
