"""`notify`: publishes the whole event to another tube (`queue_url`,
`tube`, default `notif`), except for the accounts or containers of
`exclude` (`acct,acct2/container`, URL-encoded)."""

from __future__ import annotations

import json
from urllib.parse import unquote

from oio.event.beanstalk import Beanstalk, parse_endpoint
from oio.event.evob import EventError
from oio.event.filters.base import EventFilter


class NotifyFilter(EventFilter):
    DEFAULT_TUBE = "notif"

    def init(self) -> None:
        url = self.conf.get("queue_url")
        if not url:
            raise ValueError(f"{type(self).__name__}: queue_url is required")
        parse_endpoint(url)
        self.url = url
        self.tube = self.conf.get("tube") or self.DEFAULT_TUBE
        exclude = self.conf.get("exclude") or ""
        if isinstance(exclude, str):
            exclude = exclude.split(",")
        self.exclude = {unquote(e.strip()) for e in exclude if e.strip()}
        self._client: Beanstalk | None = None

    def excluded(self, event: dict) -> bool:
        url = event.get("url")
        if not isinstance(url, dict) or not self.exclude:
            return False
        account, container = url.get("account"), url.get("user")
        return account in self.exclude or f"{account}/{container}" in \
            self.exclude

    def on_event(self, event: dict) -> None:
        if self.excluded(event):
            return
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        # A kept connection may have died (beanstalkd restarted): one more
        # try on a new one before the event is released for later.
        for fresh in (self._client is None, True):
            try:
                if self._client is None:
                    self._client = Beanstalk.from_url(self.url)
                    self._client.use(self.tube)
                self._client.put(body)
                return
            except OSError as err:
                self._client = None
                if fresh:
                    raise EventError(f"notify to {self.url}/{self.tube}: "
                                     f"{err}") from None


filter_factory = NotifyFilter.factory()
