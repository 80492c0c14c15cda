"""XcuteClient: the xcute service's `/v1.0/xcute/*` routes (spec
healing.md §4.5), the service found through the conscience (type
`xcute`) unless an URL is given."""

from __future__ import annotations

from typing import Any

from oio.common import exceptions as exc
from oio.common.client import ProxyClient


class XcuteClient(ProxyClient):
    def __init__(self, conf: dict, xcute_url: str | None = None,
                 **kwargs: Any):
        super().__init__(conf, **kwargs)
        self._kwargs = {k: v for k, v in kwargs.items()
                        if k not in ("pool_manager", "endpoint")}
        self._fixed_url = xcute_url.rstrip("/") if xcute_url else None
        self._url: str | None = self._fixed_url
        self._conscience = None

    @property
    def conscience(self):
        if self._conscience is None:
            from oio.conscience.client import ConscienceClient

            self._conscience = ConscienceClient(
                self.conf, endpoint=self.proxy_netloc,
                pool_manager=self.pool_manager, **self._kwargs)
        return self._conscience

    def _base_url(self) -> str:
        if self._url is None:
            try:
                addr = self.conscience.next_instance("xcute")["addr"]
            except (exc.ClientException, IndexError, KeyError):
                raise exc.ServiceUnavailable(
                    "No xcute service registered in the conscience of "
                    f"namespace {self.ns}") from None
            self._url = f"http://{addr}/v1.0/xcute"
        return self._url

    def xcute_request(self, method: str, action: str, **kwargs: Any
                      ) -> tuple[Any, Any]:
        url = f"{self._base_url()}/{action}"
        try:
            return self._direct_request(method, url, **kwargs)
        except (exc.OioNetworkException, exc.ServiceUnavailable):
            if self._fixed_url:
                raise
            # The service we knew is gone: ask the conscience again, once.
            self._url = None
            url = f"{self._base_url()}/{action}"
            return self._direct_request(method, url, **kwargs)

    def job_list(self, limit: int | None = None, prefix: str | None = None,
                 marker: str | None = None, job_status: str | None = None,
                 job_type: str | None = None, job_lock: str | None = None
                 ) -> list[dict]:
        params = {"limit": limit, "prefix": prefix, "marker": marker,
                  "status": job_status, "type": job_type, "lock": job_lock}
        return self.xcute_request("GET", "job/list", params=params)[1]

    def job_create(self, job_type: str, job_config: dict | None = None,
                   put_on_hold_if_locked: bool = False) -> dict:
        params = {"type": job_type,
                  "put_on_hold_if_locked": put_on_hold_if_locked}
        return self.xcute_request("POST", "job/create", params=params,
                                  json=job_config or {})[1]

    def job_show(self, job_id: str) -> dict:
        return self.xcute_request("GET", "job/show", params={"id": job_id})[1]

    def job_pause(self, job_id: str) -> dict:
        return self.xcute_request("POST", "job/pause",
                                  params={"id": job_id})[1]

    def job_resume(self, job_id: str) -> dict:
        return self.xcute_request("POST", "job/resume",
                                  params={"id": job_id})[1]

    def job_update(self, job_id: str, job_config: dict | None = None
                   ) -> dict:
        return self.xcute_request("POST", "job/update", params={"id": job_id},
                                  json=job_config or {})[1]

    def job_delete(self, job_id: str) -> None:
        self.xcute_request("DELETE", "job/delete", params={"id": job_id})

    def lock_list(self) -> list[dict]:
        return self.xcute_request("GET", "lock/list")[1]

    def lock_show(self, lock: str) -> dict:
        return self.xcute_request("GET", "lock/show", params={"lock": lock})[1]
