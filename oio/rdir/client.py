"""RdirClient: the rdir service of a volume (rdir.md §4, §6.1).

The rdir of a volume is found in the directory (reference `_RDIR/<volume>`,
service type `rdir`) through the proxy, and cached until a network error;
`rdir_url="IP:PORT"` skips the lookup and sends everything to that rdir.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from oio.common import exceptions as exc
from oio.common.client import ProxyClient
from oio.common.configuration import load_namespace_conf
from oio.common.utils import cid_from_name, true_value

RDIR_ACCT = "_RDIR"
TRUNCATED_HEADER = "x-oio-list-truncated"
MARKER_HEADER = "x-oio-list-marker"
BASE_PATH = {"rawx": "rdir", "meta2": "rdir/meta2"}


def _rdir_host(services: dict) -> str:
    for srv in (services or {}).get("srv") or ():
        if srv.get("type") == "rdir":
            return srv["host"]
    raise exc.NotFound(message=f"No rdir service found in {services}")


class RdirClient(ProxyClient):
    service_type = "rdir"

    def __init__(self, conf: dict, rdir_url: str | None = None, **kwargs: Any):
        self.rdir_url = rdir_url.split("://", 1)[-1].rstrip("/") \
            if rdir_url else None
        if self.rdir_url and not (kwargs.get("endpoint")
                                  or conf.get("proxyd_url")):
            # No proxy is needed when the rdir is given.
            proxy = load_namespace_conf(conf.get("namespace", ""),
                                        failsafe=True).get("proxy")
            kwargs["endpoint"] = proxy or self.rdir_url
        super().__init__(conf, request_prefix="", **kwargs)
        self._directory = None
        self._addr_cache: dict[str, str] = {}

    @property
    def directory(self):
        if self._directory is None:
            from oio.directory.client import DirectoryClient
            self._directory = DirectoryClient(
                self.conf, endpoint=f"{self.proxy_scheme}://{self.proxy_netloc}",
                pool_manager=self.pool_manager)
        return self._directory

    # Resolution --------------------------------------------------------------
    def _clear_cache(self, volume_id: str) -> None:
        self._addr_cache.pop(volume_id, None)

    def _get_rdir_addr(self, volume_id: str, **kwargs) -> str:
        if self.rdir_url:
            return self.rdir_url
        host = self._addr_cache.get(volume_id)
        if host is not None:
            return host
        try:
            services = self.directory.list(RDIR_ACCT, volume_id,
                                           service_type="rdir", **kwargs)
            host = _rdir_host(services)
        except exc.NotFound:
            raise exc.VolumeException(
                f"No rdir assigned to volume {volume_id}") from None
        self._addr_cache[volume_id] = host
        return host

    def _rdir_request(self, volume: str, method: str, action: str,
                      create: bool = False, params: dict | None = None,
                      service_type: str = "rawx", **kwargs):
        params = dict(params or {})
        params["vol"] = volume
        if create:
            params["create"] = "1"
        lookup = {k: v for k, v in kwargs.items() if k in ("headers", "reqid")}
        host = self._get_rdir_addr(volume, **lookup)
        url = f"http://{host}/v1/{BASE_PATH[service_type]}/{action}"
        try:
            return self._direct_request(method, url, params=params, **kwargs)
        except exc.OioNetworkException:
            self._clear_cache(volume)
            raise

    def _retried(self, max_attempts: int, *args, **kwargs):
        for attempt in range(max_attempts):
            try:
                return self._rdir_request(*args, **kwargs)
            except exc.OioNetworkException:
                if attempt >= max_attempts - 1:
                    raise
                time.sleep(attempt * 1.0)
        raise AssertionError("not reached")

    # Rawx volumes ------------------------------------------------------------
    def create(self, volume_id: str, service_type: str = "rawx",
               **kwargs) -> None:
        """Create the index of `volume_id` on its rdir."""
        self._rdir_request(volume_id, "POST", "create",
                           service_type=service_type, **kwargs)

    def chunk_push(self, volume_id: str, container_id: str, content_id: str,
                   chunk_id: str, headers: dict | None = None, **data) -> None:
        """Index a chunk; extra keywords (mtime, …) go into the record."""
        body = {"container_id": container_id, "content_id": content_id,
                "chunk_id": chunk_id, **data}
        self._rdir_request(volume_id, "POST", "push", create=True, json=body,
                           headers=headers)

    def chunk_push_many(self, volume_id: str, records: list[dict],
                        headers: dict | None = None) -> None:
        """Index several chunks of a volume in one request and one
        transaction (our rdir takes a JSON list on /push). An rdir that
        refuses the list (400: an older server, or one bad record) gets
        the records one by one, and the first failure is raised after
        every record had its chance."""
        if not records:
            return
        if len(records) > 1:
            try:
                self._rdir_request(volume_id, "POST", "push", create=True,
                                   json=records, headers=headers)
                return
            except exc.ClientException as err:
                if err.http_status != 400:
                    raise
        failure = None
        for record in records:
            try:
                self._rdir_request(volume_id, "POST", "push", create=True,
                                   json=record, headers=headers)
            except exc.OioException as err:
                failure = failure or err
        if failure is not None:
            raise failure

    def chunk_delete(self, volume_id: str, container_id: str, content_id: str,
                     chunk_id: str, **kwargs) -> None:
        body = {"container_id": container_id, "content_id": content_id,
                "chunk_id": chunk_id}
        self._rdir_request(volume_id, "DELETE", "delete", json=body, **kwargs)

    def chunk_fetch(self, volume: str, limit: int = 1000, rebuild: bool = False,
                    container_id: str | None = None, max_attempts: int = 3,
                    start_after: str | None = None, shuffle: bool = False,
                    full_urls: bool = False, **kwargs
                    ) -> Iterator[tuple[str, str, str, dict]]:
        """(container_id, content_id, chunk_id, {"mtime": …}) of every chunk
        of the volume, page after page of `limit`."""
        body: dict = {"limit": limit}
        if rebuild:
            body["rebuild"] = True
        if container_id:
            body["container_id"] = container_id
        if start_after:
            body["start_after"] = start_after
        while True:
            resp, records = self._retried(max_attempts, volume, "POST", "fetch",
                                          json=body, **kwargs)
            records = records or []
            truncated = resp.headers.get(TRUNCATED_HEADER)
            if truncated is None:       # servers older than the header
                if not records:
                    return
                truncated = True
                body["start_after"] = records[-1][0]
            else:
                truncated = true_value(truncated)
                if truncated:
                    body["start_after"] = resp.headers[MARKER_HEADER]
            if shuffle:
                random.shuffle(records)
            for key, value in records:
                container, content, chunk = key.split("|")
                if full_urls:
                    chunk = f"http://{volume}/{chunk}"
                yield container, content, chunk, value
            if not truncated:
                return

    def status(self, volume: str, max: int = 1000, prefix: str | None = None,
               marker: str | None = None, max_attempts: int = 3,
               **kwargs) -> dict:
        """{"chunk": {...}, "container": {cid: {...}}}, summed over pages."""
        params: dict = {"max": max}
        if prefix:
            params["prefix"] = prefix
        if marker:
            params["marker"] = marker
        chunks: dict = {}
        containers: dict = {}
        while True:
            resp, body = self._retried(max_attempts, volume, "GET", "status",
                                       params=dict(params), **kwargs)
            body = body or {}
            for key, value in body.get("chunk", {}).items():
                chunks[key] = chunks.get(key, 0) + value
            for cid, info in body.get("container", {}).items():
                stats = containers.setdefault(cid, {})
                for key, value in info.items():
                    stats[key] = stats.get(key, 0) + value
            if not true_value(resp.headers.get(TRUNCATED_HEADER, "false")):
                break
            params["marker"] = resp.headers[MARKER_HEADER]
        return {"chunk": chunks, "container": containers}

    chunk_status = status

    def admin_incident_set(self, volume: str, date, **kwargs) -> None:
        self._rdir_request(volume, "POST", "admin/incident",
                           json={"date": int(float(date))}, **kwargs)

    def admin_incident_get(self, volume: str, **kwargs) -> int | None:
        _, body = self._rdir_request(volume, "GET", "admin/incident", **kwargs)
        return body.get("date")

    def admin_lock(self, volume: str, who: str, **kwargs) -> None:
        self._rdir_request(volume, "POST", "admin/lock", json={"who": who},
                           **kwargs)

    def admin_unlock(self, volume: str, **kwargs) -> None:
        self._rdir_request(volume, "POST", "admin/unlock", **kwargs)

    def admin_show(self, volume: str, **kwargs) -> dict:
        return self._rdir_request(volume, "GET", "admin/show", **kwargs)[1]

    def admin_clear(self, volume: str, clear_all: bool = False,
                    before_incident: bool = False, repair: bool = False,
                    **kwargs) -> dict:
        params = {"all": clear_all, "before_incident": before_incident,
                  "repair": repair}
        params = {k: "true" if v else "false" for k, v in params.items()}
        return self._rdir_request(volume, "POST", "admin/clear",
                                  params=params, **kwargs)[1]

    # Meta2 volumes -----------------------------------------------------------
    def meta2_index_create(self, volume_id: str, **kwargs) -> None:
        self.create(volume_id, service_type="meta2", **kwargs)

    def meta2_index_push(self, volume_id: str, container_url: str,
                         container_id: str, mtime, extra_data: str | None = None,
                         **kwargs):
        """Record that the meta2 volume hosts the container."""
        body = {"container_url": container_url, "container_id": container_id,
                "mtime": int(mtime)}
        if extra_data is not None:
            body["extra_data"] = extra_data
        return self._rdir_request(volume_id, "POST", "push", create=True,
                                  json=body, service_type="meta2", **kwargs)

    def _resolve_cid_to_path(self, cid: str) -> str:
        info = self.directory.list(cid=cid)
        return f"{self.ns}/{info['account']}/{info['name']}"

    def meta2_index_delete(self, volume_id: str, container_path: str | None = None,
                           container_id: str | None = None, **kwargs):
        """Forget a container of the meta2 volume, by path (NS/acct/name)
        and/or ID; the missing one is derived."""
        if not container_path and not container_id:
            raise ValueError("At least the container ID or the container "
                             "path should be given.")
        if not container_path:
            container_path = self._resolve_cid_to_path(container_id)
        elif not container_id:
            parts = container_path.split("/", 2)
            if len(parts) != 3:
                raise ValueError(f"Invalid container path {container_path!r}")
            container_id = cid_from_name(parts[1], parts[2])
        body = {"container_url": container_path, "container_id": container_id}
        return self._rdir_request(volume_id, "POST", "delete", json=body,
                                  service_type="meta2", **kwargs)

    def meta2_index_fetch(self, volume_id: str, prefix: str | None = None,
                          marker: str | None = None, limit: int = 4096,
                          **kwargs) -> dict:
        """{"records": [...], "truncated": bool}: one page of records."""
        body: dict = {}
        if prefix:
            body["prefix"] = prefix
        if marker:
            body["marker"] = marker
        if limit:
            body["limit"] = limit
        return self._rdir_request(volume_id, "POST", "fetch", json=body,
                                  service_type="meta2", **kwargs)[1]

    def meta2_index_fetch_all(self, volume_id: str, **kwargs) -> Iterator[dict]:
        """Every record of the meta2 volume, page after page."""
        marker = kwargs.pop("marker", None)
        while True:
            page = self.meta2_index_fetch(volume_id, marker=marker, **kwargs)
            records = page.get("records") or []
            yield from records
            if not page.get("truncated") or not records:
                return
            marker = records[-1]["container_url"]


def __getattr__(name: str):
    # 7.2 code imports the dispatcher (and its key helper) from here; it
    # lives in oio.rdir.dispatcher, which imports this module.
    if name == "RdirDispatcher":
        from oio.rdir.dispatcher import RdirDispatcher

        return RdirDispatcher
    if name == "_make_id":
        from oio.rdir.dispatcher import service_key

        return service_key
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
