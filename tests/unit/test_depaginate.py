"""depaginate: every item of a paginated listing (7.2's helper)."""

import pytest

from oio.common.exceptions import ServiceBusy
from oio.common.utils import depaginate

ITEMS = [f"o{i:02d}" for i in range(7)]


def _pages(size=3):
    calls = []

    def fetch(marker=None, prefix=""):
        calls.append(marker)
        start = 0 if marker is None else ITEMS.index(marker) + 1
        page = [i for i in ITEMS[start:start + size] if i.startswith(prefix)]
        return {"objects": [{"name": n} for n in page],
                "truncated": start + size < len(ITEMS),
                "next_marker": page[-1] if page else None}
    return fetch, calls


def test_plain_lists_until_an_empty_page():
    def fetch(marker=None):
        start = 0 if marker is None else ITEMS.index(marker) + 1
        return ITEMS[start:start + 3]
    assert list(depaginate(fetch)) == ITEMS


def test_accessors_and_arguments():
    fetch, calls = _pages()
    names = depaginate(fetch, listing_key=lambda p: p["objects"],
                       item_key=lambda o: o["name"],
                       marker_key=lambda p: p["next_marker"],
                       truncated_key=lambda p: p["truncated"], prefix="o")
    assert list(names) == ITEMS
    assert calls == [None, "o02", "o05"]


def test_busy_service_is_asked_again_then_the_error_goes_up():
    state = {"fails": 1}

    def fetch(marker=None):
        if state["fails"]:
            state["fails"] -= 1
            raise ServiceBusy("busy")
        return [] if marker else ["a"]
    assert list(depaginate(fetch, attempts=2)) == ["a"]
    state["fails"] = 2
    with pytest.raises(ServiceBusy):
        list(depaginate(fetch, attempts=2))
