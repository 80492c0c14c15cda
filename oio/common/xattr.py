"""Chunk extended attributes read and written on an open file, under
7.2's names (the rawx's own store is `oio.blob.chunk_store`)."""

from __future__ import annotations

import os
from typing import IO

from oio.blob.chunk_meta import X_OIO_VERSION, XATTR_FULLPATH
from oio.blob.chunk_store import ChunkStore
from oio.common.constants import CHUNK_XATTR_KEYS, OIO_VERSION

USER = "user."

FileLike = int | str | IO


def _target(fd: FileLike) -> int | str:
    """What os.*xattr accept: a descriptor or a path."""
    return fd if isinstance(fd, (int, str)) else fd.fileno()


def read_user_xattr(fd: FileLike) -> dict[str, str]:
    """Every `user.` xattr of a chunk file (descriptor, file or path),
    without the `user.` prefix, values as text (7.2's `debinarize`)."""
    target = _target(fd)
    if isinstance(target, str):
        target_fd = os.open(target, os.O_RDONLY)
        try:
            attrs = ChunkStore.read_xattrs(target_fd)
        finally:
            os.close(target_fd)
    else:
        attrs = ChunkStore.read_xattrs(target)
    return {key[len(USER):]: value.decode("utf-8", "surrogateescape")
            for key, value in attrs.items()}


class _Pyxattr:
    """What 7.2 exposes as `oio.common.xattr.xattr` (the pyxattr module):
    `getxattr/setxattr/removexattr/listxattr` on a path, a descriptor or
    an open file, over the os module (no third-party library)."""

    @staticmethod
    def getxattr(item: FileLike, name: str | bytes) -> bytes:
        return os.getxattr(_target(item), name)

    @staticmethod
    def setxattr(item: FileLike, name: str | bytes, value: str | bytes,
                 flags: int = 0) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8")
        os.setxattr(_target(item), name, value, flags)

    @staticmethod
    def removexattr(item: FileLike, name: str | bytes) -> None:
        os.removexattr(_target(item), name)

    @staticmethod
    def listxattr(item: FileLike) -> list[str]:
        return os.listxattr(_target(item))


xattr = _Pyxattr


def _remove(target: int | str, name: str) -> None:
    try:
        os.removexattr(target, name)
    except OSError:   # already gone
        pass


def set_fullpath_xattr(fd: FileLike, new_fullpaths: dict[str, str],
                       remove_old_xattr: bool = False,
                       xattr_to_remove: list[str] | None = None) -> None:
    """Set one fullpath xattr per chunk id of `new_fullpaths`; remove the
    keys of `xattr_to_remove` (without `user.`); with `remove_old_xattr`,
    drop the pre-fullpath attributes and stamp our version."""
    target = _target(fd)
    for chunk_id, fullpath in new_fullpaths.items():
        os.setxattr(target, XATTR_FULLPATH + chunk_id.upper(),
                    fullpath.encode("utf-8"))
    for key in xattr_to_remove or ():
        _remove(target, USER + key)
    if remove_old_xattr:
        for key in ("chunk_id", "container_id", "content_path",
                    "content_version", "content_id"):
            _remove(target, USER + CHUNK_XATTR_KEYS[key])
        os.setxattr(target, X_OIO_VERSION, OIO_VERSION.encode("utf-8"))
