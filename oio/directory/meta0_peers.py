"""The replicas of meta0's base: every meta0 registered in ZooKeeper.

Each meta0 started with ZooKeeper keeps a persistent node
`/hc/ns/<NS>/srv/meta0/<H>` whose data is its address (spec replication.md
§2.2), and watches that directory: the addresses there are the replicas of
the namespace's meta0 base. A meta0 retired for good must have its node
deleted by hand (`openio zk` or zkCli), as with OpenIO.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kazoo.exceptions import NodeExistsError, NoNodeError

from oio.zk.layout import meta0_dir, meta0_node

logger = logging.getLogger(__name__)


class Meta0Peers:
    def __init__(self, namespace: str, self_id: str,
                 on_change: Callable[[list[str]], None] | None = None):
        self.namespace = namespace
        self.self_id = self_id
        self.peers: list[str] | None = None
        self.zk = None
        self._task: asyncio.Task | None = None
        # Told the replicas whenever they change (and first known).
        self.on_change = on_change

    def get(self) -> list[str] | None:
        return self.peers

    def start(self, zk) -> None:
        """Register and watch, once ZooKeeper answers (in the background:
        meta0 serves its map meanwhile)."""
        self.zk = zk
        self._watch = zk.watcher(self._changed)
        zk.listeners.append(lambda state: self._changed())
        self._changed()

    def _changed(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await self.zk.connected.wait()
        try:
            try:
                await self.zk.call("create", meta0_node(self.namespace,
                                                        self.self_id),
                                   self.self_id.encode(), makepath=True)
            except NodeExistsError:
                pass
            directory = meta0_dir(self.namespace)
            names = await self.zk.call("get_children", directory,
                                       watch=self._watch)
            peers = set()
            for name in names:
                try:
                    data, _ = await self.zk.call("get", f"{directory}/{name}")
                except NoNodeError:
                    continue
                if data:
                    peers.add(data.decode("utf-8", "replace"))
            fresh = sorted(peers)
            changed = fresh != self.peers
            if changed:
                logger.info("meta0 replicas: %s", ", ".join(fresh))
            self.peers = fresh
            if changed and self.on_change is not None:
                self.on_change(fresh)
        except Exception as exc:  # noqa: BLE001 - retried on the next event
            logger.warning("meta0 registration in ZooKeeper: %s", exc)
            await asyncio.sleep(1.0)
            self._task = None
            self._changed()
