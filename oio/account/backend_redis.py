"""Accounts and their containers, on Redis (account.md §3, §4), so that
several account services on several hosts share one store.

Same public methods, return shapes and errors as `AccountBackend` (SQLite).
Every change that touches several keys, or whose writes depend on what it
reads, is one Lua script: Redis runs a script alone, so concurrent updates
from any number of services cannot interleave. Counters are moved with
HINCRBY (exact 64-bit integers; Lua numbers are doubles).

Keys (the 7.2 layout, see docs/account.md):
    accounts:                     hash, account -> 1 (the registry)
    account:<a>                   hash, id ctime objects bytes damaged_objects
                                  missing_chunks
    metadata:<a>                  hash, free account metadata
    containers:<a>                sorted set (all scores 0), live containers
    container:<a'>:<name>         hash, name mtime dtime objects bytes
                                  damaged_objects missing_chunks [bucket]
where <a'> is <a> with "%" and ":" percent-encoded, so that two (account,
container) pairs never share a key; a deleted container's hash expires
after `deleted_ttl` seconds, as in 7.2.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import buckets as bk
from .common import COUNTERS, AccountError, format_time

REGISTRY = "accounts:"
BUCKET = "bucket:"             # + bucket: its hash
BUCKET_LIST = "buckets:"       # every bucket; + account: the account's
BUCKET_LOCK = "bucketlock:"    # + bucket: its refresh in progress
DELETED_TTL = 60            # seconds a deleted container stays visible
MAX_COUNTER = 2 ** 63 - 1   # what HINCRBY can hold

# Lua 5.1 inside Redis. Errors are only raised before the first write, so
# that a refused request leaves nothing behind (scripts do not roll back).
_NEG = """
local function neg(s)
  if string.sub(s, 1, 1) == '-' then return string.sub(s, 2) end
  return '-' .. s
end
"""

# The bucket of a container update (account.md §4.11 step 8). Its keys
# depend on the bucket name the container stored, so they are built here
# from prefixes, as 7.2 does.
_BUCKET_UPDATE = """
local function update_bucket(bucket, name, account, live, attached, m,
                             before, after, prefixes)
  local bkey = prefixes.bucket .. bucket
  if not live then
    redis.call('HDEL', KEYS[4], 'bucket')
    if bucket == name then
      redis.call('ZREM', prefixes.list, bucket)
      redis.call('ZREM', prefixes.all, bucket)
      redis.call('DEL', bkey)
      return
    end
    if not attached or redis.call('EXISTS', bkey) == 0 then return end
  else
    redis.call('HSET', bkey, 'account', account, 'mtime', m)
    redis.call('HSET', KEYS[4], 'bucket', bucket)
    if bucket == name then
      redis.call('ZADD', prefixes.list, 0, bucket)
      redis.call('ZADD', prefixes.all, 0, bucket)
    end
  end
  -- A refresh in progress counts the containers after its marker itself.
  local marker = redis.call('HGET', prefixes.lock .. bucket, 'marker')
  if marker and name > marker then return end
  local segments = string.find(name, '+segments', 1, true)
  for i, field in ipairs({'objects', 'bytes', 'damaged_objects',
                          'missing_chunks'}) do
    if not (segments and field == 'objects') then
      if after[i] ~= '0' then
        redis.call('HINCRBY', bkey, field, after[i])
      end
      if attached and before[i] ~= '0' then
        redis.call('HINCRBY', bkey, field, neg(before[i]))
      end
    end
  end
end
"""

# KEYS: registry, account, containers, container.
# ARGV: account, name, mtime, dtime, objects, bytes, damaged, missing,
#       bucket, autocreate, ctime, deleted_ttl, must_be_live,
#       prefix of bucket keys, the account's bucket list, the list of every
#       bucket, prefix of bucket lock keys.
UPDATE_CONTAINER = _NEG + _BUCKET_UPDATE + """
if ARGV[13] == '1' and not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  return redis.error_reply('OIO404 container')
end
local exists = redis.call('EXISTS', KEYS[2]) == 1
if not exists and ARGV[10] ~= '1' then
  return redis.error_reply('OIO404 account')
end
local old = redis.call('HMGET', KEYS[4], 'mtime', 'dtime', 'objects',
                       'bytes', 'damaged_objects', 'missing_chunks', 'bucket')
local old_m, old_d = old[1] or '0', old[2] or '0'
local new_m, new_d = ARGV[3], ARGV[4]
if not (tonumber(new_d) > tonumber(old_d)
        or tonumber(new_m) > tonumber(old_m)) then
  return redis.error_reply('OIO409')
end
local m, d = old_m, old_d
if tonumber(new_m) >= tonumber(old_m) then m = new_m end
if tonumber(new_d) >= tonumber(old_d) then d = new_d end
local live
if tonumber(d) > tonumber(m) then
  live = false
elseif tonumber(m) > tonumber(old_m) then
  live = true
else
  return redis.error_reply('OIO409')
end
if not exists then
  redis.call('HSET', KEYS[1], ARGV[1], 1)
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'ctime', ARGV[11], 'objects', 0,
             'bytes', 0, 'damaged_objects', 0, 'missing_chunks', 0)
end
local fields = {'objects', 'bytes', 'damaged_objects', 'missing_chunks'}
local hash = {'name', ARGV[2], 'mtime', m, 'dtime', d}
local befores, afters = {}, {}
for i, field in ipairs(fields) do
  local before = old[2 + i] or '0'
  local after = '0'
  if live then after = ARGV[4 + i] end
  if before ~= after then
    if after ~= '0' then redis.call('HINCRBY', KEYS[2], field, after) end
    if before ~= '0' then redis.call('HINCRBY', KEYS[2], field, neg(before)) end
  end
  befores[i], afters[i] = before, after
  table.insert(hash, field)
  table.insert(hash, after)
end
redis.call('HSET', KEYS[4], unpack(hash))
local bucket = ARGV[9]
if bucket == '' and old[7] then bucket = old[7] end
if bucket ~= '' then
  update_bucket(bucket, ARGV[2], ARGV[1], live, old[7] ~= false, m,
                befores, afters, {bucket = ARGV[14], list = ARGV[15],
                                  all = ARGV[16], lock = ARGV[17]})
end
if live then
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
  redis.call('PERSIST', KEYS[4])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
  if tonumber(ARGV[12]) > 0 then
    redis.call('EXPIRE', KEYS[4], ARGV[12])
  end
end
return 1
"""

# KEYS: registry, account. ARGV: account, ctime. Returns 1 when created.
CREATE_ACCOUNT = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], 1)
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'ctime', ARGV[2], 'objects', 0,
           'bytes', 0, 'damaged_objects', 0, 'missing_chunks', 0)
return 1
"""

# KEYS: registry, account, metadata, containers. ARGV: account.
DELETE_ACCOUNT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('OIO404 account')
end
if redis.call('ZCARD', KEYS[4]) > 0 then
  return redis.error_reply('OIO409 account')
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: registry, account, metadata.
# ARGV: account, autocreate, ctime, number of keys to delete, those keys,
#       then key/value pairs to set.
UPDATE_METADATA = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if ARGV[2] ~= '1' then return redis.error_reply('OIO404 account') end
  redis.call('HSET', KEYS[1], ARGV[1], 1)
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'ctime', ARGV[3], 'objects', 0,
             'bytes', 0, 'damaged_objects', 0, 'missing_chunks', 0)
end
local ndel = tonumber(ARGV[4])
for i = 5, 4 + ndel do
  redis.call('HDEL', KEYS[3], ARGV[i])
end
for i = 5 + ndel, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
return 1
"""

# KEYS: account, containers. ARGV: container key prefix.
REFRESH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('OIO404 account')
end
local fields = {'objects', 'bytes', 'damaged_objects', 'missing_chunks'}
for _, field in ipairs(fields) do redis.call('HSET', KEYS[1], field, 0) end
for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local values = redis.call('HMGET', ARGV[1] .. name, unpack(fields))
  for i, field in ipairs(fields) do
    if values[i] and values[i] ~= '0' then
      redis.call('HINCRBY', KEYS[1], field, values[i])
    end
  end
end
return 1
"""

# KEYS: account, containers. ARGV: container key prefix.
FLUSH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('OIO404 account')
end
redis.call('HSET', KEYS[1], 'objects', 0, 'bytes', 0, 'damaged_objects', 0,
           'missing_chunks', 0)
for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', ARGV[1] .. name)
end
redis.call('DEL', KEYS[2])
return 1
"""

# One page of a listing, read in one snapshot; the walk is the SQLite
# backend's: names in byte order (ZRANGEBYLEX, as SQLite's BINARY collation
# on UTF-8), a delimiter folds the names sharing a common prefix into one
# entry, then the walk jumps past them.
# Lua compares strings with the server's locale (strcoll): the only
# ordering used here is ZRANGEBYLEX's, and the start is chosen by Python.
# KEYS: account, containers.
# ARGV: container key prefix, marker, end_marker, prefix, delimiter, limit,
#       start name, whether the start name is included.
LIST = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('OIO404 account')
end
local marker, end_marker, prefix, delim = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit = tonumber(ARGV[6])
local out = {}
local cursor, inclusive = ARGV[7], ARGV[8] == '1'
local upper = '+'
if end_marker ~= '' then upper = '(' .. end_marker end
while #out < limit do
  local lower
  if inclusive then lower = '[' .. cursor
  elseif cursor == '' then lower = '-'
  else lower = '(' .. cursor end
  local names = redis.call('ZRANGEBYLEX', KEYS[2], lower, upper,
                           'LIMIT', 0, limit - #out)
  if #names == 0 then break end
  inclusive = false
  for _, name in ipairs(names) do
    if prefix ~= '' and string.sub(name, 1, #prefix) ~= prefix then
      return out
    end
    cursor = name
    local cut = nil
    if delim ~= '' then cut = string.find(name, delim, #prefix + 1, true) end
    if cut then
      local common = string.sub(name, 1, cut + #delim - 1)
      if common ~= marker then
        table.insert(out, {common, '0', '0', '1', '0'})
      end
      -- No UTF-8 name has a 0xFF byte: this bound is past every name
      -- starting with `common`.
      cursor = common .. '\\255'
      break
    end
    local v = redis.call('HMGET', ARGV[1] .. name, 'objects', 'bytes', 'mtime')
    table.insert(out, {name, v[1] or '0', v[2] or '0', '0', v[3] or '0'})
    if #out >= limit then break end
  end
end
return out
"""

# KEYS: the bucket's lock. ARGV: now (seconds), lock timeout (seconds).
LOCK_BUCKET = """
if redis.call('HSETNX', KEYS[1], 'ctime', ARGV[1]) == 0 then
  local mtime = tonumber(redis.call('HGET', KEYS[1], 'mtime') or '0') or 0
  if tonumber(ARGV[1]) < mtime + tonumber(ARGV[2]) then
    return redis.error_reply('OIO409 bucket lock')
  end
  redis.call('HSET', KEYS[1], 'ctime', ARGV[1])
end
redis.call('HSET', KEYS[1], 'mtime', ARGV[1], 'marker', '')
return 1
"""

# One batch of a bucket refresh: the first zeroes the counters, each adds
# the containers of the batch attached to the bucket and moves the lock's
# marker past them; 1 when the walk is over (and the lock released).
# KEYS: the owner's containers, bucket, lock.
# ARGV: container key prefix, bucket name, now, batch size.
REFRESH_BUCKET = """
if not redis.call('HGET', KEYS[2], 'account') then
  redis.call('DEL', KEYS[3])
  return redis.error_reply('OIO404 bucket')
end
local fields = {'objects', 'bytes', 'damaged_objects', 'missing_chunks'}
local marker = redis.call('HGET', KEYS[3], 'marker') or ''
local lower = '(' .. marker
if marker == '' then
  lower = '-'
  redis.call('HSET', KEYS[2], 'objects', 0, 'bytes', 0, 'damaged_objects', 0,
             'missing_chunks', 0)
end
local size = tonumber(ARGV[4])
local names = redis.call('ZRANGEBYLEX', KEYS[1], lower, '+', 'LIMIT', 0, size)
for _, name in ipairs(names) do
  local ckey = ARGV[1] .. name
  if redis.call('HGET', ckey, 'bucket') == ARGV[2] then
    local values = redis.call('HMGET', ckey, unpack(fields))
    local segments = string.find(name, '+segments', 1, true)
    for i, field in ipairs(fields) do
      if values[i] and values[i] ~= '0'
          and not (segments and field == 'objects') then
        redis.call('HINCRBY', KEYS[2], field, values[i])
      end
    end
  end
  marker = name
end
if #names < size then
  redis.call('DEL', KEYS[3])
  return 1
end
redis.call('HSET', KEYS[3], 'marker', marker, 'mtime', ARGV[3])
return 0
"""


class AccountUnavailable(AccountError):
    """Redis cannot be reached or cannot serve: HTTP 503."""

    def __init__(self, detail: str):
        super().__init__(503, f"Could not satisfy the request: {detail}")
        self.detail = detail


def _guard(method: Callable) -> Callable:
    """Turn any Redis failure into AccountUnavailable (503), and the
    scripts' refusals into the AccountError the SQLite backend raises."""
    @functools.wraps(method)
    def wrapper(self: RedisAccountBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except redis.ResponseError as exc:
            code = str(exc)
            if code.startswith("OIO404 account"):
                raise AccountError(404, "Account not found") from None
            if code.startswith("OIO409 account"):
                raise AccountError(409, "Account not empty") from None
            if code.startswith("OIO404 bucket"):
                raise AccountError(404, "Bucket not found") from None
            if code.startswith("OIO409 bucket"):
                raise AccountError(409, "Refresh on bucket already in "
                                   "progress") from None
            if code.startswith("OIO409"):
                raise AccountError(409, "No update needed, event older than "
                                   "last container update") from None
            raise AccountUnavailable(f"{self.where}: {exc}") from None
        except redis.sentinel.MasterNotFoundError:
            # redis-py's message dumps the whole connection pool.
            raise AccountUnavailable(
                f"{self.where}: no master known to the sentinels") from None
        except redis.RedisError as exc:
            raise AccountUnavailable(f"{self.where}: {exc}") from None
    return wrapper


def _ckey_prefix(account: str) -> str:
    """`container:<a'>:`; the escaping keeps ("a:b", "c") and ("a", "b:c")
    apart, and leaves the usual names as 7.2 writes them."""
    return "container:" + account.replace("%", "%25").replace(":", "%3A") + ":"


def _counter(value: Any) -> str:
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        raise AccountError(400, f"Invalid counter {value!r}") from None
    if abs(number) > MAX_COUNTER:
        raise AccountError(400, f"Invalid counter {value!r}")
    return str(number)


def parse_address(value: str, default_port: int) -> tuple[str, int]:
    """("host", port) from "host", "host:port", "[v6]:port"."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f"invalid address {value!r}") from None


def connect(conf: Mapping[str, Any]) -> tuple[redis.Redis, str]:
    """A Redis client and a description of where, from the service's
    settings: `redis_host` (host[:port], default port 6379), `redis_db`,
    `redis_password`, `redis_socket_timeout` (seconds, default 2),
    `redis_connect_timeout` (seconds, default 1); or `sentinel_hosts`
    (host:port,...) and `sentinel_name` (also spelled
    `redis_sentinel_hosts`, `redis_sentinel_name`, `sentinel_master_name`).
    Raises ValueError on a bad setting; nothing is contacted yet."""
    def get(*keys: str) -> str:
        for key in keys:
            if conf.get(key) not in (None, ""):
                return str(conf[key]).strip()
        return ""

    def number(key: str, kind: type, default: float) -> Any:
        raw = get(key)
        try:
            return kind(raw) if raw else default
        except ValueError:
            raise ValueError(f"option {key!r}: expected a number, got {raw!r}"
                             ) from None

    options: dict[str, Any] = {
        "db": number("redis_db", int, 0),
        "password": get("redis_password") or None,
        "socket_timeout": number("redis_socket_timeout", float, 2.0),
        "socket_connect_timeout": number("redis_connect_timeout", float, 1.0),
        "decode_responses": True,
        # One quick retry on a fresh connection (a pooled one dies with a
        # Redis restart); never on a timeout, which may have been applied.
        "retry": Retry(NoBackoff(), 1, (redis.ConnectionError,)),
    }
    sentinels = get("sentinel_hosts", "redis_sentinel_hosts")
    if sentinels:
        name = get("sentinel_name", "redis_sentinel_name", "sentinel_master_name")
        if not name:
            raise ValueError("sentinel_hosts needs sentinel_name")
        hosts = [parse_address(h, 26379) for h in sentinels.split(",") if h.strip()]
        sentinel = redis.sentinel.Sentinel(
            hosts, socket_timeout=options["socket_timeout"],
            socket_connect_timeout=options["socket_connect_timeout"])
        where = f"Redis {name!r} of sentinels {sentinels}"
        return sentinel.master_for(name, **options), where
    host, port = parse_address(get("redis_host") or "127.0.0.1:6379", 6379)
    return redis.Redis(host=host, port=port, **options), f"Redis at {host}:{port}"


class RedisAccountBackend:
    """`AccountBackend` on a Redis shared by every account service.

    Thread-safe (redis-py's connection pool); a Redis failure raises
    `AccountUnavailable` (HTTP 503) and the next call reconnects."""

    network_io = True   # the app calls it from worker threads

    def __init__(self, client: redis.Redis, autocreate: bool = True,
                 clock: Callable[[], float] = time.time,
                 deleted_ttl: int = DELETED_TTL, where: str = "Redis"):
        """`client` must decode responses (decode_responses=True);
        `deleted_ttl` (seconds, 0 = forever) is how long a deleted
        container's hash stays readable."""
        self.redis = client
        self.autocreate = autocreate
        self.clock = clock
        self.deleted_ttl = deleted_ttl
        self.where = where
        # EVALSHA, loaded again by redis-py when Redis forgot it (restart).
        self._update = client.register_script(UPDATE_CONTAINER)
        self._create = client.register_script(CREATE_ACCOUNT)
        self._delete = client.register_script(DELETE_ACCOUNT)
        self._metadata = client.register_script(UPDATE_METADATA)
        self._refresh = client.register_script(REFRESH)
        self._flush = client.register_script(FLUSH)
        self._list = client.register_script(LIST)
        self._lock_bucket = client.register_script(LOCK_BUCKET)
        self._refresh_bucket = client.register_script(REFRESH_BUCKET)

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], autocreate: bool = True,
                  **kwargs: Any) -> RedisAccountBackend:
        """Built from the settings `connect` reads; ValueError when bad."""
        client, where = connect(conf)
        return cls(client, autocreate=autocreate, where=where, **kwargs)

    @_guard
    def ping(self) -> None:
        """Raise AccountUnavailable when Redis does not answer."""
        self.redis.ping()

    def close(self) -> None:
        self.redis.close()

    def _now(self) -> str:
        return format_time(self.clock())

    # Accounts --------------------------------------------------------------
    @_guard
    def create_account(self, account: str) -> bool:
        return self._create(keys=[REGISTRY, f"account:{account}"],
                            args=[account, self._now()]) == 1

    @_guard
    def delete_account(self, account: str) -> None:
        self._delete(keys=[REGISTRY, f"account:{account}",
                           f"metadata:{account}", f"containers:{account}"],
                     args=[account])

    @_guard
    def list_accounts(self) -> list[str]:
        return sorted(self.redis.hkeys(REGISTRY))

    @_guard
    def count(self) -> int:
        return self.redis.hlen(REGISTRY)

    @_guard
    def update_metadata(self, account: str, metadata: dict | None,
                        to_delete: list | None) -> None:
        if metadata is not None and not isinstance(metadata, dict):
            raise AccountError(400, "Invalid metadata")
        if to_delete is not None and not isinstance(to_delete, list):
            raise AccountError(400, "Invalid to_delete")
        args: list[str] = ["1" if self.autocreate else "", self._now()]
        args.append(str(len(to_delete or ())))
        args.extend(str(key) for key in to_delete or ())
        for key, value in (metadata or {}).items():
            args.extend((str(key), str(value)))
        self._metadata(keys=[REGISTRY, f"account:{account}",
                             f"metadata:{account}"], args=[account, *args])

    @_guard
    def show(self, account: str) -> dict:
        # MULTI/EXEC: the three reads are one snapshot.
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(f"account:{account}")
        pipe.zcard(f"containers:{account}")
        pipe.hgetall(f"metadata:{account}")
        pipe.zcard(BUCKET_LIST + account)
        stored, containers, metadata, buckets = pipe.execute()
        if not stored:
            raise AccountError(404, "Account not found")
        info: dict = {"id": stored.get("id", account),
                      "ctime": stored.get("ctime", "0")}
        info.update((k, int(stored.get(k, 0))) for k in COUNTERS)
        info["containers"] = containers
        info["buckets"] = buckets
        info["metadata"] = metadata
        return info

    # Containers ------------------------------------------------------------
    @_guard
    def list_containers(self, account: str, limit: int = 1000, marker: str = "",
                        end_marker: str = "", prefix: str = "",
                        delimiter: str = "") -> list[list]:
        """[name, objects, bytes, is_prefix, mtime] of live containers."""
        limit = 1000 if limit <= 0 else min(limit, 10000)
        start = max(marker, prefix) if prefix else marker
        inclusive = bool(prefix) and prefix > marker
        rows = self._list(
            keys=[f"account:{account}", f"containers:{account}"],
            args=[_ckey_prefix(account), marker, end_marker, prefix,
                  delimiter, limit, start, "1" if inclusive else ""])
        return [[name, 0, 0, 1, 0] if is_prefix == "1"
                else [name, int(objects), int(size), 0, float(mtime)]
                for name, objects, size, is_prefix, mtime in rows]

    def _apply(self, account: str, name: str, data: dict,
               must_be_live: bool = False) -> None:
        if not account or not name:
            raise AccountError(400, "Missing account or container")
        mtime = format_time(data.get("mtime"))
        dtime = format_time(data.get("dtime"))
        counters = [_counter(data.get(k)) for k in COUNTERS]
        bucket = data.get("bucket")
        self._update(
            keys=[REGISTRY, f"account:{account}", f"containers:{account}",
                  _ckey_prefix(account) + name],
            args=[account, name, mtime, dtime, *counters,
                  str(bucket) if bucket else "",
                  "1" if self.autocreate else "", self._now(),
                  self.deleted_ttl, "1" if must_be_live else "",
                  BUCKET, BUCKET_LIST + account, BUCKET_LIST, BUCKET_LOCK])

    @_guard
    def update_container(self, account: str, name: str, data: dict) -> None:
        """Apply a container update (account.md §4.11); 409 when stale."""
        self._apply(account, name, data)

    @_guard
    def reset_container(self, account: str, name: str, mtime: Any) -> None:
        try:
            self._apply(account, name, {"mtime": mtime}, must_be_live=True)
        except redis.ResponseError as exc:
            if str(exc).startswith("OIO404 container"):
                raise AccountError(404, f"Container {name} not found") from None
            raise

    @_guard
    def show_container(self, account: str, name: str) -> dict:
        stored = self.redis.hgetall(_ckey_prefix(account) + name)
        out: dict = {bk.REPLICATION_ENABLED: False}
        if stored:
            out.update(name=stored.get("name", name),
                       mtime=stored.get("mtime", "0"),
                       dtime=stored.get("dtime", "0"))
            out.update((k, int(stored.get(k, 0))) for k in COUNTERS)
            if stored.get("bucket"):
                out["bucket"] = stored["bucket"]
                flag = self.redis.hget(BUCKET + stored["bucket"],
                                       bk.REPLICATION_ENABLED)
                out[bk.REPLICATION_ENABLED] = bk.cast_bucket(
                    {bk.REPLICATION_ENABLED: flag})[bk.REPLICATION_ENABLED]
        return out

    @_guard
    def refresh(self, account: str) -> None:
        self._refresh(keys=[f"account:{account}", f"containers:{account}"],
                      args=[_ckey_prefix(account)])

    @_guard
    def flush(self, account: str) -> None:
        self._flush(keys=[f"account:{account}", f"containers:{account}"],
                    args=[_ckey_prefix(account)])

    # Buckets ---------------------------------------------------------------
    @_guard
    def list_buckets(self, account: str, limit: int = 1000, marker: str = "",
                     end_marker: str = "", prefix: str = ""
                     ) -> tuple[list[dict], str | None]:
        """One page of the account's buckets ({name, objects, bytes,
        mtime}) and the marker of the next page (None at the end)."""
        limit = bk.listing_limit(limit)
        if prefix and prefix > marker:
            lower = "[" + prefix
        else:
            lower = "(" + marker if marker else "-"
        upper = "(" + end_marker if end_marker else "+"
        names = self.redis.zrangebylex(BUCKET_LIST + account, lower, upper,
                                       0, limit)
        # Names sharing the prefix are contiguous: the first one without it
        # ends the listing.
        cut = next((i for i, n in enumerate(names) if not n.startswith(prefix)),
                   len(names))
        page, next_marker = bk.listing_page(names[:cut], limit)
        pipe = self.redis.pipeline(transaction=False)
        for name in page:
            pipe.hmget(BUCKET + name, "objects", "bytes", "mtime")
        values = pipe.execute() if page else []
        return [bk.bucket_entry(name, dict(zip(("objects", "bytes", "mtime"), v,
                                            strict=True)))
                for name, v in zip(page, values, strict=True)], next_marker

    @_guard
    def show_bucket(self, bucket: str) -> dict:
        bk.check_bucket_name(bucket)
        stored = self.redis.hgetall(BUCKET + bucket)
        if not stored:
            raise AccountError(404, "Bucket not found")
        return bk.cast_bucket(stored)

    @_guard
    def update_bucket(self, bucket: str, metadata: dict | None,
                      to_delete: list | None) -> dict:
        """Delete then set free fields of a bucket (known or not, as 7.2);
        the resulting bucket."""
        bk.check_bucket_name(bucket)
        values, keys = bk.check_metadata(metadata, to_delete)
        pipe = self.redis.pipeline(transaction=True)
        if keys:
            pipe.hdel(BUCKET + bucket, *keys)
        if values:
            pipe.hset(BUCKET + bucket, mapping=values)
        pipe.hgetall(BUCKET + bucket)
        return bk.cast_bucket(pipe.execute()[-1])

    @_guard
    def refresh_bucket(self, bucket: str, batch_size: int = bk.REFRESH_BATCH
                       ) -> None:
        """Recompute the counters of a bucket from its owner's live
        containers attached to it, in batches: container updates keep
        moving the counters behind the walk (below its marker)."""
        bk.check_bucket_name(bucket)
        lock = BUCKET_LOCK + bucket
        self._lock_bucket(keys=[lock], args=[self._now(), bk.LOCK_TIMEOUT])
        try:
            owner = self.redis.hget(BUCKET + bucket, "account")
            if not owner:
                raise AccountError(404, f"Bucket {bucket} not found")
            while not self._refresh_bucket(
                    keys=[f"containers:{owner}", BUCKET + bucket, lock],
                    args=[_ckey_prefix(owner), bucket, self._now(),
                          batch_size]):
                pass
        except BaseException:
            self.redis.delete(lock)
            raise
