"""`Range` header handling for chunk downloads (rawx.md §7.2).

The 7.2.0 rawx honours only the closed form `bytes=<first>-<last>` (first
range only). We also honour the open form `bytes=<first>-`, which tools
send after a failover (`BlobClient.chunk_get`): replying with the whole
chunk there would make them re-read bytes they already have. The suffix
form `bytes=-<n>` stays "no range": the 7.2.0 client sends it meaning
"from 0 to n", not "the last n bytes", so the whole chunk is the safe reply.
"""

from __future__ import annotations


class RangeNotSatisfiable(Exception):
    """The range starts at or beyond the end of the chunk (416)."""

    def __init__(self, size: int):
        super().__init__(f"range not satisfiable for a chunk of {size} bytes")
        self.size = size


def _leading_int(text: str) -> tuple[int | None, str]:
    """Parse the leading decimal digits of `text`; (None, text) if none."""
    end = 0
    while end < len(text) and text[end].isdigit() and text[end].isascii():
        end += 1
    if end == 0:
        return None, text
    return int(text[:end]), text[end:]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The byte span `(offset, length)` to serve from a chunk of `size` bytes.

    None means "serve the whole chunk with 200". Raises RangeNotSatisfiable
    when the first byte asked for is at or beyond `size` (416).
    """
    if not header or size <= 0:
        return None
    spec = header.strip()
    if not spec.startswith("bytes="):
        return None
    first, rest = _leading_int(spec[6:].lstrip())
    if first is None or not rest.startswith("-"):
        return None
    last, rest = _leading_int(rest[1:])
    if last is None:
        # Open-ended only when nothing but the end (or another range) follows.
        if rest.strip() and not rest.lstrip().startswith(","):
            return None
        last = size - 1
    elif first > last:
        return None
    if first >= size:
        raise RangeNotSatisfiable(size)
    last = min(last, size - 1)
    return first, last - first + 1


def content_range(offset: int, length: int, size: int) -> str:
    """The `Content-Range` value of a 206 reply."""
    return f"bytes {offset}-{offset + length - 1}/{size}"
