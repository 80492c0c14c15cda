"""The epochs a service promised, per base, durably.

A candidate becomes master of a base only once a majority of its replicas
promised its epoch; a replica promises an epoch only if it is greater than
any it promised before, and then refuses changes from lower epochs. That
is what keeps two masters from both acknowledging writes. A promise must
outlive a restart and the base itself (a destroyed base can be created
again under the same name), hence one small SQLite file per service
rather than a row in each base.
"""

from __future__ import annotations

import os
import sqlite3
import threading


class Promises:
    """`<datadir>/elections.db`: base → highest epoch promised."""

    def __init__(self, datadir: str):
        os.makedirs(datadir, exist_ok=True)
        self.path = os.path.join(datadir, "elections.db")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS promises (base TEXT "
                         "PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL) "
                         "WITHOUT ROWID")
        self._cache: dict[str, int] = {}

    def get(self, base: str) -> int:
        """The highest epoch promised for `base` (0: none)."""
        with self._lock:
            return self._get(base)

    def _get(self, base: str) -> int:
        epoch = self._cache.get(base)
        if epoch is None:
            row = self._db.execute("SELECT epoch FROM promises WHERE base=?",
                                   (base,)).fetchone()
            epoch = self._cache[base] = row[0] if row else 0
        return epoch

    def promise(self, base: str, epoch: int, strict: bool = True) -> int:
        """Promise `epoch` if greater than every earlier promise (or equal,
        when not `strict`); durable before returning. Returns the highest
        promise now held: `epoch` when accepted."""
        with self._lock:
            current = self._get(base)
            if epoch < current or (strict and epoch == current):
                return current
            if epoch > current:
                self._db.execute("INSERT OR REPLACE INTO promises (base, epoch)"
                                 " VALUES (?, ?)", (base, epoch))
                self._cache[base] = epoch
            return epoch

    def close(self) -> None:
        with self._lock:
            self._db.close()
