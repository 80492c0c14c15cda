"""Chunk checksum algorithms.

MD5 is what OpenIO stores and checks, and stays the default. A client may
ask for a faster one (`chunk_checksum_algo=`), which it then declares with
`X-oio-Chunk-Meta-Chunk-Hash-Algo` so that our rawx computes, checks and
stores the same one (xattr `user.grid.chunk.hash_algo`). Object hashes and
EC metachunk hashes stay MD5 whatever the chunk algorithm, so what OpenIO
clients read is unchanged.
"""

from __future__ import annotations

import hashlib

DEFAULT = "md5"
# Name → (module, constructor): xxhash is a dependency of the package (the
# EC transfer hash needs it), blake3 an optional one (the `fast` extra).
_FAST = {"xxh3_128": ("xxhash", "xxh3_128"), "blake3": ("blake3", "blake3")}
SUPPORTED = frozenset(("md5", "sha1", "sha256", *_FAST))


class UnknownChecksum(ValueError):
    """An algorithm this process cannot compute."""


def new_hasher(algo: str | None):
    """A hashlib-like object (`update`, `hexdigest`) for `algo`."""
    name = (algo or DEFAULT).lower()
    if name not in SUPPORTED:
        raise UnknownChecksum(f"unknown chunk checksum algorithm {algo!r} "
                              f"(known: {', '.join(sorted(SUPPORTED))})")
    if name in _FAST:
        module, ctor = _FAST[name]
        try:
            return getattr(__import__(module), ctor)()
        except ImportError:
            raise UnknownChecksum(
                f"chunk checksum {name} needs the {module} package "
                f"(pip install '{module}')") from None
    return hashlib.new(name)


def is_default(algo: str | None) -> bool:
    return (algo or DEFAULT).lower() == DEFAULT
