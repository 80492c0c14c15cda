"""Chunk lists of `content/create`: parsing and checking against a policy.

Pure functions (proxy spec §7.5.3): wrong JSON types are a 400, a chunk set
that cannot hold the object is a 425, missing copies or fragments are
accepted and counted.
"""

from __future__ import annotations

from oio.common.constants import CODE_CONTENT_CORRUPTED

from .backend import Chunk
from .errors import Meta2Error, bad_request

# Hex lengths of the hashes meta2 accepts (16, 20, 32 or 64 bytes).
HASH_LENGTHS = frozenset((32, 40, 64, 128))
_HEX = frozenset("0123456789abcdefABCDEF")


def valid_hash(value: str, allow_empty: bool = False) -> bool:
    if value == "":
        return allow_empty
    return len(value) in HASH_LENGTHS and all(c in _HEX for c in value)


def parse_chunks(raw, now: int) -> list[Chunk]:
    """Chunks of a create body: `url`, `pos` strings, `size` int, `hash` hex.

    Other keys (`real_url`, `score`...) are ignored."""
    if not isinstance(raw, list) or not raw:
        raise bad_request("Invalid chunks: expected a non-empty array")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("Invalid chunk: expected an object")
        url, pos = item.get("url"), item.get("pos")
        size, hsh = item.get("size"), item.get("hash")
        if not isinstance(url, str) or not url:
            raise bad_request("Invalid chunk: 'url' must be a string")
        if len(url.encode("utf-8", "surrogatepass")) > 511:
            raise bad_request("Invalid chunk: 'url' too long")
        if not isinstance(pos, str) or not pos:
            raise bad_request("Invalid chunk: 'pos' must be a string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request("Invalid chunk: 'size' must be an integer")
        if not isinstance(hsh, str) or not valid_hash(hsh):
            raise bad_request("Invalid chunk: 'hash' must be hexadecimal")
        out.append(Chunk(url, pos, hsh.upper(), size, now))
    return out


def split_pos(pos: str) -> tuple[int, int]:
    """(metachunk, index) of a position "M" or "M.i"; ValueError if bad."""
    head, dot, tail = pos.partition(".")
    if not head.isdigit() or (dot and not tail.isdigit()):
        raise ValueError(pos)
    return int(head), int(tail) if dot else -1


def pos_key(pos: str) -> tuple[int, int]:
    """Sort key of a chunk position (bad positions last)."""
    try:
        return split_pos(pos)
    except ValueError:
        return (1 << 62, 0)


def _broken(message: str) -> Meta2Error:
    return Meta2Error(CODE_CONTENT_CORRUPTED,
                      f"Content broken and irreparable: {message}")


def metachunks(chunks: list[Chunk], ec: bool) -> dict[int, list[Chunk]]:
    """Chunks grouped by metachunk; 425 on positions of the wrong form."""
    groups: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        try:
            mc, idx = split_pos(chunk.pos)
        except ValueError:
            raise _broken(f"invalid position {chunk.pos!r}") from None
        if ec != (idx >= 0):
            raise _broken(f"position {chunk.pos!r} does not fit the policy")
        groups.setdefault(mc, []).append(chunk)
    return groups


def metachunk_sizes(groups: dict[int, list[Chunk]]) -> dict[int, int]:
    """Data bytes of each metachunk (its chunks all have the same size:
    the copy size for plain, the metachunk size for EC)."""
    return {mc: group[0].size for mc, group in groups.items()}


def ec_params(policy) -> tuple[int, int] | None:
    security = policy.data_security
    if security.kind != "ec":
        return None
    return int(security.params.get("k", 6)), int(security.params.get("m", 4))


def check_chunks(policy, chunks: list[Chunk], size: int,
                 first_mc: int = 0) -> int:
    """Check a chunk set against `policy` for an object of `size` bytes.

    Returns the number of missing chunks (0 when complete); raises 425 when
    the set cannot describe the object."""
    ec = ec_params(policy)
    expected = sum(ec) if ec else max(policy.nb_chunks(), 1)
    groups = metachunks(chunks, ec is not None)
    mcs = sorted(groups)
    if mcs != list(range(first_mc, first_mc + len(mcs))):
        raise _broken("metachunk positions are not contiguous")
    missing = 0
    for mc in mcs:
        group = groups[mc]
        if len({c.size for c in group}) > 1:
            raise _broken(f"chunks of metachunk {mc} differ in size")
        if ec:
            indexes = [split_pos(c.pos)[1] for c in group]
            if len(set(indexes)) != len(indexes):
                raise _broken(f"duplicate fragment in metachunk {mc}")
            if any(i >= expected for i in indexes):
                raise _broken(f"fragment index beyond k+m in metachunk {mc}")
            if len(indexes) < ec[0]:
                raise _broken(f"fewer than k fragments in metachunk {mc}")
        missing += max(expected - len(group), 0)
    if sum(metachunk_sizes(groups).values()) < size:
        raise _broken("chunks hold less than the object size")
    return missing


def shift_chunks(chunks: list[Chunk], shift: int) -> list[Chunk]:
    """The chunks with their metachunk positions moved by `shift` (append)."""
    out = []
    for chunk in chunks:
        mc, idx = split_pos(chunk.pos)
        pos = f"{mc + shift}.{idx}" if idx >= 0 else str(mc + shift)
        out.append(Chunk(chunk.id, pos, chunk.hash, chunk.size, chunk.ctime))
    return out
