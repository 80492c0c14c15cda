"""OpenIO status codes → the HTTP status a client sees (proxy spec §2.3).

Shared by the proxy and the services behind it: every service answers errors
with the HTTP status the proxy relays, so they all derive it the same way.
"""

from __future__ import annotations

NOT_FOUND_CODES = frozenset((406, 409, 420, 431, 454))
UNAVAILABLE_CODES = frozenset(
    (2, 3, 4, 5, 6, 7, 8, 9, 305, 503, 504, 509, 511, 436))
CONFLICT_CODES = frozenset((433, 421, 424))
# Applied before the common mapping on routes served by meta2.
META2_CODES = {438: 409, 421: 409, 427: 410, 19: 400}


def http_status_of(code: int, meta2: bool = False) -> int:
    """HTTP status for an oio status `code`; `meta2` applies the overrides of
    the container and content routes."""
    if meta2 and code in META2_CODES:
        return META2_CODES[code]
    if code in NOT_FOUND_CODES or code in (418, 453):
        return 404
    if code == 400:
        return 400
    if code in UNAVAILABLE_CODES:
        return 503
    if code in CONFLICT_CODES:
        return 409
    if code in (403, 405):
        return code
    return 500
