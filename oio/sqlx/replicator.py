"""Replication of a service's bases: who is master, and the changes it ships.

One `Replicator` per service process (meta0, meta1 or meta2). It keeps an
`Election` per replicated base in use, and:

- gates requests (`gate`): a request on a base runs on its master; a slave
  answers 303 with the master's ID; while no master is known the request
  waits a bounded time, then gets 503;
- ships changes (`ship`, called by the writer thread right after its local
  commit): the change goes to every other replica, and the write is
  acknowledged once a majority of the replicas (this one included) has it
  on disk, else 503 "no quorum";
- runs campaigns: a candidate picks an epoch above every promise it knows,
  gets a majority of replicas to promise it, catches up from the most
  advanced of them, then is master;
- serves the peers' calls (docs: oio/sqlx/peers.py) and brings lagging
  replicas up to date: replayed from the log when it still holds what they
  miss, else a full copy.

Safety does not rest on ZooKeeper alone: a replica refuses changes from an
epoch below one it promised, and a master needs a majority to acknowledge,
so a master that lost its session (or a stale one after a partition)
cannot acknowledge a write once a newer master exists. It also stops on
its own as soon as its ZooKeeper connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from kazoo.client import KazooState

from oio.common.http_server import run_blocking

from . import errors
from .election import FINAL, MASTER, SLAVE, Election
from .log import Behind, Diverged, Entry, Position, copy_position
from .peers import PeerAnswer, PeerClient, unreachable
from .promises import Promises
from .store import BaseStore
from .zk import ZkBridge

logger = logging.getLogger(__name__)

# Changes a master keeps in memory per base, to resend to a replica that
# missed a few without reading its log, for so many bases at most (older
# ones are read from the base's log).
RING_SIZE = 32
RING_BASES = 1024
# A slave that got changes from its master this recently needs no check.
FED_RECENTLY = 5.0
# A replica that cannot be reached is caught up again after this long
# (seconds), doubled at each failure up to the max.
CATCH_UP_RETRY = 1.0
CATCH_UP_RETRY_MAX = 30.0


@dataclass(slots=True)
class Lease:
    """Proof, at one moment, that this replica is master of a base."""

    election: Election
    epoch: int

    @property
    def base(self) -> str:
        return self.election.base


class Replicator:
    """The replication side of one service (`kind`: meta0, meta1, meta2)."""

    def __init__(self, kind: str, ns: str, self_id: str, store: BaseStore,
                 datadir: str, zk_hosts: str = "",
                 session_timeout: float = 3.0, wait_timeout: float = 8.0,
                 rpc_timeout: float = 5.0):
        self.kind = kind
        self.ns = ns
        self.self_id = self_id
        self.store = store
        self.zk_hosts = zk_hosts
        self.session_timeout = session_timeout
        self.wait_timeout = wait_timeout
        self.rpc_timeout = rpc_timeout
        self.promises = Promises(datadir)
        self.peers = PeerClient(kind, self_id, timeout=rpc_timeout)
        self.elections: dict[str, Election] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.zk: ZkBridge | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._resyncing: set[str] = set()
        self._catching_up: set[tuple[str, str]] = set()
        # The last changes of the bases written lately (an LRU: a master of
        # many bases keeps a bounded memory).
        self._rings: OrderedDict[str, deque[Entry]] = OrderedDict()
        self._match: dict[str, dict[str, Position]] = {}
        # What "not one of this base's replicas" is answered with (meta1
        # answers 450, "prefix not managed").
        self.not_managed_status = errors.NOT_MANAGED
        # When each base last got changes from its master.
        self._fed_at: dict[str, float] = {}
        # Told (base, replicas) when a master names other replicas than
        # ours for a base.
        self.on_other_peers: Callable[[str, list[str]], None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.zk_hosts)

    # -- life ---------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if not self.enabled:
            return
        self.zk = ZkBridge(self.zk_hosts, self.session_timeout, self.loop)
        self.zk.listeners.append(self._on_session)
        self.zk.start()

    async def stop(self, grace: float = 2.0) -> None:
        """Leave every election (so that others take over at once rather
        than after our session expires), then disconnect."""
        if self.zk is not None:
            joined = [e for e in self.elections.values()
                      if e.node is not None]
            if joined and self.zk.connected.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.gather(
                        *(e.leave() for e in joined),
                        return_exceptions=True), grace)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(run_blocking(self.zk.stop), grace)
        for task in list(self._tasks):
            task.cancel()
        await self.peers.client.close()
        self.promises.close()

    def _spawn(self, coro: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_session(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            for election in self.elections.values():
                if election.active:
                    election.poke()
            return
        lost = state == KazooState.LOST
        for election in self.elections.values():
            election.suspend(lost)
            self._forget_master_state(election.base)

    def base_lock(self, base: str) -> threading.Lock:
        """Serialises promises and applied changes of one base: a replica
        must not apply a change from an epoch after promising a newer one."""
        with self._locks_guard:
            lock = self._locks.get(base)
            if lock is None:
                lock = self._locks[base] = threading.Lock()
            return lock

    # -- elections ------------------------------------------------------------------
    def election(self, base: str, peers: Iterable[str]) -> Election:
        """The election of `base`, created on first use (joined by its
        `use`, when a request needs it)."""
        election = self.elections.get(base)
        peers = sorted(set(peers))
        if election is None:
            election = Election(self.zk, self.ns, self.kind, base,
                                self.self_id, peers, self._campaign,
                                self._on_slave)
            self.elections[base] = election
        elif peers and peers != election.peers:
            election.peers = peers
        return election

    def peers_changed(self, base: str, peers: Iterable[str]) -> None:
        """From any thread: the replicas of `base` are now `peers` (a base
        moved: `sys.peers` rewritten, a new meta0 map). A replica no longer
        among them leaves the election."""
        if self.loop is None or not self.enabled:
            return
        self.loop.call_soon_threadsafe(self._set_peers, base,
                                       sorted(set(peers)))

    def _set_peers(self, base: str, peers: list[str]) -> None:
        election = self.elections.get(base)
        if election is None or election.peers == peers:
            return
        logger.info("%s %s: replicas now %s", self.kind, base,
                    ", ".join(peers))
        if self.self_id not in peers or len(peers) <= 1:
            self._spawn(self.forget(base))
            return
        election.peers = peers
        for peer in list(self._match.get(base, {})):
            if peer not in peers:
                del self._match[base][peer]

    async def replicated_peers(self, base: str, hint: Iterable[str] = ()
                               ) -> list[str] | None:
        """Every replica of `base` if it is replicated here, None if it is
        not (one replica, or no ZooKeeper); NotManaged when this service is
        not one of its replicas."""
        if not self.enabled:
            return None
        election = self.elections.get(base)
        if election is not None:
            return election.peers
        peers = await run_blocking(self.store.peers, base)
        if not peers:
            peers = sorted(set(hint))
        if len(peers) <= 1:
            if peers and self.self_id not in peers:
                raise errors.NotManaged(base, self.kind,
                                        self.not_managed_status)
            return None
        if self.self_id not in peers:
            raise errors.NotManaged(base, self.kind, self.not_managed_status)
        return peers

    async def gate(self, base: str, hint: Iterable[str] = (),
                   timeout: float | None = None) -> Lease | None:
        """Before serving a request on `base`: None when the base is not
        replicated (serve it), a Lease on the master (serve it); Redirect
        on a slave; ElectionPending when no master is known in time."""
        peers = await self.replicated_peers(base, hint)
        if peers is None:
            return None
        election = self.election(base, peers)
        state = await election.wait_final(
            self.wait_timeout if timeout is None else timeout)
        if state == MASTER:
            return Lease(election, election.epoch)
        if state == SLAVE and election.master:
            raise errors.Redirect(election.master)
        raise errors.ElectionPending(base, self.kind)

    def lease(self, base: str, replicated: bool) -> Lease | None:
        """From a writer thread, right before its commit: the lease to ship
        the change with, None for a base with one replica. NotMaster when
        this replica is not (or no longer) master. A base is replicated if
        its writer says so or if it has an election here (the request was
        let through as replicated)."""
        if not self.enabled:
            return None
        election = self.elections.get(base)
        if election is None and not replicated:
            return None
        if election is None or election.state != MASTER:
            raise errors.NotMaster(base, self.kind)
        return Lease(election, election.epoch)

    # -- shipping (master) ----------------------------------------------------------
    def ship(self, lease: Lease, entry: Entry, prev: Position) -> None:
        """From the writer thread, after the local commit of `entry` (which
        follows `prev`): send it to the other replicas and return once a
        majority has it. NoQuorum otherwise (the change stays committed
        here, and reaches the others later, or is undone if this replica
        loses its mastership before)."""
        future = asyncio.run_coroutine_threadsafe(
            self._ship(lease, entry, prev), self.loop)
        try:
            future.result(self.rpc_timeout * 2 + 1)
        except TimeoutError:
            future.cancel()
            raise errors.NoQuorum(1, len(lease.election.peers),
                                  "timeout") from None

    async def _ship(self, lease: Lease, entry: Entry, prev: Position) -> None:
        election = lease.election
        base = election.base
        ring = self._rings.get(base)
        if ring is None:
            ring = self._rings[base] = deque(maxlen=RING_SIZE)
            while len(self._rings) > RING_BASES:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(base)
        ring.append(entry)
        tasks = [self._spawn(self._replicate_to(lease, peer, entry, prev))
                 for peer in election.others]
        acks, needed = 1, election.quorum
        failures: list[str] = []
        for done in asyncio.as_completed(tasks):
            try:
                ok, why = await done
            except Exception as exc:  # noqa: BLE001 - counted as a failure
                ok, why = False, str(exc)
            if ok:
                acks += 1
                if acks >= needed:
                    return      # the others go on in the background
            else:
                failures.append(why)
        if acks < needed:
            raise errors.NoQuorum(acks, len(election.peers),
                                  "; ".join(failures))

    async def _replicate_to(self, lease: Lease, peer: str, entry: Entry,
                            prev: Position) -> tuple[bool, str]:
        base = lease.base
        match = self._match.setdefault(base, {})
        entries, start = self._from_ring(base, match.get(peer), prev, entry)
        for attempt in range(2):
            try:
                answer = await self.peers.apply(
                    peer, base, lease.epoch, start, entries,
                    lease.election.peers)
            except Exception as exc:  # noqa: BLE001 - a failed replica
                if not unreachable(exc):
                    logger.warning("replicating %s to %s: %s", base, peer,
                                   exc)
                return False, f"{peer}: {exc}"
            if answer.ok:
                match[peer] = Position(entry.epoch, entry.version)
                return True, ""
            if answer.status == errors.REDIRECT or answer.http_status == 503:
                return False, f"{peer}: {answer.body.get('message')}"
            if "position" in answer.body:
                match[peer] = answer.position
            if attempt == 0 and answer.status == errors.REMOTE_BEHIND:
                entries, start = self._from_ring(base, match.get(peer), prev,
                                                 entry)
                if start != prev or len(entries) > 1:
                    continue    # resend with what it misses
            self._schedule_catch_up(lease, peer)
            return False, f"{peer}: {answer.body.get('message')}"
        return False, f"{peer}: behind"

    def _from_ring(self, base: str, known: Position | None, prev: Position,
                   entry: Entry) -> tuple[list[Entry], Position]:
        """The entries to send a replica last known at `known` so that it
        gets `entry`: from the in-memory ring when it covers the gap."""
        if known is None or known.version >= prev.version:
            return [entry], prev
        ring = self._rings.get(base) or ()
        missing = [e for e in ring if known.version < e.version <= entry.version]
        if missing and missing[0].version == known.version + 1:
            before = [e for e in ring if e.version == known.version]
            if known.version == 0 or (before and before[0].epoch == known.epoch):
                return missing, known
        return [entry], prev

    def _forget_master_state(self, base: str) -> None:
        self._rings.pop(base, None)
        self._match.pop(base, None)

    # -- catching up (master side) ----------------------------------------------------
    def _schedule_catch_up(self, lease: Lease, peer: str) -> None:
        key = (lease.base, peer)
        if key not in self._catching_up:
            self._catching_up.add(key)
            task = self._spawn(self._catch_up(lease, peer))
            task.add_done_callback(lambda _t: self._catching_up.discard(key))

    async def _catch_up(self, lease: Lease, peer: str) -> None:
        """Bring `peer` to our position: replay from the log, else ask it to
        copy the whole base from us. A peer that cannot be reached is tried
        again, less and less often, as long as we are master: a replica
        back from a crash catches up even on a base no longer written."""
        delay = CATCH_UP_RETRY
        while True:
            try:
                await self._catch_up_once(lease, peer)
                return
            except Exception as exc:  # noqa: BLE001 - the peer is away
                if not unreachable(exc):
                    logger.warning("catching up %s on %s: %s", lease.base,
                                   peer, exc)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, CATCH_UP_RETRY_MAX)
            election = lease.election
            if election.state != MASTER or election.epoch != lease.epoch \
                    or peer not in election.peers:
                return

    async def _catch_up_once(self, lease: Lease, peer: str) -> None:
        election, base = lease.election, lease.base
        for _ in range(8):
            if election.state != MASTER or election.epoch != lease.epoch:
                return
            known = self._match.get(base, {}).get(peer, Position())
            try:
                entries = await run_blocking(self.store.entries_after, base,
                                             known)
            except (LookupError, Diverged):
                break
            if not entries:
                return
            answer = await self.peers.apply(peer, base, lease.epoch, known,
                                            entries, election.peers)
            if answer.ok:
                last = entries[-1]
                self._match.setdefault(base, {})[peer] = Position(
                    last.epoch, last.version)
                continue
            if answer.http_status == 503 or answer.status == errors.REDIRECT:
                return
            self._match.setdefault(base, {})[peer] = answer.position
            if answer.status != errors.REMOTE_BEHIND:
                break
        else:
            return
        if election.state == MASTER and election.epoch == lease.epoch:
            logger.info("%s %s: %s needs a full copy", self.kind, base, peer)
            await self.peers.resync(peer, base, lease.epoch)

    # -- campaign -----------------------------------------------------------------
    async def _campaign(self, election: Election) -> int:
        """Become master of the base: a majority promises our epoch, then we
        catch up from the most advanced of them. Returns the epoch."""
        base = election.base
        mine = await run_blocking(self.store.position, base) or Position()
        epoch = max(election.czxid, self.promises.get(base) + 1,
                    mine.epoch + 1)
        accepted: list[PeerAnswer] = []
        for _ in range(4):
            if not await run_blocking(self._promise_locally, base, epoch):
                epoch = max(epoch, self.promises.get(base)) + 1
                continue
            answers = await self._gather(
                election.others,
                lambda peer, epoch=epoch: self.peers.promise(
                    peer, base, epoch, timeout=self.rpc_timeout),
                lambda a: bool(a.ok and a.body.get("accepted")),
                election.quorum - 1)
            accepted = [a for a in answers
                        if a.ok and a.body.get("accepted")]
            if len(accepted) + 1 >= election.quorum:
                break
            higher = max((int(a.body.get("promised") or 0) for a in answers
                          if a.ok), default=0)
            if higher < epoch:
                raise errors.NoQuorum(len(accepted) + 1, len(election.peers),
                                      "promises")
            epoch = higher + 1
        else:
            raise errors.NoQuorum(1, len(election.peers), "promises")
        local = await run_blocking(self.store.position, base)
        mine = local or Position()
        best = max(accepted, key=lambda a: a.position, default=None)
        if best is not None and best.position > mine:
            await self._pull(base, best.peer, mine)
        elif local == Position():
            # Our base exists but never logged a change: its content (if
            # any) predates replication, so a replica that has nothing must
            # copy it whole rather than start from an empty base.
            await run_blocking(self.store.stamp, base, Position(epoch, 1))
        self._forget_master_state(base)
        self._match[base] = {a.peer: a.position for a in accepted}
        if local is not None:
            # A base that exists: tell the others, bring them up to date.
            mine = await run_blocking(self.store.position, base) or mine
            self._spawn(self._after_election(election, epoch, mine))
        return epoch

    def _on_slave(self, election: Election) -> None:
        """A new master: if we hold this base and miss changes it has,
        fetch them now rather than at its next write (a replica back from
        a crash on a base seldom written). Not when the master just sent
        us changes: we are up to date."""
        if time.monotonic() - self._fed_at.get(election.base, 0) > FED_RECENTLY:
            self._spawn(self._sync_from_master(election))

    async def _sync_from_master(self, election: Election) -> None:
        base, master = election.base, election.master
        try:
            mine = await run_blocking(self.store.position, base)
            if mine is None or master is None:
                return      # we hold no copy: the master sends it on need
            answer = await self.peers.log(master, base, mine)
            if answer.ok:
                entries = [Entry.of(e)
                           for e in answer.body.get("entries") or []]
                if entries:
                    await run_blocking(self._apply_locally, base, mine,
                                       entries)
                return
            if answer.status in (errors.DIVERGED, errors.LOCAL_MISSING):
                await self.copy_from(base, master)
        except Exception as exc:  # noqa: BLE001 - the master pushes later
            logger.info("%s %s: sync from %s failed: %s", self.kind, base,
                        master, exc)

    def _promise_locally(self, base: str, epoch: int) -> bool:
        with self.base_lock(base):
            return self.promises.promise(base, epoch, self.self_id)

    async def _gather(self, peers: list[str],
                      call: Callable[[str], Awaitable[PeerAnswer]],
                      counts: Callable[[PeerAnswer], bool],
                      needed: int) -> list[PeerAnswer]:
        """Call every peer; return the answers received once `needed` of
        them count (the others go on in the background), or all."""
        tasks = [self._spawn(call(peer)) for peer in peers]
        answers: list[PeerAnswer] = []
        counted = 0
        if needed <= 0 and not tasks:
            return answers
        for done in asyncio.as_completed(tasks):
            try:
                answer = await done
            except Exception as exc:  # noqa: BLE001 - a missing vote
                if not unreachable(exc):
                    logger.info("campaign call failed: %s", exc)
                continue
            answers.append(answer)
            if counts(answer):
                counted += 1
                if counted >= needed:
                    break
        return answers

    async def _after_election(self, election: Election, epoch: int,
                              mine: Position) -> None:
        """Tell the others, and bring those behind `mine` (our position when
        elected) up to date."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(election.final.wait(), 30)
        if election.state != MASTER or election.epoch != epoch:
            return
        lease = Lease(election, epoch)
        for peer in election.others:
            known = self._match.get(election.base, {}).get(peer)
            self._spawn(self._announce(election, peer, epoch))
            if known != mine:
                self._schedule_catch_up(lease, peer)

    async def _announce(self, election: Election, peer: str,
                        epoch: int) -> None:
        with contextlib.suppress(Exception):
            answer = await self.peers.announce(peer, election.base, epoch)
            if answer.ok and "position" in answer.body:
                self._match.setdefault(election.base, {})[peer] = \
                    answer.position

    async def _pull(self, base: str, source: str, mine: Position) -> None:
        """Catch up from `source`: its logged changes after ours, else a
        full copy of its base."""
        try:
            answer = await self.peers.log(source, base, mine)
        except Exception as exc:  # noqa: BLE001
            raise errors.NoQuorum(1, 1, f"catching up from {source}: {exc}"
                                  ) from None
        if answer.ok:
            entries = [Entry.of(e) for e in answer.body.get("entries") or []]
            if entries:
                try:
                    await run_blocking(self._apply_locally, base, mine,
                                       entries)
                    return
                except (Behind, Diverged, LookupError) as exc:
                    logger.info("%s %s: replay from %s failed (%s)",
                                self.kind, base, source, exc)
        await self.copy_from(base, source)

    def _apply_locally(self, base: str, prev: Position,
                       entries: list[Entry]) -> Position:
        with self.base_lock(base):
            return self.store.apply(base, prev, entries)

    # -- full copies ---------------------------------------------------------------
    async def copy_from(self, base: str, source: str,
                        epoch: int | None = None) -> Position:
        """Replace our replica by a copy of `source`'s (refused when a newer
        epoch was promised meanwhile)."""
        if base in self._resyncing:
            raise errors.ReplicationError(503, errors.UNAVAILABLE,
                                          f"{base} is being copied already")
        self._resyncing.add(base)
        try:
            path = await run_blocking(self._download, base, source)
            try:
                return await run_blocking(self._install, base, path, epoch)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            self._resyncing.discard(base)

    def _download(self, base: str, source: str) -> str:
        from oio.common.http_urllib3 import get_pool_manager
        from oio.common.http_urllib3 import timeout as http_timeout

        tmp_dir = self.store.tmp_dir()
        os.makedirs(tmp_dir, exist_ok=True)
        path = os.path.join(tmp_dir, f"restore.{uuid.uuid4().hex}.sqlite3")
        resp = get_pool_manager().request(
            "GET", f"http://{source}{self.peers.path('dump', base)}",
            preload_content=False, retries=False,
            timeout=http_timeout(5.0, 240.0))
        try:
            if resp.status != 200:
                raise errors.ReplicationError(
                    503, errors.UNAVAILABLE,
                    f"{source} answered HTTP {resp.status} to a dump of {base}")
            with open(path, "wb") as out:
                for block in resp.stream(1 << 20):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        finally:
            resp.release_conn()
        return path

    def _install(self, base: str, path: str, epoch: int | None) -> Position:
        with self.base_lock(base):
            if epoch is not None and epoch < self.promises.get(base):
                raise errors.ReplicationError(
                    409, errors.UNAVAILABLE, f"copy from an old epoch {epoch}")
            copy = copy_position(path)
            try:
                mine = self.store.position(base)
            except sqlite3.DatabaseError:
                mine = None     # a corrupted replica: replaced

            if mine is not None and copy < mine:
                # We applied newer changes since the copy was taken: they
                # may be acknowledged; keep them (the next change of the
                # master tells if we diverged, and copies again).
                logger.info("%s %s: copy at %s older than ours %s, kept ours",
                            self.kind, base, copy, mine)
                return mine
            return self.store.install(base, path)

    # -- the peers' calls (replica side) ----------------------------------------------
    def _learn(self, base: str, master: str, epoch: int,
               peers: Iterable[str] = ()) -> None:
        """On the loop: a peer showed it is master with `epoch` (of a base
        whose replicas are `peers`, when it said)."""
        peers = sorted(set(peers))
        election = self.elections.get(base)
        if election is None:
            if not self.enabled or len(peers) <= 1:
                return
            # Known, not joined: this replica joins the election of the
            # base when it is asked for it (a client, the master's death),
            # not for every base it receives changes of.
            election = self.election(base, peers)
        if peers and peers != election.peers and \
                self.on_other_peers is not None:
            # The master knows other replicas: where the replicas are kept
            # outside the base (meta1: the meta0 map), check again.
            self.on_other_peers(base, peers)
        election.learn_master(master, epoch)
        if election.state != MASTER:
            self._forget_master_state(base)

    async def on_promise(self, base: str, epoch: int, master: str) -> dict:
        def promise() -> dict:
            with self.base_lock(base):
                accepted = self.promises.promise(base, epoch, master)
                pos = self.store.position(base) or Position()
            return {"accepted": accepted,
                    "promised": self.promises.get(base),
                    "position": pos.as_list()}
        answer = await run_blocking(promise)
        if answer["accepted"]:
            election = self.elections.get(base)
            if election is not None and election.state == MASTER \
                    and master != self.self_id:
                election.demote("PROMISED_OTHER")
                self._forget_master_state(base)
        return answer

    async def on_apply(self, base: str, body: dict) -> tuple[int, dict]:
        """(HTTP status, body) of an apply request from the master."""
        try:
            epoch = int(body["epoch"])
            master = str(body["master"])
            prev = Position.of(body["prev"])
            entries = [Entry.of(e) for e in body["entries"]]
            peers = [str(p) for p in body.get("peers") or []]
        except (KeyError, TypeError, ValueError):
            return 400, {"status": 400, "message": "Invalid apply request"}

        def apply() -> tuple[int, dict]:
            with self.base_lock(base):
                if not self.promises.accept(base, epoch, master):
                    return 503, {"status": errors.UNAVAILABLE,
                                 "message": f"epoch {epoch} < "
                                 f"{self.promises.get(base)}"}
                try:
                    pos = self.store.apply(base, prev, entries)
                except Behind as exc:
                    return 409, self._refusal(base, errors.REMOTE_BEHIND, exc)
                except Diverged as exc:
                    return 409, self._refusal(base, errors.DIVERGED, exc)
                except LookupError as exc:
                    return 409, self._refusal(base, errors.LOCAL_MISSING, exc)
                except ValueError as exc:
                    return 400, {"status": 400, "message": str(exc)}
                except sqlite3.Error as exc:
                    # A full disk, a corrupted file: this replica cannot
                    # take the change (the master counts it as missing).
                    logger.error("%s %s: cannot apply changes: %s",
                                 self.kind, base, exc)
                    return 503, {"status": 511,
                                 "message": f"replica cannot write: {exc}"}
            return 200, {"position": pos.as_list()}

        status, answer = await run_blocking(apply)
        if status == 200:
            self._fed_at[base] = time.monotonic()
        if status != 503:
            self._learn(base, master, epoch, peers)
        if status == 409 and answer["status"] != errors.REMOTE_BEHIND:
            logger.info("%s %s: refused changes from %s: %s", self.kind, base,
                        master, answer["message"])
        return status, answer

    def _refusal(self, base: str, status: int, exc: Exception) -> dict:
        pos = self.store.position(base) or Position()
        return {"status": status, "message": str(exc),
                "position": pos.as_list()}

    async def on_announce(self, base: str, epoch: int, master: str) -> dict:
        promised = await run_blocking(self.promises.get, base)
        if epoch >= promised:
            peers = await run_blocking(self.store.peers, base) or ()
            self._learn(base, master, epoch, peers)
        pos = await run_blocking(self.store.position, base) or Position()
        return {"position": pos.as_list()}

    async def on_log(self, base: str, after: Position) -> tuple[int, dict]:
        try:
            entries = await run_blocking(self.store.entries_after, base, after)
        except Diverged as exc:
            return 409, {"status": errors.DIVERGED, "message": str(exc)}
        except LookupError as exc:
            return 410, {"status": errors.LOCAL_MISSING, "message": str(exc)}
        return 200, {"entries": [e.as_list() for e in entries]}

    async def on_resync(self, base: str, source: str, epoch: int | None
                        ) -> None:
        """Copy the base from `source` in the background."""
        async def resync() -> None:
            try:
                await self.copy_from(base, source, epoch)
                logger.info("%s %s copied from %s", self.kind, base, source)
            except Exception as exc:  # noqa: BLE001 - logged, retried later
                logger.warning("%s %s: copy from %s failed: %s", self.kind,
                               base, source, exc)
        self._spawn(resync())

    async def on_remove(self, base: str, epoch: int | None) -> None:
        def remove() -> None:
            with self.base_lock(base):
                if epoch is not None and epoch < self.promises.get(base):
                    raise errors.ReplicationError(
                        409, errors.UNAVAILABLE, "remove from an old epoch")
                self.store.remove(base)
        await run_blocking(remove)
        await self.forget(base)

    async def forget(self, base: str) -> None:
        """The base is gone here: leave its election."""
        election = self.elections.pop(base, None)
        self._forget_master_state(base)
        if election is not None and self.zk is not None:
            with contextlib.suppress(Exception):
                await election.leave()

    async def remove_everywhere(self, lease: Lease) -> None:
        """On the master, after removing its own replica: remove the others
        (a majority must confirm)."""
        election = lease.election
        answers = await self._gather(
            election.others,
            lambda peer: self.peers.remove(peer, lease.base, lease.epoch),
            lambda a: a.ok, election.quorum - 1)
        await self.forget(lease.base)
        done = sum(1 for a in answers if a.ok) + 1
        if done < election.quorum:
            raise errors.NoQuorum(done, len(election.peers), "remove")

    async def adopt(self, base: str) -> None:
        """On the master, after a base was installed whole (a snapshot):
        stamp it, so that the other replicas copy it rather than replay."""
        election = self.elections.get(base)
        if election is None or election.state != MASTER:
            return
        lease = Lease(election, election.epoch)
        await run_blocking(self.store.stamp, base, Position(lease.epoch, 1))
        for peer in election.others:
            self._match.setdefault(base, {})[peer] = Position()
            self._schedule_catch_up(lease, peer)

    async def on_each_replica(self, lease: Lease, action: str,
                              **params) -> None:
        """Tell the other replicas to run `action` (best effort)."""
        await asyncio.gather(*(
            self.peers.call(peer, "POST", action, lease.base, **params)
            for peer in lease.election.others), return_exceptions=True)

    async def give_up_masterships(self, limit: int, idle: float) -> int:
        """Leave, then rejoin, up to `limit` elections we are master of,
        least recently used first, unused for at least `idle` seconds."""
        now = time.monotonic()
        masters = sorted((e for e in self.masters()
                          if now - e.last_use >= idle),
                         key=lambda e: e.last_use)[:limit]
        for election in masters:
            await election.leave()
            self._forget_master_state(election.base)
            election.use()
        return len(masters)

    # -- views ----------------------------------------------------------------------
    def state_of(self, base: str) -> str | None:
        election = self.elections.get(base)
        return None if election is None else election.state

    def masters(self) -> list[Election]:
        return [e for e in self.elections.values() if e.state == MASTER]

    def stats(self) -> dict[str, int]:
        counts = {"master": 0, "slave": 0, "other": 0}
        for election in self.elections.values():
            key = election.state.lower() if election.state in FINAL else "other"
            counts[key] += 1
        return counts
