"""7.2's module of the CLI's `ClientManager` (oio.cli.common.clientmanager
holds it)."""

from oio.cli.common.clientmanager import ClientManager

__all__ = ["ClientManager"]
