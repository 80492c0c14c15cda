"""The election of one replicated base, on one of its replicas.

Each replica of a base that is in use holds an ephemeral sequential node in
the base's ZooKeeper directory (layout: oio/zk/layout.py), whose data is its
service ID. The replica whose node has the lowest sequence is the
candidate: it becomes MASTER once a majority of the replicas promised its
epoch and it holds the most advanced copy among them (the campaign, owned
by the Replicator). The others are SLAVEs of the replica named by the
lowest node, and send clients there.

Everything here runs on the event loop; one task per election drives it,
woken by ZooKeeper watches, session changes, peers and requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from kazoo.exceptions import NoNodeError

from oio.zk.layout import election_dir, election_key, split_member

from .zk import ZkBridge

logger = logging.getLogger(__name__)

NONE = "NONE"
JOINING = "JOINING"
CANDIDATE = "CANDIDATE"
MASTER = "MASTER"
SLAVE = "SLAVE"
FAILED = "FAILED"
FINAL = (MASTER, SLAVE)
# After a failed step, retry after this long (seconds), growing to the max.
RETRY_DELAY = 0.25
RETRY_MAX = 2.0
# A candidate that failed this many campaigns in a row gives its turn away
# (rejoins with a higher sequence), in case another replica can do better.
MAX_FAILED_CAMPAIGNS = 4

Campaign = Callable[["Election"], Awaitable[int]]


class Election:
    """The election of `base` (service type `kind`) on replica `self_id`,
    among `peers` (every replica, this one included)."""

    def __init__(self, zk: ZkBridge, ns: str, kind: str, base: str,
                 self_id: str, peers: list[str], campaign: Campaign,
                 on_slave: Callable[[Election], None] | None = None):
        self.zk = zk
        self.ns = ns
        self.kind = kind
        self.base = base
        self.self_id = self_id
        self.peers = sorted(set(peers))
        self.key = election_key(base, kind)
        self.dir = election_dir(ns, kind, self.key)
        self._campaign = campaign
        # Told when this replica becomes the slave of a (new) master.
        self._on_slave = on_slave
        self.state = NONE
        self.node: str | None = None
        self.seq = -1
        self.czxid = 0
        self.master: str | None = None
        self.master_seq = -1
        self.epoch = 0
        self.final = asyncio.Event()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._watch = zk.watcher(self.poke)
        self._failures = 0
        self.left = False
        # Joined on request (`use`): a base only known from the changes a
        # master sends is not in ZooKeeper, even after a reconnection.
        self.active = False
        self.last_use = time.monotonic()
        self.last_status = time.monotonic()
        self.history: deque[str] = deque(maxlen=32)

    # -- views --------------------------------------------------------------
    @property
    def others(self) -> list[str]:
        return [p for p in self.peers if p != self.self_id]

    @property
    def quorum(self) -> int:
        return len(self.peers) // 2 + 1

    def _transition(self, state: str, event: str) -> None:
        if state != self.state:
            self.history.appendleft(
                f"{int(time.time() * 1000)}:{self.state}:{event}:{state}")
            logger.debug("election %s/%s: %s -> %s (%s)", self.kind,
                         self.base, self.state, state, event)
            self.state = state
            self.last_status = time.monotonic()
        if state in FINAL:
            self.final.set()
        else:
            self.final.clear()

    # -- driving ------------------------------------------------------------
    def poke(self) -> None:
        """Something changed (or someone needs a final state): step again."""
        self._dirty.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drive())

    def use(self) -> None:
        self.last_use = time.monotonic()
        self.left = False
        self.active = True
        if self.state not in FINAL or self._task is None or self._task.done():
            self.poke()

    async def wait_final(self, timeout: float) -> str:
        """MASTER or SLAVE, or the current state once `timeout` passed."""
        self.use()
        if self.state in FINAL:
            return self.state
        try:
            await asyncio.wait_for(self.final.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.state

    async def _drive(self) -> None:
        delay = RETRY_DELAY
        while self._dirty.is_set() and not self.left:
            self._dirty.clear()
            try:
                await self._step()
                delay = RETRY_DELAY
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried
                self._transition(FAILED, type(exc).__name__)
                logger.info("election %s/%s failed: %s", self.kind, self.base,
                            exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self._dirty.set()

    async def _step(self) -> None:
        if not self.zk.connected.is_set():
            self.suspend(lost=False)
            return      # a session listener pokes us back
        if self.node is None:
            self._transition(JOINING, "JOIN")
            path, stat = await self.zk.call(
                "create", f"{self.dir}/{self.key}-", self.self_id.encode(),
                ephemeral=True, sequence=True, makepath=True,
                include_data=True)
            self.node = path
            self.seq = split_member(path.rsplit("/", 1)[1])[1]
            self.czxid = stat.czxid
        children = await self.zk.call("get_children", self.dir,
                                      watch=self._watch)
        members = sorted(
            (member[1], name) for name in children
            if (member := split_member(name)) and member[0] == self.key)
        if self.seq not in {seq for seq, _ in members}:
            # Our node is gone (session expired, `zk reset`): join again.
            self.node = None
            self.demote("NODE_GONE")
            self._dirty.set()
            return
        lowest_seq, lowest = members[0]
        if lowest_seq == self.seq:
            if self.state != MASTER:
                await self._run_campaign()
            return
        try:
            data, _ = await self.zk.call("get", f"{self.dir}/{lowest}")
        except NoNodeError:
            self._dirty.set()
            return
        master = data.decode("utf-8", "replace")
        if master == self.self_id:
            # A node of ours from an older session: it must not stay ahead.
            await self._delete(f"{self.dir}/{lowest}")
            self._dirty.set()
            return
        if self.state == MASTER:
            self.demote("LOWER_NODE")
        changed = self.state != SLAVE or self.master != master
        self.master, self.master_seq = master, lowest_seq
        self._transition(SLAVE, "MASTER_KNOWN")
        if changed and self._on_slave is not None:
            self._on_slave(self)

    async def _run_campaign(self) -> None:
        self._transition(CANDIDATE, "LOWEST")
        try:
            epoch = await self._campaign(self)
        except Exception:
            self._failures += 1
            if self._failures >= MAX_FAILED_CAMPAIGNS:
                # Let another replica try: rejoin behind the others.
                self._failures = 0
                await self._drop_node()
            raise
        self._failures = 0
        if self.state != CANDIDATE or self.node is None:
            return      # lost meanwhile (session, a higher epoch)
        self.epoch = epoch
        self.master, self.master_seq = self.self_id, self.seq
        self._transition(MASTER, "ELECTED")

    # -- changes from outside -------------------------------------------------
    def demote(self, event: str) -> None:
        """Stop being master (or candidate) now."""
        if self.state in (MASTER, CANDIDATE):
            self.epoch = 0
            self.master = None
            self._transition(NONE, event)
            self._dirty.set()

    def suspend(self, lost: bool) -> None:
        """The ZooKeeper session is disconnected (`lost`: expired). A
        master stops acknowledging at once: another may be elected as soon
        as the session expires."""
        if lost:
            self.node = None
        if self.state == SLAVE and not lost:
            return      # still sends clients to the last master known
        self.epoch = 0
        self.master = None
        self._transition(NONE, "SESSION_LOST" if lost else "DISCONNECTED")

    def learn_master(self, master: str, epoch: int) -> None:
        """A peer says it is master with `epoch`."""
        if self.state == MASTER and master != self.self_id \
                and epoch > self.epoch:
            self.demote("OTHER_MASTER")
        if master != self.self_id and self.state != MASTER:
            self.master = master
            if self.state not in FINAL and self.node is not None:
                self._transition(SLAVE, "ANNOUNCED")

    async def leave(self) -> None:
        """Delete our node; stay out until the next use."""
        self.left = True
        self.active = False
        self.demote("LEAVE")
        self._transition(NONE, "LEAVE")
        await self._drop_node()

    async def _drop_node(self) -> None:
        node, self.node = self.node, None
        if node is not None:
            await self._delete(node)

    async def _delete(self, path: str) -> None:
        try:
            await self.zk.call("delete", path)
        except NoNodeError:
            pass

    def debug(self) -> dict:
        local_state = self.state if self.state in FINAL else (
            "NONE" if self.state == NONE else self.state)
        master = None
        if self.state == SLAVE:
            master = {"id": self.master_seq, "url": self.master}
        elif self.state == MASTER:
            master = {"id": self.seq, "url": None}
        now = time.monotonic()
        return {
            "local": {"id": self.seq if self.node else None,
                      "url": self.self_id, "state": local_state},
            "master": master,
            "base": {"name": self.base, "type": self.kind,
                     "zk": f"{self.dir}/{self.key}",
                     "zk_server": self.zk.hosts},
            "#": {"refcount": 1, "pipefrom": 0, "getvers": 0,
                  "seconds_since_last_access": int(now - self.last_use),
                  "seconds_since_last_status": int(now - self.last_status),
                  "epoch": self.epoch},
            "peers": self.others,
            "log": list(self.history),
        }
