"""One metachunk's chunks written again from the chunks that remain: the
primitive under upload fallbacks, `object repair`, the content rebuilders
and movers.

The data streams from the sources to the targets (never a whole chunk in
memory); an EC metachunk is decoded from k fragments and only the target
fragments are encoded and sent. What was written is checked against the
metachunk's size and hash, and deleted on every failure path, so that a
caller only ever points meta2 at good chunks."""

from __future__ import annotations

import logging

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import REQID_HEADER
from oio.common.utils import generate_chunk_id

from .ec import ECMetachunkReader, ECMetachunkWriter
from .io import ChunkReader, Source
from .replication import ReplicatedMetachunkWriter

LOGGER = logging.getLogger(__name__)


def rebuild_metachunk(pool_manager, method, sysmeta: dict,
                      sources: list[dict], targets: list[dict], size: int,
                      expected_hash: str | None, reqid: str, logger=None,
                      **kwargs) -> list[dict]:
    """Write `targets` ([{"url", "pos"}], EC: the fragments to rebuild)
    with the `size` bytes of a metachunk read from `sources` (copies, or at
    least k fragments). Returns the chunks written, with their hash.
    Raises ChunkException when the data differs from `expected_hash` (the
    metachunk's MD5, any case), and whatever the reads or writes raised;
    nothing written is left behind then."""
    if method.ec:
        data = iter(ECMetachunkReader(pool_manager, method, sources, 0,
                                      size - 1, size, reqid, logger=logger)
                    ) if size else iter(())
        writer = ECMetachunkWriter(sysmeta, targets, None, method,
                                   rebuild=True, pool_manager=pool_manager,
                                   reqid=reqid, logger=logger, **kwargs)
    else:
        data = iter(ChunkReader(pool_manager, sources, 0, size - 1, reqid)
                    ) if size else iter(())
        writer = ReplicatedMetachunkWriter(
            sysmeta, targets, None, method, quorum=len(targets),
            pool_manager=pool_manager, reqid=reqid, logger=logger, **kwargs)
    try:
        got, new_hash, written = writer.stream(Source(data=data), size)
    except BaseException:
        writer.abort()
        delete_chunks(pool_manager, writer.uploaded(), reqid)
        raise
    if got != size or (expected_hash
                       and new_hash.lower() != expected_hash.lower()):
        delete_chunks(pool_manager, written, reqid)
        raise exc.ChunkException(
            f"rebuilt data differs from the metachunk ({got} bytes, "
            f"{new_hash}; expected {size}, {expected_hash})")
    by_url = {c["url"]: c for c in written}
    return [by_url[t["url"]] for t in targets]


def replacement_targets(lb, written: list[dict],
                        missing: list[dict]) -> list[dict]:
    """A new chunk on another rawx for each of `missing`, away from every
    rawx of the metachunk (ServiceBusy when there is none)."""
    used = {c["url"].split("/")[2] for c in written + missing}
    targets = []
    for chunk in missing:
        found = [s for s in lb.poll("rawx", avoid=sorted(used))
                 if s.get("addr") and s["addr"] not in used]
        if not found:
            raise exc.ServiceBusy(
                f"No other rawx to replace chunk {chunk['pos']}")
        used.add(found[0]["addr"])
        targets.append({"url": f"http://{found[0]['addr']}/"
                               f"{generate_chunk_id()}", "pos": chunk["pos"]})
    return targets


def replace_missing(pool_manager, lb, method, sysmeta: dict,
                    written: list[dict], missing: list[dict], size: int,
                    metachunk_hash: str | None, reqid: str, logger=None,
                    **kwargs) -> list[dict]:
    """Put the `missing` chunks of a metachunk just written on other rawx
    (away from every rawx of the metachunk), from the `written` ones.
    ServiceBusy when no rawx can take them or the data differs."""
    targets = replacement_targets(lb, written, missing)
    try:
        chunks = rebuild_metachunk(pool_manager, method, sysmeta, written,
                                   targets, size, metachunk_hash, reqid,
                                   logger=logger, **kwargs)
    except exc.ChunkException as err:
        raise exc.ServiceBusy(str(err)) from err
    for chunk in chunks:
        (logger or LOGGER).info("chunk %s moved to %s (reqid=%s)",
                                chunk["pos"], chunk["url"], reqid)
    return chunks


def delete_chunks(pool_manager, chunks: list[dict], reqid: str) -> None:
    """Best effort: a chunk left behind is an orphan for the auditor."""
    for chunk in chunks:
        try:
            pool_manager.request("DELETE", chunk.get("real_url") or chunk["url"],
                                 headers={REQID_HEADER: reqid}, retries=False)
        except urllib3.exceptions.HTTPError:
            pass
