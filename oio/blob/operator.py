"""`ChunkOperator`: one lost chunk rebuilt, as the blob rebuilder and
xcute's rawx-rebuild tasks ask (spec healing.md §1.6)."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from oio.common import exceptions as exc
from oio.content.factory import ContentFactory
from oio.rdir.client import RdirClient

LOGGER = logging.getLogger(__name__)


def parse_chunk_item(item: str) -> tuple[str | None, str | None, str | None]:
    """(chunk ID, rawx ID, position) named by a rebuild item: a position
    (`"0"`, `"2.4"`: at most 10 characters that read as a number), a chunk
    URL (`http://<rawx ID>/<chunk ID>`), or a bare chunk ID."""
    item = str(item).strip()
    if len(item) <= 10:
        try:
            float(item)
            return None, None, item
        except ValueError:
            pass
    if "/" in item:
        parsed = urlparse(item if "://" in item else f"http://{item}")
        chunk_id = parsed.path.rsplit("/", 1)[-1]
        if not parsed.netloc or not chunk_id:
            raise ValueError(f"Invalid chunk URL: {item!r}")
        return chunk_id, parsed.netloc, None
    if not item:
        raise ValueError("Empty chunk ID")
    return item, None, None


class ChunkOperator:
    """Rebuilds chunks through their content (copy or EC decoding), then
    forgets the lost chunk in its volume's rdir."""

    def __init__(self, conf: dict, logger=None, **kwargs):
        self.conf = conf
        self.logger = logger or LOGGER
        self.content_factory = ContentFactory(conf, logger=self.logger,
                                              **kwargs)
        self.rdir_client = RdirClient(conf, logger=self.logger, **dict(
            kwargs,
            pool_manager=self.content_factory.container_client.pool_manager))

    def content(self, container_id: str, content_id: str):
        """The content, or OrphanChunk when meta2 no longer knows it."""
        try:
            return self.content_factory.get(container_id, content_id)
        except exc.ContentNotFound:
            raise exc.OrphanChunk(
                "Content not found: possible orphan chunk") from None

    def rebuild(self, container_id: str, content_id: str,
                chunk_id_or_pos: str, rawx_id: str | None = None,
                try_chunk_delete: bool = False,
                allow_frozen_container: bool = True,
                allow_same_rawx: bool = True, content=None) -> int:
        """Rebuild one chunk (item as `parse_chunk_item` reads it); returns
        the bytes written. `content` (from `content()`) spares a locate when
        several chunks of one object are rebuilt in a row; it follows the
        changes. OrphanChunk when meta2 knows neither the content nor the
        chunk."""
        chunk_id, url_rawx, chunk_pos = parse_chunk_item(chunk_id_or_pos)
        rawx_id = url_rawx or rawx_id
        if content is None:
            content = self.content(container_id, content_id)
        lost = None
        if chunk_id is not None:
            try:
                lost = content.find_chunk(chunk_id, rawx_id)
            except exc.ChunkException as err:
                raise exc.OrphanChunk(str(err)) from None
            if lost is None:
                raise exc.OrphanChunk(
                    "Chunk not found in content: possible orphan chunk: "
                    f"{chunk_id_or_pos}")
        written = content.rebuild_chunk(
            chunk_id, service_id=rawx_id, allow_same_rawx=allow_same_rawx,
            chunk_pos=chunk_pos, allow_frozen_container=allow_frozen_container)
        if lost is None:
            return written
        if try_chunk_delete:
            try:
                content.blob_client.chunk_delete(lost.real_url)
            except exc.OioException as err:
                self.logger.info("old chunk %s not deleted: %s", lost.url, err)
        try:
            self.rdir_client.chunk_delete(lost.host, container_id, content_id,
                                          lost.id)
        except exc.OioException as err:
            self.logger.warning("rdir record of %s not deleted: %s",
                                lost.url, err)
        return written
