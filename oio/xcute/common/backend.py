"""XcuteBackend: the state of xcute jobs in Redis (spec healing.md §4.4).

Reads are plain commands; every change is one Lua script (scripts.py).
Errors are oio.common.exceptions: NotFound (404), Forbidden (403).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

import redis

from oio.common.exceptions import Forbidden, NotFound, ServiceBusy

from . import scripts

DEFAULT_LIMIT = 1000
KEY_JOB_IDS = "xcute:job:ids"
KEY_JOB_INFO = "xcute:job:info:"
KEY_LOCKS = "xcute:locks"
KEY_WAITING = "xcute:waiting:jobs"
KEY_RUNNING = "xcute:tasks:running:"
KEY_ORCHESTRATOR = "xcute:orchestrator:jobs:"

ERRORS = {
    "job_exists": (Forbidden, "The job already exists"),
    "lock_exists": (Forbidden,
                    "A job with the same lock ({}) is already in progress"),
    "no_job": (NotFound, "The job does not exist"),
    "job_must_be_paused": (Forbidden, "The job must be paused"),
    "job_cannot_be_paused_all_tasks_sent": (
        Forbidden, "The job cannot be paused anymore, all jobs have been "
                   "sent"),
    "job_on_hold": (Forbidden, "The job is on hold"),
    "job_running": (Forbidden, "The job running"),
    "job_finished": (Forbidden, "The job is finished"),
    "lock_changed": (ValueError, "New configuration can not change the lock"),
}


def new_job_id(now: float | None = None) -> str:
    """UTC time to the microsecond, then 11 random hex digits: IDs sort
    by creation time."""
    when = datetime.fromtimestamp(time.time() if now is None else now,
                                  tz=timezone.utc)
    return when.strftime("%Y%m%d%H%M%S%f") + "-" + secrets.token_hex(6)[:11]


def _mtime() -> str:
    return f"{time.time():016.05f}"


def _bool(value: Any) -> bool:
    return value == "True"


def unmarshal(fields: Mapping[str, str]) -> dict:
    """The API form of a job info hash."""
    info: dict[str, Any] = {"job": {}, "orchestrator": {}, "tasks": {},
                            "errors": {}, "results": {}, "config": {}}
    for key, value in fields.items():
        group, _, name = key.partition(".")
        if not name:
            info[group] = value
        else:
            info.setdefault(group, {})[name] = value
    job = info["job"]
    job["ctime"] = float(job.get("ctime") or 0)
    job["mtime"] = float(job.get("mtime") or 0)
    job["request_pause"] = _bool(job.get("request_pause"))
    tasks = info["tasks"]
    tasks["sent"] = int(tasks.get("sent") or 0)
    tasks["processed"] = int(tasks.get("processed") or 0)
    tasks["all_sent"] = _bool(tasks.get("all_sent"))
    tasks["is_total_temp"] = _bool(tasks.get("is_total_temp"))
    total = int(tasks.get("total") or 0)
    # An estimation may be off: the count of tasks sent wins.
    tasks["total"] = tasks["sent"] if tasks["all_sent"] \
        else max(tasks["sent"], total)
    tasks.setdefault("last_sent", None)
    tasks.setdefault("total_marker", None)
    info["errors"] = {k: int(v) for k, v in info["errors"].items()}
    info["results"] = {k: int(v) for k, v in info["results"].items()}
    info["config"] = json.loads(info["config"]) if isinstance(
        info["config"], str) else {}
    return info


class XcuteBackend:
    """Job state shared by the xcute servers and orchestrators."""

    def __init__(self, client: redis.Redis, where: str = "Redis"):
        self.conn = client
        self.where = where
        self._scripts = {name: client.register_script(getattr(scripts, name))
                         for name in ("CREATE", "RUN_NEXT", "FREE", "FAIL",
                                      "PAUSE", "RESUME", "UPDATE_CONFIG",
                                      "DELETE", "TASKS_SENT", "TASKS_UNSENT",
                                      "TASKS_PROCESSED", "TAKE_OVERDUE",
                                      "INCR_TOTAL", "TOTAL_DONE")}

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> XcuteBackend:
        """From `redis_host`, or `redis_sentinel_hosts` and
        `redis_sentinel_name` (ValueError on a bad setting)."""
        from oio.account.backend_redis import connect

        client, where = connect(conf)
        return cls(client, where)

    def _run(self, name: str, *args: Any) -> Any:
        try:
            return self._scripts[name](args=[_mtime(), *args])
        except redis.exceptions.ResponseError as err:
            code, _, detail = str(err).partition(":")
            known = ERRORS.get(code.strip())
            if known is None:
                raise
            cls, message = known
            message = message.format(detail)
            if cls is ValueError:
                raise ValueError(message) from None
            raise cls(message=message) from None
        except redis.exceptions.RedisError as err:
            raise ServiceBusy(message=f"{self.where}: {err}") from None

    def _call(self, func, *args: Any) -> Any:
        try:
            return func(*args)
        except redis.exceptions.RedisError as err:
            raise ServiceBusy(message=f"{self.where}: {err}") from None

    # -- reads ---------------------------------------------------------------
    def status(self) -> dict:
        return {"job_count": self._call(self.conn.zcard, KEY_JOB_IDS)}

    def get_job_info(self, job_id: str) -> dict:
        fields = self._call(self.conn.hgetall, KEY_JOB_INFO + job_id)
        if not fields:
            raise NotFound(message="The job does not exist")
        return unmarshal(fields)

    def list_jobs(self, limit: int = DEFAULT_LIMIT, prefix: str | None = None,
                  marker: str | None = None, job_status: str | None = None,
                  job_type: str | None = None, job_lock: str | None = None
                  ) -> list[dict]:
        """Job infos, newest first, after `marker` (a job ID)."""
        low = f"[{prefix}" if prefix else "-"
        high = f"({marker}" if marker else (
            f"[{prefix}\U0010fffd" if prefix else "+")
        out: list[dict] = []
        while len(out) < limit:
            ids = self._call(lambda h=high: self.conn.zrevrangebylex(
                KEY_JOB_IDS, h, low, start=0, num=limit))
            if not ids:
                break
            for job_id in ids:
                fields = self._call(self.conn.hgetall, KEY_JOB_INFO + job_id)
                if not fields or not self._matches(fields, job_status,
                                                   job_type, job_lock):
                    continue
                out.append(unmarshal(fields))
                if len(out) >= limit:
                    break
            high = f"({ids[-1]}"
        return out

    @staticmethod
    def _matches(fields: Mapping[str, str], job_status, job_type,
                 job_lock) -> bool:
        if job_status and fields.get("job.status") != job_status:
            return False
        if job_type and fields.get("job.type") != job_type:
            return False
        return not job_lock or fnmatchcase(fields.get("job.lock", ""),
                                           job_lock)

    def list_locks(self) -> list[dict]:
        locks = self._call(self.conn.hgetall, KEY_LOCKS)
        return [{"lock": lock, "job_id": job_id}
                for lock, job_id in sorted(locks.items())]

    def get_lock(self, lock: str) -> dict:
        return {"lock": lock,
                "job_id": self._call(self.conn.hget, KEY_LOCKS, lock)}

    def orchestrator_jobs(self, orchestrator_id: str) -> list[dict]:
        ids = self._call(self.conn.smembers,
                         KEY_ORCHESTRATOR + orchestrator_id)
        out = []
        for job_id in sorted(ids):
            try:
                out.append(self.get_job_info(job_id))
            except NotFound:
                self._call(self.conn.srem, KEY_ORCHESTRATOR + orchestrator_id,
                           job_id)
        return out

    def running_jobs(self) -> list[str]:
        """IDs of every job some orchestrator dispatches."""
        out = []
        for key in self._call(lambda: list(self.conn.scan_iter(
                match=KEY_ORCHESTRATOR + "*"))):
            out.extend(self._call(self.conn.smembers, key))
        return sorted(out)

    # -- changes by clients --------------------------------------------------
    def create(self, job_type: str, config: dict, lock: str,
               put_on_hold_if_locked: bool = False) -> str:
        job_id = new_job_id()
        self._run("CREATE", job_id, job_type, json.dumps(config), lock,
                  str(bool(put_on_hold_if_locked)))
        return job_id

    def request_pause(self, job_id: str) -> str:
        return self._run("PAUSE", job_id)

    def resume(self, job_id: str) -> str:
        return self._run("RESUME", job_id)

    def update_config(self, job_id: str, config: dict, lock: str) -> None:
        self._run("UPDATE_CONFIG", job_id, json.dumps(config), lock)

    def delete(self, job_id: str) -> None:
        self._run("DELETE", job_id)

    # -- changes by orchestrators --------------------------------------------
    def run_next(self, orchestrator_id: str) -> dict | None:
        flat = self._run("RUN_NEXT", orchestrator_id)
        if not flat:
            return None
        return unmarshal(dict(zip(flat[::2], flat[1::2], strict=True)))

    def free(self, job_id: str) -> str:
        return self._run("FREE", job_id)

    def fail(self, job_id: str) -> str:
        return self._run("FAIL", job_id)

    def tasks_sent(self, job_id: str, tasks: list[tuple[str, dict]],
                   deadline: float, all_sent: bool = False
                   ) -> tuple[str, str | None]:
        """Record a batch before it goes out: (status now, the previous
        `tasks.last_sent`, for `tasks_unsent`)."""
        ids = [task_id for task_id, _ in tasks]
        payloads = [json.dumps(payload) for _, payload in tasks]
        status, previous = self._run(
            "TASKS_SENT", job_id, str(bool(all_sent)), f"{deadline:.3f}",
            len(ids), *ids, *payloads)
        return status, previous or None

    def tasks_unsent(self, job_id: str, task_ids: list[str],
                     previous: str | None) -> None:
        self._run("TASKS_UNSENT", job_id, previous or "", len(task_ids),
                  *task_ids)

    def tasks_processed(self, job_id: str, task_ids: Iterable[str],
                        errors: Mapping[str, int],
                        results: Mapping[str, int]) -> str | None:
        """Acknowledge a reply; the job's status (None if deleted)."""
        ids = list(task_ids)
        args: list[Any] = [job_id, len(ids), *ids, len(errors)]
        for name, count in errors.items():
            args += [name, int(count)]
        args.append(len(results))
        for name, count in results.items():
            args += [name, int(count)]
        return self._run("TASKS_PROCESSED", *args)

    def take_overdue(self, job_id: str, now: float, deadline: float,
                     limit: int = 1024) -> list[tuple[str, dict]]:
        """Tasks sent before `now` and not acknowledged, with a new
        deadline."""
        flat = self._run("TAKE_OVERDUE", job_id, f"{now:.3f}",
                         f"{deadline:.3f}", limit)
        return [(task_id, json.loads(payload))
                for task_id, payload in zip(flat[::2], flat[1::2],
                                            strict=True)]

    def incr_total(self, job_id: str, marker: str, increment: int) -> str:
        return self._run("INCR_TOTAL", job_id, marker, int(increment))

    def total_done(self, job_id: str) -> str:
        return self._run("TOTAL_DONE", job_id)
