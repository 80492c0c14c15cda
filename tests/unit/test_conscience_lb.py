"""Load balancing: slots, distances, avoid/known, weights (naming.md §8)."""

import random
from collections import Counter

import pytest

from oio.conscience.lb import LbError, LoadBalancer
from oio.conscience.location import distance, location_from_string, too_close
from oio.conscience.policies import NamespaceInfo, Pool, load_policies, load_services
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


def test_one_per_host_when_hosts_allow_it(ns):
    """3 hosts of 4 rawx: THREECOPIES takes one rawx on each host."""
    lb = LoadBalancer(ns, random.Random(3))
    lb.update_services("rawx", [
        rawx(n, loc=f"dc.host{n % 3}.vol{n}") for n in range(12)])
    for _ in range(50):
        sels = lb.poll_policy(ns.get_policy("THREECOPIES"))
        hosts = {s.service["tags"]["tag.loc"].split(".")[1] for s in sels}
        assert len(hosts) == 3
        assert {s.quality["final_dist"] for s in sels} == {2}


def test_distance_bypass_and_popularity_for_ec(ns):
    """9 fragments over 3 hosts of 4 rawx: 3 per host, never more."""
    lb = LoadBalancer(ns, random.Random(4))
    lb.update_services("rawx", [
        rawx(n, loc=f"dc.host{n % 3}.vol{n}") for n in range(12)])
    for _ in range(30):
        sels = lb.poll_policy(ns.get_policy("EC"))
        assert len({s.service["addr"] for s in sels}) == 9
        hosts = Counter(s.service["tags"]["tag.loc"].split(".")[1] for s in sels)
        assert set(hosts.values()) == {3}
        assert not any(s.flawed for s in sels)


def test_known_and_avoid_locations(ns):
    lb = LoadBalancer(ns, random.Random(5))
    lb.update_services("rawx", [rawx(n) for n in range(1, 5)])
    loc1 = location_from_string("rack.127-0-0-1.1")
    for _ in range(10):
        sels = lb.poll_pool(ns.pools["rawx2"], avoid_locations=[loc1],
                            known_locations=[location_from_string(
                                "rack.127-0-0-1.2")])
        assert [s.service["addr"] for s in sels] == ["127.0.0.1:6003"]


def test_nearby_mode_and_min_dist(ns):
    lb = LoadBalancer(ns, random.Random(6))
    lb.update_services("rawx", [
        rawx(n, loc=f"dc.host{n % 2}.vol{n}") for n in range(6)])
    for _ in range(20):
        sels = lb.poll_pool(Pool("near", [(3, ["rawx"])], nearby_mode=True))
        hosts = {s.service["tags"]["tag.loc"].split(".")[1] for s in sels}
        assert len(hosts) == 1          # all on one host
    far = Pool("far", [(3, ["rawx"])], min_dist=2)
    with pytest.raises(LbError) as err:    # only 2 hosts
        lb.poll_pool(far)
    assert err.value.status == 481


def test_any_slot_joker_and_fallback_known(ns):
    lb = LoadBalancer(ns, random.Random(7))
    lb.update_services("rawx", [rawx(n) for n in range(1, 4)])
    lb.update_services("rdir", [{"addr": "127.0.0.1:7000", "score": 10,
                                 "tags": {"tag.loc": "rack.x.1"}}])
    pool = Pool("rawx_rdir", [(1, ["__any_slot"]), (1, ["rdir"])])
    sels = lb.poll_pool(pool, known=["OPENIO|rawx|127.0.0.1:6001"])
    assert [s.service["addr"] for s in sels] == ["127.0.0.1:7000"]


def test_poll_speed(ns):
    """A THREECOPIES poll among 100 rawx stays far below a millisecond."""
    import time

    lb = LoadBalancer(ns, random.Random(8))
    lb.update_services("rawx", [
        rawx(n, score=1 + n % 100, loc=f"dc.host{n % 5}.vol{n}")
        for n in range(100)])
    policy = ns.get_policy("THREECOPIES")
    started = time.perf_counter()
    for _ in range(200):
        lb.poll_policy(policy)
    assert (time.perf_counter() - started) / 200 < 0.001


def test_spare_avoids_broken_and_known_locations(ns):
    from oio.common.http_server import HttpError
    from oio.proxy.prepare import parse_spare_body, spare, spare_reply

    lb = LoadBalancer(ns, random.Random(3))
    lb.update_services("rawx", [rawx(n) for n in range(1, 6)])
    policy = ns.get_policy("THREECOPIES")

    def chunk(n):
        return {"url": f"http://127.0.0.1:{6000 + n}/{'A' * 64}", "pos": "0",
                "size": 1, "hash": "00"}

    for _ in range(20):
        alloc = spare(lb, policy, [chunk(1), chunk(2)], [chunk(3)])
        assert len(alloc.chunks) == 1
        assert alloc.chunks[0]["id"].split("/")[2] in (
            "127.0.0.1:6004", "127.0.0.1:6005")
    assert len(spare(lb, policy, [], []).chunks) == 3
    reply = spare_reply(spare(lb, policy, [chunk(1)], []))
    assert len(reply["chunks"]) == 2 and reply["aliases"] == []
    assert {p["key"] for p in reply["properties"]} == {
        "__OIO_CHUNK__" + c["id"] for c in reply["chunks"]}
    with pytest.raises(HttpError) as err:
        spare(lb, policy, [chunk(1), chunk(2), chunk(3)], [])
    assert err.value.http_status == 400
    assert "too many locations already known" in str(err.value)
    for body in (None, {"notin": []}, {"notin": [], "broken": [{"url": 1}]},
                 {"notin": "x", "broken": []}):
        with pytest.raises(HttpError) as err:
            parse_spare_body(body)
        assert err.value.http_status == 400
    assert parse_spare_body({"notin": None, "broken": []}) == ([], [])
