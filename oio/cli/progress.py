"""A one-line progress bar on stderr: bytes of uploads and downloads, or
items of long admin work (checks, repairs).

It draws only when its stream is a terminal (so pipes, logs and tests see
nothing), at most `interval` seconds apart, and erases itself at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

MB = 1000 * 1000


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def _size_text(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000
    return f"{size:.1f}TB"


class Progress:
    """Bytes done of `total` (None when unknown), with %, MB/s and ETA; or,
    with a `unit` ("items"), a count, its rate and the errors seen."""

    def __init__(self, total: int | None, label: str = "",
                 stream: IO[str] | None = None, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic,
                 width: int = 30, unit: str | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.label = label
        self.unit = unit
        self.errors = 0
        self.interval = interval
        self.clock = clock
        self.width = width
        self.done = 0
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._start = clock()
        self._last_draw: float | None = None
        self._drawn = False

    def update(self, count: int) -> None:
        """`count` more bytes transferred."""
        self.done += count
        if not self.enabled:
            return
        now = self.clock()
        if self._last_draw is not None and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar (without the carriage return)."""
        now = self.clock() if now is None else now
        elapsed = max(now - self._start, 1e-6)
        rate = self.done / elapsed
        parts = [self.label] if self.label else []
        if self.unit:
            if self.total:
                parts.append(f"{self.done}/{self.total} {self.unit} "
                             f"{min(self.done / self.total, 1.0) * 100:.1f}%")
            else:
                parts.append(f"{self.done} {self.unit}")
            if self.errors:
                parts.append(f"{self.errors} in error")
            parts.append(f"{rate:.1f} {self.unit}/s")
            if self.total and rate > 0:
                left = max(self.total - self.done, 0) / rate
                parts.append(f"ETA {_clock_text(left)}")
            return " ".join(parts)
        if self.total:
            ratio = min(self.done / self.total, 1.0)
            filled = int(ratio * self.width)
            parts.append("[" + "#" * filled + "." * (self.width - filled) + "]")
            parts.append(f"{_size_text(self.done)}/{_size_text(self.total)}")
            parts.append(f"{ratio * 100:5.1f}%")
        else:
            parts.append(_size_text(self.done))
        parts.append(f"{rate / MB:.2f} MB/s")
        if self.total and rate > 0:
            left = max(self.total - self.done, 0) / rate
            parts.append(f"ETA {_clock_text(left)}")
        return " ".join(parts)

    def _draw(self, now: float) -> None:
        # \x1b[K clears what a longer previous line left on the right.
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """Erase the bar, leaving the terminal line clean for the output."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.finish()


class ProgressReader:
    """A binary file object whose reads advance a Progress.

    It keeps `readinto`, `fileno` and `tell`, so the upload path still
    reads straight into its buffers and still learns the file's size."""

    def __init__(self, raw: Any, progress: Progress) -> None:
        self._raw = raw
        self._progress = progress
        self.name = getattr(raw, "name", "")

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer) or 0
        self._progress.update(count)
        return count

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress.update(len(data))
        return data

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def tracked(blocks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    """The blocks of a download, advancing `progress` as they pass."""
    for block in blocks:
        progress.update(len(block))
        yield block


def counted(rows: Iterable[tuple], label: str,
            failed: Callable[[tuple], bool],
            total: int | None = None) -> Iterator[tuple]:
    """The rows of a long listing (checks, repairs, rebuilds), counted on a
    terminal's stderr as they come (of `total`, with an ETA, when known):
    the table itself only shows at the end."""
    with Progress(total, label=label, unit="items") as progress:
        for row in rows:
            if failed(row):
                progress.errors += 1
            progress.update(1)
            yield row
