"""`openio-admin rdir reassign` (oio.rdir.dispatcher.RdirDispatcher)."""

from __future__ import annotations

from oio.cli.rdir.rdir import RdirBootstrap


class RdirReassign(RdirBootstrap):
    """Give a new rdir service to volumes of a type (all, or one)."""

    reassign = True
