"""Chunk "fullpath": account/container/path/version/content_id, each quoted."""

from __future__ import annotations

from urllib.parse import quote_plus, unquote, unquote_plus

from oio.common.utils import quote


def encode_fullpath(account: str, container: str, path: str, version,
                    content_id: str) -> str:
    parts = (account, container, path, str(version), content_id)
    if not all(parts):
        raise ValueError(
            "fullpath needs account, container, path, version and content id")
    return "/".join(quote(p) for p in parts)


def decode_fullpath(fullpath: str) -> tuple[str, str, str, str, str]:
    """Split and unquote a fullpath; raise ValueError unless it has 5 parts."""
    parts = fullpath.split("/")
    if len(parts) != 5:
        raise ValueError(f"Invalid fullpath: {fullpath!r}")
    account, container, path, version, content_id = (unquote(p) for p in parts)
    return account, container, path, version, content_id


def encode_old_fullpath(account: str, container: str, path: str,
                        version) -> str:
    """The fullpath of chunks written before content IDs were part of it
    (the `oio:<hash>` xattr of 4.x chunks): 4 parts, `+` for spaces."""
    parts = (account, container, path, str(version) if version else "")
    if not all(parts):
        raise ValueError("old fullpath needs account, container, path "
                         "and version")
    return "/".join(quote_plus(p, safe="") for p in parts)


def decode_old_fullpath(fullpath: str) -> tuple[str, str, str, str]:
    """(account, container, path, version) of an old fullpath; ValueError
    unless it has 4 parts."""
    parts = fullpath.split("/")
    if len(parts) != 4:
        raise ValueError(f"Invalid old fullpath: {fullpath!r}")
    account, container, path, version = (unquote_plus(p) for p in parts)
    return account, container, path, version
