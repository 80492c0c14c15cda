"""Decorators of client methods, under 7.2's names: request headers and
ids, NotFound turned into the NoSuch* of what was missing, the API's
global keywords."""

from __future__ import annotations

import functools

from oio.common import exceptions as exc
from oio.common.constants import REQID_HEADER
from oio.common.utils import monotonic_time, request_id

__all__ = ["ensure_headers", "ensure_request_id", "ensure_request_id2",
           "handle_account_not_found", "handle_container_not_found",
           "handle_object_not_found", "patch_kwargs",
           "set_deadline_from_read_timeout"]


def ensure_headers(func):
    """`headers` is always a dict in the wrapped call."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if kwargs.get("headers") is None:
            kwargs["headers"] = {}
        return func(*args, **kwargs)
    return wrapper


def ensure_request_id2(prefix: str = ""):
    """The wrapped call gets a request id both as `reqid` and in its
    headers: the caller's `reqid`, the header it already set, or a new
    one starting with `prefix`."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            headers = kwargs.get("headers")
            headers = kwargs["headers"] = {} if headers is None else headers
            if REQID_HEADER not in headers:
                headers[REQID_HEADER] = kwargs.pop("reqid", None) or \
                    request_id(prefix)
            kwargs.setdefault("reqid", headers[REQID_HEADER])
            return func(*args, **kwargs)
        return wrapper
    return decorate


ensure_request_id = ensure_request_id2()


def _reraise(cls: type[exc.OioException], err: exc.NotFound):
    raise cls(err) from None


def handle_account_not_found(func):
    @functools.wraps(func)
    def wrapper(self, account=None, *args, **kwargs):
        try:
            return func(self, account, *args, **kwargs)
        except exc.NotFound as err:
            _reraise(exc.NoSuchAccount, err)
    return wrapper


def handle_container_not_found(func):
    @functools.wraps(func)
    def wrapper(self, account, container, *args, **kwargs):
        try:
            return func(self, account, container, *args, **kwargs)
        except exc.NotFound as err:
            _reraise(exc.NoSuchContainer, err)
    return wrapper


def handle_object_not_found(func):
    """NoSuchContainer when the container is missing (status 406/431 of
    the proxy), NoSuchObject otherwise."""
    @functools.wraps(func)
    def wrapper(self, account, container, obj, *args, **kwargs):
        try:
            return func(self, account, container, obj, *args, **kwargs)
        except exc.NotFound as err:
            if getattr(err, "status", None) in (406, 431):
                _reraise(exc.NoSuchContainer, err)
            _reraise(exc.NoSuchObject, err)
    return wrapper


def set_deadline_from_read_timeout(kwargs: dict, force: bool = False) -> None:
    """A `deadline` (monotonic seconds) `read_timeout` seconds from now,
    unless one is set already."""
    timeout = kwargs.get("read_timeout")
    if timeout is not None and (force or "deadline" not in kwargs):
        kwargs["deadline"] = monotonic_time() + float(timeout)


def patch_kwargs(func):
    """Keywords given to the object's constructor (`self._global_kwargs`)
    fill those the call does not give, and a read timeout sets a deadline."""
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        for key, value in self._global_kwargs.items():
            kwargs.setdefault(key, value)
        set_deadline_from_read_timeout(kwargs)
        return func(self, *args, **kwargs)
    return wrapper
