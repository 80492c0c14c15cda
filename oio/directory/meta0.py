"""meta0: the 65,536 container-ID prefixes → the meta1 services in charge.

One SQLite file, `<datadir>/meta0.db` (WAL, `synchronous=FULL`: a write is on
disk before it is answered). The whole map also lives in memory: it is small
(65,536 short lists) and proxies download all of it. Every write goes
through `Meta0._write`, the one place that will ship changes to replicas
when meta bases get replicated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable

from oio.common.utils import fsync_path
from oio.sqlx import log as repli_log
from oio.sqlx.log import Entry, Position

from .errors import already_initialized, bad_request, check_prefix

NB_PREFIXES = 65536
MAX_ADDR = 255


def all_prefixes() -> list[str]:
    return [f"{i:04X}" for i in range(NB_PREFIXES)]


def check_addr(addr: object) -> str:
    """A meta1 address `host:port` (IPv6 in brackets), port 1-65535."""
    if not isinstance(addr, str) or not addr or len(addr) > MAX_ADDR:
        raise bad_request(f"Invalid meta1 address {addr!r}")
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() \
            or not 0 < int(port) < 65536 \
            or any(c.isspace() or c in ",/?#\"" for c in host):
        raise bad_request(f"Invalid meta1 address {addr!r}: expected ip:port")
    return addr


def check_addrs(addrs: object, what: str) -> list[str]:
    if not isinstance(addrs, list) or not addrs:
        raise bad_request(f"Expected a non-empty list of addresses for {what}")
    return [check_addr(a) for a in addrs]


def interleave_hosts(addrs) -> list[str]:
    """`addrs` sorted, one of each host in turn: a:1, b:1, c:1, a:2, ..."""
    by_host: dict[str, list[str]] = {}
    for addr in sorted(addrs):
        by_host.setdefault(addr.rpartition(":")[0], []).append(addr)
    columns = list(by_host.values())
    return [column[row] for row in range(max(map(len, columns), default=0))
            for column in columns if row < len(column)]


def _decode(addrs: str) -> list[str]:
    # Bases written before the text format hold a JSON list.
    return json.loads(addrs) if addrs.startswith("[") else addrs.split(",")


class Meta0:
    """The prefix map on SQLite. Thread-safe: one lock around writes, and
    readers only see the in-memory map, swapped after each commit."""

    def __init__(self, datadir: str, meta1_digits: int = 4):
        os.makedirs(datadir, exist_ok=True)
        self.datadir = datadir
        self.path = os.path.join(datadir, "meta0.db")
        self.digits = max(0, min(4, meta1_digits))
        self._lock = threading.Lock()
        # Replication: the service's Replicator, the base's name (the
        # namespace's) and its replicas (None: not replicated).
        self.replicator = None
        self.name = ""
        self.peers: Callable[[], list[str] | None] = lambda: None
        # (map, its JSON): tied to one map object, so a reader racing a
        # write never caches the JSON of an older map as the current one.
        self._encoded: tuple[dict, bytes] | None = None
        self._open()

    def _open(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS prefixes "
                        "(prefix TEXT PRIMARY KEY, addrs TEXT NOT NULL) "
                        "WITHOUT ROWID")
        self.db.executescript(repli_log.SCHEMA)
        self._load()

    def _load(self) -> None:
        # Stored as comma-separated text (addresses hold no comma):
        # 65,536 rows load and save several times faster than as JSON.
        lists: dict[str, list[str]] = {}
        self._map: dict[str, list[str]] = {
            p: lists.get(a) or lists.setdefault(a, _decode(a)) for p, a in
            self.db.execute("SELECT prefix, addrs FROM prefixes")}

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- replication (a replica's side; oio/sqlx/store.py) ------------------
    def position(self) -> Position:
        with self._lock:
            return repli_log.position(self.db)

    def apply(self, prev: Position, entries: list[Entry]) -> Position:
        with self._lock:
            pos = repli_log.apply_in_transaction(self.db, prev, entries)
            self._load()
            return pos

    def stamp(self, pos: Position) -> None:
        with self._lock:
            if self._map:
                repli_log.stamp(self.db, pos)

    def entries_after(self, after: Position) -> list[Entry]:
        with self._lock:
            return repli_log.entries_after(self.db, after)

    def backup(self, dest_path: str) -> None:
        with self._lock:
            dest = sqlite3.connect(dest_path)
            try:
                self.db.backup(dest)
            finally:
                dest.close()

    def replace(self, file_path: str) -> None:
        """Make the SQLite file `file_path` (same filesystem) our base."""
        fsync_path(file_path)
        with self._lock:
            self.db.close()
            for suffix in ("-wal", "-shm"):
                try:
                    os.unlink(self.path + suffix)
                except FileNotFoundError:
                    pass
            os.rename(file_path, self.path)
            fsync_path(self.datadir)
            self._open()

    def vacuum(self) -> None:
        with self._lock:
            self.db.execute("VACUUM")

    @property
    def initialized(self) -> bool:
        return len(self._map) == NB_PREFIXES

    def _write(self, mapping: dict[str, list[str]],
               check=None) -> None:
        """The only write path: one durable transaction, then the memory
        map. `check()` runs under the lock first (e.g. "not initialized")."""
        sql = "INSERT OR REPLACE INTO prefixes (prefix, addrs) VALUES (?, ?)"
        rows = [(p, ",".join(a)) for p, a in mapping.items()]
        with self._lock:
            if check is not None:
                check()
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(sql, rows)
                shipment = self._log([(sql, r) for r in rows])
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            fresh = dict(self._map)
            fresh.update(mapping)
            try:
                if shipment is not None:
                    # Under the lock: the replicas get changes in order,
                    # and readers see the new map once a majority has it.
                    self.replicator.ship(*shipment)
            finally:
                self._map = fresh

    def _log(self, statements):
        """On the master of a replicated map: log the change as the next
        version (shipped once committed)."""
        if self.replicator is None:
            return None
        peers = self.peers() or []
        lease = self.replicator.lease(self.name, len(peers) > 1)
        return repli_log.log_statements(self.db, lease, statements)

    def spread(self, meta1: object, replicas: int = 1) -> dict[str, list[str]]:
        """The map `init` would write: prefix groups (prefixes sharing their
        first `meta1_digits` digits) round-robin over the addresses,
        `replicas` consecutive services each. The addresses go host by host
        in turn (sorted within a host), so that consecutive services, the
        replicas of a base, are on distinct hosts when there are enough."""
        addrs = interleave_hosts(set(check_addrs(meta1, "init")))
        if isinstance(replicas, bool) or not isinstance(replicas, int) \
                or not 1 <= replicas <= len(addrs):
            raise bad_request(f"Invalid replicas {replicas!r} for "
                              f"{len(addrs)} distinct meta1 services")
        # One list per group: prefixes of a group share it.
        shift = 4 * (4 - self.digits)
        lists = [[addrs[(group + j) % len(addrs)] for j in range(replicas)]
                 for group in range(len(addrs))]
        return {prefix: lists[(i >> shift) % len(addrs)]
                for i, prefix in enumerate(all_prefixes())}

    def init(self, meta1: object, replicas: int = 1,
             force: bool = False) -> None:
        """Assign every prefix; 409/433 when already done unless `force`."""
        mapping = self.spread(meta1, replicas)

        def check() -> None:
            if self._map and not force:
                raise already_initialized()
        self._write(mapping, check)

    def force(self, mapping: object) -> None:
        """Replace the services of the given prefixes."""
        if not isinstance(mapping, dict) or not mapping:
            raise bad_request('Expected {"XXXX": ["ip:port", ...], ...}')
        clean = {check_prefix(p): check_addrs(a, f"prefix {p}")
                 for p, a in mapping.items()}
        self._write(clean)

    def get(self, prefix: str) -> list[str] | None:
        addrs = self._map.get(check_prefix(prefix))
        return None if addrs is None else list(addrs)

    def list(self) -> dict[str, list[str]]:
        """A copy of the map (prefixes of a group share a list inside)."""
        return {p: list(a) for p, a in self._map.items()}

    def encoded_list(self) -> bytes:
        """The whole map as JSON, encoded once per change (proxies download
        it at start and whenever a prefix is missing)."""
        current, cached = self._map, self._encoded
        if cached is not None and cached[0] is current:
            return cached[1]
        encoded = json.dumps(current, separators=(",", ":")).encode()
        self._encoded = (current, encoded)
        return encoded
