"""HTTP helpers under 7.2's names: Range and Content-Range headers, chunk
PUT headers from an object's metadata, a header dict keyed without case.
The chunk headers are the API's own (`oio.api.replication`)."""

from __future__ import annotations

import re

from oio.api.replication import content_headers
from oio.common.constants import CHUNK_HEADERS
from oio.common.http_eventlet import CustomHttpConnection, http_connect

__all__ = ["CustomHttpConnection", "HeadersDict", "get_addr",
           "headers_from_object_metadata", "http_connect",
           "http_header_from_ranges", "parse_content_range",
           "parse_content_type", "ranges_from_http_header"]

# `; key=value` parameters of a media type (value quoted or a token).
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def parse_content_type(raw: str | None) -> tuple[str | None,
                                                 list[tuple[str, str]]]:
    """(the header as given, its parameters as (name, value) pairs)."""
    params: list[tuple[str, str]] = []
    if raw and ";" in raw:
        _, rest = raw.split(";", 1)
        params = [(k.strip(), v.strip())
                  for k, v in _PARAM.findall(";" + rest)]
    return raw, params


def parse_content_range(raw: str) -> tuple[int, int, int]:
    """(first byte, last byte, total size); ValueError if malformed."""
    found = _CONTENT_RANGE.match(raw.strip())
    if not found:
        raise ValueError(f"invalid content-range {raw!r}")
    first, last, size = (int(x) for x in found.groups())
    return first, last, size


def _check_range(start: int | None, end: int | None, text: str) -> None:
    if end is None:
        if start is None:
            raise ValueError(f"Invalid range {text}")
    elif end < 0 or (start is not None and end < start):
        raise ValueError(f"Invalid range {text}")


def http_header_from_ranges(ranges) -> str:
    """`bytes=a-b,c-,-d` from (start, end) pairs (None for an open side)."""
    parts = []
    for start, end in ranges:
        _check_range(start, end, f"({start}, {end})")
        parts.append(f"{'' if start is None else start}-"
                     f"{'' if end is None else end}")
    return "bytes=" + ",".join(parts)


def ranges_from_http_header(value: str) -> list[tuple[int | None,
                                                      int | None]]:
    """(start, end) pairs of a `Range` header; ValueError if malformed."""
    if not value.startswith("bytes="):
        raise ValueError(f"Invalid Range value: {value}")
    ranges = []
    for part in value[6:].split(","):
        first, sep, last = part.strip().partition("-")
        if not sep:
            raise ValueError(f"Invalid byterange value: {value}")
        start = int(first) if first else None
        end = int(last) if last else None
        _check_range(start, end, value)
        ranges.append((start, end))
    return ranges


def headers_from_object_metadata(metadata: dict) -> dict[str, str]:
    """The headers shared by every chunk PUT of an object (its metadata
    with `container_id`, `content_path` and `full_path`), chunked."""
    headers = {"transfer-encoding": "chunked"}
    headers.update(content_headers(metadata))
    for key in ("metachunk_hash", "metachunk_size", "chunk_hash"):
        if metadata.get(key) is not None:
            headers[CHUNK_HEADERS[key]] = str(metadata[key])
    return headers


def get_addr(host: str, port: int | str) -> str:
    """`host:port`, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HeadersDict(dict):
    """Header names stored title-cased, so any case finds them; setting
    None removes."""

    def __init__(self, headers=None, **kwargs):
        super().__init__()
        if headers:
            self.update(headers)
        self.update(kwargs)

    def update(self, data=(), **kwargs) -> None:
        items = data.items() if hasattr(data, "items") else data
        for key, value in list(items) + list(kwargs.items()):
            self[key] = value

    def __setitem__(self, key: str, value) -> None:
        if value is None:
            super().pop(key.title(), None)
        else:
            super().__setitem__(key.title(), value)

    def __getitem__(self, key: str):
        return super().__getitem__(key.title())

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key.title())

    def __contains__(self, key) -> bool:
        return super().__contains__(key.title())

    def get(self, key: str, default=None):
        return super().get(key.title(), default)

    def pop(self, key: str, default=None):
        return super().pop(key.title(), default)
