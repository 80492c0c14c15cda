"""What both account backends share: the counters, the error type and the
timestamp format (account.md §2, §3)."""

from __future__ import annotations

COUNTERS = ("objects", "bytes", "damaged_objects", "missing_chunks")
US_THRESHOLD = 31494784780800


class AccountError(Exception):
    def __init__(self, http_status: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def format_time(value) -> str:
    """`%016.05f` seconds; microseconds are recognised and converted."""
    if value in (None, "", 0, "0"):
        return "0"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise AccountError(400, f"Invalid timestamp {value!r}") from None
    if seconds > US_THRESHOLD:
        seconds /= 1e6
    return f"{seconds:016.05f}"
