"""Command managers of the CLI: 7.2's `CommandManager` (cliff's, commands
from setuptools entry points of a group) and ours, which reads the
command registry (`oio.cli.registry`) so that `openio` starts fast."""

from cliff.commandmanager import CommandManager

from oio.cli.shell import RegistryCommandManager

__all__ = ["CommandManager", "RegistryCommandManager"]
