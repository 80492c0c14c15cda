"""`RedisConnection` as 7.2 offers it to its Redis-backed tools: one Redis
(`host`) or a master found through sentinels (`sentinel_hosts`,
`sentinel_name`), a replica for reads, Lua scripts and a simple lock."""

from __future__ import annotations

import functools
import time
import uuid

import redis
import redis.sentinel

from oio.account.backend_redis import parse_address
from oio.common.exceptions import ServiceBusy

__all__ = ["RedisConnection", "catch_io_errors", "catch_service_errors"]

# Keywords of redis.Redis callers may pass (others are dropped, as 7.2).
CONN_KEYWORDS = ("db", "password", "socket_timeout", "socket_connect_timeout",
                 "socket_keepalive", "retry_on_timeout", "health_check_interval",
                 "max_connections", "decode_responses")


def catch_service_errors(func):
    """Redis failures (unreachable, no master, timeouts) as ServiceBusy."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError,
                redis.sentinel.MasterNotFoundError) as exc:
            raise ServiceBusy(message=f"Redis: {exc}") from None
    return wrapper


catch_io_errors = catch_service_errors


def _conn_kwargs(kwargs: dict) -> dict:
    out = {}
    for key in CONN_KEYWORDS:
        value = kwargs.get(key, kwargs.get("redis_" + key))
        if value is not None:
            out[key] = value
    for key in ("socket_timeout", "socket_connect_timeout"):
        if key in out:
            out[key] = float(out[key])
    return out


class RedisConnection:
    def __init__(self, host: str | None = None,
                 sentinel_hosts: str | list[str] | None = None,
                 sentinel_name: str | None = None, **kwargs):
        self._conn_kwargs = _conn_kwargs(kwargs)
        self._conn: redis.Redis | None = None
        self._conn_slave: redis.Redis | None = None
        self._sentinel: redis.sentinel.Sentinel | None = None
        self._sentinel_name = sentinel_name
        if sentinel_hosts:
            if isinstance(sentinel_hosts, str):
                sentinel_hosts = sentinel_hosts.split(",")
            if not sentinel_name:
                raise ValueError("sentinel_hosts needs sentinel_name")
            hosts = [parse_address(h, 26379) for h in sentinel_hosts
                     if h.strip()]
            timeouts = {k: v for k, v in self._conn_kwargs.items()
                        if k in ("socket_timeout", "socket_connect_timeout")}
            self._sentinel = redis.sentinel.Sentinel(hosts, **timeouts)
            self._host, self._port = None, None
        else:
            self._host, self._port = parse_address(host or "127.0.0.1:6379",
                                                   6379)

    @property
    def conn(self) -> redis.Redis:
        """The master (writes and consistent reads)."""
        if self._conn is None:
            if self._sentinel is not None:
                self._conn = self._sentinel.master_for(self._sentinel_name,
                                                       **self._conn_kwargs)
            else:
                self._conn = redis.Redis(host=self._host, port=self._port,
                                         **self._conn_kwargs)
        return self._conn

    @property
    def conn_slave(self) -> redis.Redis:
        """A replica when sentinels know one, the master otherwise."""
        if self._sentinel is None:
            return self.conn
        if self._conn_slave is None:
            self._conn_slave = self._sentinel.slave_for(self._sentinel_name,
                                                        **self._conn_kwargs)
        return self._conn_slave

    def get_slave_conn(self, force_master: bool = False, **_kwargs):
        return self.conn if force_master else self.conn_slave

    def register_script(self, script: str):
        """A callable running the Lua `script` on the master."""
        return self.conn.register_script(script)

    def acquire_lock_with_timeout(self, lockname: str,
                                  acquire_timeout: float = 10,
                                  lock_timeout: float = 10) -> str | bool:
        """Take `lock:<lockname>` for `lock_timeout` seconds, trying for up
        to `acquire_timeout` seconds; its identifier, or False."""
        identifier = str(uuid.uuid4())
        key = "lock:" + lockname
        deadline = time.monotonic() + acquire_timeout
        while True:
            if self.conn.set(key, identifier, nx=True,
                             px=int(lock_timeout * 1000)):
                return identifier
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)

    def release_lock(self, lockname: str, identifier: str) -> bool:
        """Free the lock if `identifier` still holds it."""
        key = "lock:" + lockname
        with self.conn.pipeline(True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    held = pipe.get(key)
                    if isinstance(held, bytes):
                        held = held.decode()
                    if held != identifier:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
