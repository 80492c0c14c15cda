"""Lenient converters of configuration and header values, under the module
name OpenIO's tools import them from."""

from __future__ import annotations

from oio.common.utils import (
    FALSE_WORDS,
    TRUE_WORDS,
    is_hexa,
    parse_bool,
    true_value,
)

__all__ = ["FALSE_VALUES", "TRUE_VALUES", "boolean_value", "convert_size",
           "debinarize", "float_value", "int_value", "is_hexa", "true_value"]

TRUE_VALUES = TRUE_WORDS
FALSE_VALUES = FALSE_WORDS
METRIC_SYMBOLS = ("", "K", "M", "G", "T", "P", "E", "Z", "Y")


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


def convert_size(size: float, unit: str = "") -> str:
    """1234567 -> '1.235M' (powers of 1000, as OpenIO's tables)."""
    if abs(size) < 1000.0:
        return f"{size:.0f}{unit}"
    for symbol in METRIC_SYMBOLS[1:-1]:
        size /= 1000.0
        if abs(size) < 1000.0:
            return f"{size:.3f}{symbol}{unit}"
    return f"{size:.3f}{METRIC_SYMBOLS[-1]}{unit}"


def debinarize(something):
    """`something` with every bytes (keys and values of dicts, items of
    lists and tuples) decoded from UTF-8."""
    if isinstance(something, bytes):
        return something.decode("utf-8", "surrogateescape")
    if isinstance(something, dict):
        return {debinarize(k): debinarize(v) for k, v in something.items()}
    if isinstance(something, (list, tuple)):
        return type(something)(debinarize(x) for x in something)
    return something
