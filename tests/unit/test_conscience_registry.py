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
