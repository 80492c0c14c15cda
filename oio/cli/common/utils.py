"""7.2's argparse actions of the CLI (`oio.cli.utils` holds them)."""

from oio.cli.utils import KeyValueAction, ValueFormatStoreTrueAction

__all__ = ["KeyValueAction", "ValueFormatStoreTrueAction"]
