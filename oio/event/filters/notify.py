"""`notify`: publishes the whole event to another tube (`queue_url`,
`tube`, default `notif`), except for the accounts or containers of
`exclude` (`acct,acct2/container`, URL-encoded)."""

from __future__ import annotations

import json
import threading
from urllib.parse import unquote

from oio.event.beanstalk import Beanstalk, parse_endpoint
from oio.event.evob import Event, EventError
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
        self.exclude = self._parse_exclude(self.conf.get("exclude") or [])
        # A connection per agent worker thread: beanstalkd's protocol is
        # one request and its reply at a time.
        self._local = threading.local()

    @staticmethod
    def _parse_exclude(items: str | list[str]) -> dict[str, list[str]]:
        """`acct,acct2/ct` (or a list of them, URL-encoded) → account →
        its excluded containers, [] meaning all of them."""
        if isinstance(items, str):
            items = items.split(",")
        exclude: dict[str, list[str]] = {}
        whole: set[str] = set()
        for item in (i.strip() for i in items):
            account, _, container = item.partition("/")
            account = unquote(account)
            if not container:
                if item:
                    whole.add(account)
                    exclude[account] = []
            elif account not in whole:
                exclude.setdefault(account, []).append(unquote(container))
        return exclude

    def _should_notify(self, account: str | None,
                       container: str | None) -> bool:
        excluded = self.exclude.get(account)
        return excluded is None or (excluded != [] and
                                    container not in excluded)

    def should_notify(self, event: Event) -> bool:
        """Events without a URL (chunk events) always go."""
        url = event.url
        if not isinstance(url, dict) or not url:
            return True
        return self._should_notify(url.get("account"), url.get("user"))

    def on_event(self, event: dict) -> None:
        if not self.should_notify(Event(event)):
            return
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        # A kept connection may have died (beanstalkd restarted): one more
        # try on a new one before the event is released for later.
        for fresh in (getattr(self._local, "client", None) is None, True):
            try:
                client = getattr(self._local, "client", None)
                if client is None:
                    client = self._local.client = Beanstalk.from_url(
                        self.url)
                    client.use(self.tube)
                client.put(body)
                return
            except OSError as err:
                self._local.client = None
                if fresh:
                    raise EventError(f"notify to {self.url}/{self.tube}: "
                                     f"{err}") from None


filter_factory = NotifyFilter.factory()
