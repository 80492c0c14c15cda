"""The checks of one chunk file (healing.md §5's table): its xattrs, its
bytes against its stored size and hash, its place in its content.

Each check raises the exception of its verdict: FaultyChunk (metadata
missing or not what meta2 says), CorruptedChunk (the bytes do not hash to
the stored hash), OrphanChunk (no content references it).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from oio.blob import chunk_meta
from oio.blob.chunk_store import ChunkStore
from oio.common import checksums
from oio.common import exceptions as exc

READ_SIZE = 1024 * 1024
# The xattrs without which a chunk cannot be checked nor rebuilt.
REQUIRED_FIELDS = ("container_id", "content_id", "chunk_hash", "chunk_size",
                   "chunk_position")


@dataclass
class ChunkFile:
    """A chunk file opened for audit: its stored fields and its stat."""

    path: str
    chunk_id: str
    fields: dict[str, str]
    stat: os.stat_result

    @property
    def age_mtime(self) -> float:
        """When the file last became what it is: the later of its mtime and
        its ctime (a hard link made by COPY, or new xattrs, change the
        ctime but keep the old mtime)."""
        return max(self.stat.st_mtime, self.stat.st_ctime)


def read_chunk_file(path: str, chunk_id: str
                    ) -> tuple[int, ChunkFile]:
    """An open descriptor on the chunk and what its xattrs say (whatever
    they lack: see `check_fields`). FileNotFoundError if it vanished."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        attrs = ChunkStore.read_xattrs(fd)
        try:
            fields = chunk_meta.stored_fields(chunk_id.upper(), attrs)
        except chunk_meta.CorruptChunkMeta as err:
            fields = {"error": str(err)}
    except BaseException:
        os.close(fd)
        raise
    return fd, ChunkFile(path, chunk_id, fields, st)


def check_fields(chunk: ChunkFile) -> None:
    """FaultyChunk unless every xattr needed to check the chunk is there."""
    if "error" in chunk.fields:
        raise exc.FaultyChunk(chunk.fields["error"])
    missing = [key for key in REQUIRED_FIELDS if not chunk.fields.get(key)]
    if missing:
        raise exc.FaultyChunk(f"missing xattrs: {', '.join(missing)}")
    try:
        int(chunk.fields["chunk_size"])
    except ValueError:
        raise exc.FaultyChunk(
            f"invalid chunk size xattr {chunk.fields['chunk_size']!r}") from None


def check_data(fd: int, fields: dict[str, str],
               pace: Callable[[int], None] | None = None) -> int:
    """Read the whole chunk (inflating zlib chunks), hash it with its
    stored algorithm; bytes of data. FaultyChunk if its length is not its
    chunk_size or its compression unknown, CorruptedChunk if the hash
    differs. `pace(n)` is called after each read of n bytes from disk."""
    compression = (fields.get("compression") or "off").lower()
    inflater = None
    if compression == "zlib":
        inflater = zlib.decompressobj(0)
    elif compression not in ("off", ""):
        raise exc.FaultyChunk(f"compression {compression!r} not understood")
    try:
        hasher = checksums.new_hasher(fields.get("chunk_hash_algo"))
    except checksums.UnknownChecksum as err:
        raise exc.FaultyChunk(str(err)) from None
    size = 0
    while True:
        buf = os.read(fd, READ_SIZE)
        if pace is not None and buf:
            pace(len(buf))
        if inflater is not None:
            try:
                buf = inflater.decompress(buf) if buf else inflater.flush()
            except zlib.error as err:
                raise exc.CorruptedChunk(f"cannot inflate: {err}") from None
        if not buf:
            break
        hasher.update(buf)
        size += len(buf)
    expected = int(fields["chunk_size"])
    if size != expected:
        raise exc.FaultyChunk(f"size {size} differs from the chunk_size "
                              f"xattr {expected}")
    computed = hasher.hexdigest().upper()
    if computed != fields["chunk_hash"].upper():
        raise exc.CorruptedChunk(f"hash {computed} differs from the "
                                 f"chunk_hash xattr {fields['chunk_hash']}")
    return size


def find_in_content(chunk_id: str, chunks: list[dict]) -> dict:
    """The content's chunk whose URL ends with `chunk_id`; OrphanChunk if
    there is none."""
    wanted = "/" + chunk_id.upper()
    for chunk in chunks:
        if str(chunk.get("url", "")).upper().endswith(wanted):
            return chunk
    raise exc.OrphanChunk("not referenced by its content")


def check_against_meta2(fields: dict[str, str], chunk: dict) -> None:
    """FaultyChunk when the xattrs disagree with meta2's record of the
    chunk: position always; EC fragments by their metachunk size and hash;
    copies (no metachunk xattrs) by their own size, and hash when MD5."""
    if str(chunk.get("pos")) != fields["chunk_position"]:
        raise exc.FaultyChunk(f"position {fields['chunk_position']} differs "
                              f"from meta2's {chunk.get('pos')}")
    if fields.get("metachunk_size") or fields.get("metachunk_hash"):
        size, hash_ = fields.get("metachunk_size"), fields.get("metachunk_hash")
        what = "metachunk"
    else:
        size, hash_ = fields["chunk_size"], fields["chunk_hash"]
        if not checksums.is_default(fields.get("chunk_hash_algo")):
            hash_ = None   # meta2 keeps the MD5 of the object's data
        what = "chunk"
    if size and str(chunk.get("size")) != size:
        raise exc.FaultyChunk(f"{what} size {size} differs from meta2's "
                              f"{chunk.get('size')}")
    if hash_ and str(chunk.get("hash", "")).upper() != hash_.upper():
        raise exc.FaultyChunk(f"{what} hash {hash_} differs from meta2's "
                              f"{chunk.get('hash')}")
