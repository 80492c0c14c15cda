"""Errors of the meta2 logic: an OpenIO status code and a message.

The HTTP status is derived by the proxy's mapping with the meta2 overrides
(proxy spec §2.3), since a meta2 reply is relayed to the client as is.
"""

from __future__ import annotations

from oio.common.constants import (
    CODE_BAD_REQUEST,
    CODE_CONTAINER_FROZEN,
    CODE_CONTAINER_NOTFOUND,
    CODE_CONTENT_NOTFOUND,
)

# Codes with no constant in oio.common.constants.
CODE_CONTAINER_DISABLED = 437
CODE_CONTAINER_ENABLED = 439


class Meta2Error(Exception):
    """A request meta2 refuses: `status` is the OpenIO code (proxy spec §2.2).

    `http_status` overrides the mapped HTTP status where a route demands it.
    """

    def __init__(self, status: int, message: str,
                 http_status: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status


def bad_request(message: str) -> Meta2Error:
    return Meta2Error(CODE_BAD_REQUEST, message)


def container_not_found(cid: str) -> Meta2Error:
    return Meta2Error(CODE_CONTAINER_NOTFOUND, f"Base not found: {cid}.1")


def content_not_found(message: str = "Alias not found") -> Meta2Error:
    return Meta2Error(CODE_CONTENT_NOTFOUND, message)


def frozen() -> Meta2Error:
    return Meta2Error(CODE_CONTAINER_FROZEN, "Container frozen or disabled")
