"""A content's chunks: `Chunk` wraps one chunk dict of `content/locate`,
`ChunksHelper` sorts and selects them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oio.common.chunk_quality import imperfections


class Chunk:
    """One chunk: `url` (`http://<rawx service id>/<chunk id>`), `pos`
    (`"3"`, or `"3.4"` for an EC fragment), `size`, `hash`, `score`..."""

    def __init__(self, chunk: dict):
        self._data = chunk
        self._data.setdefault("real_url", chunk.get("url"))

    @property
    def url(self) -> str:
        return self._data["url"]

    @url.setter
    def url(self, new_url: str) -> None:
        self._data["url"] = new_url
        self._data["real_url"] = new_url

    @property
    def real_url(self) -> str:
        return self._data.get("real_url") or self.url

    @property
    def pos(self) -> str:
        return str(self._data["pos"])

    @property
    def metapos(self) -> int:
        return int(self.pos.split(".", 1)[0])

    @property
    def subpos(self) -> int | None:
        parts = self.pos.split(".", 1)
        return int(parts[1]) if len(parts) > 1 else None

    @property
    def ec(self) -> bool:
        return "." in self.pos

    @property
    def size(self) -> int:
        return int(self._data.get("size") or 0)

    @size.setter
    def size(self, new_size: int) -> None:
        self._data["size"] = new_size

    @property
    def id(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def host(self) -> str:
        """The rawx: its service ID or address, as in the URL."""
        return self.url.split("/", 3)[2]

    @property
    def checksum(self) -> str:
        return str(self._data.get("hash") or "").upper()

    @checksum.setter
    def checksum(self, new_checksum: str) -> None:
        self._data["hash"] = new_checksum

    @property
    def score(self) -> int:
        try:
            return int(self._data.get("score", 0))
        except (TypeError, ValueError):
            return 0

    @property
    def quality(self) -> dict:
        return self._data.setdefault("quality", {})

    @quality.setter
    def quality(self, new_quality: dict) -> None:
        self._data["quality"] = new_quality

    @property
    def imperfections(self) -> list[str]:
        """What a move could improve in this chunk's placement (empty when
        it has no quality record, or a perfect one)."""
        return imperfections(self.quality) if self.quality else []

    def raw(self) -> dict:
        return self._data

    def _sort_key(self) -> tuple:
        return self.metapos, self.subpos or 0, self.id, self.url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chunk) and other.url == self.url \
            and other.pos == self.pos

    def __hash__(self) -> int:
        return hash((self.url, self.pos))

    def __repr__(self) -> str:
        return f"Chunk({self.url!r}, pos={self.pos!r})"


_FILTERS = ("id", "pos", "metapos", "subpos", "host", "url")


def _matches(chunk: Chunk, criteria: dict[str, Any]) -> bool:
    for key, wanted in criteria.items():
        if key not in _FILTERS:
            raise TypeError(f"unknown chunk filter {key!r}")
        value = getattr(chunk, key)
        if key == "pos":
            value, wanted = str(value), str(wanted)
        elif key in ("metapos", "subpos") and wanted is not None:
            wanted = int(wanted)
        if value != wanted:
            return False
    return True


class ChunksHelper:
    """Chunks sorted by position (then ID, then URL); `filter` keeps those
    matching every given field, `exclude` drops them."""

    def __init__(self, chunks: list, raw_chunk: bool = True):
        self.chunks = [Chunk(c) if raw_chunk else c for c in chunks]
        self.sort()

    def sort(self) -> None:
        self.chunks.sort(key=Chunk._sort_key)

    def filter(self, **criteria) -> ChunksHelper:
        return ChunksHelper([c for c in self.chunks
                             if _matches(c, criteria)], False)

    def exclude(self, **criteria) -> ChunksHelper:
        return ChunksHelper([c for c in self.chunks
                             if not _matches(c, criteria)], False)

    def one(self) -> Chunk | None:
        """The only chunk, or None when there are none or several."""
        return self.chunks[0] if len(self.chunks) == 1 else None

    def all(self) -> list[Chunk]:
        return list(self.chunks)

    def raw(self) -> list[dict]:
        return [c.raw() for c in self.chunks]

    def append(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        self.sort()

    def remove(self, chunk: Chunk) -> None:
        self.chunks.remove(chunk)

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self.chunks)

    def __getitem__(self, index):
        return self.chunks[index]

    def __repr__(self) -> str:
        return f"ChunksHelper({self.chunks!r})"
