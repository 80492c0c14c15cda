"""7.2's module of the CLI applications (`oio.cli.shell` holds them)."""

from oio.cli.shell import AdminShell, OpenIOShell, admin_main, main

# 7.2's base of both applications.
CommonShell = OpenIOShell

__all__ = ["AdminShell", "CommonShell", "OpenIOShell", "admin_main", "main"]
