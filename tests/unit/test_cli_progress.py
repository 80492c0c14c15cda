"""The live count of long admin work (checks, repairs)."""

from __future__ import annotations

import io

from oio.cli.progress import Progress, counted


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_item_count_line():
    now = [0.0]
    progress = Progress(None, label="checked", stream=FakeTty(),
                        clock=lambda: now[0], unit="items")
    now[0] = 2.0
    progress.update(10)
    progress.errors = 3
    assert progress.line() == "checked 10 items 3 in error 5.0 items/s"


def test_counted_rows_on_a_terminal_and_not_in_a_pipe(monkeypatch):
    rows = [("a", "OK"), ("b", "error"), ("c", "OK")]
    tty = FakeTty()
    monkeypatch.setattr("sys.stderr", tty)
    assert list(counted(rows, "repaired", lambda r: r[1] != "OK")) == rows
    drawn = tty.getvalue()
    assert "repaired 1 items" in drawn and drawn.endswith("\r\x1b[K")

    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    assert list(counted(rows, "repaired", lambda r: r[1] != "OK")) == rows
    assert pipe.getvalue() == ""
