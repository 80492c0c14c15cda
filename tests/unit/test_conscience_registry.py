"""Registration, first-registration locks, scores and expiry (conscience.md §3)."""

import pytest

from oio.conscience.policies import BUILTIN_TYPES, NamespaceInfo, ServiceType
from oio.conscience.registry import Registry, RegistryError


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


STATS = {"stat.cpu": 100, "stat.io": 100, "stat.space": 100, "tag.up": True}


@pytest.fixture
def reg():
    types = dict(BUILTIN_TYPES)
    types["rawx"] = ServiceType("rawx", "(num stat.cpu)", score_timeout=10)
    types["meta1"] = ServiceType("meta1", "(num stat.cpu)",
                                 lock_at_first_register=False)
    clock = Clock()
    registry = Registry(NamespaceInfo("OPENIO"), types, clock=clock)
    registry.clock_ref = clock
    return registry


def desc(kind="rawx", port=6000, first=False, **tags):
    out = {"type": kind, "addr": f"127.0.0.1:{port}", "tags": dict(STATS, **tags)}
    if first:
        out["tags"]["tag.1"] = True
    return out


def score(reg, kind="rawx"):
    return reg.list(kind)[0]["score"]


def test_first_registration_locks_at_zero_then_unlock_climbs(reg):
    reg.register(desc(first=True))
    assert score(reg) == 0
    assert reg.list("rawx")[0]["tags"]["tag.lock"] is True
    reg.register(desc(first=True))     # still locked
    assert score(reg) == 0
    reg.unlock({"type": "rawx", "addr": "127.0.0.1:6000"})
    assert score(reg) == 5             # bounded variation from 0
    reg.register(desc())
    assert score(reg) == 10


def test_unlocked_types_score_at_once_and_down_is_zero(reg):
    reg.register(desc("meta1", first=True))
    assert score(reg, "meta1") == 100
    reg.register(desc("meta1", **{"tag.up": False}))
    assert score(reg, "meta1") == 0


def test_lock_clamps_and_unknown_unlock_creates_nothing(reg):
    reg.lock({"type": "rawx", "addr": "127.0.0.1:6000", "score": 500})
    assert score(reg) == 100
    reg.unlock({"type": "rawx", "addr": "127.0.0.1:7000"})
    assert len(reg.list("rawx")) == 1


def test_expiry_zeroes_silent_services(reg):
    reg.register(desc("rawx"))
    assert score(reg) == 100
    reg.clock_ref.now += 5
    assert reg.expire() == []
    reg.clock_ref.now += 6
    assert [s.addr for s in reg.expire()] == ["127.0.0.1:6000"]
    assert score(reg) == 0
    assert reg.list("rawx")[0]["tags"]["tag.up"] is False


def test_listing_hides_stats_unless_full(reg):
    reg.register(desc("rawx"))
    assert "stat.cpu" not in reg.list("rawx")[0]["tags"]
    assert reg.list("rawx", full=True)[0]["tags"]["stat.cpu"] == 100


def test_validation(reg):
    for bad, status in ((desc("nope"), 453), (dict(desc(), addr="x"), 400),
                        ("text", 400)):
        with pytest.raises(RegistryError) as err:
            reg.register(bad)
        assert err.value.status == status
    reg.register(dict(desc(), ns="OTHER"))    # other namespace: ignored
    assert reg.list("rawx") == []


def test_deregister_flush_and_lb_view(reg):
    reg.register([desc(port=6000), desc(port=6001)])
    assert len(reg.lb.poll("rawx")) == 1
    reg.deregister({"type": "rawx", "addr": "127.0.0.1:6000"})
    assert [s["addr"] for s in reg.list("rawx")] == ["127.0.0.1:6001"]
    reg.flush("rawx")
    assert reg.list("rawx") == []


def test_score_variation_is_bounded_upwards_only(reg):
    reg.register(desc("meta1", **{"stat.cpu": 40}))
    assert score(reg, "meta1") == 40          # first computation: no bound
    reg.register(desc("meta1", **{"stat.cpu": 90}))
    assert score(reg, "meta1") == 45          # +5 at most
    reg.register(desc("meta1", **{"stat.cpu": 10}))
    assert score(reg, "meta1") == 10          # drops at once


def test_missing_tag_leaves_the_score_and_nan_is_zero(reg):
    reg.register(desc("meta1", **{"stat.cpu": 30}))
    reg.services["meta1"]["127.0.0.1:6000"].tags.pop("stat.cpu")
    reg.register({"type": "meta1", "addr": "127.0.0.1:6000",
                  "tags": {"tag.up": True}})
    assert score(reg, "meta1") == 30


def test_only_a_received_down_forces_zero(reg):
    reg.register(desc("meta1"))
    reg.register(desc("meta1", **{"tag.up": False}))
    assert score(reg, "meta1") == 0
    # a register without tag.up recomputes: the stored false is no order
    reg.register({"type": "meta1", "addr": "127.0.0.1:6000",
                  "tags": {"stat.cpu": 100}})
    assert score(reg, "meta1") == 5


def test_locked_scores_do_not_move_nor_expire(reg):
    reg.register(desc())
    reg.lock({"type": "rawx", "addr": "127.0.0.1:6000", "score": 42})
    reg.register(desc(**{"stat.cpu": 1}))
    assert score(reg) == 42
    reg.clock_ref.now += 1000
    assert reg.expire() == []
    assert score(reg) == 42
    reg.unlock({"type": "rawx", "addr": "127.0.0.1:6000",
                "tags": {"tag.lock": True, "stat.cpu": 100}})
    assert reg.list("rawx")[0]["tags"]["tag.lock"] is False
    assert score(reg) == 47


def test_tag_values_are_cleaned(reg):
    reg.register(desc("meta1", **{"stat.x": 1.123456789, "tag.obj": {"a": 1},
                                  "other": 1, "stat.nan": float("nan")}))
    tags = reg.list("meta1", full=True)[0]["tags"]
    assert tags["stat.x"] == 1.123457 and tags["tag.obj"] is False
    assert "other" not in tags and tags["stat.nan"] is False


def test_missing_type_and_lookups(reg):
    with pytest.raises(RegistryError) as err:
        reg.register({"addr": "127.0.0.1:6000"})
    assert (err.value.http_status, err.value.status) == (400, 400)
    reg.register(desc(**{"tag.service_id": "OPENIO-rawx-1"}))
    assert reg.resolve("rawx", "OPENIO-rawx-1") == "127.0.0.1:6000"
    assert reg.score("rawx", "127.0.0.1:6000")["score"] == 100
    with pytest.raises(RegistryError) as err:
        reg.resolve("rawx", "nope")
    assert (err.value.http_status, err.value.status) == (503, 503)
    with pytest.raises(RegistryError) as err:
        reg.score("rawx", "nope")
    assert (err.value.http_status, err.value.status) == (404, 404)
    assert reg.dump()["services"]["rawx"][0]["tags"]["stat.cpu"] == 100
