"""Errors of the directory services, with their oio status codes."""

from __future__ import annotations

from oio.common.constants import (
    CODE_BAD_REQUEST,
    CODE_CONTAINER_EXISTS,
    CODE_SRV_ALREADY,
    CODE_USER_INUSE,
    CODE_USER_NOTFOUND,
)
from oio.common.oio_status import http_status_of
from oio.common.utils import is_hexa


class DirectoryError(Exception):
    def __init__(self, status: int, message: str, http_status: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status or http_status_of(status)


def bad_request(message: str) -> DirectoryError:
    return DirectoryError(CODE_BAD_REQUEST, message)


def no_reference(cid: str) -> DirectoryError:
    return DirectoryError(CODE_USER_NOTFOUND, f"Reference not found: {cid}")


def in_use(cid: str) -> DirectoryError:
    return DirectoryError(CODE_USER_INUSE, f"Reference still linked: {cid}",
                          http_status=403)


def already_linked(kind: str) -> DirectoryError:
    return DirectoryError(CODE_SRV_ALREADY, f"Service {kind} already linked",
                          http_status=409)


def already_initialized() -> DirectoryError:
    return DirectoryError(CODE_CONTAINER_EXISTS, "meta0 already initialized",
                          http_status=409)


def check_cid(cid: object) -> str:
    """A container ID: 64 hexadecimal digits, upper-cased."""
    if not isinstance(cid, str) or not is_hexa(cid, 64):
        raise bad_request(f"Invalid container ID {cid!r}")
    return cid.upper()


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not is_hexa(prefix, 4):
        raise bad_request(f"Invalid prefix {prefix!r}: 4 hexadecimal digits")
    return prefix.upper()
