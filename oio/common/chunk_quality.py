"""Chunk placement quality (naming.md §8.4): the record the load balancer
gives each chunk it picks, and the two judgements made of it.

* meta2 calls a metachunk *perfectible* (and announces it with
  `storage.content.perfectible`) when one of its chunks landed in a
  fallback slot or no farther from the others than the pool's `warn_dist`.
* The blob improver moves the chunks that have *imperfections*: a slot
  other than the expected one, or a distance below the expected one.

The two differ on purpose, as in OpenIO 7.2: the warning threshold says
when to raise the alarm, the expected distance what a move aims at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

QUALITY_PREFIX = "__OIO_CHUNK__"
PERFECTIBLE_EVENT = "storage.content.perfectible"


def _int(quality: Mapping, key: str, default: int) -> int:
    try:
        return int(quality.get(key, default))
    except (TypeError, ValueError):
        return default


def parse_qualities(properties: Mapping[str, str | None]
                    ) -> dict[str, dict]:
    """{chunk url: quality} from the `__OIO_CHUNK__<url>` properties a
    client sends with content/create (values are JSON objects); malformed
    values are skipped: a quality record never fails an upload."""
    out: dict[str, dict] = {}
    for key, value in properties.items():
        if not key.startswith(QUALITY_PREFIX) or not value:
            continue
        try:
            quality = json.loads(value)
        except ValueError:
            continue
        if isinstance(quality, dict):
            out[key[len(QUALITY_PREFIX):]] = quality
    return out


def is_flawed(quality: Mapping) -> bool:
    """meta2's rule: a fallback slot, or a distance at or below the
    warning one."""
    if quality.get("final_slot") != quality.get("expected_slot"):
        return True
    return _int(quality, "final_dist", 0) <= _int(quality, "warn_dist", 0)


def imperfections(quality: Mapping) -> list[str]:
    """What a move could improve (the improver's rule); empty when the
    chunk sits where the pool wanted it."""
    found = []
    if quality.get("final_slot") != quality.get("expected_slot"):
        found.append(f"slot {quality.get('final_slot')} != "
                     f"{quality.get('expected_slot')}")
    final = _int(quality, "final_dist", 0)
    expected = _int(quality, "expected_dist", 0)
    if final < expected:
        found.append(f"dist {final} < {expected}")
    return found


def perfectible_metachunks(chunks: Iterable[Mapping], qualities:
                           Mapping[str, Mapping]) -> list[dict]:
    """The `data` of one perfectible event per flawed metachunk, in
    position order: `{"pos": N, "chunks": [{id, pos, hash, size,
    quality}]}` listing the metachunk's chunks that have a quality record.
    `chunks` are dicts with `id` (URL), `pos` ("M" or "M.i"), `hash`,
    `size`."""
    groups: dict[int, list[dict]] = {}
    flawed: set[int] = set()
    for chunk in chunks:
        quality = qualities.get(chunk["id"])
        if quality is None:
            continue
        try:
            mc = int(str(chunk["pos"]).split(".", 1)[0])
        except ValueError:
            continue
        groups.setdefault(mc, []).append({
            "id": chunk["id"], "pos": chunk["pos"], "hash": chunk["hash"],
            "size": chunk["size"], "quality": dict(quality)})
        if is_flawed(quality):
            flawed.add(mc)
    return [{"pos": mc, "chunks": groups[mc]} for mc in sorted(flawed)]


__all__ = ["PERFECTIBLE_EVENT", "QUALITY_PREFIX", "imperfections",
           "is_flawed", "parse_qualities", "perfectible_metachunks"]
