"""What the replication layer needs from a service's bases.

meta0, meta1 and meta2 keep their bases differently (one file, one per
prefix group, one per container) and lock them differently; each gives the
replication layer this small interface. Every method blocks (SQLite, disk)
and is called from worker threads.
"""

from __future__ import annotations

from typing import Protocol

from .log import Entry, Position


class BaseStore(Protocol):
    kind: str

    def peers(self, base: str) -> list[str] | None:
        """Every replica of `base` (this one included) as this service
        knows them, or None when it knows nothing of the base."""

    def position(self, base: str) -> Position | None:
        """The local replica's last change; None when there is no local
        replica."""

    def apply(self, base: str, prev: Position, entries: list[Entry]
              ) -> Position:
        """Replay `entries` (which follow `prev`) in one durable transaction,
        creating the base when missing and `prev` is the origin. Raises
        log.Behind, log.Diverged, or LookupError when the base is missing
        and `prev` is not the origin."""

    def stamp(self, base: str, pos: Position) -> None:
        """Set the local replica's position to `pos` without a log entry,
        if it holds data (data from before it was replicated: the other
        replicas then get a full copy). Nothing when missing or empty."""

    def entries_after(self, base: str, after: Position) -> list[Entry]:
        """Logged changes after `after` (log.entries_after's errors)."""

    def dump(self, base: str) -> tuple[int, int]:
        """(fd, size) of a consistent copy of the base, an unlinked file the
        caller reads then closes; LookupError when missing."""

    def install(self, base: str, path: str) -> Position:
        """Replace the local replica by the SQLite file `path` (on the same
        filesystem), durably; its position."""

    def remove(self, base: str) -> None:
        """Delete the local replica (nothing when missing)."""

    def local_path(self, base: str) -> str | None:
        """The file of the local replica, or None when missing."""

    def vacuum(self, base: str) -> None:
        """SQLite VACUUM of the local replica (no change of content)."""

    def tmp_dir(self) -> str:
        """A directory on the bases' filesystem for incoming copies."""

    def check_base(self, base: str) -> str:
        """`base` normalised, or ValueError when it is not a base name of
        this service type."""
