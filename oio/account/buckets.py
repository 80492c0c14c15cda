"""Bucket rules shared by both account backends (account.md §4.8, §4.11,
§4.14-4.16).

A bucket is a free hash of fields (`account`, the four counters, `mtime`,
and what clients set, e.g. `replication_enabled`) plus a place in its
owner's bucket list while its root container (the one named like it)
lives. Its counters are the sums over the containers attached to it,
moved by each container update and recomputed by a refresh.
"""

from __future__ import annotations

from collections.abc import Mapping

from oio.common.constants import BUCKET_PROP_REPLI_ENABLED
from oio.common.utils import parse_bool

from .common import COUNTERS, AccountError

REPLICATION_ENABLED = BUCKET_PROP_REPLI_ENABLED
# Multipart-upload parts: their bytes count, they are not objects.
SEGMENTS_MARK = "+segments"
# A refresh lock idle for this long (seconds) belongs to a dead refresh.
LOCK_TIMEOUT = 3600
REFRESH_BATCH = 10000


def counts_objects(container: str) -> bool:
    return SEGMENTS_MARK not in container


def bucket_deltas(container: str, deltas: Mapping[str, int],
                  values: Mapping[str, int], attached: bool) -> dict[str, int]:
    """What a live container's update adds to its bucket: the change of its
    counters, or all of them when it was not attached to the bucket yet."""
    out = dict(deltas if attached else values)
    if not counts_objects(container):
        out["objects"] = 0
    return {k: int(out.get(k, 0)) for k in COUNTERS}


def cast_bucket(fields: Mapping[str, str]) -> dict:
    """A bucket's stored fields as the service shows them: counters as
    integers (0 when absent), `replication_enabled` as a boolean."""
    info: dict = dict(fields)
    for key in COUNTERS:
        try:
            info[key] = int(info.get(key) or 0)
        except (TypeError, ValueError):
            pass    # a client wrote something else there: show it as is
    info[REPLICATION_ENABLED] = bool(
        parse_bool(info.get(REPLICATION_ENABLED), False))
    return info


def check_metadata(metadata, to_delete) -> tuple[dict[str, str], list[str]]:
    """A bucket update's body, checked and as strings."""
    if metadata is not None and not isinstance(metadata, dict):
        raise AccountError(400, "Invalid metadata")
    if to_delete is not None and not isinstance(to_delete, list):
        raise AccountError(400, "Invalid to_delete")
    return ({str(k): _field(v) for k, v in (metadata or {}).items()},
            [str(k) for k in to_delete or ()])


def _field(value) -> str:
    # Redis stores what redis-py writes: str() of the value (True -> "True").
    return value if isinstance(value, str) else str(value)


def check_bucket_name(bucket: str) -> None:
    if not bucket:
        raise AccountError(400, "Missing bucket ID")


def listing_page(names: list[str], limit: int) -> tuple[list[str], str | None]:
    """The names of one page of a bucket listing and the next marker.
    `names` holds at most `limit` names; as 7.2, a full page says there may
    be more (the next page may be empty)."""
    if len(names) >= limit and names:
        return names[:limit], names[limit - 1]
    return names, None


def bucket_entry(name: str, fields: Mapping[str, str | None]) -> dict:
    def number(key: str, kind: type):
        try:
            return kind(fields.get(key) or 0)
        except (TypeError, ValueError):
            return kind(0)
    return {"name": name, "objects": number("objects", int),
            "bytes": number("bytes", int), "mtime": number("mtime", float)}


def listing_limit(limit: int) -> int:
    return 1000 if limit <= 0 else limit
