"""`openio election ...` and `openio-admin election ...`: the elections of
replicated meta bases, through the proxy (oio.directory.admin)."""

from __future__ import annotations

from oio.cli import clients
from oio.directory.admin import AdminClient


def admin_client(manager) -> AdminClient:
    """The AdminClient of a CLI run: its proxy, pool and request ID."""
    # The same settings as every other client of the run (oio/cli/clients.py).
    return AdminClient(clients._conf(manager), **clients._kwargs(manager))
