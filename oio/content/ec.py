"""Erasure-coded contents: a lost fragment is decoded from k others."""

from __future__ import annotations

from oio.api.rebuild import rebuild_metachunk
from oio.common import exceptions as exc
from oio.common.utils import request_id

from .chunk import Chunk
from .content import Content, by_random_score


class ECContent(Content):
    """A content whose metachunks are k data + m parity fragments."""

    def rebuild_chunk(self, chunk_id: str | None,
                      service_id: str | None = None,
                      allow_same_rawx: bool = False, chunk_pos=None,
                      allow_frozen_container: bool = False) -> int:
        """Decode the fragment from k others of its metachunk, write it to
        a rawx away from them (and, unless `allow_same_rawx`, from the lost
        one), check the metachunk's hash, and point meta2 at it. With
        `chunk_pos` (`"2.4"`), the fragment at that position. Returns the
        size of the fragment written (bytes)."""
        current = self.find_chunk(chunk_id, service_id) if chunk_id else None
        if current is None and chunk_pos is not None:
            current = self.chunks.filter(pos=str(chunk_pos)).one()
        if current is None and chunk_pos is None:
            raise exc.OrphanChunk("Chunk not found in content")
        pos = current.pos if current is not None else str(chunk_pos)
        metapos = int(pos.split(".", 1)[0])
        others = self.chunks.filter(metapos=metapos).exclude(pos=pos)
        if service_id:
            others = others.exclude(host=service_id)
        k = self.storage_method.ec_nb_data
        if len({c.subpos for c in others}) < k:
            raise exc.UnrecoverableContent(
                f"Not enough valid sources to rebuild: {len(others)} "
                f"fragment(s) of metachunk {metapos}, {k} needed")
        sources = by_random_score(others.all())
        broken = [current] if current is not None and not allow_same_rawx \
            else []
        spares, qualities = self._get_spare_chunk(sources, broken, metapos)
        # Every fragment records the metachunk's size and hash in meta2.
        model = Chunk(dict(sources[0].raw(), pos=pos))
        new = self.new_chunk(spares[0], model, qualities.get(spares[0]))
        rebuild_metachunk(self.blob_client.http_pool, self.storage_method,
                          self.sysmeta(), [c.raw() for c in sources],
                          [{"url": new.url, "real_url": new.real_url,
                            "pos": pos}],
                          model.size, model.checksum, request_id("rebuild-"),
                          logger=self.logger)
        self._point_meta2(current, new, frozen=allow_frozen_container)
        # As 7.2: the content stays the snapshot meta2 gave, so a caller
        # may rebuild while iterating over `chunks` (ContentFactory.get
        # again to see the new chunk).
        return self.fragment_bytes(model.size)

    def fragment_bytes(self, metachunk_size: int) -> int:
        """The size of each fragment file of a metachunk (bytes)."""
        method = self.storage_method
        segment = method.ec_segment_size
        full, last = divmod(metachunk_size, segment)
        return full * method.fragment_size(segment) + (
            method.fragment_size(last) if last else 0)
