"""Range header parsing of the rawx (rawx.md §7.2)."""

import pytest

from oio.blob.ranges import RangeNotSatisfiable, content_range, parse_range


@pytest.mark.parametrize("header,size,expected", [
    ("bytes=0-9", 100, (0, 10)),
    ("bytes=10-10", 100, (10, 1)),
    ("bytes=90-200", 100, (90, 10)),          # last clamped to size - 1
    ("bytes=5-9,20-30", 100, (5, 5)),         # first range only
    ("bytes=5-9x", 100, (5, 5)),              # trailing junk after a number
    ("bytes=50-", 100, (50, 50)),             # open-ended: to the end
    ("bytes=50-,60-70", 100, (50, 50)),
    (" bytes=1-2 ", 100, (1, 2)),
])
def test_ranges_served(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [
    (None, 100), ("", 100),
    ("bytes=-10", 100),     # suffix: the 7.2.0 client means "0..10": whole chunk
    ("bytes=9-1", 100),     # first > last
    ("bytes=a-b", 100), ("items=0-1", 100), ("bytes=-", 100),
    ("bytes=1-x", 100), ("bytes=0-9", 0),
    ("bytes=-1-5", 100),    # negative
])
def test_ranges_ignored(header, size):
    assert parse_range(header, size) is None


@pytest.mark.parametrize("header", ["bytes=100-200", "bytes=100-", "bytes=150-160"])
def test_range_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_content_range():
    assert content_range(0, 10, 100) == "bytes 0-9/100"
    assert content_range(99, 1, 100) == "bytes 99-99/100"
