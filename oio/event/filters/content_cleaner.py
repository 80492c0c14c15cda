"""`content_cleaner`: deletes from the rawx the chunks of deleted (or
drained) contents."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import urllib3

from oio.common.constants import CHUNK_HEADERS
from oio.common.http_urllib3 import get_pool_manager, timeout
from oio.event.filters.base import BuryEvent, EventFilter


class ContentReaperFilter(EventFilter):
    """Delete the chunks of deleted (or drained) contents from the rawx."""

    TYPES = ("storage.content.deleted", "storage.content.drained")

    def init(self) -> None:
        conf = self.conf
        self.concurrency = max(1, int(conf.get("concurrency", 3)))
        self.timeout = timeout(float(conf.get("timeout", 5.0)),
                               float(conf.get("timeout", 5.0)))
        self.pool = get_pool_manager(
            pool_connections=int(conf.get("pool_connections", 16)),
            pool_maxsize=int(conf.get("pool_maxsize", 16)))
        self.executor = ThreadPoolExecutor(self.concurrency,
                                           thread_name_prefix="cleaner")

    def on_event(self, event: dict) -> None:
        if event.get("event") not in self.TYPES:
            return
        beans = event.get("data")
        if not isinstance(beans, list):
            raise BuryEvent("content event without a bean list")
        urls = [b["id"] for b in beans if isinstance(b, dict)
                and b.get("type") == "chunks" and isinstance(b.get("id"), str)
                and b["id"].startswith(("http://", "https://"))]
        cid = ((event.get("url") or {}).get("id") or "").upper()
        headers = {CHUNK_HEADERS["container_id"]: cid, "Connection": "close"}
        if event.get("request_id"):
            headers["X-oio-req-id"] = str(event["request_id"])[:63]
        for url, status in zip(urls, self.executor.map(
                lambda u: self._delete(u, headers), urls), strict=True):
            if status not in (204, 404):
                self.logger.warning("chunk %s not deleted: %s", url, status)

    def _delete(self, url: str, headers: dict) -> int | str:
        try:
            resp = self.pool.request("DELETE", url, headers=headers,
                                     timeout=self.timeout, retries=False)
            return resp.status
        except urllib3.exceptions.HTTPError as err:
            return str(err)


filter_factory = ContentReaperFilter.factory()
