"""Metachunk planning, ranges and upload sources on the client side."""

import pytest

from oio.api.io import Source, group_metachunks, plan_reads, resolve_ranges
from oio.common import exceptions as exc


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


@pytest.mark.parametrize("data", [
    b"0123456789", "0123456789", bytearray(b"0123456789"),
    [b"01", b"", "234", b"56789"], (b for b in [b"0123", b"456789"])])
def test_source_reads_every_kind_into_buffers(data):
    src = Source(data=data)
    buf = bytearray(4)
    out = []
    while True:
        n = src.readinto(memoryview(buf))
        if not n:
            break
        out.append(bytes(buf[:n]))
        if len(out) == 1:
            assert src.at_eof() is False
    assert b"".join(out) == b"0123456789"
    assert src.at_eof() is True


@pytest.mark.parametrize("data", [
    b"0123456789", bytearray(b"0123456789"), memoryview(b"0123456789"),
    memoryview(bytearray(b"0123456789")).cast("B", (2, 5))])
def test_in_memory_sources_lend_their_bytes(data):
    src = Source(data=data)
    assert src.remaining() == 10 and not src.at_eof()
    first = src.borrow(4)
    assert bytes(first) == b"0123" and src.remaining() == 6
    buf = bytearray(3)
    assert src.readinto(memoryview(buf)) == 3 and bytes(buf) == b"456"
    assert bytes(src.borrow(100)) == b"789"
    assert src.at_eof() and src.remaining() == 0
    assert src.borrow(4).nbytes == 0
    if isinstance(data, bytearray):
        data[0:1] = b"X"        # a view, not a copy
        assert bytes(first[:1]) == b"X"
    assert Source(data=iter([b"a"])).borrow(4) is None


def test_source_file_path_and_remaining(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    src = Source(str(path))
    buf = bytearray(3)
    assert src.remaining() == 10
    assert src.readinto(memoryview(buf)) == 3
    assert src.at_eof() is False and src.remaining() == 7
    src.close()
    assert Source(data=iter([b"a"])).remaining() is None
    with pytest.raises(exc.MissingData):
        Source()
