"""Orphan chunks: files of a rawx volume that no content references.

A chunk is an orphan when `content/locate` of its content answers 404, or
lists no chunk URL ending with its ID. Orphans waste space (a delete whose
chunk cleanup failed, a rebuild that replaced a copy it could not remove,
an upload that never got its `content/create`), so the auditor removes
them, file and rdir record, but only when it is sure that nobody is about
to reference them:

* Chunks exist before meta2 knows them. A client uploads every chunk of
  every metachunk, then calls `content/create`: the first chunks of a
  large object stay unreferenced during the whole upload (minutes, hours
  on a slow link), and a client may retry a failed create later still.
  The rebuilder and the mover write their new chunk before `raw_update`
  names it. So an orphan is removed only once its file is older than a
  grace delay (`orphan_grace_delay`, 1 day by default), far beyond any
  upload or rebuild.
* The age is that of the file's last change, the later of its mtime and
  its ctime: a chunk linked by COPY (the mover's `move_linked_chunk`)
  shares the inode, hence the mtime, of a chunk written long ago, but its
  link and its new xattr refresh the ctime.
* Uploads in progress are `<id>.pending` files: not chunk names, never
  looked at.
* A 404 may be transient (a meta2 base being restored, a proxy with a
  stale cache): the content is located again just before removal, and
  both answers must agree.
* The rdir record goes first: if the file then cannot be removed, the
  blob indexer puts the record back; the reverse order would leave a
  record pointing at nothing.
"""

from __future__ import annotations

import os
import time

from oio.blob.chunk_audit import ChunkFile
from oio.blob.chunk_store import ChunkNotFound, ChunkStore

DEFAULT_GRACE_DELAY = 86400.0


def old_enough(chunk: ChunkFile, grace: float, now: float | None = None) -> bool:
    """Whether the chunk file has not changed for `grace` seconds."""
    now = time.time() if now is None else now
    return now - chunk.age_mtime >= grace


def store_of(basedir: str, path: str) -> ChunkStore:
    """The ChunkStore whose layout puts `path` where it is (hash width
    and depth read from the path, whatever the rawx was configured with)."""
    parts = os.path.relpath(path, basedir).split(os.sep)
    width = len(parts[0]) if len(parts) > 1 else 0
    return ChunkStore(basedir, hash_width=width, hash_depth=len(parts) - 1)


def remove_orphan(basedir: str, chunk: ChunkFile, rdir, volume_id: str) -> None:
    """Forget the chunk in the volume's rdir, then remove its file (its
    identity only, if hard-linked under other IDs). Errors of the rdir
    (OioException) keep the file for a later pass."""
    fields = chunk.fields
    rdir.chunk_delete(volume_id, fields["container_id"],
                      fields["content_id"], chunk.chunk_id.upper())
    store = store_of(basedir, chunk.path)
    try:
        store.delete(chunk.chunk_id)
    except ChunkNotFound:
        pass    # removed meanwhile: what we wanted
