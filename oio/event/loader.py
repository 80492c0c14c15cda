"""Reads a handlers file (OpenIO 7.2's format) into pipelines.

    [handler:storage.content.deleted]
    pipeline = logger content_cleaner

    [filter:content_cleaner]
    use = egg:oio#content_cleaner
    concurrency = 4

A handler's pipeline names filter sections (or gives a factory URI
directly: `pipeline = egg:oio#noop`). A filter section's `use` is
`egg:<distribution>#<name>`, the entry point `<name>` of the group
`oio.event.filter_factory` of that installed distribution (ours: `oio`), or
the name of another filter section whose options it takes and overrides.
The factory is called as `factory(global_conf, **local_conf)` and returns
`make(next_stage) -> stage`; pipelines are built from their last stage,
the handler (`egg:oio#default`), back to their first filter.

Our filters are found without the entry point metadata (a table of their
modules): the agent starts fast and works from a source tree.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oio.event.filters.base import Stage

__all__ = ["DEFAULT_HANDLER", "FILTER_GROUP", "HANDLER_GROUP", "LoaderError",
           "Pipeline", "find_factory", "load_pipelines", "loadhandlers"]

FILTER_GROUP = "oio.event.filter_factory"
HANDLER_GROUP = "oio.event.handler_factory"
DEFAULT_HANDLER = "egg:oio#default"

# Our own entry points (pyproject.toml declares the same).
BUILTINS = {
    FILTER_GROUP: {name: f"oio.event.filters.{name}:filter_factory"
                   for name in ("account_update", "bury", "content_cleaner",
                                "dump", "logger", "noop", "notify",
                                "replicate", "volume_index", "webhook",
                                "xcute")},
    HANDLER_GROUP: {"default": "oio.event.handlers.base:handler_factory"},
}

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class LoaderError(ValueError, LookupError):
    """A handlers file that cannot be loaded (7.2 raised LookupError)."""


@dataclass
class Pipeline:
    """A handler's pipeline: `entry(env, beanstalkd, cb)` runs the event
    through it; `stages` are its filters, first to last."""

    entry: Stage
    stages: list[Any] = field(default_factory=list)


def _normalize(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def find_factory(uri: str, group: str = FILTER_GROUP) -> Callable:
    """The factory `egg:<distribution>#<name>` names in `group`."""
    scheme, _, spec = uri.partition(":")
    if scheme.lower() != "egg":
        raise LoaderError(f"unknown use={uri!r}: only egg:<package>#<name>")
    dist, _, name = spec.partition("#")
    name = name.strip() or "main"
    builtin = BUILTINS.get(group, {}).get(name)
    try:
        if _normalize(dist) == "oio" and builtin:
            return _resolve(builtin)
        for entry in importlib.metadata.entry_points(group=group, name=name):
            if entry.dist is None or _normalize(entry.dist.name) == \
                    _normalize(dist):
                return entry.load()
    except (ImportError, AttributeError) as err:
        raise LoaderError(f"use={uri!r} cannot be loaded: {err}") from err
    raise LoaderError(f"unknown use={uri!r}: no entry point {name!r} of "
                      f"group {group} in the installed package {dist!r}")


class HandlersFile:
    """The sections of a handlers file, and the factories they name."""

    def __init__(self, path: str, global_conf: dict | None = None):
        self.path = path
        parser = configparser.ConfigParser(
            interpolation=None,
            defaults={"__file__": os.path.abspath(path)})
        parser.optionxform = str          # keys are case-sensitive
        try:
            if not parser.read(path):
                raise LoaderError(f"cannot read the handlers file {path}")
        except configparser.Error as err:
            raise LoaderError(f"{path}: {err}") from None
        self.parser = parser
        self.defaults = dict(parser.defaults())
        self.global_conf = {**self.defaults, **(global_conf or {})}
        # One factory call per filter section (or URI): our filters keep
        # one instance for every pipeline naming them.
        self._makers: dict[str, Callable] = {}

    def handlers(self) -> dict[str, str]:
        """Event type → its section."""
        return {s[len("handler:"):].strip(): s for s in self.parser.sections()
                if s.startswith("handler:")}

    def _local(self, section: str) -> dict[str, str]:
        """The section's own options (those of [DEFAULT] are in
        global_conf), the ones it overrides included."""
        return {k: v for k, v in self.parser.items(section)
                if k not in self.defaults or v != self.defaults[k]}

    def _section(self, name: str) -> str:
        found = [s for s in self.parser.sections()
                 if s.startswith("filter:") and s[7:].strip() == name]
        if not found:
            raise LoaderError(f"{self.path}: no [filter:{name}] section")
        if len(found) > 1:
            raise LoaderError(f"{self.path}: several [filter:{name}] sections")
        return found[0]

    def _filter_spec(self, name: str, seen: tuple = ()
                     ) -> tuple[str, dict[str, str]]:
        """The factory URI of a filter section and its options, following
        `use = <other section>`."""
        section = self._section(name)
        local = self._local(section)
        use = local.pop("use", "").strip()
        if not use:
            raise LoaderError(f"{self.path}: [{section}] has no 'use'")
        if _URI.match(use):
            return use, local
        if use in seen:
            raise LoaderError(f"{self.path}: [{section}] 'use' loops")
        uri, inherited = self._filter_spec(use, seen + (name,))
        return uri, {**inherited, **local}

    def maker(self, item: str) -> Callable:
        """`make(next_stage)` of a pipeline item."""
        if item not in self._makers:
            if _URI.match(item):
                uri, local, where = item, {}, item
            else:
                uri, local = self._filter_spec(item)
                where = f"[filter:{item}]"
            factory = find_factory(uri, FILTER_GROUP)
            try:
                self._makers[item] = factory(dict(self.global_conf), **local)
            except Exception as err:  # noqa: BLE001 - a clear config error
                raise LoaderError(f"{self.path}: {where}: {err}") from err
        return self._makers[item]

    def pipeline(self, section: str, app: Any) -> Pipeline:
        local = self._local(section)
        names = local.pop("pipeline", "").split()
        local.pop("use", None)
        make_handler = find_factory(DEFAULT_HANDLER, HANDLER_GROUP)
        stage = make_handler(app, dict(self.global_conf), **local)
        stages = []
        for name in reversed(names):
            stage = self.maker(name)(stage)
            stages.append(stage)
        stages.reverse()
        return Pipeline(stage, stages)


def load_pipelines(path: str, global_conf: dict | None = None,
                   app: Any = None) -> dict[str, Pipeline]:
    """Event type → its `Pipeline`, from a handlers file. `app` is what
    handlers and filters see as the agent (`app_env`, `logger`)."""
    handlers = HandlersFile(path, global_conf)
    return {name: handlers.pipeline(section, app)
            for name, section in handlers.handlers().items()}


def loadhandlers(path: str, global_conf: dict | None = None,
                 app: Any = None, **_kwargs) -> dict[str, Stage]:
    """7.2's: event type → the first stage of its pipeline."""
    return {name: pipeline.entry for name, pipeline in
            load_pipelines(path, global_conf, app).items()}
