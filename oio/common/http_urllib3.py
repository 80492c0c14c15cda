"""The one urllib3 pool factory of every synchronous client, and the
translation of urllib3 errors into oio exceptions."""

from __future__ import annotations

import urllib3

from oio.common import exceptions as exc
from oio.common.constants import CONNECTION_TIMEOUT, READ_TIMEOUT

DEFAULT_POOL_CONNECTIONS = 32
DEFAULT_POOL_MAXSIZE = 32


def get_pool_manager(pool_connections: int = DEFAULT_POOL_CONNECTIONS,
                     pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
                     **kwargs) -> urllib3.PoolManager:
    """A keep-alive pool: `pool_connections` hosts, `pool_maxsize`
    connections kept per host."""
    return urllib3.PoolManager(num_pools=pool_connections, maxsize=pool_maxsize,
                               retries=False, **kwargs)


def timeout(connection_timeout: float | None = None,
            read_timeout: float | None = None) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connection_timeout or CONNECTION_TIMEOUT,
                           read=read_timeout or READ_TIMEOUT)


def oio_exception(error: Exception, what: str = "") -> exc.OioException:
    """The oio exception for a urllib3 transport error."""
    prefix = f"{what}: " if what else ""
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return exc.OioTimeout(f"{prefix}connection timeout: {error}")
    if isinstance(error, (urllib3.exceptions.ReadTimeoutError,
                          urllib3.exceptions.TimeoutError)):
        return exc.OioTimeout(f"{prefix}read timeout: {error}")
    if isinstance(error, (urllib3.exceptions.NewConnectionError,
                          urllib3.exceptions.MaxRetryError)):
        return exc.OioConnectionException(f"{prefix}{error}")
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return exc.OioProtocolError(f"{prefix}{error}")
    return exc.OioNetworkException(f"{prefix}{error}")
