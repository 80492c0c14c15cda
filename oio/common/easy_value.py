"""Lenient converters of configuration and header values, under the module
name OpenIO's tools import them from."""

from __future__ import annotations

from oio.common.utils import parse_bool, true_value

__all__ = ["boolean_value", "float_value", "int_value", "true_value"]


def boolean_value(value, default: bool = False) -> bool:
    """OpenIO boolean words (yes/no, on/off, 1/0...); else `default`."""
    return bool(parse_bool(value, default))


def int_value(value, default: int | None) -> int | None:
    """`value` as an int; `default` when it is None or empty."""
    if value in (None, ""):
        return default
    return int(value)


def float_value(value, default: float | None) -> float | None:
    """`value` as a float; `default` when it is None or empty."""
    if value in (None, ""):
        return default
    return float(value)
