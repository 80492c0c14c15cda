"""DirectoryClient: references and their linked services through oio-proxy
(`reference/*`, proxy-api.md §7.3), with the 7.2 method names and keywords.

Errors are raised by ProxyClient as oio.common.exceptions (`from_response`):
NotFound for an unknown reference (status 406), Forbidden when services are
still linked (407) or already linked (455), BadRequest for bad input.
"""

from __future__ import annotations

from typing import Any

from oio.common import exceptions as exc
from oio.common.client import ProxyClient


class DirectoryClient(ProxyClient):
    """The directory (meta0, meta1) as the proxy shows it."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/reference", **kwargs)

    @staticmethod
    def _make_params(account: str | None = None, reference: str | None = None,
                     service_type: str | None = None,
                     cid: str | None = None) -> dict:
        if cid:
            params = {"cid": cid}
        elif account is None or reference is None:
            raise ValueError("Expected account and reference, or cid")
        else:
            params = {"acct": account, "ref": reference}
        if service_type:
            params["type"] = service_type
        return params

    # References ------------------------------------------------------------
    def create(self, account: str | None = None, reference: str | None = None,
               properties: dict | None = None, **kwargs: Any) -> bool:
        """Create a reference: True if created, False if it existed."""
        resp, body = self._request(
            "POST", "/create", params=self._make_params(account, reference),
            json={"properties": properties or {}}, **kwargs)
        if resp.status not in (201, 202):
            raise exc.from_response(resp, body)
        return resp.status == 201

    def has(self, account: str | None = None, reference: str | None = None,
            cid: str | None = None, **kwargs: Any) -> bool:
        """Whether the reference exists. (7.2 asks `reference/has`, a route
        its proxy lacks, so it always said False; this asks `show`.)"""
        try:
            self._request("GET", "/show",
                          params=self._make_params(account, reference, cid=cid),
                          **kwargs)
        except exc.NotFound:
            return False
        return True

    def list(self, account: str | None = None, reference: str | None = None,
             cid: str | None = None, service_type: str | None = None,
             **kwargs: Any) -> dict:
        """{"dir", "srv", "cid", "account", "name"}: the services linked to
        the reference (of `service_type` only, if given)."""
        params = self._make_params(account, reference, service_type, cid=cid)
        _, body = self._request("GET", "/show", params=params, **kwargs)
        return body

    def show(self, *args: Any, **kwargs: Any) -> dict:
        """Deprecated upstream: see `list`."""
        return self.list(*args, **kwargs)

    def delete(self, account: str | None = None, reference: str | None = None,
               cid: str | None = None, **kwargs: Any) -> None:
        """Delete a reference (Forbidden while services are linked, unless
        `force=True`)."""
        params = self._make_params(account, reference, cid=cid)
        if kwargs.pop("force", False):
            params["force"] = "1"
        self._request("POST", "/destroy", params=params, **kwargs)

    def destroy(self, *args: Any, **kwargs: Any) -> None:
        """Deprecated upstream: see `delete`."""
        return self.delete(*args, **kwargs)

    # Properties ------------------------------------------------------------
    def get_properties(self, account: str | None = None,
                       reference: str | None = None,
                       properties: list[str] | None = None,
                       cid: str | None = None, **kwargs: Any) -> dict:
        """{"cid": ..., "properties": {...}}: all, or the named ones."""
        _, body = self._request(
            "POST", "/get_properties", json=list(properties or []),
            params=self._make_params(account, reference, cid=cid), **kwargs)
        return body

    def set_properties(self, account: str | None = None,
                       reference: str | None = None,
                       properties: dict | None = None,
                       cid: str | None = None, **kwargs: Any) -> None:
        """Set properties (a value of "" deletes one)."""
        params = self._make_params(account, reference, cid=cid)
        if kwargs.pop("clear", False):
            params["flush"] = "1"
        self._request("POST", "/set_properties", params=params,
                      json={"properties": properties or {}}, **kwargs)

    def del_properties(self, account: str | None = None,
                       reference: str | None = None,
                       properties: list[str] | None = None,
                       cid: str | None = None, **kwargs: Any) -> None:
        """Delete the named properties (all of them when none is named)."""
        self._request(
            "POST", "/del_properties", json=list(properties or []),
            params=self._make_params(account, reference, cid=cid), **kwargs)

    # Services --------------------------------------------------------------
    def link(self, account: str | None = None, reference: str | None = None,
             service_type: str | None = None, cid: str | None = None,
             autocreate: bool = False, **kwargs: Any) -> list[dict]:
        """Link services of `service_type` chosen by the proxy (the ones
        already linked, if any). Returns the linked entries (7.2: None)."""
        params = self._make_params(account, reference, service_type, cid=cid)
        _, body = self._request("POST", "/link", params=params,
                                autocreate=autocreate, **kwargs)
        return body

    def unlink(self, account: str | None = None, reference: str | None = None,
               service_type: str | None = None, cid: str | None = None,
               **kwargs: Any) -> None:
        """Unlink every service of `service_type`."""
        params = self._make_params(account, reference, service_type, cid=cid)
        self._request("POST", "/unlink", params=params, **kwargs)

    def renew(self, account: str | None = None, reference: str | None = None,
              service_type: str | None = None, cid: str | None = None,
              **kwargs: Any) -> list[dict]:
        """Replace the services of `service_type` if some are down (the
        sequence number grows). Returns the entries (7.2: None)."""
        params = self._make_params(account, reference, service_type, cid=cid)
        _, body = self._request("POST", "/renew", params=params, **kwargs)
        return body

    def force(self, account: str | None = None, reference: str | None = None,
              service_type: str | None = None, services: dict | None = None,
              cid: str | None = None, autocreate: bool = False,
              replace: bool = False, **kwargs: Any) -> None:
        """Link exactly `services`, one entry {"seq", "type", "host",
        "args"} (`host` may list replicas, comma-separated). Forbidden if
        the type is already linked, unless `replace`."""
        params = self._make_params(account, reference, service_type, cid=cid)
        if replace:
            params["replace"] = "yes"
        self._request("POST", "/force", params=params, json=services,
                      autocreate=autocreate, **kwargs)
