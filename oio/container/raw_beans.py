"""Raw beans of `container/raw_insert|raw_update|raw_delete` (proxy-api.md
§3.6): alias, header and chunk records written as they are, by the admin
tools (blob registrator, rebuilders, snapshots).

Parsing is strict at the edge: a wrong JSON type or a value that is not
hexadecimal where the spec says hex is a 400, before meta2 opens the base,
so that a bad bean can never half-apply a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backend import Alias, Chunk, Header
from .chunks import parse_chunks
from .errors import bad_request

ALIAS, HEADER, CHUNK = "alias", "header", "chunk"
KINDS = (ALIAS, HEADER, CHUNK)
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class RawBean:
    """One parsed bean: `record` is the row to write; `content` the content
    ID a chunk belongs to (upper hex), empty for the other kinds."""

    kind: str
    record: Alias | Header | Chunk
    content: str = ""

    @property
    def key(self) -> tuple:
        """What identifies the row in its table."""
        if self.kind == ALIAS:
            return (self.record.name, self.record.version)
        if self.kind == HEADER:
            return (self.record.id,)
        return (self.content, self.record.id)


def _hex_id(value) -> bool:
    """A content ID: non-empty, an even number of hex digits, 32 bytes max."""
    return isinstance(value, str) and 0 < len(value) <= 64 \
        and len(value) % 2 == 0 and _HEX.issuperset(value)


def _int(bean: dict, field: str, kind: str, default: int | None = None,
         minimum: int | None = None) -> int:
    value = bean.get(field, default)
    if value is None or not isinstance(value, int) or isinstance(value, bool) \
            or (minimum is not None and value < minimum):
        raise bad_request(f"Invalid {kind} bean: '{field}' must be an integer")
    return value


def _str(bean: dict, field: str, kind: str, default: str | None = None,
         empty_ok: bool = False) -> str:
    value = bean.get(field, default)
    if not isinstance(value, str) or (not value and not empty_ok):
        raise bad_request(f"Invalid {kind} bean: '{field}' must be a string")
    return value


def _content_id(bean: dict, field: str, kind: str) -> str:
    value = bean.get(field)
    if not _hex_id(value):
        raise bad_request(f"Invalid {kind} bean: '{field}' must be "
                          "hexadecimal")
    return value.upper()


def _alias(bean: dict, now: int) -> RawBean:
    deleted = bean.get("deleted", False)
    if not isinstance(deleted, bool):
        raise bad_request("Invalid alias bean: 'deleted' must be a boolean")
    record = Alias(
        name=_str(bean, "name", ALIAS),
        version=_int(bean, "version", ALIAS),
        content=_content_id(bean, "header", ALIAS),
        deleted=deleted,
        ctime=_int(bean, "ctime", ALIAS, now),
        mtime=_int(bean, "mtime", ALIAS, now))
    return RawBean(ALIAS, record)


def _header(bean: dict, now: int) -> RawBean:
    digest = bean.get("hash")
    if digest is not None and not (
            isinstance(digest, str) and len(digest) == 32
            and _HEX.issuperset(digest)):
        # An MD5: the only content hash meta2 keeps.
        raise bad_request("Invalid header bean: 'hash' must be 16 bytes "
                          "of hexadecimal")
    record = Header(
        id=_content_id(bean, "id", HEADER),
        hash=digest.upper() if digest else None,
        size=_int(bean, "size", HEADER, 0, minimum=0),
        ctime=_int(bean, "ctime", HEADER, now),
        mtime=_int(bean, "mtime", HEADER, now),
        mime_type=_str(bean, "mime-type", HEADER),
        chunk_method=_str(bean, "chunk-method", HEADER),
        policy=_str(bean, "policy", HEADER, "", empty_ok=True))
    return RawBean(HEADER, record)


def _chunk(bean: dict, now: int) -> RawBean:
    content = _content_id(bean, "content", CHUNK)
    ctime = _int(bean, "ctime", CHUNK, now)
    # The chunk fields are those of content/create: one parser for both.
    chunk = parse_chunks([{"url": bean.get("id"), "pos": bean.get("pos"),
                           "size": bean.get("size"),
                           "hash": bean.get("hash")}], ctime)[0]
    return RawBean(CHUNK, chunk, content)


_PARSERS = {ALIAS: _alias, HEADER: _header, CHUNK: _chunk}


def parse_raw_beans(beans, now: int) -> list[RawBean]:
    """The beans of a request body (a JSON array), in their order; 400
    (Meta2Error) on the first one that is not valid."""
    if not isinstance(beans, list):
        raise bad_request("Invalid beans: expected an array")
    out = []
    for bean in beans:
        if not isinstance(bean, dict):
            raise bad_request("Invalid bean: expected an object")
        kind = bean.get("type")
        parser = _PARSERS.get(kind.lower()) if isinstance(kind, str) else None
        if parser is None:
            raise bad_request(f"Invalid bean type {kind!r}: expected one of "
                              f"{', '.join(KINDS)}")
        out.append(parser(bean, now))
    return out


def parse_raw_update(body, now: int) -> tuple[list[RawBean], list[RawBean]]:
    """(old, new) of a raw_update body: two arrays of the same non-zero
    length whose beans pair by kind; 400 otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("old"), list) \
            or not isinstance(body.get("new"), list) or not body["old"] \
            or len(body["old"]) != len(body["new"]):
        raise bad_request("Expected {\"old\": [beans], \"new\": [beans]}"
                          " of the same, non-zero length")
    old = parse_raw_beans(body["old"], now)
    new = parse_raw_beans(body["new"], now)
    for index, (before, after) in enumerate(zip(old, new, strict=True)):
        if before.kind != after.kind:
            raise bad_request(f"Bean {index}: an {before.kind} cannot be "
                              f"replaced by a {after.kind}")
    return old, new
