"""The rebuild of one replicated base, shared by the meta1 and meta2
rebuilders: every replica that lacks its file gets a whole copy of the
base, from the master when it holds one (it has every acknowledged
change), else from another replica that holds it.

Upstream makes a dummy replicated write so that the master pushes the base
to the replicas missing it; here a replica is told to copy the base
(`admin/copy`), which reports its own success or failure.
"""

from __future__ import annotations

import logging

from oio.common import exceptions as exc

from .sqlx_admin import (
    MISSING,
    OK,
    SqlxAdminClient,
    master_of,
    message_of,
    status_of,
)


def rebuild_base(admin: SqlxAdminClient, kind: str, cid: str,
                 missing_ok: bool = False,
                 logger: logging.Logger | None = None) -> list[str]:
    """Copy the base of `cid` to each of its replicas that lacks it; the
    errors (an empty list when every replica holds it now). With
    `missing_ok`, a base no replica holds is fine (a meta1 base nothing
    was ever written to)."""
    logger = logger or logging.getLogger(__name__)
    has = admin.has(kind, cid)
    holders = sorted(p for p, e in has.items() if status_of(e) == OK)
    lacking = sorted(p for p, e in has.items() if status_of(e) == MISSING)
    errors = [f"{p} ({status_of(e)}): {message_of(e)}"
              for p, e in sorted(has.items())
              if status_of(e) not in (OK, MISSING)]
    if not lacking:
        return errors
    if not holders:
        if missing_ok and not errors:
            return []
        return errors + [f"no replica holds the base ({', '.join(lacking)} "
                         "lack it)"]
    sources = _sources(admin, kind, cid, holders, logger)
    for peer in lacking:
        failures = []
        for source in sources:
            try:
                admin.copy(kind, cid, peer, source)
                logger.info("%s %s copied to %s from %s", kind, cid, peer,
                            source)
                break
            except exc.OioException as err:
                failures.append(f"from {source}: {err}")
        else:
            errors.append(f"cannot copy the base to {peer}: "
                          + "; ".join(failures))
    return errors


def _sources(admin: SqlxAdminClient, kind: str, cid: str,
             holders: list[str], logger: logging.Logger) -> list[str]:
    """The replicas holding the base, the master first."""
    master = None
    try:
        master = master_of(admin.status(kind, cid))
    except exc.OioException as err:
        logger.warning("No election status of %s %s: %s", kind, cid, err)
    return sorted(holders, key=lambda p: (p != master, p))
