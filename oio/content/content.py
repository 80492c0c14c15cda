"""`Content`: one version of an object with its chunks, and what the
rebuilders and movers do to them (spec healing.md §1).

A chunk is always picked by its ID and its rawx together: chunk IDs may
be predictable (`compute_chunk_id`) and the same ID can then live on
several rawx. Chunks written for a rebuild or a move are checked (size and
hash) before meta2 points at them, and deleted when meta2 refuses them.
"""

from __future__ import annotations

import functools
import logging
import random

from oio.api.io import Source
from oio.api.rebuild import delete_chunks
from oio.blob.client import BlobClient
from oio.common import exceptions as exc
from oio.common.fullpath import encode_fullpath
from oio.common.utils import request_id
from oio.container.client import ContainerClient, extract_chunk_qualities

from .chunk import Chunk, ChunksHelper

__all__ = ["Content", "Chunk", "ChunksHelper", "compare_chunk_quality",
           "ensure_better_chunk_qualities"]

LOGGER = logging.getLogger(__name__)


def compare_chunk_quality(current: dict, candidate: dict) -> int:
    """> 0 when `candidate` places a chunk better than `current` (farther
    from the others, or in the slot expected), 0 when alike, < 0 worse."""
    balance = candidate.get("final_dist", 1) - current.get("final_dist", 1)
    expected = current.get("expected_slot")
    if current.get("final_slot") != expected \
            and candidate.get("final_slot") == expected:
        balance += 1
    elif current.get("final_slot") == expected \
            and candidate.get("final_slot") != expected:
        balance -= 1
    return balance


def ensure_better_chunk_qualities(current_chunks: list[Chunk],
                                  candidates: dict[str, dict],
                                  threshold: int = 1) -> int:
    """The total gain of `candidates` (url → quality) over the chunks they
    replace; SpareChunkException below `threshold`."""
    balance = sum(compare_chunk_quality(chunk.quality, quality)
                  for chunk, quality in zip(current_chunks,
                                            candidates.values(), strict=False))
    if balance < threshold:
        raise exc.SpareChunkException(
            f"the spare chunks found would not improve the quality "
            f"(balance={balance}, threshold={threshold})")
    return balance


def by_random_score(chunks: list[Chunk]) -> list[Chunk]:
    """Best scored first, with some noise to spread reads over the copies;
    a rawx scored 0 (down or locked) last."""
    return sorted(chunks, key=lambda c: (c.score <= 0,
                                         -(c.score + random.randint(0, 9))))


class Content:
    """The chunks and metadata of one content (`content/locate`), with the
    clients to act on them. Subclasses rebuild chunks their own way."""

    def __init__(self, conf: dict, container_id: str, metadata: dict,
                 chunks: list[dict], storage_method, account: str | None,
                 container_name: str | None, blob_client=None,
                 container_client=None, logger=None):
        self.conf = conf
        self.container_id = container_id
        self.metadata = metadata
        self.chunks = ChunksHelper(chunks)
        self.storage_method = storage_method
        self.logger = logger or LOGGER
        self.blob_client = blob_client or BlobClient(conf, logger=self.logger)
        self.container_client = container_client or ContainerClient(
            conf, logger=self.logger)
        self.content_id = metadata["id"]
        self.path = metadata["name"]
        self.length = int(metadata.get("length") or 0)
        self.version = metadata["version"]
        self.checksum = metadata.get("hash") or ""
        self.chunk_method = metadata["chunk_method"]
        self.account = account
        self.container_name = container_name
        self.full_path = metadata.get("full_path") or encode_fullpath(
            account, container_name, self.path, self.version, self.content_id)
        self._real_urls: dict[str, str] = {}

    # Metadata ----------------------------------------------------------------
    @property
    def mime_type(self) -> str | None:
        return self.metadata.get("mime_type")

    @mime_type.setter
    def mime_type(self, value: str) -> None:
        self.metadata["mime_type"] = value

    @property
    def policy(self) -> str:
        return self.metadata["policy"]

    @policy.setter
    def policy(self, value: str) -> None:
        self.metadata["policy"] = value

    @property
    def properties(self) -> dict | None:
        return self.metadata.get("properties")

    @properties.setter
    def properties(self, value: dict) -> None:
        if not isinstance(value, dict):
            raise ValueError("'value' must be a dict")
        self.metadata["properties"] = value

    def sysmeta(self) -> dict:
        """What every chunk PUT of this content carries (rawx xattrs)."""
        return {"id": self.content_id, "version": self.version,
                "content_path": self.path, "container_id": self.container_id,
                "chunk_method": self.chunk_method, "policy": self.policy,
                "full_path": self.full_path}

    # Chunk selection -----------------------------------------------------------
    def find_chunk(self, chunk_id: str, service_id: str | None = None
                   ) -> Chunk | None:
        """The chunk with this ID (on this rawx when given); None when there
        is none. ChunkException when the ID alone names several."""
        found = self.chunks.filter(id=chunk_id)
        if service_id:
            found = found.filter(host=service_id)
        if len(found) > 1:
            raise exc.ChunkException(
                f"Several chunks with ID {chunk_id} and no service ID")
        return found.one()

    # Spare chunks -------------------------------------------------------------
    def _get_spare_chunk(self, chunks_notin: list[Chunk],
                         chunks_broken: list[Chunk], position: int,
                         max_attempts: int = 3, check_quality: bool = False,
                         fake_excluded_chunks: list | None = None,
                         **kwargs) -> tuple[list[str], dict[str, dict]]:
        """(spare chunk URLs, their qualities) for the metachunk at
        `position`: away from `chunks_notin`, never where `chunks_broken`
        (and the fake chunks of excluded rawx) are."""
        notin = [c.raw() for c in chunks_notin]
        broken = [c.raw() for c in chunks_broken]
        broken += [c.raw() if isinstance(c, Chunk) else c
                   for c in fake_excluded_chunks or ()]
        last: Exception | None = None
        for _ in range(max(1, max_attempts)):
            try:
                spare = self.container_client.content_spare(
                    cid=self.container_id, path=self.path,
                    version=self.version, stgpol=self.policy,
                    position=position,
                    data={"notin": notin, "broken": broken}, **kwargs)
                qualities = extract_chunk_qualities(
                    spare.get("properties") or {})
                if check_quality:
                    ensure_better_chunk_qualities(chunks_broken, qualities)
                urls = [c["id"] for c in spare.get("chunks") or ()]
                # Our proxy adds where to send the chunk (a service ID in
                # the URL is not an address).
                self._real_urls.update(
                    (c["id"], c["real_url"]) for c in spare.get("chunks") or ()
                    if c.get("real_url"))
                if not urls:
                    raise exc.SpareChunkException("no chunk in the reply")
                return urls, qualities
            except (exc.ClientException, exc.SpareChunkException) as err:
                self.logger.info("no spare chunk for %s at %s: %s",
                                 self.full_path, position, err)
                last = err
        raise exc.SpareChunkException(f"No spare chunk: {last}")

    # meta2 ---------------------------------------------------------------------
    def _bean(self, url: str, chunk: Chunk) -> dict:
        return {"type": "chunk", "id": url, "hash": chunk.checksum,
                "size": chunk.size, "pos": chunk.pos,
                "content": self.content_id}

    def _point_meta2(self, old: Chunk | None, new: Chunk,
                     frozen: bool = False, **kwargs) -> None:
        """meta2 names `new` instead of `old` (or in addition, when there
        was no `old`); the new chunk is deleted if meta2 refuses."""
        try:
            if old is None:
                self.container_client.container_raw_insert(
                    self._bean(new.url, new), cid=self.container_id,
                    frozen=frozen, **kwargs)
            else:
                self.container_client.container_raw_update(
                    [self._bean(old.url, old)], [self._bean(new.url, new)],
                    cid=self.container_id, frozen=frozen, **kwargs)
        except BaseException:
            delete_chunks(self.blob_client.http_pool, [new.raw()],
                          request_id("rollback-"))
            raise

    def _replace_in_memory(self, old: Chunk | None, new: Chunk) -> None:
        if old is not None:
            self.chunks.remove(old)
        self.chunks.append(new)

    # Actions -------------------------------------------------------------------
    def rebuild_chunk(self, chunk_id: str, service_id: str | None = None,
                      allow_same_rawx: bool = False, chunk_pos=None,
                      allow_frozen_container: bool = False) -> int:
        """Recreate a lost chunk on another rawx; returns its size (bytes)."""
        raise NotImplementedError

    @functools.cached_property
    def _storage_api(self):
        """The object API whose upload path `create` uses, on the same
        proxy and connection pool as this content's clients."""
        from oio.api.object_storage import ObjectStorageApi

        client = self.container_client
        return ObjectStorageApi(
            self.conf["namespace"], logger=self.logger,
            endpoint=f"{client.proxy_scheme}://{client.proxy_netloc}",
            pool_manager=client.pool_manager)

    def _prepared_chunks(self, position: int, **kwargs
                         ) -> tuple[dict, list[dict]]:
        """(metadata, chunks) of metachunk `position`: those prepared by
        ContentFactory.new, else (a stream longer than the size given to
        `new`) new ones from content/prepare2 for this content version."""
        chunks = [c.raw() for c in self.chunks.filter(metapos=position)]
        if chunks:
            return self.metadata, chunks
        return self.container_client.content_prepare(
            cid=self.container_id, path=self.path, size=1,
            stgpol=self.policy, position=position, version=self.version,
            **kwargs)

    def create(self, stream, **kwargs) -> tuple[list[dict], int, str]:
        """Upload `stream` (a file object, bytes or an iterable of bytes)
        to the chunks prepared by `ContentFactory.new`, then register the
        content (content/create) with its `properties` and `mime_type`.
        Nothing stays behind on failure: every chunk written is deleted.
        Sets `checksum` (upper-case MD5), `length` and `chunks` (as meta2
        now lists them). Returns (chunks, size in bytes, md5 hex)."""
        if self.account is None or self.container_name is None:
            raise exc.OioException(
                f"content {self.content_id}: account and container name "
                "are needed to create it")
        meta = dict(self.metadata, properties=dict(self.properties or {}))
        first = [c.raw() for c in self.chunks.filter(metapos=0)]
        source = Source(stream) if hasattr(stream, "read") \
            else Source(data=stream)
        try:
            chunks, size, md5, _ = self._storage_api._upload_prepared(
                self.account, self.container_name, self.path, source, meta,
                first, mime_type=self.mime_type, policy=self.policy,
                prepare=functools.partial(self._prepared_chunks, **{
                    k: v for k, v in kwargs.items() if k == "reqid"}),
                **kwargs)
        finally:
            source.close()
        self.checksum = md5.upper()
        self.length = size
        self.metadata.update(hash=self.checksum, length=str(size),
                             properties=meta["properties"])
        self.chunks = ChunksHelper(chunks)
        return chunks, size, md5

    def fetch(self):
        """The content's bytes, tolerating lost copies or fragments."""
        from oio.api.io import group_metachunks, object_stream, plan_reads

        plan = plan_reads(group_metachunks(self.chunks.raw()), None)
        return object_stream(self.blob_client.http_pool, plan,
                             request_id("fetch-"), method=self.storage_method)

    def delete(self, **kwargs) -> None:
        self.container_client.content_delete(
            cid=self.container_id, path=self.path, version=self.version,
            **kwargs)

    def move_chunk(self, chunk_id, service_id: str | None = None,
                   check_quality: bool = False, dry_run: bool = False,
                   max_attempts: int = 3, fake_excluded_chunks=None,
                   **kwargs) -> dict | None:
        """Copy a chunk (or EC fragment) to another rawx, point meta2 at the
        copy, then delete the original. Returns the new chunk's dict (None
        in a dry run)."""
        if isinstance(chunk_id, Chunk):
            chunk_id, service_id = chunk_id.id, service_id or chunk_id.host
        current = self.find_chunk(chunk_id, service_id)
        if current is None:
            raise exc.OrphanChunk("Chunk not found in content")
        others = self.chunks.filter(metapos=current.metapos).exclude(
            url=current.url)
        spares, qualities = self._get_spare_chunk(
            others.all(), [current], current.metapos, max_attempts,
            check_quality, fake_excluded_chunks, **kwargs)
        target = spares[0]
        if dry_run:
            self.logger.info("[dry run] would move chunk %s to %s",
                             current.url, target)
            return None
        # The chunk itself first, then its copies (replicated content).
        sources = [current] + by_random_score(
            self.chunks.filter(pos=current.pos).exclude(url=current.url).all())
        self._copy_from(sources, target, current, "No copy available of "
                        "chunk to move")
        return self._swap(current, self.new_chunk(
            target, current, qualities.get(target)), **kwargs)

    def _swap(self, current: Chunk, new: Chunk, **kwargs) -> dict:
        """meta2 names `new` instead of `current`, whose file goes."""
        self._point_meta2(current, new, **kwargs)
        try:
            self.blob_client.chunk_delete(current.real_url)
        except exc.OioException as err:
            self.logger.warning("moved chunk %s, but could not delete it: %s",
                                current.url, err)
        self._replace_in_memory(current, new)
        return new.raw()

    def new_chunk(self, url: str, model: Chunk, quality: dict | None = None
                  ) -> Chunk:
        """A chunk at `url` (a spare) holding what `model` holds."""
        return Chunk({"url": url, "real_url": self._real_urls.get(url, url),
                      "pos": model.pos, "size": model.size,
                      "hash": model.checksum, "quality": quality or {}})

    def _copy_from(self, sources: list[Chunk], target: str, chunk: Chunk,
                   failure: str) -> None:
        """A byte copy of `chunk` to `target` from the first source that
        works; the target rawx checks the size and hash of what it gets."""
        errors = []
        target = self._real_urls.get(target, target)
        declared = {} if chunk.ec else {"chunk_size": chunk.size,
                                        "chunk_hash": chunk.checksum}
        for source in sources:
            try:
                self.blob_client.chunk_copy(
                    source.real_url, target, fullpath=self.full_path,
                    cid=self.container_id, path=self.path,
                    version=self.version, content_id=self.content_id,
                    **declared)
                return
            except exc.OioException as err:
                errors.append(f"{source.url}: {err}")
                delete_chunks(self.blob_client.http_pool, [{"url": target}],
                              request_id("rollback-"))
        if len(errors) == 1:
            raise exc.UnrecoverableContent(f"{failure}: {errors[0]}")
        raise exc.UnrecoverableContent(f"{failure}: {'; '.join(errors)}")

    def move_linked_chunk(self, chunk_id: str, from_url: str,
                          service_id: str | None = None, **kwargs) -> dict:
        """Follow a chunk that moved to `from_url`: this content's chunk
        `chunk_id` (on `service_id`), a hard link of the moved one, becomes
        a new hard link of `from_url` (rawx COPY there, under a new ID),
        and the old link goes. Returns the new chunk's dict."""
        current = self.find_chunk(chunk_id, service_id)
        if current is None:
            raise exc.OrphanChunk("Chunk not found in content")
        _, link = self.blob_client.chunk_link(
            from_url, None, self.full_path, **kwargs)
        return self._swap(current, Chunk(dict(current.raw(), url=link,
                                              real_url=link)))
