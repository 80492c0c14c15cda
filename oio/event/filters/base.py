"""`Filter`, the base of the filters users write, as OpenIO 7.2 has it,
and `EventFilter`, the base of our built-in ones (docs/events.md,
"Writing a filter").

A 7.2 filter is one stage of a handler's pipeline: built as
`Filter(app, conf)` where `app` is the next stage, it gets each event as
`process(env, beanstalkd, cb)` (`env`: the decoded event dict) and either
passes it on (`return self.app(env, beanstalkd, cb)`) or answers for the
whole pipeline (`return EventError(event=Event(env), body=...)(env,
beanstalkd, cb)`: the job is tried again later).

Our built-in filters are `EventFilter`s: `on_event(event)` returns to pass
the event on, raises `EventError(...)` to have it tried again later, or
`BuryEvent` to have it buried. One instance serves every pipeline that
names its section, so that work deferred to the end of a batch (`flush`)
is grouped across event types.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from oio.event.evob import Callback

__all__ = ["BuryEvent", "EventFilter", "Filter"]

# A pipeline stage: stage(env, beanstalkd, cb).
Stage = Callable[[dict, Any, Callback], Any]


class BuryEvent(Exception):
    """Put the event aside (buried) for an operator to look at (as 7.2's
    `oio.common.exceptions.ExplicitBury`, which buries too; not an
    OioException, so that client error handlers let it through)."""


class Filter:
    """Base of a 7.2 filter; subclasses override `init` and `process`."""

    logger = logging.getLogger("oio.event.filters")

    def __init__(self, app: Stage | None, conf: dict[str, Any],
                 logger: logging.Logger | None = None):
        self.app = app
        # What the agent shares with every stage (7.2: account_client,
        # rdir_client), created on first use.
        self.app_env = getattr(app, "app_env", {})
        self.conf = conf
        self.logger = logger or logging.getLogger(
            conf.get("log_name") or type(self).__module__)
        self.init()

    def init(self) -> None:
        """Set up from `self.conf` (called by the constructor)."""

    def process(self, env: dict, beanstalkd: Any, cb: Callback) -> Any:
        return self.app(env, beanstalkd, cb)

    def __call__(self, env: dict, beanstalkd: Any, cb: Callback) -> Any:
        return self.process(env, beanstalkd, cb)

    def flush(self) -> None:
        """Finish what `process` deferred in this thread: called by our
        agent after each batch of jobs, before it deletes them."""


class EventFilter(Filter):
    """Base of our built-in filters (see the module's docstring)."""

    def on_event(self, event: dict) -> None:
        """Return to let the event go on down the pipeline."""

    def process(self, env: dict, beanstalkd: Any, cb: Callback) -> Any:
        self.on_event(env)
        if self.app is not None:
            return self.app(env, beanstalkd, cb)
        return None

    @classmethod
    def factory(cls) -> Callable[..., Callable[[Stage], Stage]]:
        """A 7.2 `filter_factory(global_conf, **local_conf)` for this class:
        one instance per configuration section, chained into each pipeline
        by a light `_Link`."""

        def filter_factory(global_conf: dict, **local_conf
                           ) -> Callable[[Stage], Stage]:
            shared = cls(None, {**global_conf, **local_conf})
            return lambda app: _Link(shared, app)

        filter_factory.__doc__ = f"Builds {cls.__name__} stages."
        return filter_factory


class _Link:
    """An `EventFilter` shared by several pipelines, in one of them."""

    __slots__ = ("filter", "app", "app_env")

    def __init__(self, filter_: EventFilter, app: Stage):
        self.filter = filter_
        self.app = app
        # Passed up the chain: a 7.2 filter before us gets the agent's.
        self.app_env = getattr(app, "app_env", {})

    def __call__(self, env: dict, beanstalkd: Any, cb: Callback) -> Any:
        self.filter.on_event(env)
        return self.app(env, beanstalkd, cb)

    def flush(self) -> None:
        self.filter.flush()
