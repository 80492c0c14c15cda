"""What `openio-admin ... repair` can do safely with what we have.

* accounts: recompute the account's counters, then have each container
  report its statistics again;
* containers: recount the container (meta2 `touch` with recompute) so
  that the account gets exact figures; the bases are not replicated in
  this version, so there are no copies to rebuild or synchronize;
* objects: every chunk is checked by its rawx (HEAD with check-hash); a
  lost or corrupted chunk is rebuilt from the good copies or fragments of
  its metachunk on a rawx that holds none of them, meta2 is pointed at
  the new chunk, and the bad one is deleted.

Each `repair_*` method returns the list of errors (empty: repaired or
nothing to do).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from oio.api.rebuild import rebuild_metachunk
from oio.api.replication import sysmeta_for
from oio.common import exceptions as exc
from oio.common.storage_method import STORAGE_METHODS
from oio.common.utils import cid_from_name, generate_chunk_id, request_id

LOGGER = logging.getLogger(__name__)


def _sub(chunk: dict) -> int:
    return int(str(chunk["pos"]).split(".")[1])


class Repairer:
    """`api` is an ObjectStorageApi, `conscience` a ConscienceClient (to
    find rawx for rebuilt chunks)."""

    def __init__(self, api, conscience, logger=None) -> None:
        self.api = api
        self.conscience = conscience
        self.logger = logger or LOGGER

    # Accounts ----------------------------------------------------------------
    def repair_account(self, account: str
                       ) -> Iterator[tuple[str | None, list[str]]]:
        """(container or None for the account itself, errors), the account
        first, then each container refreshed."""
        try:
            self.api.account.account_refresh(account)
        except exc.OioException as err:
            yield None, [str(err)]
            return
        yield None, []
        marker = None
        while True:
            try:
                page = self.api.container_list(account, marker=marker)
            except exc.OioException as err:
                yield None, [f"Listing failed: {err}"]
                return
            if not page:
                return
            for entry in page:
                if entry[3]:
                    continue      # a prefix, not a container
                try:
                    self.api.container_refresh(account, entry[0])
                    yield entry[0], []
                except exc.NoSuchContainer:
                    pass          # deleted meanwhile
                except exc.OioException as err:
                    yield entry[0], [str(err)]
            marker = page[-1][0]

    # Containers --------------------------------------------------------------
    def repair_container(self, account: str, container: str,
                         update_account: bool = True) -> list[str]:
        if not update_account:
            return []
        try:
            self.api.container_touch(account, container, recompute=True)
        except exc.OioException as err:
            return [str(err)]
        return []

    # Objects -----------------------------------------------------------------
    def repair_object(self, account: str, container: str, obj: str,
                      version=None) -> list[str]:
        try:
            meta, chunks = self.api.object_locate(
                account, container, obj, version=version, properties=False)
        except exc.OioException as err:
            return [str(err)]
        method = STORAGE_METHODS.load(meta.get("chunk_method") or "plain")
        cid = cid_from_name(account, container).upper()
        sysmeta = sysmeta_for(meta, account, container, obj, cid)
        by_pos: dict[int, list[dict]] = {}
        for chunk in chunks:
            by_pos.setdefault(int(str(chunk["pos"]).split(".")[0]),
                              []).append(chunk)
        errors: list[str] = []
        for pos in sorted(by_pos):
            try:
                errors.extend(self._repair_metachunk(
                    account, container, cid, meta, sysmeta, method, pos,
                    by_pos[pos]))
            except exc.OioException as err:
                errors.append(f"Metachunk {pos}: {err}")
        return errors

    def _repair_metachunk(self, account, container, cid, meta, sysmeta,
                          method, pos: int, chunks: list[dict]) -> list[str]:
        good, bad, errors = [], [], []
        algo = None
        for chunk in chunks:
            try:
                xattr = self.api.blob_client.chunk_head(
                    chunk.get("real_url") or chunk["url"], check_hash=True)
                algo = algo or xattr.get("chunk_hash_algo")
                good.append(chunk)
            except (exc.NotFound, exc.ClientPreconditionFailed):
                bad.append(chunk)
            except exc.OioException as err:
                # Unreachable is not lost: leave it to a later repair.
                errors.append(f"Chunk {chunk['url']} not checked: {err}")
        if method.ec:
            present = {_sub(c) for c in chunks}
            lacking = [f"{pos}.{s}" for s in range(method.expected_chunks)
                       if s not in present]
        else:
            lacking = [str(pos)] * max(0, method.expected_chunks - len(chunks))
        if lacking:
            errors.append(f"Missing chunk(s) at position(s) "
                          f"{', '.join(lacking)}: not repaired (only chunks "
                          "known to meta2 are rebuilt in this version)")
        if not bad:
            return errors
        if len(good) < method.min_chunks_to_read:
            errors.append(f"Metachunk {pos} is irreparable: {len(good)} good "
                          f"chunk(s), {method.min_chunks_to_read} needed")
            return errors
        new = self._rebuild(sysmeta, method, good, bad, algo)
        for old_chunk, new_chunk in zip(bad, new, strict=True):
            bean = {"type": "chunk", "hash": old_chunk["hash"],
                    "size": int(old_chunk["size"]), "pos": old_chunk["pos"],
                    "content": meta["id"]}
            self.api.container.container_raw_update(
                [dict(bean, id=old_chunk["url"])],
                [dict(bean, id=new_chunk["url"])], account, container)
            self.logger.info("chunk %s of %s/%s/%s rebuilt as %s",
                             old_chunk["url"], account, container,
                             meta["name"], new_chunk["url"])
            try:
                self.api.blob_client.chunk_delete(
                    old_chunk.get("real_url") or old_chunk["url"])
            except exc.OioException:
                pass            # already gone, or its rawx will drop it
        return errors

    def _targets(self, good: list[dict], bad: list[dict]) -> list[dict]:
        """A new chunk for each bad one, on rawx holding no good chunk of
        the metachunk (the rawx that lost a chunk may take it back)."""
        used = {c["url"].split("/")[2] for c in good}
        # The best scored first; a score of 0 means down or locked.
        rawx = sorted((s for s in self.conscience.all_services("rawx")
                       if int(s.get("score") or 0) > 0),
                      key=lambda s: -int(s["score"]))
        targets = []
        for chunk in bad:
            found = [s for s in rawx if s["addr"] not in used]
            if not found:
                raise exc.ServiceBusy(
                    f"No rawx available to rebuild chunk {chunk['url']}")
            used.add(found[0]["addr"])
            targets.append({"url": f"http://{found[0]['addr']}/"
                                   f"{generate_chunk_id()}",
                            "pos": chunk["pos"]})
        return targets

    def _rebuild(self, sysmeta: dict, method, good: list[dict],
                 bad: list[dict], algo: str | None) -> list[dict]:
        """The new chunks replacing `bad`, in the same order, written from
        the `good` ones (checked against the metachunk's size and hash)."""
        kwargs = {"chunk_checksum_algo": algo} if algo else {}
        return rebuild_metachunk(
            self.api.pool_manager, method, sysmeta, good,
            self._targets(good, bad), int(good[0]["size"]),
            str(good[0]["hash"]), request_id("repair-"), logger=self.logger,
            **kwargs)
