"""The logic of the meta base movers and rebuilders, over fakes of the
proxy's admin routes, meta1, the conscience, rdir and meta0 (no service)."""

from __future__ import annotations

import logging

import pytest

from oio.common import exceptions as exc
from oio.directory.meta2_mover import Meta2Mover
from oio.directory.prefix_mapping import (
    BaseMove,
    MoveApplier,
    PrefixMapping,
    base_moves,
)
from oio.rebuilder.meta1_rebuilder import Meta1Rebuilder, base_name
from oio.rebuilder.meta2_rebuilder import Meta2Rebuilder
from oio.rebuilder.meta_rebuilder import rebuild_base
from oio.rebuilder.runner import Pacer, Runner
from oio.rebuilder.sqlx_admin import master_of

CID = "AB" * 32
A, B, C, D = (f"10.0.0.{i}:6000" for i in range(1, 5))


def entry(status: int, message: str = "OK", body="") -> dict:
    return {"status": {"status": status, "message": message}, "body": body}


class FakeAdmin:
    """The replicas of bases as the proxy's admin routes show them: who
    holds a file, who is master, `sys.peers`; every call is logged."""

    def __init__(self, replicas: list[str], holders=None, master=A):
        self.replicas = list(replicas)      # as the directory lists them
        self.holders = set(replicas if holders is None else holders)
        self.master = master
        self.peers = list(replicas)         # sys.peers
        self.calls: list[tuple] = []
        self.fail: dict[str, Exception] = {}
        self.down: set[str] = set()

    def _down(self, answers: dict) -> dict:
        return {p: entry(2, "Connection refused") if p in self.down else e
                for p, e in answers.items()}

    def _check(self, action: str) -> None:
        if action in self.fail:
            raise self.fail[action]

    def _targets(self, service_ids) -> list[str]:
        return sorted(service_ids) if service_ids else sorted(self.replicas)

    def has(self, kind, cid, service_ids=None, **_):
        self.calls.append(("has", tuple(self._targets(service_ids))))
        self._check("has")
        return self._down({p: entry(200, body=f"/{p}") if p in self.holders
                           else entry(431, "Container not found")
                           for p in self._targets(service_ids)})

    def status(self, kind, cid, service_ids=None, **_):
        self.calls.append(("status", tuple(self._targets(service_ids))))
        self._check("status")
        out = {}
        for p in self._targets(service_ids):
            if p not in self.peers:
                out[p] = entry(431, "Base not managed")
            elif p == self.master:
                out[p] = entry(200)
            else:
                out[p] = entry(303, self.master)
        return self._down(out)

    def leave(self, kind, cid, service_ids=None, **_):
        targets = self._targets(service_ids)
        self.calls.append(("leave", tuple(targets)))
        if self.master in targets:
            # Another replica of the set takes over.
            self.master = next(p for p in sorted(self.peers)
                               if p != self.master)
        return {p: entry(200) for p in targets}

    def remove(self, kind, cid, service_ids, **_):
        self.calls.append(("remove", tuple(sorted(service_ids))))
        self._check("remove")
        self.holders -= set(service_ids) - self.down
        return self._down({p: entry(200) for p in service_ids})

    def copy(self, kind, cid, to, source=None, **_):
        self.calls.append(("copy", to, source))
        self._check("copy")
        if source not in self.holders:
            raise exc.NotFound(message=f"{source} has no copy")
        self.holders.add(to)

    def per_replica(self, action, kind, cid, service_ids=None, **_):
        assert action == "debug"
        self.calls.append(("debug",))
        return {p: entry(200, body={"peers": sorted(set(self.peers) - {p})})
                for p in self._targets(service_ids)}

    def sync(self, kind, cid, service_ids=None, **_):
        self.calls.append(("sync",))
        return {p: entry(200 if p != self.master else 301, "not SLAVE")
                for p in self._targets(service_ids)}

    def set_properties(self, kind, cid, system=None, properties=None, **_):
        self.calls.append(("set_properties", system))
        self._check("set_properties")
        self.peers = system["sys.peers"].split(",")

    def get_properties(self, kind, cid, **_):
        return {"system": {"sys.peers": ",".join(self.peers)}}

    def actions(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeDirectory:
    def __init__(self, admin: FakeAdmin, seq: int = 1, known=(CID,)):
        self.admin = admin
        self.seq = seq
        self.known = set(known)
        self.forced: list[dict] = []

    def list(self, cid=None, **_):
        if cid not in self.known:
            raise exc.NotFound(message="Reference not found")
        return {"srv": [{"seq": self.seq, "type": "meta2", "host": h,
                         "args": ""} for h in self.admin.replicas],
                "account": "acct", "name": "box"}

    def force(self, cid=None, service_type=None, services=None,
              replace=False, **_):
        assert replace and service_type == "meta2"
        self.forced.append(services)
        self.admin.replicas = services["host"].split(",")
        self.admin.calls.append(("force",))


class FakeConscience:
    def __init__(self, services=(A, B, C, D)):
        self.services = list(services)
        self.polled: list[tuple] = []

    def all_services(self, kind):
        return [{"addr": s, "id": s} for s in self.services]

    def poll(self, pool, known=(), avoid=()):
        self.polled.append((pool, sorted(known), sorted(avoid)))
        taken = {k.rsplit("|", 1)[-1] for k in list(known) + list(avoid)}
        free = [s for s in self.services if s not in taken]
        return [{"addr": free[0], "id": f"OPENIO|meta2|{free[0]}"}]


class FakeRdir:
    def __init__(self):
        self.pushed: list[tuple] = []
        self.deleted: list[tuple] = []

    def meta2_index_delete(self, volume, container_path=None,
                           container_id=None):
        self.deleted.append((volume, container_path, container_id))

    def meta2_index_push(self, volume, path, cid, mtime):
        self.pushed.append((volume, path, cid))


def mover(admin: FakeAdmin, **kwargs):
    directory = kwargs.pop("directory", None) or FakeDirectory(admin)
    rdir = FakeRdir()
    moving = Meta2Mover(admin, directory, FakeConscience(), rdir,
                        namespace="OPENIO", sleep=lambda _s: None,
                        election_timeout=0.0, **kwargs)
    return moving, directory, rdir


# -- container move -----------------------------------------------------------
def test_move_a_slave_copies_before_and_after_the_switch_then_retires_src():
    admin = FakeAdmin([A, B, C], master=A)
    moving, directory, rdir = mover(admin)
    res = moving.move(CID, B)
    assert res.error is None, res.error
    assert (res.base, res.src, res.dst) == (f"{CID}.1", B, D)
    # dst copies from the master while not a replica, then again from the
    # master of the new set; meta1 links the new set after the switch.
    actions = admin.actions()
    assert actions.index("copy") < actions.index("set_properties") \
        < actions.index("force") < actions.index("remove")
    assert [c for c in admin.calls if c[0] == "copy"] == [
        ("copy", D, A), ("copy", D, A)]
    assert admin.peers == [A, C, D]
    assert directory.forced == [{"seq": 1, "type": "meta2", "args": "",
                                 "host": f"{A},{C},{D}"}]
    assert ("remove", (B,)) in admin.calls
    assert admin.holders == {A, C, D}
    assert rdir.deleted == [(B, "OPENIO/acct/box", CID)]
    assert rdir.pushed == [(D, "OPENIO/acct/box", CID)]


def test_move_of_the_master_hands_its_mastership_over_first():
    admin = FakeAdmin([A, B, C], master=A)
    moving, _, _ = mover(admin)
    res = moving.move(CID, A, D)
    assert res.error is None, res.error
    # A leaves before anything is copied; the new master is the source.
    first_leave = admin.calls.index(("leave", (A,)))
    assert first_leave < admin.actions().index("copy")
    assert [c for c in admin.calls if c[0] == "copy"][0] == ("copy", D, B)
    assert admin.holders == {B, C, D}


def test_a_dead_source_is_evacuated_with_a_warning_about_its_file():
    admin = FakeAdmin([A, B, C], master=A)
    admin.down = {B}
    moving, directory, _ = mover(admin)
    res = moving.move(CID, B, D)
    assert res.error is None, res.error
    assert "unreachable" in res.warnings[0]
    assert directory.forced[0]["host"] == f"{A},{C},{D}"


def test_bad_input_is_refused_before_anything_changes():
    admin = FakeAdmin([A, B, C])
    moving, _, _ = mover(admin)
    unknown = moving.move(CID, "1.2.3.4:5")
    assert "does not hold" in unknown.error
    assert "not a known meta2" in unknown.error
    assert "does not hold" in moving.move(CID, D).error
    assert "already a replica" in moving.move(CID, A, B).error
    assert "not a known meta2" in moving.move(CID, A, "9.9.9.9:1").error
    assert "No such container" in moving.move("CD" * 32, A).error
    assert "Invalid container ID" in moving.move("xyz", A).error
    assert not [a for a in admin.actions() if a not in ("has", "status")]


def test_a_move_that_would_leave_no_majority_is_refused():
    # Once A is gone, D's copy and B's would make 2 of 3, C's missing.
    fine = FakeAdmin([A, B, C], holders=[A, B], master=A)
    assert mover(fine)[0].move(CID, A, D).error is None
    admin = FakeAdmin([A, B, C], holders=[A], master=A)
    moving, _, _ = mover(admin)
    res = moving.move(CID, A, D)
    assert "rebuild it first" in res.error
    assert "copy" not in admin.actions()


def test_a_failed_copy_leaves_the_base_as_it_was():
    admin = FakeAdmin([A, B, C], master=A)
    admin.fail["copy"] = exc.ServiceBusy(message="busy")
    moving, directory, _ = mover(admin)
    res = moving.move(CID, B, D)
    assert "Cannot copy" in res.error
    assert admin.peers == [A, B, C] and not directory.forced
    assert "set_properties" not in admin.actions()


def test_a_failure_after_the_switch_sets_the_old_replicas_back():
    admin = FakeAdmin([A, B, C], master=A)
    moving, directory, _ = mover(admin)

    def broken_force(**_):
        raise exc.ServiceBusy(message="meta1 busy")
    directory.force = broken_force
    res = moving.move(CID, B, D)
    assert "meta1 did not link" in res.error
    assert "set back" in res.error
    assert admin.peers == [A, B, C]
    assert ("remove", (D,)) in admin.calls
    assert D not in admin.holders


def test_the_destination_comes_from_the_load_balancer():
    admin = FakeAdmin([A, B, C])
    conscience = FakeConscience()
    moving = Meta2Mover(admin, FakeDirectory(admin), conscience, None,
                        namespace="OPENIO", sleep=lambda _s: None,
                        election_timeout=0.0)
    assert moving.move(CID, C).dst == D
    assert conscience.polled == [
        ("meta2", [f"OPENIO|meta2|{A}", f"OPENIO|meta2|{B}"],
         [f"OPENIO|meta2|{C}"])]


# -- rebuilds -----------------------------------------------------------------
def test_rebuild_copies_to_each_replica_lacking_the_base_from_the_master():
    admin = FakeAdmin([A, B, C], holders=[A, C], master=C)
    assert rebuild_base(admin, "meta2", CID) == []
    assert [c for c in admin.calls if c[0] == "copy"] == [("copy", B, C)]
    nobody = FakeAdmin([A, B, C], holders=[])
    assert "no replica holds" in rebuild_base(nobody, "meta2", CID)[0]
    assert rebuild_base(nobody, "meta1", "AB00", missing_ok=True) == []
    assert "copy" not in nobody.actions()


def test_meta2_rebuilder_reads_rdir_and_checks_the_sync():
    admin = FakeAdmin([A, B, C], holders=[A, C], master=A)

    class Rdir:
        def meta2_index_fetch_all(self, volume, limit=None):
            assert (volume, limit) == (B, 100)
            yield {"container_id": CID, "container_url": "OPENIO/a/b"}
    rebuilder = Meta2Rebuilder(admin, Rdir(), B, "OPENIO")
    assert list(rebuilder.items()) == [CID]
    assert rebuilder.rebuild(CID) == []
    assert B in admin.holders and "sync" in admin.actions()
    assert rebuilder.reference(CID) == f"OPENIO|{CID}"


def test_meta1_rebuilder_walks_every_base_and_retries_busy_ones():
    class Meta0:
        def list(self):
            return {f"{i:04X}": [A, B, C] for i in range(0, 65536, 97)}
    admin = FakeAdmin([A, B, C], holders=[A, B])
    rebuilder = Meta1Rebuilder(admin, Meta0(), digits=2,
                               sleep=lambda _s: None)
    bases = rebuilder.items()
    assert bases[0] == "0000" and all(b.endswith("00") for b in bases)
    assert len(bases) == len(set(bases))
    assert base_name("8D3A", 2) == "8D00" and base_name("8D3A", 0) == "0000"
    assert rebuilder.rebuild("AB00") == []
    assert C in admin.holders
    busy = FakeAdmin([A, B, C])
    busy.fail["has"] = exc.ServiceBusy(message="busy")
    errors = Meta1Rebuilder(busy, Meta0(), 2, attempts=3,
                            sleep=lambda _s: None).rebuild("AB00")
    assert busy.actions() == ["has"] * 3 and "ServiceBusy" in errors[0]
    assert Meta1Rebuilder.cid("AB00") == "AB00" + "0" * 60


def test_runner_paces_counts_and_reports():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
    pacer = Pacer(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.25, 0.25]
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    logger = logging.getLogger("test.runner")
    logger.addHandler(Capture())
    logger.setLevel(logging.INFO)
    runner = Runner(lambda i: [] if i % 2 else [f"bad {i}"], what="things",
                    concurrency=2, items_per_second=0, logger=logger)
    done = dict(runner.run(range(5)))
    assert done == {0: ["bad 0"], 1: [], 2: ["bad 2"], 3: [], 4: ["bad 4"]}
    assert (runner.total, runner.errors, runner.success) == (5, 3, False)
    assert records[0].startswith("START things=0")
    assert records[-1].startswith("DONE ") and "total_things=5" in records[-1]
    crashing = Runner(lambda _i: 1 / 0, items_per_second=0)
    assert "ZeroDivisionError" in dict(crashing.run([1]))[1][0]


def test_master_of_reads_status_answers():
    assert master_of({A: entry(303, B), B: entry(200)}) == B
    assert master_of({A: entry(303, C), B: entry(303, C)}) == C
    assert master_of({A: entry(500, "Election failed")}) is None


# -- meta1 base moves -----------------------------------------------------------
def meta1(n: int) -> dict:
    return {"addr": f"10.0.0.{n}:6000", "score": 50,
            "tags": {"tag.loc": f"rack.host{n}.vol"}}


class FakeMeta0:
    def __init__(self, fail: list[Exception] | None = None):
        self.forced: list[dict] = []
        self.fail = list(fail or [])

    def force(self, mapping, **_):
        if self.fail:
            raise self.fail.pop(0)
        self.forced.append(mapping)


def decommissioned() -> tuple[PrefixMapping, list[BaseMove]]:
    mapping = PrefixMapping([meta1(i) for i in range(1, 5)], replicas=3,
                            digits=1)
    mapping.load({f"{i:04X}": [A, B, C] for i in range(65536)})
    before = {b: list(a) for b, a in mapping.bases.items()}
    moved, _ = mapping.decommission(B, ["A", "B"])
    return mapping, base_moves(before, mapping, moved)


def test_base_moves_name_added_and_dropped_replicas():
    _, moves = decommissioned()
    assert [m.base for m in moves] == ["A", "B"]
    assert (moves[0].name, moves[0].added, moves[0].dropped) == \
        ("A000", [D], [B])


def test_move_applier_copies_forces_the_map_then_drops_old_replicas():
    mapping, moves = decommissioned()
    admin = FakeAdmin([A, B, C], master=A)
    meta0 = FakeMeta0([exc.ServiceBusy(message="busy")])
    applier = MoveApplier(admin, meta0, mapping, sleep=lambda _s: None,
                          election_timeout=0.0)
    admin.peers = [A, C, D]     # what status shows once the map changed
    done, errors = applier.apply(moves)
    assert (done, errors) == (["A", "B"], {})
    # The map of the moved bases only, forced once meta0 answered.
    assert len(meta0.forced) == 1
    assert set(meta0.forced[0]) == {f"{b}{i:03X}" for b in "AB"
                                    for i in range(4096)}
    assert sorted(meta0.forced[0]["A123"]) == [A, C, D]
    actions = admin.actions()
    # The dropped replica goes once the new ones run their election.
    assert actions.index("copy") < actions.index("debug") \
        < actions.index("leave") < actions.index("remove")
    assert ("leave", (B,)) in admin.calls
    assert ("remove", (B,)) in admin.calls and B not in admin.holders


def test_move_applier_keeps_the_old_replicas_of_a_base_it_cannot_copy():
    mapping, moves = decommissioned()
    admin = FakeAdmin([A, B, C], master=A)
    admin.fail["copy"] = exc.ServiceBusy(message="busy")
    meta0 = FakeMeta0()
    done, errors = MoveApplier(admin, meta0, mapping, sleep=lambda _s: None,
                               election_timeout=0.0).apply(moves)
    assert done == [] and set(errors) == {"A", "B"}
    assert "cannot copy" in errors["A"]
    assert meta0.forced == [] and "leave" not in admin.actions()


def test_move_applier_gives_up_on_meta0_errors_that_are_not_transient():
    mapping, moves = decommissioned()
    admin = FakeAdmin([A, B, C], master=A)
    meta0 = FakeMeta0([exc.BadRequest(message="bad map")])
    done, errors = MoveApplier(admin, meta0, mapping, sleep=lambda _s: None,
                               election_timeout=0.0).apply(moves)
    assert done == [] and errors["A"].startswith("meta0:")
    # The copies made for nothing are removed.
    assert ("remove", (D,)) in admin.calls


@pytest.mark.parametrize("holders", [[], [A, B, C]])
def test_move_applier_copies_only_bases_that_exist(holders):
    mapping, moves = decommissioned()
    admin = FakeAdmin([A, B, C], holders=holders, master=A)
    admin.peers = [A, C, D]
    done, _ = MoveApplier(admin, FakeMeta0(), mapping, sleep=lambda _s: None,
                          election_timeout=0.0).apply(moves[:1])
    assert done == ["A"]
    assert ("copy" in admin.actions()) == bool(holders)
