"""The Lua scripts of the xcute backend: every change of a job's state is
one script, so that Redis applies it whole (spec healing.md §4.4).

Arguments come in ARGV, the first always the mtime to record. Errors are
`error_reply('<code>[:<detail>]')`, mapped to HTTP errors by the backend.

Differences with 7.2 on purpose: a lock is released only by the job that
holds it (no double release, no leak when a waiting or failed job is
deleted); resuming a failed job takes its lock again; tasks sent carry a
deadline (`xcute:tasks:deadline:<id>`, payloads in
`xcute:tasks:payload:<id>`) so that unacknowledged ones are sent again.
"""

from __future__ import annotations

HELPERS = """
local function ikey(id) return 'xcute:job:info:' .. id end

local function release_lock(lock, job_id, mtime)
  if not lock or redis.call('HGET', 'xcute:locks', lock) ~= job_id then
    return
  end
  local heir = redis.call('LPOP', 'xcute:on_hold:jobs:' .. lock)
  if not heir then
    redis.call('HDEL', 'xcute:locks', lock)
    return
  end
  redis.call('HSET', 'xcute:locks', lock, heir)
  redis.call('HSET', ikey(heir), 'job.status', 'WAITING', 'job.mtime', mtime)
  redis.call('RPUSH', 'xcute:waiting:jobs', heir)
end

local function forget_tasks(job_id)
  redis.call('DEL', 'xcute:tasks:deadline:' .. job_id,
             'xcute:tasks:payload:' .. job_id)
end

local function leave_orchestrator(job_id)
  local orch = redis.call('HGET', ikey(job_id), 'orchestrator.id')
  if orch then
    redis.call('SREM', 'xcute:orchestrator:jobs:' .. orch, job_id)
  end
end

local function finish_if_due(job_id, mtime)
  local key = ikey(job_id)
  local st = redis.call('HMGET', key, 'job.status', 'tasks.all_sent',
                        'tasks.sent', 'tasks.processed', 'job.lock')
  if st[1] == 'RUNNING' and st[2] == 'True'
      and tonumber(st[4]) >= tonumber(st[3]) then
    redis.call('HSET', key, 'job.status', 'FINISHED',
               'job.request_pause', 'False', 'job.mtime', mtime)
    leave_orchestrator(job_id)
    release_lock(st[5], job_id, mtime)
    forget_tasks(job_id)
  end
end

local function status_of(job_id)
  local status = redis.call('HGET', ikey(job_id), 'job.status')
  if not status then
    return redis.error_reply('no_job')
  end
  return status
end
"""

CREATE = HELPERS + """
local mtime, job_id, job_type, config, lock, on_hold =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', ikey(job_id)) == 1 then
  return redis.error_reply('job_exists')
end
local status = 'WAITING'
if redis.call('HEXISTS', 'xcute:locks', lock) == 1 then
  if on_hold ~= 'True' then
    return redis.error_reply('lock_exists:' .. lock)
  end
  status = 'ON_HOLD'
  redis.call('RPUSH', 'xcute:on_hold:jobs:' .. lock, job_id)
else
  redis.call('HSET', 'xcute:locks', lock, job_id)
  redis.call('RPUSH', 'xcute:waiting:jobs', job_id)
end
redis.call('ZADD', 'xcute:job:ids', 0, job_id)
redis.call('HSET', ikey(job_id),
  'job.id', job_id, 'job.type', job_type, 'job.status', status,
  'job.request_pause', 'False', 'job.lock', lock,
  'job.ctime', mtime, 'job.mtime', mtime,
  'tasks.all_sent', 'False', 'tasks.sent', '0', 'tasks.processed', '0',
  'tasks.total', '0', 'tasks.is_total_temp', 'True',
  'errors.total', '0', 'config', config)
return status
"""

# A job handed over to an orchestrator; stale entries (a job paused or
# deleted while it waited) are skipped.
RUN_NEXT = HELPERS + """
local mtime, orch = ARGV[1], ARGV[2]
while true do
  local job_id = redis.call('LPOP', 'xcute:waiting:jobs')
  if not job_id then return nil end
  if redis.call('HGET', ikey(job_id), 'job.status') == 'WAITING' then
    redis.call('HSET', ikey(job_id), 'job.status', 'RUNNING',
               'orchestrator.id', orch, 'job.mtime', mtime)
    redis.call('SADD', 'xcute:orchestrator:jobs:' .. orch, job_id)
    return redis.call('HGETALL', ikey(job_id))
  end
end
"""

# The orchestrator stops while dispatching: the job goes first in line.
FREE = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
leave_orchestrator(job_id)
if status == 'RUNNING' then
  redis.call('HSET', ikey(job_id), 'job.status', 'WAITING', 'job.mtime', mtime)
  redis.call('LPUSH', 'xcute:waiting:jobs', job_id)
end
return redis.call('HGET', ikey(job_id), 'job.status')
"""

FAIL = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
if status == 'FINISHED' or status == 'FAILED' then return status end
leave_orchestrator(job_id)
redis.call('LREM', 'xcute:waiting:jobs', 0, job_id)
redis.call('HSET', ikey(job_id), 'job.status', 'FAILED',
           'job.request_pause', 'False', 'job.mtime', mtime)
release_lock(redis.call('HGET', ikey(job_id), 'job.lock'), job_id, mtime)
return 'FAILED'
"""

PAUSE = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
if status == 'WAITING' then
  redis.call('LREM', 'xcute:waiting:jobs', 0, job_id)
  redis.call('HSET', key, 'job.status', 'PAUSED', 'job.mtime', mtime)
elseif status == 'RUNNING' then
  if redis.call('HGET', key, 'tasks.all_sent') == 'True' then
    return redis.error_reply('job_cannot_be_paused_all_tasks_sent')
  end
  redis.call('HSET', key, 'job.request_pause', 'True', 'job.mtime', mtime)
elseif status == 'ON_HOLD' then
  return redis.error_reply('job_on_hold')
elseif status == 'FINISHED' then
  return redis.error_reply('job_finished')
end
return redis.call('HGET', key, 'job.status')
"""

RESUME = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
if status == 'RUNNING' then
  redis.call('HSET', key, 'job.request_pause', 'False', 'job.mtime', mtime)
elseif status == 'PAUSED' then
  redis.call('HSET', key, 'job.status', 'WAITING', 'job.mtime', mtime)
  redis.call('RPUSH', 'xcute:waiting:jobs', job_id)
elseif status == 'FAILED' then
  -- A failed job gave its lock away: take it again, or wait for it.
  local lock = redis.call('HGET', key, 'job.lock')
  local holder = redis.call('HGET', 'xcute:locks', lock)
  if not holder or holder == job_id then
    redis.call('HSET', 'xcute:locks', lock, job_id)
    redis.call('HSET', key, 'job.status', 'WAITING', 'job.mtime', mtime)
    redis.call('RPUSH', 'xcute:waiting:jobs', job_id)
  else
    redis.call('HSET', key, 'job.status', 'ON_HOLD', 'job.mtime', mtime)
    redis.call('RPUSH', 'xcute:on_hold:jobs:' .. lock, job_id)
  end
elseif status == 'FINISHED' then
  return redis.error_reply('job_finished')
end
return redis.call('HGET', key, 'job.status')
"""

UPDATE_CONFIG = HELPERS + """
local mtime, job_id, config, lock = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local status = status_of(job_id)
if type(status) == 'table' then return status end
if status ~= 'ON_HOLD' and status ~= 'PAUSED' and status ~= 'FAILED' then
  return redis.error_reply('job_must_be_paused')
end
if redis.call('HGET', ikey(job_id), 'job.lock') ~= lock then
  return redis.error_reply('lock_changed')
end
redis.call('HSET', ikey(job_id), 'config', config, 'job.mtime', mtime)
return status
"""

DELETE = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
if status == 'RUNNING' then
  return redis.error_reply('job_running')
end
local lock = redis.call('HGET', key, 'job.lock')
if status == 'WAITING' then
  redis.call('LREM', 'xcute:waiting:jobs', 0, job_id)
elseif status == 'ON_HOLD' then
  redis.call('LREM', 'xcute:on_hold:jobs:' .. lock, 0, job_id)
end
release_lock(lock, job_id, mtime)
leave_orchestrator(job_id)
forget_tasks(job_id)
redis.call('DEL', key, 'xcute:tasks:running:' .. job_id)
redis.call('ZREM', 'xcute:job:ids', job_id)
return status
"""

# ARGV: mtime, job_id, all_sent, deadline, n, n task IDs, n payloads.
# Returns {status, previous tasks.last_sent or ''}.
TASKS_SENT = HELPERS + """
local mtime, job_id, all_sent, deadline = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
local previous = redis.call('HGET', key, 'tasks.last_sent') or ''
for i = 1, n do
  local task_id, payload = ARGV[5 + i], ARGV[5 + n + i]
  redis.call('SADD', 'xcute:tasks:running:' .. job_id, task_id)
  redis.call('ZADD', 'xcute:tasks:deadline:' .. job_id, deadline, task_id)
  redis.call('HSET', 'xcute:tasks:payload:' .. job_id, task_id, payload)
end
if n > 0 then
  redis.call('HSET', key, 'tasks.last_sent', ARGV[5 + n])
  redis.call('HINCRBY', key, 'tasks.sent', n)
end
redis.call('HSET', key, 'job.mtime', mtime)
if all_sent == 'True' then
  redis.call('HSET', key, 'tasks.all_sent', 'True')
  finish_if_due(job_id, mtime)
elseif status == 'RUNNING'
    and redis.call('HGET', key, 'job.request_pause') == 'True' then
  redis.call('HSET', key, 'job.status', 'PAUSED', 'job.request_pause', 'False')
  leave_orchestrator(job_id)
end
return {redis.call('HGET', key, 'job.status'), previous}
"""

# A batch that could not be put on any beanstalkd: as if never recorded.
# ARGV: mtime, job_id, previous last_sent ('' = none), n, n task IDs.
TASKS_UNSENT = HELPERS + """
local mtime, job_id, previous = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
local removed = 0
for i = 1, n do
  local task_id = ARGV[4 + i]
  removed = removed + redis.call('SREM', 'xcute:tasks:running:' .. job_id,
                                 task_id)
  redis.call('ZREM', 'xcute:tasks:deadline:' .. job_id, task_id)
  redis.call('HDEL', 'xcute:tasks:payload:' .. job_id, task_id)
end
redis.call('HINCRBY', key, 'tasks.sent', -removed)
if previous == '' then
  redis.call('HDEL', key, 'tasks.last_sent')
else
  redis.call('HSET', key, 'tasks.last_sent', previous)
end
redis.call('HSET', key, 'job.mtime', mtime)
return status
"""

# A worker's reply. ARGV: mtime, job_id, n, n task IDs, e, e pairs
# (error class, count), r, r pairs (result key, count). Counters of a
# reply whose tasks were all acknowledged already (a duplicate) are not
# counted again. Returns the status, nil for a deleted job.
TASKS_PROCESSED = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local key = ikey(job_id)
if redis.call('EXISTS', key) == 0 then return nil end
local i = 3
local n = tonumber(ARGV[i])
local removed = 0
for j = 1, n do
  local task_id = ARGV[i + j]
  removed = removed + redis.call('SREM', 'xcute:tasks:running:' .. job_id,
                                 task_id)
  redis.call('ZREM', 'xcute:tasks:deadline:' .. job_id, task_id)
  redis.call('HDEL', 'xcute:tasks:payload:' .. job_id, task_id)
end
i = i + n + 1
local e = tonumber(ARGV[i])
if removed > 0 then
  redis.call('HINCRBY', key, 'tasks.processed', removed)
  for j = 0, e - 1 do
    local count = tonumber(ARGV[i + 2 * j + 2])
    redis.call('HINCRBY', key, 'errors.' .. ARGV[i + 2 * j + 1], count)
    redis.call('HINCRBY', key, 'errors.total', count)
  end
end
i = i + 2 * e + 1
local r = tonumber(ARGV[i])
if removed > 0 then
  for j = 0, r - 1 do
    redis.call('HINCRBY', key, 'results.' .. ARGV[i + 2 * j + 1],
               tonumber(ARGV[i + 2 * j + 2]))
  end
  redis.call('HSET', key, 'job.mtime', mtime)
end
finish_if_due(job_id, mtime)
return redis.call('HGET', key, 'job.status')
"""

# Tasks past their deadline, each given a new one. ARGV: mtime, job_id,
# now, new deadline, limit. Returns {id1, payload1, id2, payload2, ...}.
TAKE_OVERDUE = HELPERS + """
local mtime, job_id, now, deadline, limit =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', 'xcute:tasks:deadline:' .. job_id,
                       '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, task_id in ipairs(ids) do
  local payload = redis.call('HGET', 'xcute:tasks:payload:' .. job_id,
                             task_id)
  if payload then
    redis.call('ZADD', 'xcute:tasks:deadline:' .. job_id, deadline, task_id)
    table.insert(out, task_id)
    table.insert(out, payload)
  else
    redis.call('ZREM', 'xcute:tasks:deadline:' .. job_id, task_id)
  end
end
return out
"""

INCR_TOTAL = HELPERS + """
local mtime, job_id, marker, increment = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local status = status_of(job_id)
if type(status) == 'table' then return status end
local key = ikey(job_id)
if redis.call('HGET', key, 'tasks.is_total_temp') == 'True' then
  redis.call('HINCRBY', key, 'tasks.total', increment)
  redis.call('HSET', key, 'tasks.total_marker', marker, 'job.mtime', mtime)
end
return status
"""

TOTAL_DONE = HELPERS + """
local mtime, job_id = ARGV[1], ARGV[2]
local status = status_of(job_id)
if type(status) == 'table' then return status end
redis.call('HSET', ikey(job_id), 'tasks.is_total_temp', 'False',
           'job.mtime', mtime)
return status
"""
