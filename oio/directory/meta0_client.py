"""Meta0Client: the meta0 prefix map through oio-proxy (`admin/meta0_list`,
`admin/meta0_force`, proxy-api.md §7.6.1-2), the 7.2 method names."""

from __future__ import annotations

import json
from typing import Any

from oio.common.client import ProxyClient


class Meta0Client(ProxyClient):
    """Read and force the 65,536 prefixes → meta1 addresses map."""

    def __init__(self, conf: dict, **kwargs: Any):
        super().__init__(conf, request_prefix="/admin", **kwargs)

    def list(self, **kwargs: Any) -> dict[str, list[str]]:
        """The whole map, `{"0000": ["IP:PORT", ...], ...}` (NotFound while
        meta0 is not initialized)."""
        return self._request("GET", "/meta0_list", **kwargs)[1]

    def force(self, mapping: dict | str, **kwargs: Any) -> None:
        """Replace the services of the prefixes of `mapping` (a partial map
        is fine), given as a dict or its JSON text."""
        if not isinstance(mapping, str):
            mapping = json.dumps(mapping, separators=(",", ":"))
        self._request("POST", "/meta0_force", data=mapping, **kwargs)
