"""Small helpers shared by clients and services: identifiers and time."""

from __future__ import annotations

import functools
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote as _quote
from urllib.parse import unquote

monotonic_time = time.monotonic

MAX_REQUEST_ID_LENGTH = 63


@functools.lru_cache(maxsize=4096)
def cid_from_name(account: str, ref: str) -> str:
    """Container ID: upper hex SHA-256 of `account` NUL `ref` (UTF-8)."""
    h = hashlib.sha256()
    h.update(account.encode("utf-8"))
    h.update(b"\0")
    h.update(ref.encode("utf-8"))
    return h.hexdigest().upper()


def compute_chunk_id(cid: str, path: str, version, position, policy: str) -> str:
    """Predictable chunk ID, as used to name hard links."""
    h = hashlib.sha256()
    for part in (cid, path, str(version), str(position), policy):
        h.update(part.encode("utf-8"))
    return h.hexdigest().upper()


def request_id(prefix: str = "") -> str:
    """A request ID: prefix, PID as 4 hex digits, then random hex digits.

    The prefix eats into a 112-bit budget, so IDs are 32 characters long for
    prefixes of up to 28 characters.
    """
    pid = f"{os.getpid() & 0xFFFF:04X}"
    nrand = max(28 - len(prefix), 0)
    rand = f"{random.getrandbits(4 * nrand):0{nrand}X}" if nrand else ""
    return (prefix + pid + rand)[:MAX_REQUEST_ID_LENGTH]


def generate_content_id() -> str:
    """32 hex digits: µs timestamp (little-endian), 4 random bytes, pid, tid."""
    import threading

    now = int(time.time() * 1_000_000)
    raw = (now.to_bytes(8, "little") + os.urandom(4)
           + (os.getpid() & 0xFFFF).to_bytes(2, "little")
           + (threading.get_native_id() & 0xFFFF).to_bytes(2, "little"))
    return raw.hex().upper()


def generate_chunk_id() -> str:
    """A random chunk ID: 64 upper hex digits."""
    return os.urandom(32).hex().upper()


def quote(value, safe: str = "") -> str:
    """Percent-encode every byte outside [A-Za-z0-9._~-] (UTF-8)."""
    if isinstance(value, bytes):
        return _quote(value, safe=safe)
    return _quote(str(value), safe=safe)


def is_hexa(value: str, size: int | None = None) -> bool:
    if not value or (size is not None and len(value) != size):
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in value)


TRUE_WORDS = frozenset(("yes", "true", "on", "enable", "enabled", "1", "yeah"))
FALSE_WORDS = frozenset(("no", "false", "off", "disable", "disabled", "0", "nope"))


def true_value(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def parse_bool(value, default: bool | None = None) -> bool | None:
    """OpenIO boolean words; anything else gives `default`."""
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return default


def timestamp_us() -> int:
    return time.time_ns() // 1000


__all__ = [
    "cid_from_name", "compute_chunk_id", "request_id", "generate_content_id",
    "generate_chunk_id", "quote", "unquote", "is_hexa", "true_value",
    "parse_bool", "monotonic_time", "timestamp_us",
]


def fsync_path(path: str) -> None:
    """Make a file's data, or a directory's entries, durable by path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pop_request_id(headers: dict | None) -> tuple[dict, str | None]:
    """(headers without any spelling of x-oio-req-id, the request ID they
    carried or None)."""
    out = dict(headers or {})
    reqid = None
    for key in [k for k in out if k.lower() == "x-oio-req-id"]:
        reqid = str(out.pop(key))
    return out, reqid


def depaginate(func: Callable[..., Any], item_key: Callable | None = None,
               listing_key: Callable | None = None,
               marker_key: Callable | None = None,
               truncated_key: Callable | None = None, attempts: int = 1,
               *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated listing, calling `func(*args, **kwargs)`
    again with `marker=` until the listing ends (7.2's signature).

    `listing_key(page)` is the list in a page (default: the page),
    `item_key(element)` what is yielded of each element (default: itself),
    `marker_key(page)` the next marker (default: the last element), and
    `truncated_key(page)` whether more pages follow (default: the page had
    elements). A busy service is asked again, `attempts` times in all."""
    from oio.common.exceptions import ServiceBusy

    def listing_of(page):
        return listing_key(page) if listing_key else page

    def next_page():
        for attempt in range(max(1, attempts)):
            try:
                return func(*args, **kwargs)
            except ServiceBusy:
                if attempt + 1 >= max(1, attempts):
                    raise
        raise AssertionError("not reached")

    page = next_page()
    while True:
        for element in listing_of(page) or ():
            yield item_key(element) if item_key else element
        more = truncated_key(page) if truncated_key else bool(listing_of(page))
        if not more:
            return
        kwargs["marker"] = marker_key(page) if marker_key \
            else listing_of(page)[-1]
        page = next_page()
