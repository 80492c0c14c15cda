"""Chunk files on one volume: layout, pending uploads, xattrs (rawx.md §4-5).

Every method here blocks on the filesystem: the rawx app calls them from a
worker thread, except the cheap metadata reads of hot-cache files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import stat

from oio.common.constants import CHUNK_SUFFIX_PENDING, VOLUME_XATTR_KEYS

XATTR_PREFIX = "user."
FULLPATH_XATTR = "user.oio.content.fullpath:"
CHUNK_ID_MIN = 24
CHUNK_ID_MAX = 64
_HEX = frozenset("0123456789abcdefABCDEF")
_DIR_MODE = 0o755
_FILE_MODE = 0o644
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)


class InvalidChunkId(ValueError):
    """Not 24 to 64 hexadecimal characters (400)."""


class ChunkExists(FileExistsError):
    """The chunk (or an upload of it) already exists (409)."""


class ChunkNotFound(FileNotFoundError):
    """No such chunk on this volume (404)."""


class VolumeLockError(Exception):
    """The volume belongs to another service or namespace."""


def normalize_chunk_id(value: str) -> str:
    """The upper-case chunk ID; InvalidChunkId unless 24-64 hex characters.

    This is the only gate between a URL and a file name: nothing that is not
    plain hex may reach the filesystem (no `/`, no `..`).
    """
    if not CHUNK_ID_MIN <= len(value) <= CHUNK_ID_MAX or not _HEX.issuperset(value):
        raise InvalidChunkId(f"invalid chunk id {value[:80]!r}")
    return value.upper()


# renameat2(RENAME_NOREPLACE) makes "publish unless it exists" atomic; plain
# rename would silently replace a chunk committed meanwhile by another upload.
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _renameat2 = _libc.renameat2
    _renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint)
    _renameat2.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - old libc
    _renameat2 = None


_SYNC_FILE_RANGE_WRITE = 2
try:
    _sync_file_range = _libc.sync_file_range
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_longlong,
                                 ctypes.c_longlong, ctypes.c_uint)
    _sync_file_range.restype = ctypes.c_int
except AttributeError:  # pragma: no cover - not Linux
    _sync_file_range = None


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a file range to disk (no wait)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


# fadvise modes (rawx options `fadvise_upload`, `fadvise_download`, as 7.2).
FADVISE_MODES = ("none", "yes", "cache", "nocache")
# O_DIRECT writes: file offsets, lengths and buffers aligned on this.
DIRECT_ALIGN = 4096
# Chunks below this size stay in the page cache whatever the mode: dropping
# them saves nothing and costs their next read.
NOCACHE_MIN_SIZE = 1024 * 1024


def advise(fd: int, size: int, mode: str, after_use: bool) -> None:
    """Apply a fadvise mode to the first `size` bytes of `fd`: before use,
    `yes` reads sequentially, `cache` also reads ahead; after use (written
    and synced), `nocache` drops the pages of a large chunk, so that its
    bytes do not take the page cache (and fresh memory) from what is read
    again. (A GET in `nocache` reads with O_DIRECT instead: set_direct.)"""
    if mode == "nocache":
        if after_use and size >= NOCACHE_MIN_SIZE:
            os.posix_fadvise(fd, 0, size, os.POSIX_FADV_DONTNEED)
    elif mode in ("yes", "cache") and not after_use:
        os.posix_fadvise(fd, 0, size, os.POSIX_FADV_SEQUENTIAL)
        if mode == "cache":
            os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)


def set_direct(fd: int) -> bool:
    """Switch `fd` to O_DIRECT (reads bypass the page cache); False where
    the filesystem refuses it (tmpfs), the descriptor unchanged."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return False
    return True


def rename_noreplace(src: str, dst: str) -> None:
    """Rename `src` to `dst`; ChunkExists if `dst` exists (atomically when the
    kernel and filesystem support RENAME_NOREPLACE)."""
    if _renameat2 is not None:
        ret = _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                         _RENAME_NOREPLACE)
        if ret == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise ChunkExists(errno.EEXIST, "chunk already exists", dst)
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), src)
    if os.path.lexists(dst):
        raise ChunkExists(errno.EEXIST, "chunk already exists", dst)
    os.rename(src, dst)


def fsync_dir(path: str) -> None:
    """Make a directory's entries (a rename, an unlink) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def make_parents(basedir: str, path: str) -> None:
    """Create the hash directories between `basedir` and `path`.

    Never `basedir` itself: a missing volume root (an unmounted disk) must
    fail the request rather than fill the root filesystem.
    """
    rel = os.path.relpath(os.path.dirname(path), basedir)
    current = basedir
    for part in rel.split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        try:
            os.mkdir(current, _DIR_MODE)
        except FileExistsError:
            pass


class PendingChunk:
    """An upload in progress: `<chunk path>.pending`, opened exclusively.

    Call `write` for the data, then `commit` (xattrs, optional fsync, atomic
    publication) or `abort` (no trace left). Not thread-safe: one caller at
    a time.
    """

    __slots__ = ("path", "final_path", "fd", "size", "_fsync_file", "_fsync_dir",
                 "_fadvise", "_direct")

    def __init__(self, basedir: str, final_path: str, fsync_file: bool,
                 fsync_dir: bool, check_exists: bool = True,
                 fadvise: str = "none"):
        self.final_path = final_path
        self.path = final_path + CHUNK_SUFFIX_PENDING
        self._fsync_file = fsync_file
        self._fsync_dir = fsync_dir
        self._fadvise = fadvise
        self._direct = False     # writing with O_DIRECT now
        self.size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            self.fd = os.open(self.path, flags, _FILE_MODE)
        except FileNotFoundError:
            make_parents(basedir, self.path)
            self.fd = self._open(flags)
        except FileExistsError:
            raise ChunkExists(errno.EEXIST, "upload already in progress",
                              self.path) from None
        if check_exists and os.path.lexists(final_path):
            self.abort()
            raise ChunkExists(errno.EEXIST, "chunk already exists", final_path)

    def _open(self, flags: int) -> int:
        try:
            return os.open(self.path, flags, _FILE_MODE)
        except FileExistsError:
            raise ChunkExists(errno.EEXIST, "upload already in progress",
                              self.path) from None

    def write(self, data) -> None:
        """Append `data` (bytes-like) to the file, whole."""
        self.writev([data])

    def writev(self, pieces: list, last: bool = False) -> int:
        """Append `pieces` (bytes-like) to the file, whole; bytes written.

        `last`: the commit follows at once, so its fdatasync does the
        writeback and starting it here would only cost a syscall."""
        total = sum(len(p) for p in pieces)
        if not total:
            return 0
        fd = self.fd
        if self._direct:
            # The end of a chunk written with O_DIRECT: not block-aligned.
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
            self._direct = False
        written = os.writev(fd, pieces)
        if written < total:   # rare on regular files: finish piece by piece
            skip = written
            for piece in pieces:
                view = memoryview(piece)
                if skip >= len(view):
                    skip -= len(view)
                    continue
                view = view[skip:]
                skip = 0
                while view:
                    view = view[os.write(fd, view):]
        if self._fsync_file and not last:
            # Start the writeback now, without waiting: the fdatasync at
            # commit then has little left to flush.
            start_writeback(fd, self.size, total)
        self.size += total
        return total

    def write_aligned(self, view: memoryview) -> int:
        """Append the whole blocks at the start of `view` (aligned in memory,
        e.g. an mmap) with O_DIRECT, bypassing the page cache; the bytes
        written, 0 when the chunk is not to bypass it (fadvise_upload other
        than nocache, no fsync) or the filesystem refuses O_DIRECT: then
        use writev. The rest of `view` is for the next call or writev."""
        if not self._direct:
            if (self._fadvise != "nocache" or not self._fsync_file
                    or self.size % DIRECT_ALIGN or not set_direct(self.fd)):
                return 0
            self._direct = True
        length = len(view) - len(view) % DIRECT_ALIGN
        done = 0
        while done < length:
            done += os.writev(self.fd, [view[done:length]])
        self.size += length
        return length

    def commit(self, xattrs: dict[str, bytes]) -> None:
        """Set `xattrs` (full names), sync as configured, publish atomically.

        Raises ChunkExists (and removes the pending file) if the chunk was
        published meanwhile by another upload.
        """
        try:
            fd = self.fd
            for key, value in xattrs.items():
                os.setxattr(fd, key, value)
            if self._fsync_file:
                os.fdatasync(fd)
                # Dropped once clean: before the sync, the kernel would
                # only start the writeback of the dirty pages.
                advise(fd, self.size, self._fadvise, after_use=True)
            os.close(fd)
            self.fd = -1
            rename_noreplace(self.path, self.final_path)
        except BaseException:
            self.abort()
            raise
        if self._fsync_dir:
            fsync_dir(os.path.dirname(self.final_path))

    def abort(self) -> None:
        """Close and remove the pending file; never raises."""
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        try:
            os.unlink(self.path)
        except OSError:
            pass


class ChunkStore:
    """The chunk files of one volume directory."""

    def __init__(self, basedir: str, hash_width: int = 3, hash_depth: int = 1,
                 fsync_file: bool = False, fsync_dir: bool = False,
                 fadvise_upload: str = "none"):
        self.basedir = basedir
        self.hash_width = hash_width
        self.hash_depth = hash_depth
        self.fsync_file = fsync_file
        self.fsync_dir = fsync_dir
        self.fadvise_upload = fadvise_upload
        self._read_flags = _READ_FLAGS | _NOATIME

    # Layout ----------------------------------------------------------------
    def chunk_path(self, chunk_id: str) -> str:
        """`<basedir>/<ABC>/<CHUNKID>` for width 3, depth 1 (normalized ID)."""
        w = self.hash_width
        parts = [chunk_id[i * w:(i + 1) * w] for i in range(self.hash_depth)]
        return os.path.join(self.basedir, *parts, chunk_id)

    # Writing ---------------------------------------------------------------
    def create(self, chunk_id: str, check_exists: bool = True) -> PendingChunk:
        """Start an upload; ChunkExists if the chunk or its upload exists.

        `check_exists=False` leaves the check of a published chunk to the
        commit's rename, which makes it anyway (for a body already whole,
        refusing it early saves nothing)."""
        return PendingChunk(self.basedir, self.chunk_path(chunk_id),
                            self.fsync_file, self.fsync_dir, check_exists,
                            self.fadvise_upload)

    def exists(self, chunk_id: str) -> bool:
        return os.path.lexists(self.chunk_path(chunk_id))

    # Reading ---------------------------------------------------------------
    def open(self, chunk_id: str) -> tuple[int, os.stat_result]:
        """A read-only descriptor on the chunk and its stat; ChunkNotFound."""
        path = self.chunk_path(chunk_id)
        try:
            fd = os.open(path, self._read_flags)
        except FileNotFoundError:
            raise ChunkNotFound(errno.ENOENT, "no such chunk", chunk_id) from None
        except PermissionError:
            if not self._read_flags & _NOATIME:
                raise
            # O_NOATIME needs to own the file; files of another user still
            # deserve to be served.
            self._read_flags &= ~_NOATIME
            return self.open(chunk_id)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ChunkNotFound(errno.ENOENT, "not a chunk file", chunk_id)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    @staticmethod
    def read_xattrs(fd: int) -> dict[str, bytes]:
        """Every `user.` xattr of an open file, keyed by its full name."""
        attrs = {}
        for key in os.listxattr(fd):
            if key.startswith(XATTR_PREFIX):
                try:
                    attrs[key] = os.getxattr(fd, key)
                except OSError as exc:
                    if exc.errno != errno.ENODATA:  # removed meanwhile
                        raise
        return attrs

    # Deleting --------------------------------------------------------------
    def delete(self, chunk_id: str) -> dict[str, bytes]:
        """Remove the chunk; its xattrs (as before removal); ChunkNotFound."""
        path = self.chunk_path(chunk_id)
        fd, _ = self.open(chunk_id)
        try:
            attrs = self.read_xattrs(fd)
            # Hard links share the inode: drop only this chunk's identity.
            try:
                os.removexattr(fd, FULLPATH_XATTR + chunk_id)
            except OSError:
                pass
        finally:
            os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            raise ChunkNotFound(errno.ENOENT, "no such chunk", chunk_id) from None
        if self.fsync_dir:
            fsync_dir(os.path.dirname(path))
        return attrs

    # Linking (COPY) --------------------------------------------------------
    def link(self, src_id: str, dst_id: str, fullpath: bytes) -> None:
        """Hard-link chunk `src_id` as `dst_id` with its own fullpath xattr.

        ChunkNotFound if the source is missing, ChunkExists if the
        destination exists.
        """
        src = self.chunk_path(src_id)
        dst = self.chunk_path(dst_id)
        if not os.path.isfile(src):
            raise ChunkNotFound(errno.ENOENT, "no such chunk", src_id)
        try:
            os.link(src, dst)
        except FileNotFoundError:
            if not os.path.isfile(src):
                raise ChunkNotFound(errno.ENOENT, "no such chunk", src_id) from None
            make_parents(self.basedir, dst)
            try:
                os.link(src, dst)
            except FileExistsError:
                raise ChunkExists(errno.EEXIST, "chunk exists", dst_id) from None
        except FileExistsError:
            raise ChunkExists(errno.EEXIST, "chunk exists", dst_id) from None
        try:
            os.setxattr(dst, FULLPATH_XATTR + dst_id, fullpath)
        except BaseException:
            try:
                os.unlink(dst)
            except OSError:
                pass
            raise
        if self.fsync_dir:
            fsync_dir(os.path.dirname(dst))

    # Volume ----------------------------------------------------------------
    def lock_volume(self, namespace: str, volume_id: str) -> None:
        """Claim the volume for (namespace, volume_id), or VolumeLockError if
        another service or namespace already did."""
        wanted = {VOLUME_XATTR_KEYS["id"]: volume_id,
                  VOLUME_XATTR_KEYS["namespace"]: namespace,
                  VOLUME_XATTR_KEYS["type"]: "rawx"}
        for key, value in wanted.items():
            name = XATTR_PREFIX + key
            raw = value.encode("utf-8")
            try:
                os.setxattr(self.basedir, name, raw, os.XATTR_CREATE)
            except FileExistsError:
                current = os.getxattr(self.basedir, name)
                if current != raw:
                    found = current.decode(errors="replace")
                    raise VolumeLockError(
                        f"{self.basedir}: {name} is {found!r}, not {value!r}: "
                        "volume used by another service") from None

    def make_hash_dirs(self, limit: int = 4096) -> int:
        """Create the missing hash directories of the volume, if there are
        at most `limit` of them (3 hex digits, depth 1: 4,096); how many
        were created.

        Without them, the first chunk written under each directory pays a
        failed open and a mkdir: most of the first few thousand uploads on
        a fresh volume.
        """
        if self.hash_depth != 1 or 16 ** self.hash_width > limit:
            return 0
        existing = {entry.name for entry in os.scandir(self.basedir)}
        created = 0
        for i in range(16 ** self.hash_width):
            name = f"{i:0{self.hash_width}X}"
            if name in existing:
                continue
            try:
                os.mkdir(os.path.join(self.basedir, name), _DIR_MODE)
                created += 1
            except FileExistsError:
                pass
        return created

    def probe(self) -> None:
        """Create and remove a directory then a file; OSError if the volume
        does not take writes."""
        path = os.path.join(self.basedir, "probe-" + secrets.token_hex(8))
        os.mkdir(path)
        os.rmdir(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                     _FILE_MODE)
        os.close(fd)
        os.unlink(path)
