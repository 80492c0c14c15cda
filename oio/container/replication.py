"""meta2's bases as the replication layer sees them (oio/sqlx/store.py).

A container's base is named `<CID>.1` in elections and between replicas;
its replicas are listed in its own `sys.peers`, written at its creation
from the meta2 services that meta1 linked to the container.
"""

from __future__ import annotations

from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position

from .backend import BaseCache, BaseNotFound

_HEX = frozenset("0123456789ABCDEF")


def base_name(cid: str) -> str:
    return f"{cid}.1"


def cid_of(base: str) -> str:
    return base[:64]


class Meta2Store:
    """BaseStore over a meta2 BaseCache."""

    kind = "meta2"

    def __init__(self, bases: BaseCache):
        self.bases = bases

    def check_base(self, base: str) -> str:
        cid, dot, seq = base.partition(".")
        cid = cid.upper()
        if len(cid) != 64 or not set(cid) <= _HEX or (dot and not seq.isdigit()):
            raise ValueError("expected <64 hex digits>.<seq>")
        return f"{cid}.{seq or 1}"

    def peers(self, base: str) -> list[str] | None:
        return self.bases.peers(cid_of(base))

    def position(self, base: str) -> Position | None:
        return self.bases.position(cid_of(base))

    def apply(self, base: str, prev: Position, entries: list[Entry]
              ) -> Position:
        return self.bases.apply(cid_of(base), prev, entries)

    def stamp(self, base: str, pos: Position) -> None:
        try:
            self.bases.run(cid_of(base),
                           lambda b: repli_log.stamp(b.db, pos))
        except BaseNotFound:
            pass

    def entries_after(self, base: str, after: Position) -> list[Entry]:
        return self.bases.entries_after(cid_of(base), after)

    def dump(self, base: str) -> tuple[int, int]:
        return self.bases.dump(cid_of(base))

    def install(self, base: str, path: str) -> Position:
        return self.bases.install_copy(cid_of(base), path)

    def remove(self, base: str) -> None:
        self.bases.remove(cid_of(base))

    def local_path(self, base: str) -> str | None:
        return self.bases.local_path(cid_of(base))

    def vacuum(self, base: str) -> None:
        self.bases.run(cid_of(base), lambda b: b.db.execute("VACUUM"))

    def tmp_dir(self) -> str:
        return self.bases.tmp_dir()
