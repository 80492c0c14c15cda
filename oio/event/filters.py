"""Filters of the event agent's pipelines (events.md §6).

A filter looks at an event and either lets it go on (returns), asks for it
to be retried later (raises EventError) or fails it for good (any other
exception: the agent buries it). Implemented so far: content_cleaner,
notify, replicate, webhook, account_update, volume_index (rawx chunks),
xcute (runs xcute tasks), bury, dump, logger, noop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import urllib3

from oio.common.constants import CHUNK_HEADERS
from oio.common.http_urllib3 import get_pool_manager, timeout

from .beanstalk import Beanstalk, parse_endpoint

LOGGER = logging.getLogger(__name__)


class EventError(Exception):
    """A temporary failure: the event is released and tried again later."""


class BuryEvent(Exception):
    """Put the event aside (buried) for an operator to look at."""


class Filter:
    def __init__(self, conf: dict[str, str]):
        self.conf = conf

    def process(self, event: dict) -> None:
        """Return to let the event go on down the pipeline."""

    def flush(self) -> None:
        """Finish what `process` deferred in this thread (called by the
        agent after each batch of jobs, before it deletes them)."""


class Noop(Filter):
    pass


class Logger(Filter):
    def process(self, event: dict) -> None:
        LOGGER.info("event %s: %s", event.get("event"),
                    json.dumps(event, separators=(",", ":"))[:4096])


class Dump(Filter):
    """Write each event, pretty-printed, to `<directory>/event_<job id>`
    (debugging; directory /tmp unless configured)."""

    def process(self, event: dict) -> None:
        directory = self.conf.get("directory") or "/tmp"
        name = f"event_{int(event.get('job_id') or 0)}"
        with open(os.path.join(directory, name), "w") as out:
            json.dump(event, out, indent=2, sort_keys=True)


class Bury(Filter):
    def process(self, event: dict) -> None:
        raise BuryEvent(f"buried by the pipeline: {event.get('event')}")


class Notify(Filter):
    """Publish the whole event to another tube (`queue_url`, `tube`)."""

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        url = conf.get("queue_url")
        if not url:
            raise ValueError("notify filter: queue_url is required")
        parse_endpoint(url)
        self.url = url
        self.tube = conf.get("tube") or "notif"
        self.exclude = {unquote(e.strip()) for e in
                        (conf.get("exclude") or "").split(",") if e.strip()}
        self._client: Beanstalk | None = None

    def excluded(self, event: dict) -> bool:
        url = event.get("url")
        if not isinstance(url, dict) or not self.exclude:
            return False
        account, container = url.get("account"), url.get("user")
        return account in self.exclude or f"{account}/{container}" in \
            self.exclude

    def process(self, event: dict) -> None:
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


class ContentCleaner(Filter):
    """Delete the chunks of deleted (or drained) contents from the rawx."""

    TYPES = ("storage.content.deleted", "storage.content.drained")

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        self.concurrency = max(1, int(conf.get("concurrency", 3)))
        self.timeout = timeout(float(conf.get("timeout", 5.0)),
                               float(conf.get("timeout", 5.0)))
        self.pool = get_pool_manager(
            pool_connections=int(conf.get("pool_connections", 16)),
            pool_maxsize=int(conf.get("pool_maxsize", 16)))
        self.executor = ThreadPoolExecutor(self.concurrency,
                                           thread_name_prefix="cleaner")

    def process(self, event: dict) -> None:
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
                LOGGER.warning("chunk %s not deleted: %s", url, status)

    def _delete(self, url: str, headers: dict) -> int | str:
        try:
            resp = self.pool.request("DELETE", url, headers=headers,
                                     timeout=self.timeout, retries=False)
            return resp.status
        except urllib3.exceptions.HTTPError as err:
            return str(err)


class Webhook(Filter):
    """POST a summary of content events to `endpoint` (events.md §6)."""

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        self.endpoint = conf.get("endpoint")
        if not self.endpoint:
            raise ValueError("webhook filter: endpoint is required")
        seconds = float(conf.get("timeout", 5.0))
        self.timeout = timeout(seconds, seconds)
        self.pool = get_pool_manager(pool_connections=4, pool_maxsize=4)

    def process(self, event: dict) -> None:
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


class AccountUpdate(Filter):
    """Container creations, states and deletions → the account service
    (`container/update`, account.md §5)."""

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        from oio.account.client import AccountClient

        self.client = AccountClient(
            {"namespace": conf["namespace"]},
            connection_timeout=float(conf.get("connection_timeout", 2.0)),
            read_timeout=float(conf.get("read_timeout", 30.0)))

    def process(self, event: dict) -> None:
        from oio.common import exceptions as exc
        from oio.container.account_updater import account_update_of

        if event.get("event") == "account.services":
            update = self._services_update(event)
        else:
            update = account_update_of(event.get("event", ""), event)
        if update is None:
            return
        account, name, body = update
        try:
            self.client.container_update(account, name, body)
        except exc.Conflict as err:
            LOGGER.info("account update of %s/%s not needed: %s", account,
                        name, err)
        except exc.OioException as err:
            raise EventError(f"account update of {account}/{name}: {err}") \
                from None

    def _services_update(self, event: dict) -> tuple | None:
        """A reference linked to a meta2 makes sure its account exists (no
        container update); one with no meta2 left is a deleted container
        (account.md §5)."""
        from oio.common import exceptions as exc
        from oio.container.account_updater import HIDDEN_ACCOUNTS

        url = event.get("url") or {}
        account, name = url.get("account"), url.get("user")
        if not account or not name or account in HIDDEN_ACCOUNTS:
            return None
        if not any(srv.get("type") == "meta2" for srv in _service_list(event)):
            return account, name, {"dtime": event.get("when", 0) / 1e6}
        try:
            self.client.account_create(account)
        except exc.OioTimeout as err:
            LOGGER.warning("account %s not created: %s", account, err)
        except exc.OioException as err:
            raise EventError(f"account creation of {account}: {err}") \
                from None
        return None


def _service_list(event: dict) -> list[dict]:
    """The links of an `account.services` event (a list, or the newer
    {"services": [...]} shape)."""
    data = event.get("data")
    if isinstance(data, dict):
        data = data.get("services")
    if not isinstance(data, list):
        raise BuryEvent("account.services event without a service list")
    return [srv for srv in data if isinstance(srv, dict)]


class VolumeIndex(Filter):
    """Chunk events → the rdir of their rawx volume (push on new, delete
    on deleted; rdir.md §5). rdir failures are only logged: the event goes
    on, and crawlers repair the index."""

    TYPES = ("storage.chunk.new", "storage.chunk.deleted")
    META2_TYPES = ("account.services", "storage.meta2.deleted",
                   "storage.container.deleted")

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        from oio.rdir.client import RdirClient

        self.client = RdirClient(
            {"namespace": conf["namespace"]},
            connection_timeout=float(conf.get("connection_timeout", 2.0)),
            read_timeout=float(conf.get("read_timeout", 10.0)))
        # Pushes wait for the end of the agent's batch (flush), grouped by
        # volume: one request and one rdir transaction per volume instead
        # of one per chunk. Per thread: each agent worker has its batch.
        self._local = threading.local()

    def _pending(self) -> dict[str, list[dict]]:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def flush(self) -> None:
        from oio.common import exceptions as exc

        pending = self._pending()
        while pending:
            volume, records = pending.popitem()
            try:
                self.client.chunk_push_many(volume, records)
            except exc.OioException as err:
                LOGGER.warning("rdir of volume %s not updated for %d chunk(s)"
                               " (%s...): %s", volume, len(records),
                               records[0]["chunk_id"], err)

    def process(self, event: dict) -> None:
        from oio.common import exceptions as exc

        kind = event.get("event")
        if kind in self.META2_TYPES:
            self._meta2(kind, event)
            return
        if kind not in self.TYPES:
            return
        data = event.get("data")
        if not isinstance(data, dict):
            raise BuryEvent("chunk event without data")
        volume = data.get("volume_service_id") or data.get("volume_id")
        ids = [data.get(k) for k in ("container_id", "content_id", "chunk_id")]
        if not volume or not all(ids):
            raise BuryEvent("chunk event without volume or chunk identity")
        if kind == "storage.chunk.new":
            self._pending().setdefault(volume, []).append({
                "container_id": ids[0], "content_id": ids[1],
                "chunk_id": ids[2],
                "mtime": int(event.get("when") or 0) // 1_000_000})
            return
        # A deletion goes after the pushes deferred before it.
        self.flush()
        try:
            self.client.chunk_delete(volume, *ids)
        except exc.OioException as err:
            LOGGER.warning("rdir of volume %s not updated for chunk %s: %s",
                           volume, ids[2], err)


    def _meta2(self, kind: str, event: dict) -> None:
        """Which containers each meta2 volume hosts (rdir.md §5)."""
        from oio.common import exceptions as exc

        url = event.get("url") or {}
        path = "/".join((url.get("ns") or self.conf.get("namespace", ""),
                         url.get("account") or "", url.get("user") or ""))
        cid = url.get("id")
        if not cid or not url.get("account") or not url.get("user"):
            raise BuryEvent(f"{kind} event without a container URL")
        try:
            if kind == "account.services":
                mtime = int(event.get("when") or 0) // 1_000_000
                for srv in _service_list(event):
                    if srv.get("type") == "meta2" and srv.get("host"):
                        self.client.meta2_index_push(srv["host"], path, cid,
                                                     mtime)
                return
            data = event.get("data")
            data = data if isinstance(data, dict) else {}
            peers = [data["peer"]] if data.get("peer") else \
                list(data.get("peers") or ())
            for peer in peers:
                self.client.meta2_index_delete(peer, path, cid)
        except exc.OioException as err:
            LOGGER.warning("rdir of meta2 not updated for %s (%s): %s", path,
                           kind, err)


class Replicate(Notify):
    """A `notify` of container and content events only (to the external
    replicator's tube, `oio-repli` in the sandbox); with
    `check_replication_enabled`, only for containers whose account record
    says `replication_enabled` (cached `cache_duration` seconds)."""

    def __init__(self, conf: dict[str, str]):
        conf = dict(conf)
        conf.setdefault("tube", "oio-repli")
        super().__init__(conf)
        self.check = str(conf.get("check_replication_enabled", "false")
                         ).lower() in ("1", "true", "yes", "on")
        self.cache_duration = float(conf.get("cache_duration", 30.0))
        self.cache_size = int(conf.get("cache_size", 10000))
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._account = None
        if self.check:
            from oio.account.client import AccountClient

            self._account = AccountClient(
                {"namespace": conf["namespace"]},
                connection_timeout=float(conf.get("connection_timeout", 2.0)),
                read_timeout=float(conf.get("read_timeout", 10.0)))

    def _enabled(self, account: str, container: str) -> bool:
        import time

        from oio.common import exceptions as exc

        now = time.monotonic()
        cached = self._cache.get((account, container))
        if cached is not None and now - cached[0] < self.cache_duration:
            return cached[1]
        try:
            info = self._account.container_show(account, container)
            enabled = bool((info or {}).get("replication_enabled"))
        except exc.NotFound:
            enabled = False
        except exc.OioException as err:
            raise EventError(f"replication check of {account}/{container}: "
                             f"{err}") from None
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[(account, container)] = (now, enabled)
        return enabled

    def process(self, event: dict) -> None:
        kind = event.get("event", "")
        if not kind.startswith(("storage.container.", "storage.content.")):
            return
        url = event.get("url") or {}
        if self.check and not self._enabled(url.get("account"),
                                            url.get("user")):
            return
        super().process(event)


class Xcute(Filter):
    """Runs the tasks of `xcute.tasks` events and replies to the xcute
    orchestrator (spec healing.md §4.7). When the reply cannot be sent,
    the event goes back on this agent's tube `retry_delay_to_reply`
    seconds later, marked processed with its results: only the reply is
    tried again, the tasks are not run twice."""

    def __init__(self, conf: dict[str, str]):
        super().__init__(conf)
        from oio.xcute.common.worker import XcuteWorker

        self.retry_delay = int(conf.get("retry_delay_to_reply") or 60)
        self.queue_url = (conf.get("queue_url") or "").split(";")[0].strip()
        self.tube = conf.get("tube") or "oio-xcute"
        self.worker = XcuteWorker(conf, logger=LOGGER)
        self._local = threading.local()

    def process(self, event: dict) -> None:
        if event.get("event") != "xcute.tasks":
            return
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(
                data.get("tasks"), dict) or not data.get("beanstalkd_reply"):
            raise BuryEvent("xcute.tasks event without tasks or reply "
                            "address")
        reply = data.get("reply") if data.get("processed") else None
        if reply is None:
            reply = self.worker.process(data)
        try:
            self.worker.reply(data, reply)
        except Exception as err:  # noqa: BLE001 - the reply is retried
            LOGGER.warning("xcute job %s: reply not sent (%s), retried in "
                           "%d s", data.get("job_id"), err, self.retry_delay)
            self._retry_reply(event, data, reply)

    def _retry_reply(self, event: dict, data: dict, reply: dict) -> None:
        retry = {k: v for k, v in event.items() if k != "job_id"}
        retry["data"] = dict(data, processed=True, reply=reply)
        body = json.dumps(retry, separators=(",", ":")).encode("utf-8")
        client = getattr(self._local, "client", None)
        try:
            if client is None:
                client = self._local.client = Beanstalk.from_url(
                    self.queue_url)
                client.use(self.tube)
            client.put(body, delay=self.retry_delay)
        except OSError as err:
            self._local.client = None
            raise EventError(f"xcute reply kept for later: {err}") from None


FACTORIES = {"content_cleaner": ContentCleaner, "notify": Notify,
             "replicate": Replicate, "xcute": Xcute,
             "volume_index": VolumeIndex,
             "account_update": AccountUpdate,
             "webhook": Webhook,
             "bury": Bury, "dump": Dump, "logger": Logger, "noop": Noop}
