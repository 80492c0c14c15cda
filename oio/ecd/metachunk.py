"""What an ecd request asks, read from its `x-oio-chunk-meta-*` headers
(plain logic, no I/O): the object's metadata, the storage method, the
chunks of the metachunk, the byte range."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from oio.common import exceptions as exc
from oio.common.storage_method import STORAGE_METHODS, StorageMethod

PREFIX = "x-oio-chunk-meta-"

# sysmeta key → request header, as 7.2's ecd and C client name them.
SYS_HEADERS = {
    "chunk_pos": PREFIX + "chunk-pos",
    "nb_chunks": PREFIX + "chunks-nb",
    "chunk_size": PREFIX + "chunk-size",
    "content_id": PREFIX + "content-id",
    "content_mime_type": PREFIX + "content-mime-type",
    "content_length": PREFIX + "content-length",
    "content_chunkmethod": PREFIX + "content-chunk-method",
    "content_path": PREFIX + "content-path",
    "content_chunksnb": PREFIX + "content-chunksnb",
    "content_hash": PREFIX + "content-hash",
    "content_version": PREFIX + "content-version",
    "content_policy": PREFIX + "content-storage-policy",
    "container_id": PREFIX + "container-id",
    "oio_version": PREFIX + "oio-version",
    "full_path": PREFIX + "full-path",
}


def header(headers: dict[str, str], key: str,
           default: str | None = None) -> str:
    """The header of sysmeta `key` (headers lower-cased); BadRequest
    naming it when it is missing and there is no default."""
    name = SYS_HEADERS[key]
    value = headers.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise exc.BadRequest(message=f"Missing header '{name}'")
    return value


def load_sysmeta(headers: dict[str, str]) -> dict[str, str]:
    """The object metadata the chunk PUTs carry."""
    return {
        "id": header(headers, "content_id"),
        "version": header(headers, "content_version"),
        "content_path": unquote(header(headers, "content_path")),
        "content_length": header(headers, "content_length", "0"),
        "chunk_method": header(headers, "content_chunkmethod"),
        "mime_type": header(headers, "content_mime_type",
                            "application/octet-stream"),
        "policy": header(headers, "content_policy"),
        "content_chunksnb": header(headers, "content_chunksnb", "1"),
        "container_id": header(headers, "container_id"),
        "full_path": header(headers, "full_path"),
        "oio_version": header(headers, "oio_version", "4.2"),
    }


def storage_method(headers: dict[str, str]) -> StorageMethod:
    chunk_method = header(headers, "content_chunkmethod")
    try:
        method = STORAGE_METHODS.load(chunk_method)
    except (exc.OioException, ValueError, KeyError) as err:
        raise exc.BadRequest(
            message=f"Invalid chunk method {chunk_method!r}: {err}") from None
    if getattr(method, "backblaze", False):
        raise exc.BadRequest(message="Backblaze chunk methods are not "
                                     "served by this ecd")
    return method


def chunk_count(method: StorageMethod, headers: dict[str, str]) -> int:
    """How many `chunk-<i>` headers to look for."""
    if method.ec:
        return method.ec_nb_data + method.ec_nb_parity
    raw = headers.get(SYS_HEADERS["nb_chunks"]) or \
        header(headers, "content_chunksnb", "0")
    try:
        return int(raw)
    except ValueError:
        raise exc.BadRequest(message=f"Invalid chunk count {raw!r}") from None


def load_meta_chunk(headers: dict[str, str], nb_chunks: int,
                    pos: str | None = None) -> list[dict]:
    """The chunks named by `x-oio-chunk-meta-chunk-<i>` (missing ones
    skipped), at position `pos.i` (EC) or `i`."""
    chunks = []
    for i in range(nb_chunks):
        url = headers.get(f"{PREFIX}chunk-{i}")
        if url:
            chunks.append({"url": url, "num": i,
                           "pos": f"{pos}.{i}" if pos is not None else str(i)})
    if not chunks:
        raise exc.BadRequest(message=f"No '{PREFIX}chunk-<i>' header")
    return chunks


def write_chunks(method: StorageMethod, headers: dict[str, str]
                 ) -> list[dict]:
    """The chunks of a PUT: EC wants every fragment of the metachunk."""
    if method.ec:
        pos = header(headers, "chunk_pos")
        chunks = load_meta_chunk(headers, chunk_count(method, headers), pos)
        if len(chunks) != method.expected_chunks:
            raise exc.BadRequest(
                message=f"Expected {method.expected_chunks} chunk URLs "
                        f"({PREFIX}chunk-0..{method.expected_chunks - 1}), "
                        f"got {len(chunks)}")
        return chunks
    # Replicated: every copy is at the metachunk's position.
    pos = header(headers, "chunk_pos", "0")
    return [dict(c, pos=pos) for c in
            load_meta_chunk(headers, chunk_count(method, headers))]


@dataclass
class ReadRange:
    """Bytes [start, end] of a metachunk of `size` bytes; `partial` when
    the request asked a range (206)."""
    start: int
    end: int
    size: int
    partial: bool


def read_range(range_header: str | None, size: int) -> ReadRange:
    """The one range of a `Range` header (bytes=a-b, a-, -n), clipped to
    the metachunk; UnsatisfiableRange (416) when it starts past the end,
    BadRequest for several ranges or a malformed one."""
    if not range_header:
        return ReadRange(0, size - 1, size, False)
    spec = range_header.strip()
    if not spec.startswith("bytes=") or "," in spec:
        raise exc.BadRequest(message=f"Unsupported Range {range_header!r} "
                                     "(one bytes range only)")
    first, sep, last = spec[6:].strip().partition("-")
    try:
        if not sep or (not first and not last):
            raise ValueError
        if not first:               # the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise exc.BadRequest(message=f"Invalid Range {range_header!r}") \
            from None
    if start > end or start >= size:
        raise exc.UnsatisfiableRange(
            message=f"Range {range_header!r} not satisfiable (metachunk "
                    f"size {size})")
    return ReadRange(start, end, size, True)
