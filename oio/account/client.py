"""AccountClient: the account service, found through the proxy's load
balancer (account.md §1, §6)."""

from __future__ import annotations

import time
from typing import Any

from oio.common import exceptions as exc
from oio.common.client import ProxyClient


class AccountClient(ProxyClient):
    service_type = "account"

    def __init__(self, conf: dict, refresh_delay: float = 3600.0, **kwargs: Any):
        super().__init__(conf, request_prefix="", **kwargs)
        # `endpoint` is the account service in use (7.2's attribute name,
        # which its tests set); the proxy, asked for one, is kept apart.
        self._proxy_endpoint = self.endpoint
        self.endpoint: str | None = None
        self.refresh_delay = refresh_delay
        self._last_refresh = 0.0

    def _get_account_addr(self, **kwargs) -> str:
        """IP:PORT of an account service, from the load balancer."""
        kwargs = {k: v for k, v in kwargs.items() if k not in ("params", "json")}
        _, body = self._request("GET", "lb/choose",
                                endpoint=self._proxy_endpoint,
                                params={"type": "account", "size": 1},
                                **kwargs)
        if not body:
            raise exc.ServiceUnavailable("No account service available")
        return body[0]["addr"]

    def _refresh_endpoint(self, now: float | None = None, **kwargs) -> None:
        self.endpoint = f"http://{self._get_account_addr(**kwargs)}/v1.0"
        self._last_refresh = now or time.time()

    def _base_url(self, **kwargs) -> str:
        if not self.endpoint or \
                time.time() - self._last_refresh > self.refresh_delay:
            self._refresh_endpoint(**kwargs)
        base = self.endpoint.rstrip("/")
        return base if "://" in base else f"http://{base}"

    def _account_request(self, method: str, action: str, **kwargs):
        url = f"{self._base_url(**kwargs)}/{action}"
        try:
            return self._direct_request(method, url, **kwargs)
        except exc.OioNetworkException:
            # As 7.2: another account service for the next request (this
            # one may be gone); the error still goes to the caller.
            try:
                self._refresh_endpoint(**kwargs)
            except exc.OioException as err:
                self.logger.warning("No other account service: %s", err)
            raise

    @staticmethod
    def _params(**params) -> dict:
        out = {}
        for key, value in params.items():
            if value is None:
                continue
            out[key] = str(value) if isinstance(value, bool) else value
        return out

    def account_create(self, account: str, **kwargs) -> bool:
        resp, _ = self._account_request("PUT", "account/create",
                                        params={"id": account}, **kwargs)
        return resp.status == 201

    def account_delete(self, account: str, **kwargs) -> None:
        self._account_request("POST", "account/delete", params={"id": account},
                              **kwargs)

    def account_list(self, **kwargs) -> list[str]:
        return self._account_request("GET", "account/list", **kwargs)[1]

    def account_show(self, account: str, **kwargs) -> dict:
        return self._account_request("GET", "account/show",
                                     params={"id": account}, **kwargs)[1]

    def account_update(self, account: str, metadata: dict | None,
                       to_delete: list | None, **kwargs) -> None:
        self._account_request("PUT", "account/update", params={"id": account},
                              json={"metadata": metadata, "to_delete": to_delete},
                              **kwargs)

    def account_refresh(self, account: str, **kwargs) -> None:
        self._account_request("POST", "account/refresh", params={"id": account},
                              **kwargs)

    def account_flush(self, account: str, **kwargs) -> None:
        self._account_request("POST", "account/flush", params={"id": account},
                              **kwargs)

    def container_list(self, account: str, limit=None, marker=None,
                       end_marker=None, prefix=None, delimiter=None,
                       s3_buckets_only=False, **kwargs) -> dict:
        params = self._params(id=account, limit=limit, marker=marker,
                              end_marker=end_marker, prefix=prefix,
                              delimiter=delimiter,
                              s3_buckets_only=s3_buckets_only)
        return self._account_request("GET", "account/containers",
                                     params=params, **kwargs)[1]

    def container_show(self, account: str, container: str, **kwargs) -> dict:
        return self._account_request(
            "GET", "account/show-container",
            params={"id": account, "container": container}, **kwargs)[1]

    def container_update(self, account: str, container: str, metadata: dict,
                         **kwargs) -> None:
        self._account_request("PUT", "account/container/update",
                              params={"id": account},
                              json=dict(metadata, name=container), **kwargs)

    def container_reset(self, account: str, container: str, mtime,
                        **kwargs) -> None:
        self._account_request("PUT", "account/container/reset",
                              params={"id": account},
                              json={"name": container, "mtime": mtime}, **kwargs)

    # Buckets (account.md §6) ------------------------------------------------
    def bucket_list(self, account: str, limit: int | None = None,
                    marker: str | None = None, prefix: str | None = None,
                    **kwargs) -> dict:
        """The account's description with `listing` (dicts: name, objects,
        bytes, mtime), `truncated` and, when truncated, `next_marker`."""
        params = self._params(id=account, limit=limit, marker=marker,
                              prefix=prefix)
        return self._account_request("GET", "account/buckets",
                                     params=params, **kwargs)[1]

    def bucket_show(self, bucket: str, **kwargs) -> dict:
        """Owner, counters, mtime and free fields of a bucket; NotFound
        when unknown."""
        return self._account_request("GET", "account/show-bucket",
                                     params={"id": bucket}, **kwargs)[1]

    def bucket_update(self, bucket: str, metadata: dict | None,
                      to_delete: list | None, **kwargs) -> dict:
        """Delete `to_delete` then set `metadata` fields of a bucket; the
        resulting bucket."""
        return self._account_request(
            "PUT", "account/update-bucket", params={"id": bucket},
            json={"metadata": metadata, "to_delete": to_delete}, **kwargs)[1]

    def bucket_refresh(self, bucket: str, **kwargs) -> None:
        """Recompute the bucket's counters from its containers; Conflict
        while another refresh runs, NotFound for an unknown bucket."""
        self._account_request("POST", "account/refresh-bucket",
                              params={"id": bucket}, **kwargs)
