"""Storage policies, data securities and pools (naming.md §7)."""

import pytest

from oio.conscience.policies import (
    NamespaceInfo,
    PolicyNotSupported,
    load_policies,
    load_services,
)
from oio.sandbox.bootstrap import POLICIES, POOLS, SERVICE_TYPES


@pytest.fixture
def ns(tmp_path):
    (tmp_path / "policies.conf").write_text(POLICIES)
    (tmp_path / "service-pools.conf").write_text(POOLS)
    (tmp_path / "service-types.conf").write_text(SERVICE_TYPES)
    info = NamespaceInfo("OPENIO", 1024 * 1024,
                         options={"storage_policy": "THREECOPIES"})
    load_policies(info, str(tmp_path / "policies.conf"))
    types = load_services(info, str(tmp_path / "service-*.conf"))
    return info, types


def test_chunk_methods_of_sandbox_policies(ns):
    info, _ = ns
    expected = {
        "SINGLE": ("plain/nb_copy=1", 1),
        "TWOCOPIES": ("plain/nb_copy=2", 2),
        "THREECOPIES": ("plain/nb_copy=3", 3),
        "EC": ("ec/algo=liberasurecode_rs_vand,k=6,m=3", 9),
        "EC21": ("ec/algo=liberasurecode_rs_vand,k=2,m=1", 3),
    }
    for name, (method, chunks) in expected.items():
        policy = info.get_policy(name)
        assert policy.chunk_method() == method
        assert policy.nb_chunks() == chunks


def test_default_and_unknown_policy(ns):
    info, _ = ns
    assert info.get_policy(None).name == "THREECOPIES"
    assert info.get_policy("NONE").name == "THREECOPIES"
    with pytest.raises(PolicyNotSupported):
        info.get_policy("NOPE")


def test_pools_declared_and_automatic(ns):
    info, _ = ns
    rawx3 = info.pool_for_policy(info.get_policy("THREECOPIES"))
    assert rawx3.targets == [(1, ["rawx-even", "rawx"]), (1, ["rawx-odd", "rawx"]),
                             (1, ["rawx"])]
    assert rawx3.max_dist == 2
    ec = info.pool_for_policy(info.get_policy("EC"))
    assert ec.targets == [(9, ["rawx"])]
    assert ec.min_dist == 1
    # ECX21 asks min_dist=0, out of range: ignored, the default 1 stays.
    assert info.pool_for_policy(info.get_policy("ECX21")).min_dist == 1


def test_service_types(ns):
    _, types = ns
    assert types["rawx"].lock_at_first_register is True
    assert types["meta1"].lock_at_first_register is False
    assert types["meta0"].score_variation_bound == 20
    assert types["rawx"].score_timeout == 120
    # OpenIO's test suites register and flush fake services of this type.
    assert types["echo"].score_timeout == 30


def test_info_round_trip(ns):
    info, _ = ns
    again = NamespaceInfo.from_dict(info.to_dict())
    assert again.to_dict() == info.to_dict()
    assert again.pools["rawx3"].max_dist == 2
    assert again.get_policy("EC21").chunk_method() == \
        "ec/algo=liberasurecode_rs_vand,k=2,m=1"
    assert info.to_dict()["storage_policy"]["THREECOPIES"] == "rawx3:DUPONETHREE"
