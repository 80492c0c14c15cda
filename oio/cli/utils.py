"""Small helpers shared by the command groups."""

from __future__ import annotations

from argparse import Action

from oio.common.easy_value import METRIC_SYMBOLS, convert_size

__all__ = ["METRIC_SYMBOLS", "KeyValueAction", "ValueFormatStoreTrueAction",
           "convert_size"]


class KeyValueAction(Action):
    """`-p key=value` (repeatable) into a dict; `-p key` alone drops key."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is None:
            setattr(namespace, self.dest, {})
        key, sep, value = values.partition("=")
        if sep:
            getattr(namespace, self.dest)[key] = value
        else:
            getattr(namespace, self.dest).pop(key, None)


class ValueFormatStoreTrueAction(Action):
    """`store_true` that also switches the output format to `value`, as
    upstream's long listings do."""

    def __init__(self, option_strings, dest, nargs=0, **kwargs):
        super().__init__(option_strings, dest, nargs=nargs, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        namespace.formatter = "value"
