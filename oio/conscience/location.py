"""Service locations as 64-bit integers, and distances (naming.md §8.1-8.2)."""

from __future__ import annotations

import ipaddress

MASK64 = 0xFFFFFFFFFFFFFFFF


def _djb2_16(token: str) -> int:
    h = 5381
    for byte in token.encode():
        h = (h * 33 + byte) & 0xFFFFFFFF
    return h & 0xFFFF


def location_from_string(text: str) -> int:
    """A dotted location of up to 4 levels (or a `0x...` literal)."""
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text, 16) & MASK64
    loc = 0
    for token in text.split(".", 3):
        loc = ((loc << 16) | _djb2_16(token)) & MASK64
    return loc


def location_from_addr(addr: str) -> int:
    """The location of a service without `tag.loc`: its IP and port."""
    host, _, port = addr.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        raw = int.from_bytes(ip.packed[-6:] if ip.version == 6 else ip.packed,
                             "big")
        return ((raw << 16) | int(port)) & MASK64
    except ValueError:
        return _djb2_16(addr)


def location_of(desc: dict) -> int:
    loc = (desc.get("tags") or {}).get("tag.loc")
    if isinstance(loc, str) and loc:
        return location_from_string(loc)
    return location_from_addr(str(desc.get("addr", "")))


def too_close(a: int, b: int, dist: int) -> bool:
    """Whether two locations are closer than `dist` (the poll constraint)."""
    if dist < 1:
        return False
    shift = 16 * (dist - 1)
    return (a >> shift) == (b >> shift)


def distance(a: int, b: int) -> int:
    """The reported distance of two locations (0 when equal, up to 5)."""
    if a == b:
        return 0
    lead = 64 - (a ^ b).bit_length()
    if lead >= 48:
        return 1
    if lead >= 32:
        return 2
    if lead >= 16:
        return 3
    if lead >= 8:
        return 4
    return 5


def max_distance(locations) -> int:
    """The world's absolute maximum distance: levels used by the largest."""
    top = max(locations, default=0)
    return max(1, -(-top.bit_length() // 16))
