"""Chunk allocation of `content/prepare` and `content/prepare2` (spec §4.3).

Pure computation over the local load balancer: no I/O here, so that the
metachunk arithmetic, chunk URLs and reply headers are tested without
sockets.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from oio.common.utils import generate_chunk_id, quote

from .errors import bad_request, oio_error

EMPTY_HASH = "0" * 32
DEFAULT_MIME_TYPE = "application/octet-stream"
CHUNK_PROPERTY_PREFIX = "__OIO_CHUNK__"
QUALITY_KEYS = ("expected_dist", "final_dist", "warn_dist", "expected_slot",
                "final_slot")


@dataclass
class PrepareBody:
    """What a client asks `content/prepare*` for."""

    size: int
    position: int = 0
    policy: str | None = None


def _integer(value: Any, missing: str, invalid: str) -> int:
    if value is None:
        raise bad_request(missing)
    if isinstance(value, bool):
        raise bad_request(invalid)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise bad_request(invalid)


def parse_prepare_body(body: Any) -> PrepareBody:
    """Validate the JSON body `{"size", "position"?, "policy"?}`."""
    if not isinstance(body, dict):
        raise bad_request("Missing size estimation")
    size = _integer(body.get("size"), "Missing size estimation",
                    "Invalid size format")
    if size < 0:
        raise bad_request("Invalid size format: negative")
    position = body.get("position")
    position = 0 if position is None else _integer(
        position, "", "Invalid position format")
    if position < 0:
        raise bad_request("Invalid position format: negative")
    policy = body.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise bad_request("Invalid policy format")
    return PrepareBody(size=size, position=position, policy=policy or None)


def lb_error_class() -> type[Exception]:
    """The load balancer's error class (imported late: optional at import)."""
    from oio.conscience.lb import LbError
    return LbError


def ec_params(policy) -> tuple[int, int] | None:
    """(k, m) of an EC policy, None for other kinds."""
    security = policy.data_security
    if security.kind != "ec":
        return None
    params = security.params
    return int(params.get("k", 6)), int(params.get("m", 4))


def metachunk_size(policy, chunk_size: int) -> int:
    """Bytes held by one metachunk: chunk_size, or k × chunk_size for EC."""
    ec = ec_params(policy)
    return chunk_size * ec[0] if ec else chunk_size


def metachunk_count(size: int, mc_size: int) -> int:
    """Metachunks for `size` bytes; an empty object still has one."""
    return max(-(-max(size, 1) // max(mc_size, 1)), 1)


def _score(service: dict) -> int:
    try:
        return max(0, min(100, int(service.get("score", 0))))
    except (TypeError, ValueError):
        return 0


def _quality(selection) -> str:
    quality = getattr(selection, "quality", None) or {}
    ordered = {k: quality[k] for k in QUALITY_KEYS if k in quality}
    ordered.update((k, v) for k, v in quality.items() if k not in ordered)
    return json.dumps(ordered, separators=(",", ":"))


def chunk_urls(service: dict, chunk_id: str, tls: bool = False
               ) -> tuple[str, str]:
    """(url, real_url) of a chunk on `service` (spec §4.4, §4.5)."""
    tags = service.get("tags") or {}
    netloc = service.get("id") or tags.get("tag.service_id") or service["addr"]
    url = f"http://{netloc}/{chunk_id}"
    tls_addr = tags.get("tag.tls") if tls else None
    if tls_addr:
        return url, f"https://{tls_addr}/{chunk_id}"
    return url, f"http://{service['addr']}/{chunk_id}"


@dataclass
class Allocation:
    """Chunks chosen for some metachunks, with their quality properties."""

    chunks: list[dict] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    flawed: bool = False


def allocate(lb, policy, chunk_size: int, size: int, position: int = 0,
             tls: bool = False) -> Allocation:
    """Pick rawx services for every metachunk covering `size` bytes."""
    ec = ec_params(policy)
    count = metachunk_count(size, metachunk_size(policy, chunk_size))
    out = Allocation()
    for mc in range(position, position + count):
        try:
            selections = lb.poll_policy(policy)
        except lb_error_class() as exc:
            raise oio_error(exc.status, f"at position {mc}: {exc.message}"
                            ) from None
        for index, selection in enumerate(selections):
            url, real_url = chunk_urls(selection.service, generate_chunk_id(),
                                       tls)
            pos = f"{mc}.{index}" if ec else str(mc)
            out.chunks.append({"url": url, "real_url": real_url, "pos": pos,
                               "size": chunk_size, "hash": EMPTY_HASH,
                               "score": _score(selection.service)})
            out.properties[CHUNK_PROPERTY_PREFIX + url] = _quality(selection)
            out.flawed = out.flawed or bool(getattr(selection, "flawed", False))
    return out


def content_headers(*, content_id: str, path: str, version: int, size: int,
                    policy: str, chunk_method: str, chunk_size: int,
                    mime_type: str | None = None, now: float | None = None
                    ) -> dict[str, str]:
    """The `x-oio-content-meta-*` headers of a prepare reply (spec §7.5.1)."""
    now_s = str(int(time.time() if now is None else now))
    meta = "x-oio-content-meta-"
    return {
        "x-oio-ns-chunk-size": str(chunk_size),
        meta + "id": content_id,
        meta + "name": quote(path),
        meta + "version": str(version),
        meta + "deleted": "False",
        meta + "ctime": now_s,
        meta + "mtime": now_s,
        meta + "size": str(size),
        meta + "length": str(size),
        meta + "policy": policy,
        meta + "chunk-method": chunk_method,
        meta + "mime-type": mime_type or DEFAULT_MIME_TYPE,
        meta + "hash-method": "md5",
        # Empty until content/create: 7.2 sends the header anyway, and its
        # ContentFactory.new reads it (KeyError without it).
        meta + "hash": "",
    }


# content/spare (spec §7.5.15) ----------------------------------------------
def _spare_chunk_list(body: dict, key: str) -> list[dict]:
    if key not in body:
        raise bad_request(f"Missing '{key}' field")
    chunks = body[key] or []
    if not isinstance(chunks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("url"), str)
            and c["url"].startswith(("http://", "https://"))
            for c in chunks):
        raise bad_request(f"'{key}' field not a list of chunks with a url")
    return chunks


def parse_spare_body(body: Any) -> tuple[list[dict], list[dict]]:
    """(notin, broken) of a `content/spare` body; both keys mandatory, a
    null value stands for an empty list."""
    if not isinstance(body, dict):
        raise bad_request("Invalid JSON body: an object is expected")
    return _spare_chunk_list(body, "notin"), _spare_chunk_list(body, "broken")


def _netloc(chunk: dict) -> str:
    """The rawx of a chunk URL (its service ID, or its address)."""
    return chunk["url"].split("/", 3)[2]


def spare(lb, policy, notin: list[dict], broken: list[dict],
          tls: bool = False) -> Allocation:
    """Rawx for the chunks one metachunk lacks: as many as the policy
    places, minus those in `notin` (whose locations count as taken), never
    at the location of a `broken` chunk."""
    try:
        selections = lb.poll_policy(policy,
                                    avoid=[_netloc(c) for c in broken],
                                    known=[_netloc(c) for c in notin])
    except lb_error_class() as exc:
        raise oio_error(exc.status, exc.message) from None
    out = Allocation()
    for selection in selections:
        url, real_url = chunk_urls(selection.service, generate_chunk_id(), tls)
        out.chunks.append({"id": url, "real_url": real_url, "pos": "",
                           "hash": "", "size": 0})
        out.properties[CHUNK_PROPERTY_PREFIX + url] = _quality(selection)
    return out


def spare_reply(alloc: Allocation) -> dict:
    """The raw-bean reply of `content/spare` (spec §3.6)."""
    return {"aliases": [], "headers": [], "chunks": alloc.chunks,
            "properties": [{"alias": "", "version": 0, "key": key,
                            "value": value}
                           for key, value in alloc.properties.items()]}
