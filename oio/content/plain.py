"""Replicated contents: a lost copy is rebuilt by copying a good one."""

from __future__ import annotations

from oio.common import exceptions as exc

from .content import Content, by_random_score


class PlainContent(Content):
    """A content whose metachunks are N identical copies."""

    def rebuild_chunk(self, chunk_id: str | None,
                      service_id: str | None = None,
                      allow_same_rawx: bool = False, chunk_pos=None,
                      allow_frozen_container: bool = False) -> int:
        """Copy a good copy of the chunk to a rawx away from the others
        (and, unless `allow_same_rawx`, from the lost one), and point meta2
        at it. With `chunk_pos` and no known chunk, a copy is added at that
        position. Returns the chunk's size (bytes)."""
        current = self.find_chunk(chunk_id, service_id) if chunk_id else None
        if current is None and chunk_pos is None:
            raise exc.OrphanChunk("Chunk not found in content")
        pos = current.pos if current is not None else str(chunk_pos)
        copies = self.chunks.filter(pos=pos)
        if current is not None:
            copies = copies.exclude(url=current.url)
        if service_id:
            copies = copies.exclude(host=service_id)
        if not len(copies):
            raise exc.UnrecoverableContent("No copy of missing chunk")
        sources = by_random_score(copies.all())
        broken = [current] if current is not None and not allow_same_rawx \
            else []
        spares, qualities = self._get_spare_chunk(sources, broken, int(
            float(pos)))
        model = current if current is not None else sources[0]
        self._copy_from(sources, spares[0], model,
                        "No copy available of missing chunk, or could not "
                        "copy them")
        new = self.new_chunk(spares[0], model, qualities.get(spares[0]))
        self._point_meta2(current, new, frozen=allow_frozen_container)
        # As 7.2: the content stays the snapshot meta2 gave, so a caller
        # may rebuild while iterating over `chunks` (ContentFactory.get
        # again to see the new chunk).
        return model.size
