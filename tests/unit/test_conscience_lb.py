"""Load balancing: slots, distances, avoid/known, weights (naming.md §8)."""

import random
from collections import Counter

import pytest

from oio.conscience.lb import LbError, LoadBalancer
from oio.conscience.location import distance, location_from_string, too_close
from oio.conscience.policies import NamespaceInfo, load_policies, load_services
from oio.sandbox.bootstrap import POLICIES, POOLS


def rawx(n, score=50, loc=None):
    return {"addr": f"127.0.0.1:{6000 + n}", "score": score,
            "tags": {"tag.loc": loc or f"rack.127-0-0-1.{n}",
                     "tag.slots": "rawx,rawx-odd" if n % 2 else "rawx,rawx-even"}}


@pytest.fixture
def ns(tmp_path):
    (tmp_path / "p.conf").write_text(POLICIES)
    (tmp_path / "service-pools.conf").write_text(POOLS)
    info = NamespaceInfo("OPENIO", options={"storage_policy": "THREECOPIES"})
    load_policies(info, str(tmp_path / "p.conf"))
    load_services(info, str(tmp_path / "service-*.conf"))
    return info


def test_location_hash_and_distance():
    a = location_from_string("rack.127-0-0-1.1")
    b = location_from_string("rack.127-0-0-1.2")
    assert a >> 48 == 0 and a != b
    assert too_close(a, a, 1) and not too_close(a, b, 1)
    assert too_close(a, b, 2)
    assert distance(a, a) == 0 and distance(a, b) == 1
    assert location_from_string("0x10") == 16


def test_threecopies_spreads_over_slots(ns):
    lb = LoadBalancer(ns, random.Random(1))
    lb.update_services("rawx", [rawx(n) for n in range(1, 10)])
    for _ in range(50):
        sels = lb.poll_policy(ns.get_policy("THREECOPIES"))
        addrs = [s.service["addr"] for s in sels]
        assert len(set(addrs)) == 3
        ports = [int(a.rsplit(":", 1)[1]) for a in addrs]
        assert ports[0] % 2 == 0 and ports[1] % 2 == 1
        assert not any(s.flawed for s in sels)
        assert sels[0].quality["expected_dist"] == 2
        assert sels[-1].quality["final_dist"] == 1   # same rack: lowered


def test_zero_scores_never_chosen_and_weights(ns):
    lb = LoadBalancer(ns, random.Random(2))
    descs = [rawx(1, 0), rawx(2, 100), rawx(3, 1)]
    lb.update_services("rawx", descs)
    counts = Counter(lb.poll("rawx")[0].service["addr"] for _ in range(300))
    assert "127.0.0.1:6001" not in counts
    assert counts["127.0.0.1:6002"] > 5 * counts["127.0.0.1:6003"]


def test_not_satisfiable_and_same_location(ns):
    lb = LoadBalancer(ns)
    lb.update_services("rawx", [rawx(n, loc="same.place") for n in (1, 2, 3)])
    with pytest.raises(LbError) as err:
        lb.poll_policy(ns.get_policy("THREECOPIES"))
    assert err.value.status == 481


def test_fallback_slot_is_flawed(ns):
    lb = LoadBalancer(ns)
    lb.update_services("rawx", [rawx(n) for n in (2, 4, 6)])   # no odd one
    sels = lb.poll("rawx2")
    assert sorted(s.quality["final_slot"] for s in sels) == ["rawx", "rawx-even"]
    assert any(s.flawed for s in sels)


def test_avoid_and_known(ns):
    lb = LoadBalancer(ns)
    lb.update_services("rawx", [rawx(n) for n in range(1, 5)])
    for _ in range(20):
        sel = lb.poll("rawx", avoid=["OPENIO|rawx|127.0.0.1:6001",
                                     "127.0.0.1:6002", "127.0.0.1:6003"])
        assert sel[0].service["addr"] == "127.0.0.1:6004"
    sels = lb.poll_pool(ns.pools["rawx3"], known=["127.0.0.1:6002"])
    assert len(sels) == 2
    assert "127.0.0.1:6002" not in [s.service["addr"] for s in sels]
    with pytest.raises(LbError) as err:
        lb.poll("rawx", known=["127.0.0.1:6001", "127.0.0.1:6002"])
    assert err.value.status == 400


def test_unknown_type_and_choose(ns):
    lb = LoadBalancer(ns)
    lb.update_services("rawx", [rawx(n) for n in range(1, 5)])
    with pytest.raises(LbError) as err:
        lb.poll("nope")
    assert err.value.status == 453
    odd = lb.choose("rawx", 2, "odd")
    assert {int(s.service["addr"][-1]) % 2 for s in odd} == {1}
