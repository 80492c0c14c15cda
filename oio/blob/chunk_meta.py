"""Chunk metadata: upload headers → xattrs, xattrs → reply headers and events.

Pure logic (rawx.md §4, §6, §7.1-7.3): no I/O, so it is tested without
sockets or files.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import quote as _quote
from urllib.parse import unquote

from oio.common import checksums
from oio.common.constants import (
    CHUNK_HEADERS,
    CHUNK_XATTR_KEYS,
    OIO_VERSION,
    TRANSFER_HASH_ALGO,
)
from oio.common.utils import cid_from_name, quote

XATTR_FULLPATH = "user.oio.content.fullpath:"


def _x(key: str) -> str:
    return "user." + CHUNK_XATTR_KEYS[key]


X_CHUNK_HASH = _x("chunk_hash")
X_HASH_ALGO = _x("chunk_hash_algo")
X_CHUNK_SIZE = _x("chunk_size")
X_CHUNK_POS = _x("chunk_pos")
X_CHUNK_METHOD = _x("content_chunkmethod")
X_POLICY = _x("content_policy")
X_MC_HASH = _x("metachunk_hash")
X_MC_SIZE = _x("metachunk_size")
X_OIO_VERSION = _x("oio_version")
X_COMPRESSION = _x("compression")
X_LEGACY_CHUNK_ID = _x("chunk_id")
X_LEGACY_CONTAINER = _x("container_id")
X_LEGACY_PATH = _x("content_path")
X_LEGACY_VERSION = _x("content_version")
X_LEGACY_CONTENT_ID = _x("content_id")

H = CHUNK_HEADERS  # lower-case request header names
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BadChunkMeta(ValueError):
    """An upload header or trailer is missing or invalid (400)."""


class CorruptChunkMeta(ValueError):
    """The stored xattrs cannot be understood (500)."""


_HEX = re.compile("[0-9a-fA-F]+")


def _is_hex(value: str, max_len: int = 64) -> bool:
    return 0 < len(value) <= max_len and _HEX.fullmatch(value) is not None


def _int64(value: str, what: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise BadChunkMeta(f"{what}: not a decimal integer: {value!r}") from None
    if not INT64_MIN <= number <= INT64_MAX or value.strip() != value:
        raise BadChunkMeta(f"{what}: out of range: {value!r}")
    return number


@dataclass
class UploadMeta:
    """What a PUT declares about its chunk (validated, stored forms)."""

    chunk_id: str
    fullpath: str
    account: str
    container: str
    container_id: str
    content_path: str
    content_version: str
    content_id: str
    storage_policy: str
    chunk_method: str
    chunk_pos: str
    metachunk_hash: str = ""
    metachunk_size: str = ""
    chunk_hash: str = ""         # expected (upper), "" if the client sent none
    chunk_size: int | None = None  # expected, None if the client sent none
    hash_algo: str = ""          # "" for MD5, else the declared algorithm
    # xxh3_128 of the body the client announced (header or Trailer), and
    # the value it sent: checked, never stored.
    transfer_declared: bool = False
    transfer_hash: str = ""

    @property
    def is_ec(self) -> bool:
        return self.chunk_method.startswith("ec/")


def _utf8(value: str) -> str:
    """A header value (decoded as latin-1 by the HTTP core) as real text:
    C clients send UTF-8 bytes unescaped."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


def _get(headers: dict[str, str], key: str) -> str:
    value = headers.get(H[key])
    if not value:                   # most optional headers are absent
        return ""
    return value if value.isascii() else _utf8(value)


def _required(headers: dict[str, str], key: str) -> str:
    value = _get(headers, key)
    if not value:
        raise BadChunkMeta(f"missing header {H[key]}")
    return value


def parse_upload_headers(chunk_id: str, headers: dict[str, str]) -> UploadMeta:
    """Validate the metadata headers of a PUT (lower-case names) for the
    normalized `chunk_id`; BadChunkMeta on any problem."""
    policy = _required(headers, "content_policy")
    method = _required(headers, "content_chunkmethod")
    pos = _required(headers, "chunk_pos")
    raw_fullpath = _required(headers, "full_path")
    parts = raw_fullpath.split("/")
    if len(parts) != 5:
        raise BadChunkMeta("full path must have 5 '/'-separated parts")
    account, container, path, version, content_id = (
        unquote(p) if "%" in p else p for p in parts)
    if not account or not container or not path:
        raise BadChunkMeta("full path: empty account, container or path")
    _int64(version, "full path version")
    header_content_id = _get(headers, "content_id")
    if content_id:
        if not _is_hex(content_id):
            raise BadChunkMeta("full path: content id is not hexadecimal")
    elif not header_content_id:
        raise BadChunkMeta("full path: empty content id")
    cid = cid_from_name(account, container)

    value = _get(headers, "chunk_id")
    if value and value.upper() != chunk_id:
        raise BadChunkMeta("chunk id header differs from the URL")
    value = _get(headers, "container_id")
    if value and value.upper() != cid:
        raise BadChunkMeta("container id does not match the full path")
    value = _get(headers, "content_path")
    if value and unquote(value) != path:
        raise BadChunkMeta("content path does not match the full path")
    value = _get(headers, "content_version")
    if value and value != version:
        raise BadChunkMeta("content version does not match the full path")
    if header_content_id:
        if content_id and header_content_id.upper() != content_id.upper():
            raise BadChunkMeta("content id does not match the full path")
        if not _is_hex(header_content_id):
            raise BadChunkMeta("content id is not hexadecimal")
        content_id = content_id or header_content_id
    content_id = content_id.upper()
    meta = UploadMeta(
        chunk_id=chunk_id,
        fullpath="/".join(parts[:4] + [content_id]),
        account=account, container=container, container_id=cid,
        content_path=path, content_version=version, content_id=content_id,
        storage_policy=policy, chunk_method=method, chunk_pos=pos)
    algo = _get(headers, "chunk_hash_algo").lower()
    if algo and not checksums.is_default(algo):
        try:
            checksums.new_hasher(algo)
        except checksums.UnknownChecksum as exc:
            raise BadChunkMeta(str(exc)) from None
        meta.hash_algo = algo
    announced = {name.strip() for name in
                 headers.get("trailer", "").lower().split(",")}
    meta.transfer_declared = bool(_get(headers, "transfer_hash")) or (
        H["transfer_hash"] in announced)
    if meta.transfer_declared:
        try:
            checksums.new_hasher(TRANSFER_HASH_ALGO)
        except checksums.UnknownChecksum as exc:
            raise BadChunkMeta(f"transfer hash: {exc}") from None
    apply_trailers(meta, headers)
    return meta


def apply_trailers(meta: UploadMeta, fields: dict[str, str]) -> None:
    """Merge the hash/size fields of `fields` (headers, or trailers that
    override them) into `meta`; BadChunkMeta if one is malformed."""
    value = _get(fields, "metachunk_hash")
    if value:
        if not _is_hex(value):
            raise BadChunkMeta("metachunk hash is not hexadecimal")
        meta.metachunk_hash = value.upper()
    value = _get(fields, "metachunk_size")
    if value:
        meta.metachunk_size = str(_int64(value, "metachunk size"))
    value = _get(fields, "chunk_hash")
    if value:
        if not _is_hex(value):
            raise BadChunkMeta("chunk hash is not hexadecimal")
        meta.chunk_hash = value.upper()
    value = _get(fields, "transfer_hash")
    if value:
        if not _is_hex(value):
            raise BadChunkMeta("transfer hash is not hexadecimal")
        meta.transfer_hash = value.upper()
    value = _get(fields, "chunk_size")
    if value:
        size = _int64(value, "chunk size")
        if size < 0:
            raise BadChunkMeta("chunk size is negative")
        meta.chunk_size = size


def upload_xattrs(meta: UploadMeta, chunk_hash: str, size: int,
                  compression: str = "") -> dict[str, bytes]:
    """Check the received body against `meta` and return the xattrs to set.

    `chunk_hash` is the upper-case MD5 computed over the body ("" when
    checksums are off), `size` its length in bytes. BadChunkMeta on a
    mismatch or when EC metadata is missing.
    """
    if meta.is_ec and not (meta.metachunk_hash and meta.metachunk_size):
        raise BadChunkMeta("EC chunk without metachunk hash and size")
    if meta.chunk_size is not None and meta.chunk_size != size:
        raise BadChunkMeta(
            f"chunk size mismatch: declared {meta.chunk_size}, received {size}")
    if meta.chunk_hash and meta.chunk_hash != chunk_hash:
        raise BadChunkMeta(
            f"chunk hash mismatch: declared {meta.chunk_hash}, "
            f"computed {chunk_hash or 'nothing (checksum off)'}")
    attrs = {
        XATTR_FULLPATH + meta.chunk_id: meta.fullpath,
        X_MC_HASH: meta.metachunk_hash,
        X_MC_SIZE: meta.metachunk_size,
        X_CHUNK_HASH: chunk_hash or meta.chunk_hash,
        X_HASH_ALGO: meta.hash_algo,
        X_CHUNK_SIZE: str(size),
        X_CHUNK_POS: meta.chunk_pos,
        X_CHUNK_METHOD: meta.chunk_method,
        X_POLICY: meta.storage_policy,
        X_OIO_VERSION: OIO_VERSION,
        X_COMPRESSION: compression,
    }
    return {k: v.encode("utf-8", "surrogateescape")
            for k, v in attrs.items() if v}


def upload_fields(meta: UploadMeta, chunk_hash: str, size: int) -> dict[str, str]:
    """The chunk's fields (JSON/event names) after a successful upload."""
    return {
        "full_path": meta.fullpath,
        "container_id": meta.container_id,
        "content_path": meta.content_path,
        "content_version": meta.content_version,
        "content_id": meta.content_id,
        "content_storage_policy": meta.storage_policy,
        "metachunk_hash": meta.metachunk_hash,
        "metachunk_size": meta.metachunk_size,
        "chunk_id": meta.chunk_id,
        "content_chunk_method": meta.chunk_method,
        "chunk_position": meta.chunk_pos,
        "chunk_hash": chunk_hash or meta.chunk_hash,
        "chunk_size": str(size),
        "oio_version": OIO_VERSION,
    }


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "surrogateescape") if raw else ""


def fullpath_fields(chunk_id: str, attrs: dict[str, bytes]) -> dict[str, str]:
    """The fields derived from the fullpath xattr (legacy xattrs as a
    fallback); CorruptChunkMeta if the fullpath is malformed."""
    fields = {"chunk_id": chunk_id, "full_path": "", "container_id": "",
              "content_path": "", "content_version": "", "content_id": ""}
    raw = attrs.get(XATTR_FULLPATH + chunk_id)
    if raw is not None:
        fullpath = raw.decode("utf-8", "surrogateescape")
        parts = fullpath.split("/")
        if len(parts) != 5:
            raise CorruptChunkMeta(f"chunk {chunk_id}: malformed fullpath xattr")
        account, container, path, version, content_id = (
            unquote(p, errors="surrogateescape") for p in parts)
        fields.update(full_path=fullpath,
                      container_id=cid_from_name(account, container),
                      content_path=path, content_version=version,
                      content_id=content_id)
    elif _text(attrs.get(X_LEGACY_CHUNK_ID)).upper() == chunk_id:
        fields.update(container_id=_text(attrs.get(X_LEGACY_CONTAINER)),
                      content_path=_text(attrs.get(X_LEGACY_PATH)),
                      content_version=_text(attrs.get(X_LEGACY_VERSION)),
                      content_id=_text(attrs.get(X_LEGACY_CONTENT_ID)))
    return fields


def stored_fields(chunk_id: str, attrs: dict[str, bytes]) -> dict[str, str]:
    """Every field of a stored chunk (JSON/event names), from its xattrs."""
    fields = fullpath_fields(chunk_id, attrs)
    fields.update(
        content_storage_policy=_text(attrs.get(X_POLICY)),
        content_chunk_method=_text(attrs.get(X_CHUNK_METHOD)),
        metachunk_hash=_text(attrs.get(X_MC_HASH)),
        metachunk_size=_text(attrs.get(X_MC_SIZE)),
        chunk_position=_text(attrs.get(X_CHUNK_POS)),
        chunk_hash=_text(attrs.get(X_CHUNK_HASH)),
        chunk_hash_algo=_text(attrs.get(X_HASH_ALGO)),
        chunk_size=_text(attrs.get(X_CHUNK_SIZE)),
        oio_version=_text(attrs.get(X_OIO_VERSION)),
        compression=_text(attrs.get(X_COMPRESSION)),
    )
    return fields


def served_size(fields: dict[str, str]) -> int:
    """Bytes served for a chunk: its chunk_size xattr, 0 if unusable."""
    try:
        return max(int(fields.get("chunk_size") or 0), 0)
    except ValueError:
        return 0


def http_date(mtime: float) -> str:
    """RFC 1123 date with a zone name, in local time (Go time.RFC1123)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S %Z", time.localtime(mtime))


def _header_safe(value: str) -> str:
    """The value's stored bytes, as the latin-1 text the HTTP core sends."""
    if value.isascii() and value.isprintable():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    if b"\r" in raw or b"\n" in raw:  # never split a header line
        return quote(raw, safe="/=,:;@$&+")
    return raw.decode("latin-1")


# (field, reply header) in the order of the 7.2.0 rawx.
_REPLY_HEADERS = (
    ("full_path", "X-Oio-Chunk-Meta-Full-Path"),
    ("container_id", "X-Oio-Chunk-Meta-Container-Id"),
    ("content_path", "X-Oio-Chunk-Meta-Content-Path"),
    ("content_version", "X-Oio-Chunk-Meta-Content-Version"),
    ("content_id", "X-Oio-Chunk-Meta-Content-Id"),
    ("content_storage_policy", "X-Oio-Chunk-Meta-Content-Storage-Policy"),
    ("content_chunk_method", "X-Oio-Chunk-Meta-Content-Chunk-Method"),
    ("metachunk_hash", "X-Oio-Chunk-Meta-Metachunk-Hash"),
    ("chunk_id", "X-Oio-Chunk-Meta-Chunk-Id"),
    ("metachunk_size", "X-Oio-Chunk-Meta-Metachunk-Size"),
    ("chunk_position", "X-Oio-Chunk-Meta-Chunk-Pos"),
    ("chunk_hash", "X-Oio-Chunk-Meta-Chunk-Hash"),
    ("chunk_size", "X-Oio-Chunk-Meta-Chunk-Size"),
    ("oio_version", "X-Oio-Chunk-Meta-Oio-Version"),
    ("chunk_hash_algo", "X-Oio-Chunk-Meta-Chunk-Hash-Algo"),   # not MD5
)


def reply_headers(fields: dict[str, str], mtime: float) -> dict[str, str]:
    """GET/HEAD reply headers of a chunk (only non-empty values)."""
    headers = {}
    for key, name in _REPLY_HEADERS:
        value = fields.get(key)
        if not value:
            continue
        if key == "content_path":
            # Go url.PathEscape: '/' escaped, "$&+:=@" kept.
            value = _quote(value.encode("utf-8", "surrogateescape"),
                           safe="$&+:=@")
        headers[name] = _header_safe(value)
    headers["Last-Modified"] = http_date(mtime)
    return headers
