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
                         "PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, "
                         "master TEXT NOT NULL DEFAULT '') WITHOUT ROWID")
        self._cache: dict[str, tuple[int, str]] = {}

    def get(self, base: str) -> int:
        """The highest epoch promised for `base` (0: none)."""
        with self._lock:
            return self._get(base)[0]

    def _get(self, base: str) -> tuple[int, str]:
        held = self._cache.get(base)
        if held is None:
            row = self._db.execute("SELECT epoch, master FROM promises "
                                   "WHERE base=?", (base,)).fetchone()
            held = self._cache[base] = (row[0], row[1]) if row else (0, "")
        return held

    def promise(self, base: str, epoch: int, master: str = "") -> bool:
        """Promise `epoch` to candidate `master` if it is above every
        earlier promise (or the same one again to the same candidate);
        durable before returning. True when promised."""
        with self._lock:
            current, to = self._get(base)
            if epoch < current or (epoch == current and master != to):
                return False
            if epoch > current:
                self._store(base, epoch, master)
            return True

    def accept(self, base: str, epoch: int, master: str) -> bool:
        """A change from `master` in `epoch`: True unless a higher epoch
        was promised; a higher epoch is remembered (durably)."""
        with self._lock:
            current, _ = self._get(base)
            if epoch < current:
                return False
            if epoch > current:
                self._store(base, epoch, master)
            return True

    def _store(self, base: str, epoch: int, master: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO promises (base, epoch, "
                         "master) VALUES (?, ?, ?)", (base, epoch, master))
        self._cache[base] = (epoch, master)

    def close(self) -> None:
        with self._lock:
            self._db.close()
