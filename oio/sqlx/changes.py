"""What a write transaction changed, as the statements that changed it.

A master records the data-changing statements of each transaction
(`Recorder`, a stand-in for the sqlite3 connection during a write) and
ships them; replicas replay them in the same order on the same state, and
reach the same state, since our statements are deterministic (explicit
parameters, no random() or time functions, keys given by the caller).

On the wire and in the log a change set is compact JSON:
`{"q": [sql, ...], "o": [[index of sql, [params...]], ...]}`, each SQL text
once however many rows it touched.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable

Params = tuple | list
Statement = tuple[str, Params]


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:7].upper()
    return head.startswith(("SELECT", "PRAGMA", "WITH"))


class Recorder:
    """Wraps a connection inside a write transaction: executes everything,
    remembers the statements that write. `mark()`/`rewind()` follow
    savepoints, so that a write undone by ROLLBACK TO leaves no trace."""

    __slots__ = ("db", "statements")

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.statements: list[Statement] = []

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        cursor = self.db.execute(sql, params)
        if not _is_read(sql):
            self.statements.append((sql, tuple(params)))
        return cursor

    def executemany(self, sql: str, seq: Iterable[Params]) -> sqlite3.Cursor:
        rows = [tuple(p) for p in seq]
        cursor = self.db.executemany(sql, rows)
        self.statements.extend((sql, p) for p in rows)
        return cursor

    def mark(self) -> int:
        return len(self.statements)

    def rewind(self, mark: int) -> None:
        del self.statements[mark:]

    def take(self) -> list[Statement]:
        out, self.statements = self.statements, []
        return out


def encode(statements: list[Statement]) -> bytes:
    """The compact JSON of a change set."""
    index: dict[str, int] = {}
    ops = []
    for sql, params in statements:
        pos = index.get(sql)
        if pos is None:
            pos = index[sql] = len(index)
        ops.append([pos, list(params)])
    return json.dumps({"q": list(index), "o": ops},
                      separators=(",", ":")).encode()


def decode(blob: bytes | str) -> list[Statement]:
    """Statements of an encoded change set; ValueError if malformed."""
    try:
        data = json.loads(blob)
        sqls = data["q"]
        return [(sqls[pos], tuple(params)) for pos, params in data["o"]]
    except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed change set: {exc}") from None


# Replicas replay data changes only: a peer cannot make them attach files,
# load extensions or change pragmas.
_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\s", re.IGNORECASE)


def replay(db: sqlite3.Connection, statements: list[Statement]) -> None:
    """Run the statements of a change set, inside the caller's transaction;
    ValueError for a statement that is not INSERT, UPDATE or DELETE."""
    for sql, params in statements:
        if not _DML.match(sql):
            raise ValueError(f"not a data change: {sql[:40]!r}")
        db.execute(sql, params)
