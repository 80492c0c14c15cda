"""`openio lifecycle ...` (arguments and columns as OpenIO 7.2's): set, show
and apply the S3 lifecycle configuration of a container
(oio/container/lifecycle.py, docs/lifecycle.md)."""

from __future__ import annotations

from xml.dom import minidom
from xml.parsers.expat import ExpatError

from oio.cli import Command, Lister
from oio.cli.container.container import TargetMixin
from oio.common.exceptions import CommandError, LifecycleNotFound
from oio.container.lifecycle import ContainerLifecycle


def _add_container(parser, what: str) -> None:
    parser.add_argument("container", metavar="<container>",
                        help=f"Container {what}")


class _LifecycleCommand(TargetMixin):
    def lifecycle(self, container: str, recursive: bool = False
                  ) -> ContainerLifecycle:
        account = self.app.client_manager.account
        self.set_target(account, container)   # names it in "not found"
        return ContainerLifecycle(self.api, account, container,
                                  recursive=recursive)

    def not_found(self, container: str) -> LifecycleNotFound:
        return LifecycleNotFound(
            f"No lifecycle configuration for container {container} in "
            f"account {self.app.client_manager.account}")


class LifecycleApply(_LifecycleCommand, Lister):
    """Apply the lifecycle rules of a container to its objects, now (exit
    code 1 when an action failed)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_container(parser, "whose objects to apply the rules to")
        parser.add_argument(
            "--recursive", action="store_true",
            help="Also the sub-containers of a sharded S3 bucket "
                 "(<container>%%2F...)")
        return parser

    def take_action(self, parsed_args):
        lifecycle = self.lifecycle(parsed_args.container,
                                   parsed_args.recursive)
        try:
            if not lifecycle.load():
                raise self.not_found(parsed_args.container)
        except ValueError as err:   # stored by someone else, unreadable
            raise CommandError(
                "Invalid lifecycle configuration in container "
                f"{parsed_args.container}: {err}") from None
        return ("Name", "Version", "Rule", "Action", "Result"), \
            self._rows(lifecycle)

    def _rows(self, lifecycle: ContainerLifecycle):
        for obj_meta, rule, action, result in lifecycle.execute():
            if isinstance(result, Exception):
                self.success = False
                result = f"Failed: {result}"
            yield obj_meta["name"], obj_meta["version"], rule, action, result


class LifecycleSet(_LifecycleCommand, Command):
    """Set the lifecycle configuration of a container (S3's
    LifecycleConfiguration XML)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_container(parser, "whose lifecycle configuration to set")
        parser.add_argument("configuration", metavar="<configuration>",
                            help="Lifecycle configuration (XML)")
        parser.add_argument("--from-file", action="store_true",
                            help="Read the configuration from the file "
                                 "<configuration>")
        return parser

    def take_action(self, parsed_args):
        conf = parsed_args.configuration
        if parsed_args.from_file:
            try:
                with open(conf, encoding="utf-8") as src:
                    conf = src.read()
            except OSError as err:
                raise CommandError(f"Cannot read {conf}: {err.strerror}") \
                    from None
        try:
            self.lifecycle(parsed_args.container).save(conf)
        except ValueError as err:
            raise CommandError(f"Invalid lifecycle configuration: {err}") \
                from None


class LifecycleGet(_LifecycleCommand, Command):
    """Show the lifecycle configuration of a container (XML)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_container(parser, "whose lifecycle configuration to show")
        return parser

    def take_action(self, parsed_args):
        xml = self.lifecycle(parsed_args.container).get_configuration()
        if xml is None:
            raise self.not_found(parsed_args.container)
        try:
            text = minidom.parseString(xml).documentElement.toprettyxml(
                indent="  ")
        except ExpatError:   # not ours: show it as it is
            text = xml
        self.app.stdout.write(text.rstrip("\n") + "\n")
