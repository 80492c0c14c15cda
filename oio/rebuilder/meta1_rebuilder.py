"""Meta1Rebuilder: every meta1 base rebuilt on the replicas the meta0 map
gives it (`openio-admin meta1 rebuild`, spec replication.md §7.7).

One item per base (prefix group): `has` on its replicas, then a copy to
each replica that lacks it (oio.rebuilder.meta_rebuilder). A base that no
replica holds was never written to: nothing to rebuild. A base is tried up
to `attempts` times when the proxy answers busy (503), times out or does
not find it (the map may be reloading).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from oio.common import exceptions as exc

from .meta_rebuilder import rebuild_base
from .sqlx_admin import SqlxAdminClient

TYPE = "meta1"
RETRIED = (exc.ServiceBusy, exc.OioTimeout, exc.NotFound)


def base_name(prefix: str, digits: int) -> str:
    """The meta1 base of a prefix: its first `digits` hex digits, padded
    to 4 with 0 (`8D3A`, 2 digits → `8D00`)."""
    return prefix[:digits].upper().ljust(4, "0")


class Meta1Rebuilder:
    def __init__(self, admin: SqlxAdminClient, meta0, digits: int,
                 attempts: int = 5, logger: logging.Logger | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.admin = admin
        self.meta0 = meta0
        self.digits = digits
        self.attempts = max(1, attempts)
        self.logger = logger or logging.getLogger(__name__)
        self.sleep = sleep

    @staticmethod
    def cid(base: str) -> str:
        """The CID that stands for a base where a CID is printed."""
        return base.ljust(64, "0")

    def items(self) -> list[str]:
        """Every base of the meta0 map."""
        mapping = self.meta0.list()
        return sorted({base_name(p, self.digits) for p in mapping})

    def items_from_file(self, path: str) -> list[str]:
        """The bases of the container IDs (or prefixes) a file lists, one
        a line (blank lines and `#` comments skipped), each base once, in
        the file's order; ValueError naming a line that is not hex."""
        bases: dict[str, None] = {}
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                cid = line.strip()
                if not cid or cid.startswith("#"):
                    continue
                if len(cid) < self.digits or len(cid) > 64 or \
                        not all(c in "0123456789abcdefABCDEF" for c in cid):
                    raise ValueError(
                        f"{path}:{number}: not a container ID nor a prefix "
                        f"of {self.digits} hex digits: {cid!r}")
                bases[base_name(cid, self.digits)] = None
        return list(bases)

    def rebuild(self, base: str) -> list[str]:
        """The errors of the rebuild of one base."""
        for attempt in range(self.attempts):
            try:
                return rebuild_base(self.admin, TYPE, base, missing_ok=True,
                                    logger=self.logger)
            except RETRIED as err:
                if attempt + 1 >= self.attempts:
                    return [f"{type(err).__name__}: {err}"]
                self.logger.warning("meta1 base %s: %s (retrying)", base, err)
                self.sleep(0.5 * (attempt + 1))
        raise AssertionError("not reached")
