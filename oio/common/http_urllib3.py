"""The one urllib3 pool factory of every synchronous client, and the
translation of urllib3 errors into oio exceptions."""

from __future__ import annotations

from urllib.parse import urlparse

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import CONNECTION_TIMEOUT, READ_TIMEOUT
from oio.common.http_lean import LeanPool, LeanProtocolError

DEFAULT_POOLSIZE = 32
DEFAULT_RETRIES = 0
DEFAULT_BACKOFF = 0

URLLIB3_REQUESTS_KWARGS = ("fields", "headers", "body", "retries", "redirect",
                           "assert_same_host", "timeout", "pool_timeout",
                           "release_conn", "chunked", "preload_content")
URLLIB3_POOLMANAGER_KWARGS = ("socket_options", "source_address", "cert_reqs",
                              "ca_certs")


class SafePoolManager(urllib3.PoolManager):
    """A PoolManager whose request() drops keywords urllib3 does not know,
    so that callers can pass their whole **kwargs.

    It also carries the lean keep-alive pool (http_lean) that our clients
    use for plain-http requests whose reply they read whole: a pool
    manager a caller made on their own keeps everything in urllib3."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lean = LeanPool()

    def request(self, method, url, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k in URLLIB3_REQUESTS_KWARGS}
        return super().request(method, url, *args, **kwargs)

    def request_whole(self, method: str, url: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None,
                      timeout: urllib3.Timeout | float | None = None):
        """The reply, read whole, of one request without retry: through the
        lean pool for plain http, through urllib3 otherwise. Transport
        errors raise as OSError (lean) or urllib3's HTTPError."""
        if not isinstance(timeout, urllib3.Timeout):
            timeout = urllib3.Timeout(connect=timeout or CONNECTION_TIMEOUT,
                                      read=timeout or READ_TIMEOUT)
        return request_whole(self, method, url, body, headers or {}, timeout)

    def clear(self):
        super().clear()
        self.lean.close()


def split_http_url(url: str) -> tuple[str, int, str] | None:
    """(host, port, target) of a plain `http://` URL, None for others."""
    if not url.startswith("http://"):
        return None
    netloc, _, path = url[7:].partition("/")
    host, sep, port = netloc.rpartition(":")
    if not sep or not port.isdigit() or "@" in netloc:
        return None
    return host.strip("[]"), int(port), "/" + path


def lean_request(pool_manager, method: str, url: str, body: bytes | None,
                 headers: dict[str, str], tmo: urllib3.Timeout):
    """The reply (read whole) of a request through the lean pool of our
    own pool managers; None when the request must go through urllib3
    (another pool manager, not plain http). Transport errors raise as
    OSError (see oio_exception)."""
    lean = getattr(pool_manager, "lean", None)
    parts = split_http_url(url) if lean is not None else None
    if parts is None:
        return None
    host, port, target = parts
    return lean.request(method, host, port, target, headers, body,
                        tmo.connect_timeout, tmo.read_timeout)


def request_whole(pool_manager, method: str, url: str, body: bytes | None,
                  headers: dict[str, str], tmo: urllib3.Timeout):
    """The reply (read whole, no retry) of a request: on the lean path
    when `pool_manager` has one and the URL is plain http, through urllib3
    otherwise (any pool manager, a caller's own included)."""
    resp = lean_request(pool_manager, method, url, body, headers, tmo)
    if resp is None:
        resp = pool_manager.request(method, url, body=body, headers=headers,
                                    timeout=tmo, retries=False)
    return resp


def get_pool_manager(pool_connections: int = DEFAULT_POOLSIZE,
                     pool_maxsize: int = DEFAULT_POOLSIZE,
                     max_retries: int = DEFAULT_RETRIES,
                     backoff_factor: float = DEFAULT_BACKOFF,
                     **kwargs) -> SafePoolManager:
    """A keep-alive pool: `pool_connections` hosts, up to `pool_maxsize`
    idle connections kept per host (more are opened when needed, never
    blocking). No retry by default: callers decide what a failure means."""
    if int(max_retries) == DEFAULT_RETRIES:
        retries = urllib3.Retry(0, read=False)
    else:
        retries = urllib3.Retry(total=int(max_retries),
                                backoff_factor=float(backoff_factor))
    extra = {k: v for k, v in kwargs.items() if k in URLLIB3_POOLMANAGER_KWARGS}
    return SafePoolManager(num_pools=int(pool_connections),
                           maxsize=int(pool_maxsize), retries=retries,
                           block=False, **extra)


def timeout(connection_timeout: float | None = None,
            read_timeout: float | None = None) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connection_timeout or CONNECTION_TIMEOUT,
                           read=read_timeout or READ_TIMEOUT)


def oio_exception(error: Exception, what: str = "") -> exc.OioException:
    """The oio exception for a urllib3 (or socket) transport error."""
    prefix = f"{what}: " if what else ""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason:
        error = error.reason
    # Before timeouts: urllib3 2 makes NewConnectionError a timeout error.
    if isinstance(error, (urllib3.exceptions.NewConnectionError,
                          ConnectionRefusedError)):
        return exc.OioConnectionException(f"{prefix}{error}")
    if isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return exc.OioTimeout(f"{prefix}{error}")
    if isinstance(error, (urllib3.exceptions.ProtocolError,
                          LeanProtocolError)):
        return exc.OioProtocolError(f"{prefix}{error}")
    return exc.OioNetworkException(f"{prefix}{error}")


def oio_exception_from_httperror(error: Exception, reqid: str | None = None,
                                 url: str | None = None):
    """Raise the oio exception for a urllib3 error, naming the request id
    and the host."""
    extra = []
    if reqid:
        extra.append(f"reqid={reqid}")
    if url:
        extra.append(f"host={urlparse(url).netloc}")
    raise oio_exception(error, ", ".join(extra)) from error
