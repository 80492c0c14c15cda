"""`EventClient`: the beanstalkd tubes behind a namespace's event agent
(`event-agent` of the namespace configuration), as 7.2 has it."""

from __future__ import annotations

import random

from oio.common.configuration import load_namespace_conf
from oio.event.beanstalk import Beanstalk

DEFAULT_TUBE = "oio"


class EventClient:
    def __init__(self, conf: dict[str, str], **_kwargs):
        self.ns_conf = load_namespace_conf(conf["namespace"])
        queue = self.ns_conf.get("event-agent") or ""
        self.queue_url = [u.strip() for u in queue.split(";") if u.strip()]
        if not self.queue_url:
            raise ValueError(f"namespace {conf['namespace']}: no event-agent "
                             "(beanstalkd) configured")
        self._beanstalk: Beanstalk | None = None

    @property
    def beanstalk(self) -> Beanstalk:
        """A connection to one of the namespace's beanstalkd (random)."""
        if self._beanstalk is None:
            self._beanstalk = Beanstalk.from_url(random.choice(self.queue_url))
        return self._beanstalk

    def exhume(self, limit: int = 1000, tube: str | None = None) -> int:
        """Make up to `limit` buried (or delayed) jobs of `tube` ready
        again; how many were."""
        if tube:
            self.beanstalk.use(tube)
        return self.beanstalk.kick(bound=limit)

    def list_tubes(self) -> list[str]:
        return self.beanstalk.list_tubes()

    def stats(self, tube: str | None = None) -> dict:
        """beanstalkd's statistics of `tube` (default `oio`)."""
        return self.beanstalk.stats_tube(tube or DEFAULT_TUBE)

    def close(self) -> None:
        if self._beanstalk is not None:
            self._beanstalk.close()
            self._beanstalk = None
