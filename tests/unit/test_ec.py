"""EC helpers: segment geometry, and the shortcuts the reader takes over
pyeclib (systematic data fragments, XOR first parity), checked against
pyeclib's own output for the algorithms they are used with."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pyeclib")

from oio.api.ec import (  # noqa: E402
    XOR_FIRST_PARITY,
    fragment_index,
    systematic_join,
    xor_parity_matches,
)
from oio.common import exceptions as exc  # noqa: E402
from oio.common.storage_method import STORAGE_METHODS  # noqa: E402

MiB = 1024 * 1024


@pytest.mark.parametrize("algo", sorted(XOR_FIRST_PARITY))
@pytest.mark.parametrize("k,m", [(6, 3), (2, 1), (4, 2)])
@pytest.mark.parametrize("length", [1, 1000, MiB - 13, MiB])
def test_shortcuts_agree_with_pyeclib(algo, k, m, length):
    method = STORAGE_METHODS.load(f"ec/algo={algo},k={k},m={m}")
    data = os.urandom(length)
    frags = dict(enumerate(method.driver.encode(data)))
    assert len(frags[0]) == method.fragment_size(length)
    assert systematic_join(frags, k, length) == data
    assert xor_parity_matches(frags, k)
    corrupted = dict(frags)
    corrupted[1] = frags[1][:-1] + bytes([frags[1][-1] ^ 1])
    assert not xor_parity_matches(corrupted, k)


def test_shortcuts_take_views_of_a_larger_read():
    """The reader hands out fragments as views into a batch of several
    segments' fragments received at once."""
    method = STORAGE_METHODS.load("ec/algo=isa_l_rs_vand,k=6,m=3")
    data = os.urandom(MiB)
    frags = method.driver.encode(data)
    views = {}
    for index, frag in enumerate(frags):
        batch = memoryview(b"before" + frag + b"after")
        views[index] = batch[6:6 + len(frag)]
    assert systematic_join(views, 6, MiB) == data
    assert xor_parity_matches(views, 6)


def test_systematic_join_refuses_odd_headers():
    method = STORAGE_METHODS.load("ec/algo=isa_l_rs_vand,k=2,m=1")
    frags = dict(enumerate(method.driver.encode(b"x" * 1000)))
    assert systematic_join({0: frags[0]}, 2, 1000) is None        # missing
    assert systematic_join({0: frags[1], 1: frags[0]}, 2, 1000) is None
    assert systematic_join(frags, 2, 999) is None                  # length
    bad_magic = frags[0][:59] + b"\0\0\0\0" + frags[0][63:]
    assert systematic_join({0: bad_magic, 1: frags[1]}, 2, 1000) is None


def test_geometry():
    method = STORAGE_METHODS.load("ec/algo=isa_l_rs_vand,k=6,m=3")
    assert method.metachunk_size(MiB) == 6 * MiB
    assert method.metachunk_size(10 * MiB) == 60 * MiB
    assert method.metachunk_size(1000) == 6000        # below one segment
    assert method.metachunk_size(1000 * 1000) == 5 * MiB   # aligned down
    assert method.segments(0) == []
    assert method.segments(3 * MiB + 5) == [MiB, MiB, MiB, 5]
    assert method.fragment_size(0) == 0
    assert method.quorum == 7 and method.min_chunks_to_read == 6
    assert fragment_index({"pos": "3.7"}) == 7
    with pytest.raises(exc.OioException):
        fragment_index({"pos": "3"})


def test_fragment_gets_are_opened_side_by_side():
    """open_at_once sends the GETs together (the slow ones overlap), and a
    failed one is raised by that source's first read, where the reader
    replaces it."""
    import threading

    from oio.api.ec import _FragmentError, _FragmentSource, open_at_once

    started, release = [], threading.Event()

    class Probe(_FragmentSource):
        def __init__(self, index, fails=False):
            self.index, self.fails, self.open_error = index, fails, None
            self.resp, self.offset, self.spare = None, 0, memoryview(b"")

        def open(self, offset, last):
            started.append(self.index)
            if len(started) == 3:
                release.set()
            assert release.wait(5), "the GETs were sent one at a time"
            if self.fails:
                raise _FragmentError("refused", network=True)
            self.resp, self.offset = object(), offset

    sources = [Probe(0), Probe(1, fails=True), Probe(2)]
    open_at_once(sources, 4096, 8191)
    assert sorted(started) == [0, 1, 2]
    assert sources[0].resp is not None and sources[0].offset == 4096
    with pytest.raises(_FragmentError, match="refused"):
        sources[1].read(4096, 10, 8191)
    assert sources[1].open_error is None
