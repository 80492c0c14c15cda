"""What the replication layer answers when a request cannot run here."""

from __future__ import annotations

from oio.common.http_server import HttpError

# OpenIO status codes of replicated bases (spec replication.md §4).
REDIRECT = 303
NOT_SLAVE = 301
TOO_MANY_REDIRECTS = 305
NOT_MANAGED = 431
PREFIX_NOT_MANAGED = 450
REMOTE_BEHIND = 470
LOCAL_MISSING = 471
DIVERGED = 472
UNAVAILABLE = 503
MASTER_HEADER = "x-oio-master"


class ReplicationError(HttpError):
    """An HttpError with the OpenIO status and message of the spec."""

    def __init__(self, http_status: int, status: int, message: str,
                 headers: dict | None = None):
        if http_status == 503:
            headers = {"Retry-After": "1", **(headers or {})}
        super().__init__(http_status, message, status=status, headers=headers)


class Redirect(ReplicationError):
    """This replica is a slave: ask the master."""

    def __init__(self, master: str):
        self.master = master
        super().__init__(303, REDIRECT, master, {MASTER_HEADER: master})


class ElectionPending(ReplicationError):
    def __init__(self, base: str, kind: str):
        super().__init__(503, UNAVAILABLE,
                         f"Election failed [{base}][{kind}]")


class NoQuorum(ReplicationError):
    def __init__(self, acks: int, total: int, detail: str = ""):
        message = (f"COMMIT failed: Not enough successes, no quorum "
                   f"({acks}/{total})")
        if detail:
            message += f": {detail}"
        super().__init__(503, UNAVAILABLE, message)


class NotMaster(ReplicationError):
    """Mastership was lost between the check and the commit."""

    def __init__(self, base: str, kind: str):
        super().__init__(503, UNAVAILABLE,
                         f"Not master of [{base}][{kind}] anymore")


class NotManaged(ReplicationError):
    def __init__(self, base: str, kind: str, status: int = NOT_MANAGED):
        super().__init__(404, status, f"Election error: get_peers({base},"
                         f"{kind}): Base not managed")
