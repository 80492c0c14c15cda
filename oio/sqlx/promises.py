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
    """`<datadir>/elections.db`: base → highest epoch promised.

    Group commit: promises decided at the same time by several threads
    (elections of many new bases at once) are written in one transaction,
    one fsync; each caller returns once its own promise is on disk."""

    def __init__(self, datadir: str):
        os.makedirs(datadir, exist_ok=True)
        self.path = os.path.join(datadir, "elections.db")
        self._lock = threading.Lock()          # the cache and the queue
        self._flush_lock = threading.Lock()    # one writer at a time
        self._db = sqlite3.connect(self.path, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS promises (base TEXT "
                         "PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, "
                         "master TEXT NOT NULL DEFAULT '') WITHOUT ROWID")
        # Lookups use a connection of their own, under `_lock`, while the
        # writer holds `_flush_lock` (never both the other way round).
        self._reader = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
        self._cache: dict[str, tuple[int, str]] = {}
        self._queued: list[tuple[str, int, str]] = []
        self._tickets = 0       # promises queued so far
        self._durable = 0       # ... of which on disk

    def get(self, base: str) -> int:
        """The highest epoch promised for `base` (0: none)."""
        with self._lock:
            return self._get(base)[0]

    def _get(self, base: str) -> tuple[int, str]:
        held = self._cache.get(base)
        if held is None:
            row = self._reader.execute("SELECT epoch, master FROM promises "
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
            ticket = self._queue(base, epoch, master) \
                if epoch > current else 0
        self._wait_durable(ticket)
        return True

    def accept(self, base: str, epoch: int, master: str) -> bool:
        """A change from `master` in `epoch`: True unless a higher epoch
        was promised; a higher epoch is remembered (durably)."""
        with self._lock:
            current, _ = self._get(base)
            if epoch < current:
                return False
            ticket = self._queue(base, epoch, master) \
                if epoch > current else 0
        self._wait_durable(ticket)
        return True

    def _queue(self, base: str, epoch: int, master: str) -> int:
        """Under the lock: the promise counts from now (what is decided
        next sees it); its caller answers once it is on disk."""
        self._cache[base] = (epoch, master)
        self._queued.append((base, epoch, master))
        self._tickets += 1
        return self._tickets

    def _wait_durable(self, ticket: int) -> None:
        if not ticket:
            return
        with self._flush_lock:
            if self._durable >= ticket:
                return      # written by another caller's transaction
            with self._lock:
                batch, self._queued = self._queued, []
                last = self._tickets
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO promises (base, epoch, master) "
                    "VALUES (?, ?, ?)", batch)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                with self._lock:        # retried by the next writer
                    self._queued[:0] = batch
                raise
            self._durable = last

    def close(self) -> None:
        with self._flush_lock, self._lock:
            self._db.close()
            self._reader.close()
