"""Container snapshots, meta2 side (proxy spec §7.4.13, §8.6).

The destination meta2 takes a consistent copy of the source base (a SQLite
online backup: locally when it hosts the source too, else streamed from the
source meta2's `admin/dump`), gives the copy the identity of the new
container and installs it atomically. The copy keeps the source's status:
the client freezes the source first, so the snapshot is born frozen. Its
chunk records still point at the source's chunks until the client has
hard-linked them and rewritten the records (`container/raw_update?frozen`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid

from oio.common.constants import CODE_CONTAINER_EXISTS
from oio.common.http_urllib3 import get_pool_manager
from oio.common.http_urllib3 import timeout as http_timeout
from oio.common.utils import fsync_path
from oio.sqlx.errors import MASTER_HEADER

from .backend import BaseNotFound
from .errors import Meta2Error, container_not_found

COPY_BLOCK = 1024 * 1024
TMP_DIR = "tmp"


class Snapshots:
    """Dumps and snapshot installs over the bases of one Meta2."""

    def __init__(self, meta2, timeout: float = 300.0):
        self.meta2 = meta2
        self.bases = meta2.bases
        self.timeout = timeout

    def _tmp_path(self) -> str:
        tmp_dir = os.path.join(self.bases.datadir, TMP_DIR)
        os.makedirs(tmp_dir, exist_ok=True)
        return os.path.join(tmp_dir, f"{uuid.uuid4().hex}.meta2.tmp")

    def dump(self, cid: str) -> tuple[int, int]:
        """(fd, size) of a consistent copy of the base of `cid`: an
        unlinked temporary file the caller reads then closes."""
        path = self._tmp_path()
        try:
            self.bases.backup(cid, path)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except BaseNotFound:
            raise container_not_found(cid) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return fd, os.fstat(fd).st_size

    def snapshot(self, dst_cid: str, account: str, container: str,
                 source_addr: str, source_cid: str,
                 peers: list[str] | None = None) -> None:
        """Create the base of `dst_cid` as a copy of `source_cid`, with
        `peers` as its replicas (this service alone by default)."""
        if os.path.exists(self.bases.path(dst_cid)):
            raise _exists()
        path = self._tmp_path()
        try:
            local = not source_addr or source_addr == self.meta2.local_addr
            if local and len(self.bases.peers(source_cid) or ()) <= 1:
                try:
                    self.bases.backup(source_cid, path)
                except BaseNotFound:
                    raise container_not_found(source_cid) from None
            else:
                # A replicated source is copied from its master.
                self._download(source_addr or self.meta2.local_addr,
                               source_cid, path)
            self._rename_identity(path, dst_cid, account, container, peers)
            try:
                self.bases.install(dst_cid, path)
            except FileExistsError:
                raise _exists() from None
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)

    def _download(self, addr: str, cid: str, path: str) -> None:
        for _ in range(5):
            resp = get_pool_manager().request(
                "GET", f"http://{addr}/v1/admin/dump?cid={cid}",
                preload_content=False, retries=False, redirect=False,
                timeout=http_timeout(10.0, self.timeout))
            master = resp.headers.get(MASTER_HEADER)
            if resp.status != 303 or not master:
                break
            resp.release_conn()
            addr = master     # a slave of the source names its master
        try:
            if resp.status == 404:
                raise container_not_found(cid)
            if resp.status != 200:
                raise Meta2Error(resp.status, f"Source meta2 {addr} answered "
                                 f"HTTP {resp.status} to the dump")
            with open(path, "wb") as out:
                for block in resp.stream(COPY_BLOCK):
                    out.write(block)
        finally:
            resp.release_conn()

    def _rename_identity(self, path: str, cid: str, account: str,
                         container: str, peers: list[str] | None = None
                         ) -> None:
        """Point the copy's admin records at its new container and its
        replicas; it starts with no replication history of its own."""
        admin = {"sys.account": account, "sys.user.name": container,
                 "sys.name": f"{cid}.1"}
        replicas = sorted(set(peers or ())) or (
            [self.meta2.local_addr] if self.meta2.local_addr else [])
        if replicas:
            admin["sys.peers"] = ",".join(replicas)
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO admin(k, v) VALUES (?, ?)",
                           list(admin.items()))
            # A snapshot is not the bucket of its source.
            db.execute("DELETE FROM admin WHERE k = 'sys.m2.bucket.name'")
            for table in ("_repli_log", "_repli_state"):
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute(f"DELETE FROM {table}")
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
        fsync_path(path)


def _exists() -> Meta2Error:
    return Meta2Error(CODE_CONTAINER_EXISTS, "Container already exists")
