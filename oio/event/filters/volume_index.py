"""`volume_index`: chunk events to the rdir of their rawx volume, and the
containers of each meta2 volume (rdir.md §5)."""

from __future__ import annotations

import collections
import threading

from oio.common import exceptions as exc
from oio.event.filters.account_update import service_list
from oio.event.filters.base import BuryEvent, EventFilter


class VolumeIndexFilter(EventFilter):
    """Chunk events → the rdir of their rawx volume (push on new, delete
    on deleted; rdir.md §5). rdir failures are only logged: the event goes
    on, and crawlers repair the index."""

    TYPES = ("storage.chunk.new", "storage.chunk.deleted")
    META2_TYPES = ("account.services", "storage.meta2.deleted",
                   "storage.container.deleted")
    # Deletions remembered against the pushes of the same chunks handled
    # after them (at most a few minutes of deletions at full speed).
    RECENT_DELETIONS = 65536

    def init(self) -> None:
        from oio.rdir.client import RdirClient

        conf = self.conf
        self.client = RdirClient(
            {"namespace": conf["namespace"]},
            connection_timeout=float(conf.get("connection_timeout", 2.0)),
            read_timeout=float(conf.get("read_timeout", 10.0)))
        self._setup_state()

    def _setup_state(self) -> None:
        # Shared by the agent's workers. Pushes wait for the end of a batch
        # (flush), grouped by volume: one request and one rdir transaction
        # per volume instead of one per chunk. Workers handle their batches
        # side by side, so a deletion handled by one must win over the push
        # of the same chunk still waiting in another's batch (dropped, and
        # remembered for a push not yet handled) or in flight (the volume's
        # lock is held during a push).
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, dict]] = {}
        self._volume_locks: dict[str, threading.Lock] = {}
        self._deleted: collections.OrderedDict[tuple[str, str], int] = \
            collections.OrderedDict()

    def _volume_lock(self, volume: str) -> threading.Lock:
        with self._lock:
            return self._volume_locks.setdefault(volume, threading.Lock())

    def flush(self) -> None:
        for volume in list(self._pending):
            with self._volume_lock(volume):
                with self._lock:
                    records = list(self._pending.pop(volume, {}).values())
                if not records:
                    continue
                try:
                    self.client.chunk_push_many(volume, records)
                except exc.OioException as err:
                    self.logger.warning(
                        "rdir of volume %s not updated for %d chunk(s) "
                        "(%s...): %s", volume, len(records),
                        records[0]["chunk_id"], err)

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind in self.META2_TYPES:
            self._meta2(kind, event)
            return
        if kind not in self.TYPES:
            return
        data = event.get("data")
        if not isinstance(data, dict):
            raise BuryEvent("chunk event without data")
        volume = data.get("volume_service_id") or data.get("volume_id")
        ids = [data.get(k) for k in ("container_id", "content_id", "chunk_id")]
        if not volume or not all(ids):
            raise BuryEvent("chunk event without volume or chunk identity")
        when = int(event.get("when") or 0)
        key = (volume, ids[2])
        if kind == "storage.chunk.new":
            with self._lock:
                if self._deleted.get(key, -1) >= when:
                    return      # deleted after this creation: nothing to add
                self._pending.setdefault(volume, {})[ids[2]] = {
                    "container_id": ids[0], "content_id": ids[1],
                    "chunk_id": ids[2], "mtime": when // 1_000_000}
            return
        with self._lock:
            self._deleted[key] = max(when, self._deleted.get(key, -1))
            self._deleted.move_to_end(key)
            while len(self._deleted) > self.RECENT_DELETIONS:
                self._deleted.popitem(last=False)
            self._pending.get(volume, {}).pop(ids[2], None)
        with self._volume_lock(volume):
            try:
                self.client.chunk_delete(volume, *ids)
            except exc.OioException as err:
                self.logger.warning(
                    "rdir of volume %s not updated for chunk %s: %s", volume,
                    ids[2], err)

    def _meta2(self, kind: str, event: dict) -> None:
        """Which containers each meta2 volume hosts (rdir.md §5)."""
        url = event.get("url") or {}
        path = "/".join((url.get("ns") or self.conf.get("namespace", ""),
                         url.get("account") or "", url.get("user") or ""))
        cid = url.get("id")
        if not cid or not url.get("account") or not url.get("user"):
            raise BuryEvent(f"{kind} event without a container URL")
        try:
            if kind == "account.services":
                mtime = int(event.get("when") or 0) // 1_000_000
                for srv in service_list(event):
                    if srv.get("type") == "meta2" and srv.get("host"):
                        self.client.meta2_index_push(srv["host"], path, cid,
                                                     mtime)
                return
            data = event.get("data")
            data = data if isinstance(data, dict) else {}
            peers = [data["peer"]] if data.get("peer") else \
                list(data.get("peers") or ())
            for peer in peers:
                self.client.meta2_index_delete(peer, path, cid)
        except exc.OioException as err:
            self.logger.warning("rdir of meta2 not updated for %s (%s): %s",
                                path, kind, err)


filter_factory = VolumeIndexFilter.factory()
