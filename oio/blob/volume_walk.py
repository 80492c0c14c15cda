"""The chunk files of a rawx volume, as the crawling tools see them.

Chunks live under hash directories (`<vol>/<ABC>/<CHUNKID>`, rawx.md §5).
Anything else found there is either an upload in progress (`.pending`,
skipped silently) or not a chunk (reported by the caller).
"""

from __future__ import annotations

import logging
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


def chunk_files(basedir: str, logger: logging.Logger,
                input_file: str | None = None) -> Iterator[tuple[str, str]]:
    """(path, chunk ID) of the chunks of the volume, or of those an input
    file lists (one path relative to the volume a line; blank lines and
    `#` comments skipped). Uploads in progress are skipped silently, other
    names that are not chunk IDs with a "Not a chunk" warning."""
    if input_file:
        paths = _listed(basedir, input_file)
    else:
        paths = walk_volume(basedir)
    for path, name in paths:
        chunk_id = chunk_id_of(name)
        if chunk_id is None:
            if not is_pending(name):
                logger.warning("Not a chunk %s", path)
            continue
        yield path, chunk_id


def _listed(basedir: str, input_file: str) -> Iterator[tuple[str, str]]:
    with open(input_file, encoding="utf-8") as lines:
        for line in lines:
            relative = line.strip()
            if relative and not relative.startswith("#"):
                path = os.path.join(basedir, relative.lstrip("/"))
                yield path, os.path.basename(path)
