"""Chunk methods, metachunk planning and ranges on the client side."""

import pytest

from oio.api.io import group_metachunks, plan_reads, resolve_ranges
from oio.common import exceptions as exc
from oio.common.storage_method import guess_storage_method, parse_chunk_method


def test_chunk_methods():
    plain = guess_storage_method("plain/nb_copy=3")
    assert (plain.ec, plain.nb_copy, plain.quorum) == (False, 3, 2)
    assert guess_storage_method("plain/nb_copy=2").quorum == 1
    ec = guess_storage_method("ec/algo=liberasurecode_rs_vand,k=6,m=3")
    assert (ec.ec, ec.ec_k, ec.ec_m, ec.quorum, ec.expected_chunks) == (
        True, 6, 3, 7, 9)
    assert parse_chunk_method("plain/ weak") == ("plain", {"weak": "1"})
    for bad in ("ec/k=6", "magic/x=1", "plain/nb_copy=x"):
        with pytest.raises(exc.InvalidStorageMethod):
            guess_storage_method(bad)


def chunks(sizes, copies=2):
    out = []
    for pos, size in enumerate(sizes):
        for n in range(copies):
            out.append({"url": f"http://h{n}/{pos}", "pos": str(pos),
                        "size": size, "score": 0 if n == 0 else 50})
    return out


def test_group_metachunks_orders_by_score_zero_last():
    groups = group_metachunks(chunks([10, 10, 3]))
    assert [(g["pos"], g["offset"], g["size"]) for g in groups] == [
        (0, 0, 10), (1, 10, 10), (2, 20, 3)]
    assert all(g["chunks"][-1]["score"] == 0 for g in groups)


@pytest.mark.parametrize("ranges, expected", [
    (None, [(0, 0, 9), (1, 0, 9), (2, 0, 2)]),
    ([(5, 14)], [(0, 5, 9), (1, 0, 4)]),
    ([(None, 4)], [(1, 9, 9), (2, 0, 2)]),       # suffix: last 4 bytes
    ([(21, None)], [(2, 1, 2)]),
    ([(0, 0), (22, 100)], [(0, 0, 0), (2, 2, 2)]),
])
def test_plan_reads(ranges, expected):
    plan = plan_reads(group_metachunks(chunks([10, 10, 3])), ranges)
    assert [(m["pos"], a, b) for m, a, b in plan] == expected


def test_unsatisfiable_and_invalid_ranges():
    with pytest.raises(exc.UnsatisfiableRange):
        resolve_ranges([(23, 30)], 23)
    with pytest.raises(exc.BadRequest):
        resolve_ranges([(5, 2)], 23)
