"""An optional client-side cache of container and object metadata.

Callers opt in by passing `cache=` (any dict-like object: a plain dict, an
LRU, a TTL cache...) to the ObjectStorageApi or to a call. Entries are keyed
`meta/<CID>` for containers and `meta/<CID>/<object name>` for objects, and
are dropped by every call of this client that changes them; changes made by
other clients are seen once the entry leaves the cache (choose a TTL cache
for that). Versioned requests bypass the cache: an entry is about the
latest version only.
"""

from __future__ import annotations

from typing import Any

from oio.common.utils import cid_from_name


def _container_key(account=None, reference=None, cid=None) -> str:
    cid = cid or cid_from_name(account, reference)
    return f"meta/{cid.upper()}"


def _object_key(account=None, reference=None, path=None, cid=None) -> str:
    if not path:
        raise ValueError("An object name is needed to use the cache")
    return f"{_container_key(account, reference, cid)}/{path}"


def get_cached_container_metadata(account=None, reference=None, cid=None,
                                  cache=None, **_kwargs) -> dict | None:
    """The cached container_get_properties() of a container, or None."""
    if cache is None:
        return None
    return cache.get(_container_key(account, reference, cid))


def set_cached_container_metadata(container_meta, account=None,
                                  reference=None, cid=None, cache=None,
                                  **_kwargs) -> None:
    if cache is None or container_meta is None:
        return
    cache[_container_key(account, reference, cid)] = container_meta


def del_cached_container_metadata(account=None, reference=None, cid=None,
                                  cache=None, **_kwargs) -> None:
    if cache is None:
        return
    cache.pop(_container_key(account, reference, cid), None)


def del_cached_container_objects(account=None, reference=None, cid=None,
                                 cache=None, **_kwargs) -> None:
    """Drop the container's entry and those of all its objects (a flush or
    a deletion: a scan of the cache's keys)."""
    if cache is None:
        return
    key = _container_key(account, reference, cid)
    prefix = key + "/"
    for entry in [k for k in list(cache.keys())
                  if k == key or (isinstance(k, str) and k.startswith(prefix))]:
        cache.pop(entry, None)


def get_cached_object_metadata(account=None, reference=None, path=None,
                               cid=None, version=None, properties=False,
                               cache=None, **_kwargs
                               ) -> tuple[dict | None, list | None]:
    """(metadata, chunks) of the latest version of an object from the cache;
    (None, None) on a miss, or when `properties` are wanted and were not
    cached. Chunks are None when only the metadata was cached."""
    if cache is None or version:
        return None, None
    entry = cache.get(_object_key(account, reference, path, cid))
    if entry is None or entry.get("meta") is None:
        return None, None
    meta = dict(entry["meta"])
    if properties:
        if entry.get("properties") is None:
            return None, None
        meta["properties"] = dict(entry["properties"])
    chunks = entry.get("chunks")
    return meta, ([dict(c) for c in chunks] if chunks is not None else None)


def set_cached_object_metadata(content_meta, content_chunks, account=None,
                               reference=None, path=None, cid=None,
                               version=None, properties=False, cache=None,
                               **_kwargs) -> None:
    """Remember an object's metadata (and its user properties when they
    were asked for) and, when given, its chunks without their scores (those
    change: they are refreshed on use)."""
    if cache is None or version or content_meta is None:
        return
    key = _object_key(account, reference, path, cid)
    entry: dict[str, Any] = dict(cache.get(key) or {})
    meta = dict(content_meta)
    user_props = meta.pop("properties", None)
    meta["properties"] = {}
    if entry.get("meta") is not None and entry["meta"].get("id") != meta.get(
            "id"):
        entry = {}     # another version: nothing of the old one applies
    entry["meta"] = meta
    if properties and user_props is not None:
        entry["properties"] = dict(user_props)
    if content_chunks is not None:
        entry["chunks"] = [{k: v for k, v in c.items() if k != "score"}
                           for c in content_chunks]
    cache[key] = entry


def del_cached_object_metadata(account=None, reference=None, path=None,
                               cid=None, version=None, cache=None,
                               **_kwargs) -> None:
    if cache is None or not path:
        return
    cache.pop(_object_key(account, reference, path, cid), None)
