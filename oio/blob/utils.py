"""7.2's helpers on rawx volumes and chunk files (`oio.blob.utils`), over
our own volume and xattr code: tools written for OpenIO import them."""

from __future__ import annotations

from oio.common import exceptions as exc
from oio.common.constants import (
    CHUNK_XATTR_CONTENT_FULLPATH_PREFIX,
    CHUNK_XATTR_KEYS,
    CHUNK_XATTR_KEYS_OPTIONAL,
    chunk_xattr_keys,  # noqa: F401 - 7.2's tools import it from here
)
from oio.common.fullpath import decode_fullpath
from oio.common.utils import cid_from_name
from oio.common.volume import read_volume
from oio.common.xattr import FileLike, read_user_xattr

# Our rawx writes the hash algorithm only when it is not md5.
_OPTIONAL = set(CHUNK_XATTR_KEYS_OPTIONAL) | {"chunk_hash_algo"}


def check_volume(volume_path: str) -> tuple[str, str]:
    """(namespace, service ID) of the rawx volume at `volume_path`."""
    return check_volume_for_service_type(volume_path, "rawx")


def check_volume_for_service_type(volume_path: str, required_type: str
                                  ) -> tuple[str, str]:
    """(namespace, service ID) of the `required_type` volume at
    `volume_path`; OioException (ConfigurationException) saying what is
    wrong otherwise."""
    info = read_volume(volume_path, required_type)
    return info.namespace, info.volume_id


def read_chunk_metadata(fd: FileLike, chunk_id: str,
                        for_conversion: bool = False) -> tuple[dict, dict]:
    """(metadata by 7.2's key names, with `full_path` and the `links` of
    hard-linked copies; the raw `user.` xattrs) of a chunk file.

    The fields a 4.2+ chunk keeps only in its fullpath xattr are derived
    from it. FaultyChunk (of MissingAttribute) when required attributes
    are missing; MissingAttribute when the chunk ID read is not `chunk_id`
    (unless `for_conversion`, for chunks renamed by the converter)."""
    chunk_id = chunk_id.upper()
    raw = read_user_xattr(fd)
    meta: dict = {"links": {}}
    version = 0.0
    derived: dict[str, str] = {}
    for key, value in raw.items():
        if key == CHUNK_XATTR_KEYS["oio_version"]:
            try:
                version = float(value)
            except ValueError:
                raise exc.FaultyChunk(exc.MissingAttribute(key)) from None
        elif key.startswith(CHUNK_XATTR_CONTENT_FULLPATH_PREFIX):
            linked_id = key[len(CHUNK_XATTR_CONTENT_FULLPATH_PREFIX):]
            if linked_id != chunk_id:
                meta["links"][linked_id] = value
                continue
            meta["full_path"] = value
            account, container, path, content_version, content_id = \
                decode_fullpath(value)
            derived = {
                "chunk_id": linked_id,
                "container_id": cid_from_name(account, container),
                "content_path": path, "content_version": content_version,
                "content_id": content_id}
    fields = dict(raw)
    fields.update({CHUNK_XATTR_KEYS[k]: v for k, v in derived.items()})
    missing = []
    if version >= 4.2 and "full_path" not in meta:
        missing.append(exc.MissingAttribute(
            CHUNK_XATTR_CONTENT_FULLPATH_PREFIX + chunk_id))
    for name, xattr_key in CHUNK_XATTR_KEYS.items():
        if xattr_key in fields:
            meta[name] = fields[xattr_key]
        elif name not in _OPTIONAL:
            missing.append(exc.MissingAttribute(xattr_key))
    if missing:
        raise exc.FaultyChunk(*missing)
    if not for_conversion and meta["chunk_id"] != chunk_id:
        raise exc.MissingAttribute(CHUNK_XATTR_KEYS["chunk_id"])
    return meta, raw
