"""Which of several equivalent addresses to try first.

Consciences for a proxy, proxies for a client or a conscience agent: the
configured order is the preference (the local one first), and an address
that failed lately is tried last for `penalty` seconds, so that a dead one
costs one failed attempt every `penalty` seconds instead of one per request.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable

# Errnos of a connection that was never established: the request surely
# did not reach the peer, so sending it elsewhere is always safe.
NOT_CONNECTED_ERRNOS = frozenset((
    errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
    errno.EHOSTDOWN, errno.ENETDOWN, errno.EADDRNOTAVAIL))


class FailoverOrder:
    """The order in which to try a set of addresses.

    Not locked: every update is one dict operation, atomic under the GIL,
    and a lost update only changes which address is tried first.
    """

    def __init__(self, penalty: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.penalty = penalty
        self._clock = clock
        # address → monotonic time of its last failure (drives the order)
        self._failed_at: dict[str, float] = {}
        # addresses whose last call failed (drives the logs)
        self._failing: set[str] = set()

    def order(self, addrs: Iterable[str]) -> list[str]:
        """`addrs` in their order, those that failed less than `penalty`
        seconds ago last (the longest-failed first among them)."""
        addrs = list(addrs)
        if not self._failed_at:
            return addrs
        now = self._clock()
        good, bad = [], []
        for addr in addrs:
            when = self._failed_at.get(addr)
            if when is not None and now - when < self.penalty:
                bad.append((when, addr))
            else:
                good.append(addr)
        return good + [addr for _, addr in sorted(bad)]

    def penalized(self, addr: str) -> bool:
        """Whether `addr` failed less than `penalty` seconds ago."""
        when = self._failed_at.get(addr)
        if when is None:
            return False
        if self._clock() - when < self.penalty:
            return True
        self._failed_at.pop(addr, None)
        return False

    def failed(self, addr: str) -> bool:
        """Record a failure; True when `addr` was not failing before (the
        caller logs that once)."""
        self._failed_at[addr] = self._clock()
        if addr in self._failing:
            return False
        self._failing.add(addr)
        return True

    def succeeded(self, addr: str) -> bool:
        """Record a success; True when `addr` was failing before (the
        caller logs that once). The penalty still runs: a peer that just
        came back is preferred again only once it stayed up a while."""
        if addr not in self._failing:
            return False
        self._failing.discard(addr)
        return True

    def failing(self, addr: str) -> bool:
        """Whether the last call to `addr` failed."""
        return addr in self._failing


def split_addresses(value: str | None) -> tuple[str, list[str]]:
    """(scheme, [netloc, ...]) of `a:1,b:2`, `http://a:1,b:2` or
    `http://a:1,http://b:2`; the scheme defaults to http."""
    scheme = "http"
    netlocs = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        head, sep, rest = part.partition("://")
        if sep:
            scheme, part = head, rest
        part = part.rstrip("/")
        if part:
            netlocs.append(part)
    return scheme, netlocs


def never_sent(error: BaseException) -> bool:
    """Whether a transport error (urllib3's or a socket's) happened before
    the request could reach the peer: refused, unreachable, connection
    timeout. A request failing so may go to another peer whatever it
    does; after other errors only idempotent ones should."""
    import urllib3

    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason:
        error = error.reason
    if isinstance(error, (urllib3.exceptions.NewConnectionError,
                          urllib3.exceptions.ConnectTimeoutError)):
        return True
    return isinstance(error, OSError) and error.errno in NOT_CONNECTED_ERRNOS
