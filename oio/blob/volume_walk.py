"""The chunk files of a rawx volume, as the crawling tools see them.

Chunks live under hash directories (`<vol>/<ABC>/<CHUNKID>`, rawx.md §5).
Anything else found there is either an upload in progress (`.pending`,
skipped silently) or not a chunk (reported by the caller).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from oio.common.constants import CHUNK_SUFFIX_PENDING

CHUNK_ID_LENGTHS = range(24, 65)
_HEX = frozenset("0123456789ABCDEFabcdef")


def chunk_id_of(name: str) -> str | None:
    """The chunk ID a file name stands for, None if it is not one."""
    if len(name) in CHUNK_ID_LENGTHS and _HEX.issuperset(name):
        return name
    return None


def is_pending(name: str) -> bool:
    return name.endswith(CHUNK_SUFFIX_PENDING)


def walk_volume(basedir: str) -> Iterator[tuple[str, str]]:
    """(path, file name) of every file below the hash directories of
    `basedir`, directory by directory in name order (so that a report's
    progress means something); files at the volume root (probes, locks)
    are not chunks and are left out. A directory removed meanwhile is
    skipped."""
    stack = [basedir]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name, reverse=True)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
        if current == basedir:
            continue
        for entry in reversed(entries):
            if entry.is_file(follow_symlinks=False):
                yield entry.path, entry.name
