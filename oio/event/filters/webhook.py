"""`webhook`: POSTs a summary of content events to `endpoint`
(events.md §6)."""

from __future__ import annotations

import json

import urllib3

from oio.common.http_urllib3 import get_pool_manager, timeout
from oio.event.evob import EventError
from oio.event.filters.base import EventFilter


class WebhookFilter(EventFilter):
    """POST a summary of content events to `endpoint` (events.md §6)."""

    def init(self) -> None:
        conf = self.conf
        self.endpoint = conf.get("endpoint")
        if not self.endpoint:
            raise ValueError("webhook filter: endpoint is required")
        seconds = float(conf.get("timeout", 5.0))
        self.timeout = timeout(seconds, seconds)
        self.pool = get_pool_manager(pool_connections=4, pool_maxsize=4)

    def on_event(self, event: dict) -> None:
        kind = event.get("event", "")
        if not kind.startswith("storage.content."):
            return
        url = event.get("url") or {}
        data = {"id": url.get("content"), "account": url.get("account"),
                "container": url.get("user"), "name": url.get("path")}
        beans = event.get("data") if isinstance(event.get("data"), list) else []
        if kind not in ("storage.content.deleted", "storage.content.append"):
            data.update(_content_fields(beans))
        body = {"eventId": event.get("job_id"), "eventType": kind,
                "timestamp": event.get("when"), "data": data}
        try:
            resp = self.pool.request(
                "POST", self.endpoint, body=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout, retries=False)
        except urllib3.exceptions.HTTPError as err:
            raise EventError(f"webhook {self.endpoint}: {err}") from None
        if resp.status >= 400:
            raise EventError(f"webhook {self.endpoint}: HTTP {resp.status}")


def _content_fields(beans: list) -> dict:
    """The webhook's object fields from the alias, header and property
    beans of a content event."""
    out: dict = {}
    metadata = {}
    for bean in beans:
        if not isinstance(bean, dict):
            continue
        kind = bean.get("type")
        if kind == "contents_headers":
            out.update(md5Hash=bean.get("hash"), contentType=bean.get(
                "mime-type"), policy=bean.get("policy"),
                chunkMethod=bean.get("chunk-method"), size=bean.get("size"))
        elif kind == "aliases":
            out.update(creationTime=bean.get("ctime"),
                       modificationTime=bean.get("mtime"),
                       version=bean.get("version"))
        elif kind == "properties":
            metadata[bean.get("key")] = bean.get("value")
    out["metadata"] = metadata
    return out


filter_factory = WebhookFilter.factory()
