"""Meta2Mover: move a container's base from one meta2 to another
(`openio-admin container move`, spec replication.md §7.4).

The steps, for base `<CID>.<seq>` on replicas `old` (src among them):

1. replicas from meta1; src must be one; dst given, or polled from the
   `meta2` pool (the other replicas known, src avoided);
2. `has` and `status`: which replicas hold the base, who is master; a
   master src steps down first, so that clients (the proxy remembers
   masters) follow another replica while src can still redirect them;
3. dst takes a first copy (from the master) while it is not a replica
   yet: a failure here leaves the base as it was;
4. `sys.peers` rewritten on the master to the new set: the replicas switch
   their elections, src leaves it;
5. dst copies the base again from the master of the new set, so that it
   holds what was written since step 3;
6. meta1 links the new set (same seq); the meta2 index of rdir follows;
7. src leaves the election and removes its file (only a warning when
   src cannot be reached: a dead service being evacuated), and the new
   set must elect one master that the others name.

Before step 4 the move refuses to start unless the new set keeps a
majority of replicas holding the base. If step 5 or 6 fails, `sys.peers`
is set back to the old set and dst's copy removed: the base stays served
by its old replicas all along.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from oio.common import exceptions as exc
from oio.common.utils import is_hexa
from oio.rebuilder.sqlx_admin import (
    MISSING,
    OK,
    REDIRECT,
    SqlxAdminClient,
    describe,
    master_of,
    message_of,
    status_of,
)

TYPE = "meta2"


class MoveError(Exception):
    """A step of a move failed; the message says which and why."""


@dataclass
class MoveResult:
    """What became of one base: `error` is None when it moved."""

    cid: str
    base: str
    src: str
    dst: str | None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    cid: str
    seq: int
    args: str
    old: list[str]
    src: str
    dst: str = ""
    account: str | None = None
    name: str | None = None
    sources: list[str] = field(default_factory=list)
    copied: bool = False

    @property
    def base(self) -> str:
        return f"{self.cid}.{self.seq}"

    @property
    def new(self) -> list[str]:
        return sorted({p for p in self.old if p != self.src} | {self.dst})


def quorum(count: int) -> int:
    """Replicas that must hold a base for it to be served (a majority)."""
    return count // 2 + 1


class Meta2Mover:
    """Moves container bases between meta2 services, through the proxy.

    `conscience` lists the meta2 services and polls the `meta2` pool;
    `rdir` (optional) keeps the meta2 volume index in step."""

    def __init__(self, admin: SqlxAdminClient, directory, conscience,
                 rdir=None, namespace: str = "",
                 logger: logging.Logger | None = None,
                 election_timeout: float = 30.0, copy_attempts: int = 3,
                 sleep: Callable[[float], None] = time.sleep):
        self.admin = admin
        self.directory = directory
        self.conscience = conscience
        self.rdir = rdir
        self.namespace = namespace
        self.logger = logger or logging.getLogger(__name__)
        self.election_timeout = election_timeout
        self.copy_attempts = copy_attempts
        self.sleep = sleep
        self._services: set[str] | None = None

    # -- the meta2 services ---------------------------------------------------
    def services(self) -> set[str]:
        """IDs and addresses of every meta2 known to the conscience."""
        if self._services is None:
            found: set[str] = set()
            for srv in self.conscience.all_services(TYPE):
                found.add(srv["addr"])
                found.add(srv.get("id") or srv["addr"])
            self._services = found
        return self._services

    # -- one move -------------------------------------------------------------
    def move(self, cid: str, src: str, dst: str | None = None) -> MoveResult:
        """Move the base of container `cid` from `src` to `dst` (polled
        when None). Never raises for a failed step: see `error`."""
        cid = cid.upper()
        result = MoveResult(cid, f"{cid}.1", src, dst)
        try:
            plan = self._plan(cid, src, dst)
            result.base, result.dst = plan.base, plan.dst
            self._run(plan, result)
        except MoveError as err:
            result.error = str(err)
        except exc.OioException as err:
            result.error = f"{type(err).__name__}: {err}"
        if result.error:
            self.logger.warning("Failed to move %s from %s to %s: %s",
                                result.base, src, result.dst, result.error)
        else:
            self.logger.info("Moved %s from %s to %s", result.base, src,
                             result.dst)
        return result

    def _plan(self, cid: str, src: str, dst: str | None) -> _Plan:
        if not is_hexa(cid, 64):
            raise MoveError(f"Invalid container ID {cid!r}: expected 64 "
                            "hexadecimal digits")
        try:
            info = self.directory.list(cid=cid)
        except exc.NotFound:
            raise MoveError(f"No such container (CID {cid})") from None
        linked = [s for s in info.get("srv") or () if s.get("type") == TYPE]
        if not linked:
            raise MoveError(f"No meta2 linked to container {cid}")
        seq = max(int(s.get("seq") or 0) for s in linked)
        entries = [s for s in linked if int(s.get("seq") or 0) == seq]
        old = sorted({h for s in entries for h in s["host"].split(",") if h})
        plan = _Plan(cid, seq, entries[0].get("args") or "", old, src,
                     account=info.get("account"), name=info.get("name"))
        if src not in old:
            known = "" if src in self.services() else \
                f" ({src} is not a known meta2 service)"
            raise MoveError(f"Source service {src} does not hold "
                            f"{plan.base}{known}: its replicas are "
                            f"{', '.join(old)}")
        plan.dst = dst or self._poll(plan)
        if plan.dst in old:
            raise MoveError(f"Destination service {plan.dst} is already a "
                            f"replica of {plan.base} ({', '.join(old)})")
        if plan.dst not in self.services():
            raise MoveError(f"Destination service {plan.dst} is not a "
                            "known meta2 service")
        return plan

    def _poll(self, plan: _Plan) -> str:
        """A meta2 from the load balancer, away from the other replicas."""
        def key(srv: str) -> str:
            return f"{self.namespace}|{TYPE}|{srv}"
        try:
            found = self.conscience.poll(
                TYPE, known=[key(p) for p in plan.old if p != plan.src],
                avoid=[key(plan.src)])
        except exc.OioException as err:
            raise MoveError(f"No destination found for {plan.base} by the "
                            f"load balancer: {err}") from None
        for srv in found or ():
            ident = (srv.get("tags") or {}).get("tag.service_id") \
                or srv.get("addr")
            if ident and ident not in plan.old:
                return ident
        raise MoveError(f"The load balancer found no meta2 for {plan.base} "
                        "other than its replicas")

    def _run(self, plan: _Plan, result: MoveResult) -> None:
        self._find_sources(plan)
        self._first_copy(plan)
        self._set_peers(plan, plan.new, undo=True)
        try:
            self._copy_from_new_master(plan)
            self._link(plan)
        except MoveError as err:
            raise MoveError(f"{err}; {self._undo(plan)}") from None
        result.warnings += self._reindex(plan)
        result.warnings += self._retire_src(plan)
        self._check_election(plan)

    # -- steps ----------------------------------------------------------------
    def _find_sources(self, plan: _Plan) -> None:
        has = self.admin.has(TYPE, plan.cid, plan.old)
        holders = sorted(p for p, e in has.items() if status_of(e) == OK)
        if not holders:
            raise MoveError(f"No replica holds {plan.base}: {describe(has)}")
        # Once src is gone, a majority of the new set must hold the base.
        keeping = [p for p in holders if p != plan.src]
        if len(keeping) + 1 < quorum(len(plan.new)):
            raise MoveError(
                f"Only {len(keeping)} of the replicas that stay hold "
                f"{plan.base} ({describe(has)}): rebuild it first "
                "(openio-admin meta2 rebuild)")
        master = None
        try:
            master = master_of(self.admin.status(TYPE, plan.cid, plan.old))
        except exc.OioException as err:
            self.logger.warning("No election status of %s: %s", plan.base,
                                err)
        if master == plan.src:
            master = self._hand_off(plan) or master
        # The master first: it holds every acknowledged change.
        plan.sources = sorted(holders, key=lambda p: (p != master, p))

    def _hand_off(self, plan: _Plan) -> str | None:
        """src, master of the base, gives its mastership to another
        replica before leaving: the base changes master while every
        replica stays, and clients (the proxy) learn the new master from
        src's redirections while src can still give them."""
        self.admin.leave(TYPE, plan.cid, [plan.src])
        master, answers = self._election(plan, plan.old)
        if master is None or master == plan.src:
            self.logger.warning("%s: %s is still master (%s)", plan.base,
                                plan.src, describe(answers))
            return None
        return master

    def _copy_to_dst(self, plan: _Plan, sources: Iterable[str]) -> None:
        errors = []
        for source in sources:
            if source == plan.dst:
                continue
            try:
                self.admin.copy(TYPE, plan.cid, plan.dst, source)
                plan.copied = True
                return
            except exc.OioException as err:
                errors.append(f"from {source}: {err}")
                self.logger.warning("Copy of %s to %s from %s failed: %s",
                                    plan.base, plan.dst, source, err)
        raise MoveError(f"Cannot copy {plan.base} to {plan.dst}: "
                        + "; ".join(errors or ["no source"]))

    def _first_copy(self, plan: _Plan) -> None:
        try:
            self._copy_to_dst(plan, plan.sources)
            has = self.admin.has(TYPE, plan.cid, [plan.dst])
            if status_of(has.get(plan.dst, {})) != OK:
                raise MoveError(f"{plan.dst} has no copy of {plan.base} "
                                f"after copying it: {describe(has)}")
        except (MoveError, exc.OioException) as err:
            self._drop_dst(plan)
            raise MoveError(str(err)) from None

    def _set_peers(self, plan: _Plan, peers: list[str], undo: bool) -> None:
        wanted = ",".join(sorted(peers))
        try:
            self.admin.set_properties(TYPE, plan.cid,
                                      system={"sys.peers": wanted})
            return
        except exc.OioException as err:
            failure = err
        # The write may have reached the master all the same.
        try:
            system = self.admin.get_properties(TYPE, plan.cid).get(
                "system") or {}
            if system.get("sys.peers") == wanted:
                return
        except exc.OioException:
            pass
        if undo:
            self._drop_dst(plan)
        raise MoveError(f"Cannot set the replicas of {plan.base} to "
                        f"{wanted}: {failure}")

    def _election(self, plan: _Plan, peers: list[str]
                  ) -> tuple[str | None, dict]:
        """(master, answers) once `peers` agree on a master, else (None,
        last answers) after `election_timeout` seconds."""
        deadline = time.monotonic() + self.election_timeout
        answers: dict = {}
        while True:
            try:
                answers = self.admin.status(TYPE, plan.cid, peers)
                master = master_of(answers)
                if master in peers and all(
                        status_of(e) == OK if p == master else
                        status_of(e) == REDIRECT and message_of(e) == master
                        for p, e in answers.items()) \
                        and set(answers) >= set(peers):
                    return master, answers
            except exc.OioException as err:
                answers = {"proxy": {"status": {"status": 0,
                                                "message": str(err)}}}
            if time.monotonic() >= deadline:
                return None, answers
            self.sleep(0.5)

    def _copy_from_new_master(self, plan: _Plan) -> None:
        master, answers = self._election(plan, plan.new)
        if master is None:
            raise MoveError(f"No master elected among {', '.join(plan.new)} "
                            f"for {plan.base}: {describe(answers)}")
        if master == plan.dst:
            return      # the new replica won: it had everything
        for attempt in range(self.copy_attempts):
            try:
                self.admin.copy(TYPE, plan.cid, plan.dst, master)
                return
            except exc.OioException as err:
                failure = err
                # e.g. 503: the master is bringing dst up to date already.
                self.sleep(1.0 + attempt)
        raise MoveError(f"Cannot copy {plan.base} to {plan.dst} from the "
                        f"master {master}: {failure}")

    def _link(self, plan: _Plan) -> None:
        entry = {"seq": plan.seq, "type": TYPE, "args": plan.args,
                 "host": ",".join(plan.new)}
        try:
            self.directory.force(cid=plan.cid, service_type=TYPE,
                                 services=entry, replace=True)
        except exc.OioException as err:
            if self._linked(plan) != plan.new:
                raise MoveError(f"meta1 did not link {plan.base} to "
                                f"{', '.join(plan.new)}: {err}") from None
        linked = self._linked(plan)
        if linked != plan.new:
            raise MoveError(f"meta1 links {plan.base} to {', '.join(linked)} "
                            f"instead of {', '.join(plan.new)}")

    def _linked(self, plan: _Plan) -> list[str]:
        info = self.directory.list(cid=plan.cid)
        linked = [s for s in info.get("srv") or () if s.get("type") == TYPE]
        if not linked:
            return []
        seq = max(int(s.get("seq") or 0) for s in linked)
        return sorted({h for s in linked if int(s.get("seq") or 0) == seq
                       for h in s["host"].split(",") if h})

    def _reindex(self, plan: _Plan) -> list[str]:
        """src's rdir forgets the container, dst's learns it (warnings)."""
        if self.rdir is None:
            return []
        if not plan.account or not plan.name:
            return [f"rdir not updated: no account and name for {plan.cid}"]
        path = f"{self.namespace}/{plan.account}/{plan.name}"
        warnings = []
        calls = (
            ("forget", plan.src, lambda: self.rdir.meta2_index_delete(
                plan.src, container_path=path, container_id=plan.cid)),
            ("index", plan.dst, lambda: self.rdir.meta2_index_push(
                plan.dst, path, plan.cid, time.time())))
        for what, volume, call in calls:
            try:
                call()
            except exc.OioException as err:
                warnings.append(f"rdir of {volume} could not {what} "
                                f"{path}: {err}")
                self.logger.warning("%s", warnings[-1])
        return warnings

    def _retire_src(self, plan: _Plan) -> list[str]:
        """src leaves the election and removes its file; warnings when src
        cannot be reached (a dead service being evacuated)."""
        # The others switched their election to the new set when sys.peers
        # changed; src, which may not have seen that change, leaves it.
        answers = self.admin.leave(TYPE, plan.cid, [plan.src])
        if status_of(answers.get(plan.src, {})) != OK:
            self.logger.warning("leave on %s: %s", plan.base,
                                describe(answers))
        answers = self.admin.remove(TYPE, plan.cid, [plan.src])
        status = status_of(answers.get(plan.src, {}))
        if status != OK:
            if status < 100:
                return [f"{plan.src} is unreachable and keeps its copy of "
                        f"{plan.base} (remove it once it is back): "
                        f"{describe(answers)}"]
            raise MoveError(f"{plan.src} did not remove its copy of "
                            f"{plan.base}: {describe(answers)}")
        has = self.admin.has(TYPE, plan.cid, [plan.src])
        if status_of(has.get(plan.src, {})) != MISSING:
            raise MoveError(f"{plan.src} still holds {plan.base}: "
                            f"{describe(has)}")
        return []

    def _check_election(self, plan: _Plan) -> None:
        master, answers = self._election(plan, plan.new)
        if master is None:
            raise MoveError(f"{plan.base} moved, but its replicas elect no "
                            f"master: {describe(answers)}")

    # -- undoing --------------------------------------------------------------
    def _drop_dst(self, plan: _Plan) -> None:
        """Remove what dst holds of a base it does not serve."""
        if not plan.copied:
            return
        try:
            self.admin.remove(TYPE, plan.cid, [plan.dst])
        except exc.OioException as err:
            self.logger.warning("Cannot remove the copy of %s on %s: %s",
                                plan.base, plan.dst, err)

    def _undo(self, plan: _Plan) -> str:
        """Back to the old replicas; says what was done."""
        try:
            self._set_peers(plan, plan.old, undo=False)
        except MoveError as err:
            return f"and could not restore the old replicas: {err}"
        self._drop_dst(plan)
        return f"replicas set back to {', '.join(plan.old)}"
