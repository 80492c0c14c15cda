"""Object listing of one base: prefix, markers, delimiter folding, pages.

Follows proxy spec §7.4.5: candidates are names (or, with `all`, versions)
in byte order; a page holds `limit` objects + prefixes; `truncated` says
whether any candidate follows the last one consumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backend import ContainerBase

DELETED_MIME_TYPE = "application/x-deleted;swift_versions_deleted=1"
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
# Rows fetched per SQLite query while filling a page.
BATCH = 256


@dataclass
class ListParams:
    """What `container/list` asks for."""

    prefix: str = ""
    marker: str = ""
    end_marker: str = ""
    delimiter: str = ""
    limit: int = DEFAULT_LIMIT
    all_versions: bool = False
    deleted: bool = False
    properties: bool = False


@dataclass
class ListResult:
    objects: list[dict] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str | None = None
    admin: dict[str, str] = field(default_factory=dict)


def clamp_limit(value: int) -> int:
    if value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


def entry(row: tuple) -> dict:
    """A listing entry (proxy spec §3.3) from a `list_rows` row."""
    name, version, content, deleted, ctime, mtime = row[:6]
    hsh, size, policy, method, mime = row[6:11]
    if deleted:
        hsh = size = policy = method = None
        mime = DELETED_MIME_TYPE
    return {"name": name, "version": version, "ctime": ctime, "mtime": mtime,
            "deleted": bool(deleted), "id": content, "content": content,
            "policy": policy, "chunk-method": method,
            "hash": hsh if hsh is not None or deleted else "",
            "size": size, "mime-type": mime}


def _successor(common: str) -> str | None:
    """The smallest string greater than every string starting with `common`
    (whose last character is the delimiter)."""
    last = ord(common[-1])
    if last >= 0x10FFFF:
        return None
    return common[:-1] + chr(last + 1)


def list_objects(base: ContainerBase, p: ListParams) -> ListResult:
    """One page of objects of `base`."""
    out = ListResult(admin=dict(base.admin))
    limit = clamp_limit(p.limit)
    delim = p.delimiter[:1]
    if p.marker and p.marker >= p.prefix:
        start, inclusive = p.marker, False
    else:
        start, inclusive = p.prefix, True
    after_version: int | None = None
    seen_prefixes: set[str] = set()
    last_name: str | None = None
    while True:
        rows = base.list_rows(start, inclusive, p.all_versions, after_version,
                              BATCH)
        if not rows:
            return out
        jumped = False
        for row in rows:
            name = row[0]
            start, inclusive, after_version = name, False, row[1]
            if not name.startswith(p.prefix) or (
                    p.end_marker and name >= p.end_marker):
                return out
            if not p.all_versions and row[3] and not p.deleted:
                continue
            if len(out.objects) + len(out.prefixes) >= limit:
                out.truncated = True
                return out
            last_name = name
            out.next_marker = None
            common = None
            if delim:
                idx = name.find(delim, len(p.prefix))
                if idx >= 0:
                    common = name[:idx + 1]
            if common is None:
                obj = entry(row)
                if p.properties:
                    props = base.properties(name, row[1])
                    if props:
                        obj["properties"] = props
                out.objects.append(obj)
            elif common in seen_prefixes or (
                    p.marker and p.marker.startswith(common)):
                pass
            else:
                seen_prefixes.add(common)
                out.prefixes.append(common)
            if len(out.objects) + len(out.prefixes) >= limit:
                out.next_marker = last_name
                continue
            if common is not None:
                nxt = _successor(common)
                if nxt is not None:
                    # Skip every other name under this common prefix.
                    start, inclusive, after_version = nxt, True, None
                    jumped = True
                    break
        if not jumped and not p.all_versions:
            after_version = None
        if not jumped and len(rows) < BATCH:
            return out
