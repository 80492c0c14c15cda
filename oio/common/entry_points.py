"""Plugins named by entry point, as 7.2 loads its conscience checkers and
stats (setup.cfg groups `oio.conscience.checker`, `oio.conscience.stats`)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

logger = logging.getLogger("oio.common.entry_points")


def load_group(group: str) -> dict[str, object]:
    """Name → loaded object of every entry point of `group`; one that
    fails to load is logged and left out (it must not stop the others)."""
    out: dict[str, object] = {}
    for entry in entry_points(group=group):
        try:
            out[entry.name] = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is skipped
            logger.error("entry point %s of %s ignored: %s", entry.name,
                         group, exc)
    return out


def build_named(classes: dict[str, type], what: str, conf: dict, *args):
    """The class of `classes` that `conf["type"]` names, built with `args`;
    ValueError naming the known types when there is none."""
    kind = conf.get("type")
    cls = classes.get(kind)
    if cls is None:
        raise ValueError(f"unknown {what} type {kind!r}, known: "
                         f"{', '.join(sorted(classes))}")
    return cls(*args)
