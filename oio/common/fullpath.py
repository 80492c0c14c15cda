"""Chunk "fullpath": account/container/path/version/content_id, each quoted."""

from __future__ import annotations

from urllib.parse import unquote

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
