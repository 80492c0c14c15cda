"""meta0: the 65,536 container-ID prefixes → the meta1 services in charge.

One SQLite file. Every write goes through `_write`, the one place that will
ship changes to replicas when meta bases get replicated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading

from .errors import already_initialized, bad_request, check_prefix

NB_PREFIXES = 65536


def all_prefixes() -> list[str]:
    return [f"{i:04X}" for i in range(NB_PREFIXES)]


class Meta0:
    def __init__(self, datadir: str, meta1_digits: int = 4):
        os.makedirs(datadir, exist_ok=True)
        self.path = os.path.join(datadir, "meta0.db")
        self.digits = max(0, min(4, meta1_digits))
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS prefixes "
                        "(prefix TEXT PRIMARY KEY, addrs TEXT NOT NULL)")
        self._map: dict[str, list[str]] = {
            p: json.loads(a) for p, a in
            self.db.execute("SELECT prefix, addrs FROM prefixes")}
        self._encoded: bytes | None = None

    def close(self) -> None:
        self.db.close()

    @property
    def initialized(self) -> bool:
        return len(self._map) == NB_PREFIXES

    def _write(self, mapping: dict[str, list[str]]) -> None:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO prefixes (prefix, addrs) VALUES (?, ?)",
                    [(p, json.dumps(a)) for p, a in mapping.items()])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self._map.update(mapping)
            self._encoded = None

    def init(self, meta1: list[str], replicas: int = 1,
             force: bool = False) -> None:
        """Spread the prefixes round-robin over the meta1 services; prefixes
        sharing their first `meta1_digits` digits share their meta1."""
        if not meta1 or not all(isinstance(a, str) and ":" in a for a in meta1):
            raise bad_request("Expected a list of meta1 addresses")
        if not 1 <= replicas <= len(meta1):
            raise bad_request(f"Invalid replicas {replicas} for "
                              f"{len(meta1)} meta1 services")
        if self._map and not force:
            raise already_initialized()
        addrs = sorted(set(meta1))
        mapping = {}
        for prefix in all_prefixes():
            group = int(prefix[:self.digits], 16) if self.digits else 0
            mapping[prefix] = [addrs[(group + j) % len(addrs)]
                               for j in range(replicas)]
        self._write(mapping)

    def force(self, mapping: object) -> None:
        if not isinstance(mapping, dict) or not mapping:
            raise bad_request("Expected {\"XXXX\": [\"ip:port\", ...]}")
        clean = {}
        for prefix, addrs in mapping.items():
            if not isinstance(addrs, list) or not addrs or not all(
                    isinstance(a, str) and ":" in a for a in addrs):
                raise bad_request(f"Invalid addresses for prefix {prefix}")
            clean[check_prefix(prefix)] = addrs
        self._write(clean)

    def get(self, prefix: str) -> list[str] | None:
        return self._map.get(check_prefix(prefix))

    def list(self) -> dict[str, list[str]]:
        return dict(self._map)

    def encoded_list(self) -> bytes:
        """The whole map as JSON, encoded once per change (proxies download
        it on start and after each change)."""
        if self._encoded is None:
            self._encoded = json.dumps(self._map, separators=(",", ":")).encode()
        return self._encoded
