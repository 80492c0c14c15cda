"""The meta0 map placement behind `openio directory` (no service needed)."""

from __future__ import annotations

import pytest

from oio.directory.prefix_mapping import NB_PREFIXES, PrefixMapping, distance


def meta1(n: int, score: int = 50, loc: str | None = None) -> dict:
    return {"addr": f"127.0.0.1:{6000 + n}", "score": score,
            "tags": {"tag.loc": loc or f"rack.host{n}.vol"}}


def test_distance_counts_levels_from_the_first_difference():
    assert distance("a.b.c", "a.b.c") == 0
    assert distance("a.b.c", "a.b.d") == 1
    assert distance("a.b.c", "x.b.c") == 3
    assert distance("a.b.c.d.e", "a.b.c.d.f") == 1   # 4 levels at most


def test_bootstrap_spreads_bases_evenly_with_distinct_replicas():
    mapping = PrefixMapping([meta1(i) for i in range(4)], replicas=3,
                            digits=2)
    mapping.bootstrap()
    assert mapping.check() == ([], [])
    assert set(mapping.counts().values()) == {192}      # 256 * 3 / 4
    full = mapping.to_mapping()
    assert len(full) == NB_PREFIXES
    assert full["AB00"] == full["ABFF"] and len(set(full["AB00"])) == 3


def test_bootstrap_refuses_too_few_services_or_locations():
    with pytest.raises(ValueError, match="only 2"):
        PrefixMapping([meta1(0), meta1(1)], replicas=3, digits=1).bootstrap()
    same_place = [meta1(i, loc="rack.host.vol") for i in range(3)]
    with pytest.raises(ValueError, match="distance"):
        PrefixMapping(same_place, replicas=3, digits=1).bootstrap()
    down = [meta1(0), meta1(1), meta1(2, score=0)]
    with pytest.raises(ValueError, match="score > 0"):
        PrefixMapping(down, replicas=3, digits=1).bootstrap()


def test_load_and_check_report_missing_short_and_inconsistent_bases():
    mapping = PrefixMapping([meta1(0)], replicas=1, digits=2)
    full = {f"{i:04X}": [meta1(0)["addr"]] for i in range(NB_PREFIXES)}
    mapping.load(full)
    assert mapping.check() == ([], [])
    assert mapping.to_mapping() == full
    full["AB01"] = [meta1(1)["addr"]]
    del full["0000"]
    mapping.load(full)
    errors = mapping.check()[0]
    assert any("unassigned" in e for e in errors)
    assert any("base AB" in e for e in errors)
    mapping.load({f"{i:04X}": [meta1(5)["addr"]] for i in range(NB_PREFIXES)})
    assert any("unknown to the conscience" in w for w in mapping.check()[1])
    strict = PrefixMapping([meta1(0)], replicas=3, digits=2)
    strict.load({f"{i:04X}": [meta1(0)["addr"]] for i in range(NB_PREFIXES)})
    assert strict.check()[0] == [
        "256 bases have fewer than 3 services (first: 00: ['127.0.0.1:6000'])"]
    with pytest.raises(ValueError):
        mapping.load({"00": ["x"]})


def test_rebalance_moves_bases_to_a_new_service():
    services = [meta1(i) for i in range(3)]
    mapping = PrefixMapping(services, replicas=1, digits=1)
    mapping.bootstrap()
    assert mapping.rebalance() == {}
    grown = PrefixMapping(services + [meta1(3)], replicas=1, digits=1)
    grown.load(mapping.to_mapping())
    moved = grown.rebalance()
    assert moved and all(new == meta1(3)["addr"] for _, new in moved.values())
    assert max(grown.counts().values()) == 4            # ceil(16 / 4)
    assert grown.check() == ([], [])


def test_decommission_replaces_the_service_or_leaves_the_base_short():
    services = [meta1(i) for i in range(3)]
    mapping = PrefixMapping(services, replicas=2, digits=1)
    mapping.bootstrap()
    gone = meta1(0)["addr"]
    moved, skipped = mapping.decommission(gone)
    assert moved and skipped == []
    assert all(new and new != gone for _, new in moved.values())
    assert mapping.counts().get(gone, 0) == 0
    assert mapping.check() == ([], [])
    alone = PrefixMapping([meta1(0)], replicas=1, digits=1)
    alone.bootstrap()
    moved, _ = alone.decommission(gone, ["A"])
    assert moved == {"A": (gone, None)}
    assert alone.check()[0]
