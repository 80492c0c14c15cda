"""The `openio` and `openio-admin` applications (cliff).

Commands are found in oio/cli/registry.py and imported lazily; the
ClientManager (oio/cli/common/clientmanager.py) builds the API objects a
command needs, once, from the global options (--oio-ns, --oio-account,
--oio-proxy, --admin).
"""

from __future__ import annotations

import importlib
import logging
import sys

from cliff.app import App
from cliff.commandmanager import CommandManager

from oio.cli import add_common_parser_options, unavailable
from oio.cli.common.clientmanager import ClientManager
from oio.cli.registry import ADMIN, OPENIO, Unavailable

LOG = logging.getLogger("oio.cli")
VERSION = "7.2.0"


class _LazyCommand:
    """What cliff expects of an entry point: `load()` gives the class."""

    def __init__(self, name: str, target: str | Unavailable) -> None:
        self.name = name
        self.target = target
        self.value = target if isinstance(target, str) else "unavailable"

    def load(self):
        if isinstance(self.target, Unavailable):
            return unavailable(self.target.reason)
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class RegistryCommandManager(CommandManager):
    """Commands from a registry dict instead of setuptools entry points,
    so that a new command needs no reinstall and `openio` starts fast."""

    def __init__(self, registry: dict, group: str) -> None:
        self._registry = registry
        super().__init__(group)

    def load_commands(self, namespace: str) -> None:
        self.group_list.append(namespace)
        for name, target in self._registry.items():
            self.commands[name] = _LazyCommand(name, target)


class OpenIOShell(App):
    """`openio`: the user's command line."""

    NAME = "openio"
    REGISTRY = OPENIO
    DESCRIPTION = "Command line of an OpenIO SDS namespace"

    def __init__(self) -> None:
        super().__init__(
            description=self.DESCRIPTION, version=VERSION,
            command_manager=RegistryCommandManager(self.REGISTRY,
                                                   f"{self.NAME}.commands"),
            deferred_help=True)
        self.client_manager: ClientManager | None = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        add_common_parser_options(parser)
        return parser

    def initialize_app(self, argv) -> None:
        self.client_manager = ClientManager(self.options)

    # Commands read from the standard input (`openio < script`, the
    # interactive mode): cliff exits 1 after them whatever happened; we
    # exit 0 when every one succeeded, 1 otherwise.
    def interact(self) -> None:
        from cliff.interactive import InteractiveApp

        class FromStdin(InteractiveApp):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                # cmd2 would run our own command line (`--oio-ns X`) as
                # its first command.
                self._startup_commands = []

        self.interactive_app_factory = FromStdin
        self.batch_failures = 0
        super().interact()

    def run_subcommand(self, argv) -> int:
        result = super().run_subcommand(argv)
        if self.interactive_mode and result:
            self.batch_failures += 1
        return result

    def run(self, argv) -> int:
        result = super().run(argv)
        if self.interactive_mode and getattr(self, "batch_failures", 1) == 0:
            return 0
        return result

    def configure_logging(self) -> None:
        super().configure_logging()
        # Our libraries log their retries at WARNING; a person at the
        # terminal wants only the command's own error unless -v.
        if self.options.verbose_level <= 1:
            logging.getLogger("oio").setLevel(logging.ERROR)


class AdminShell(OpenIOShell):
    """`openio-admin`: checks, locations and service administration."""

    NAME = "openio-admin"
    REGISTRY = ADMIN
    DESCRIPTION = "Administration of an OpenIO SDS namespace"


def main(argv: list[str] | None = None) -> int:
    return OpenIOShell().run(sys.argv[1:] if argv is None else argv)


def admin_main(argv: list[str] | None = None) -> int:
    return AdminShell().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
