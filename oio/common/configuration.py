"""Configuration: namespace files (sds.conf) and typed service settings."""

from __future__ import annotations

import configparser
import glob
import os
import re
from collections.abc import Mapping
from typing import Any

from oio.common.exceptions import ConfigurationException
from oio.common.utils import parse_bool

SYSTEM_CONF = "/etc/oio/sds.conf"
SYSTEM_CONF_DIR = "/etc/oio/sds.conf.d"
USER_CONF = "~/.oio/sds.conf"
# Our extension: a file that, when set, is the only namespace config read.
ENV_CONF = "OIO_SDS_CONF"


def namespace_conf_files() -> list[str]:
    """Files read for namespace configuration, in precedence order."""
    forced = os.environ.get(ENV_CONF)
    if forced:
        return [os.path.expanduser(forced)]
    files = [SYSTEM_CONF] + sorted(
        f for f in glob.glob(os.path.join(SYSTEM_CONF_DIR, "*"))
        if not os.path.basename(f).startswith("."))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        files = [os.path.expanduser(USER_CONF)]
    return files


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive, as upstream Python
    return parser


def load_namespace_conf(namespace: str, failsafe: bool = False) -> dict[str, str]:
    """The `[namespace]` section of the namespace configuration files.

    Raises ConfigurationException when the section or its `proxy` key is
    missing, unless `failsafe` is set.
    """
    parser = _parser()
    parser.read(namespace_conf_files())
    if not parser.has_section(namespace):
        if failsafe:
            return {}
        raise ConfigurationException(
            f"No configuration for namespace {namespace!r} in "
            f"{', '.join(namespace_conf_files())}")
    conf = dict(parser.items(namespace))
    if "proxy" not in conf and not failsafe:
        raise ConfigurationException(
            f"Namespace {namespace!r} has no 'proxy' in its configuration")
    return conf


def set_namespace_options(namespace: str, options: Mapping[str, Any],
                          remove=None) -> dict[str, str]:
    """Set (and `remove`) options of `namespace` in the last namespace
    configuration file read, then return all its options. For tests that
    change the namespace's settings, as upstream's helper of the same name;
    the file is replaced atomically."""
    files = [f for f in namespace_conf_files() if os.path.isfile(f)]
    if not files:
        raise ConfigurationException(
            f"No namespace configuration in {', '.join(namespace_conf_files())}")
    parser = _parser()
    parser.read(files)
    if not parser.has_section(namespace):
        parser.add_section(namespace)
    for key, value in options.items():
        parser.set(namespace, key, str(value))
    for key in remove or ():
        parser.remove_option(namespace, key)
    tmp = files[-1] + ".tmp"
    with open(tmp, "w") as out:
        parser.write(out)
    os.replace(tmp, files[-1])
    return dict(parser.items(namespace))


def configured_namespaces() -> list[str]:
    """The namespaces the configuration files declare."""
    parser = _parser()
    parser.read(namespace_conf_files())
    return parser.sections()


def read_conf(path: str, section: str | None = None) -> dict[str, Any]:
    """Read an INI file; one section as a dict, or all of them."""
    parser = _parser()
    if not parser.read(path):
        raise ConfigurationException(f"Cannot read configuration file {path}")
    if section is not None:
        if not parser.has_section(section):
            raise ConfigurationException(f"No section [{section}] in {path}")
        return dict(parser.items(section))
    return {s: dict(parser.items(s)) for s in parser.sections()}


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(value) -> int:
    """Bytes from '1048576', '10M', '10MiB', '4k'."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", str(value))
    if not match:
        raise ConfigurationException(f"Invalid size: {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def parse_duration(value) -> float:
    """Seconds from '1.5', '500ms', '2m', '1h'."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(ms|s|m|h)?\s*", str(value))
    if not match:
        raise ConfigurationException(f"Invalid duration: {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or ""]


class Config(Mapping):
    """A read-only mapping of settings with typed getters."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values = dict(values or {})

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def _convert(self, key, default, convert, kind):
        raw = self._values.get(key)
        if raw is None or raw == "":
            return default
        try:
            return convert(raw)
        except (ValueError, ConfigurationException) as exc:
            raise ConfigurationException(
                f"Option {key!r}: expected {kind}, got {raw!r}") from exc

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self._values.get(key)
        return default if value is None else str(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        return self._convert(key, default, int, "an integer")

    def get_float(self, key: str, default: float | None = None) -> float | None:
        return self._convert(key, default, float, "a number")

    def get_bool(self, key: str, default: bool = False) -> bool:
        def convert(raw):
            value = parse_bool(raw)
            if value is None:
                raise ValueError(raw)
            return value
        return self._convert(key, default, convert, "a boolean")

    def get_size(self, key: str, default: int | None = None) -> int | None:
        return self._convert(key, default, parse_size, "a size")

    def get_duration(self, key: str, default: float | None = None) -> float | None:
        return self._convert(key, default, parse_duration, "a duration")

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)
