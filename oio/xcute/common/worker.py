"""XcuteWorker: runs the tasks of one `xcute.tasks` batch and sends the
reply to the orchestrator (spec healing.md §4.7). Used by the event
agent's `xcute` filter."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, OrderedDict

from oio.common.constants import STRLEN_REQID
from oio.common.utils import request_id
from oio.event.beanstalk import Beanstalk

# Task objects kept, one per job (a job's clients are reused by batch).
CACHED_JOBS = 10


class XcuteWorker:
    def __init__(self, conf: dict, logger: logging.Logger | None = None):
        self.conf = conf
        self.logger = logger or logging.getLogger("oio.xcute.worker")
        self._tasks: OrderedDict[str, tuple[dict, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    def task_of(self, job_id: str, job_type: str, params: dict):
        """The job's task object, made anew when its params changed."""
        from oio.xcute.jobs import JOB_TYPES

        with self._lock:
            cached = self._tasks.get(job_id)
            if cached is not None and cached[0] == params:
                self._tasks.move_to_end(job_id)
                return cached[1]
        cls = JOB_TYPES.get(job_type)
        if cls is None:
            raise ValueError(f"Unknown job type {job_type!r}")
        task = cls.TASK_CLASS(self.conf, params, logger=self.logger)
        with self._lock:
            self._tasks[job_id] = (params, task)
            while len(self._tasks) > CACHED_JOBS:
                self._tasks.popitem(last=False)
        return task

    def process(self, data: dict) -> dict:
        """Run the batch's tasks in order, at most `tasks_per_second`; the
        reply to send."""
        job_id = data["job_id"]
        config = data["job_config"]
        task = self.task_of(job_id, data["job_type"], config["params"])
        tps = float(config.get("tasks_per_second") or 0)
        errors: Counter[str] = Counter()
        results: Counter[str] = Counter()
        started = time.monotonic()
        for index, (task_id, payload) in enumerate(data["tasks"].items()):
            if tps > 0:
                delay = started + index / tps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            reqid = (job_id + request_id("-"))[:STRLEN_REQID]
            try:
                results.update(task.process(task_id, payload, reqid=reqid)
                               or {})
            except Exception as err:  # noqa: BLE001 - counted, job goes on
                self.logger.warning("[job_id=%s] task %s failed: %s: %s",
                                    job_id, task_id, type(err).__name__, err)
                errors[type(err).__name__] += 1
        return {"job_id": job_id, "task_ids": list(data["tasks"]),
                "task_results": dict(results), "task_errors": dict(errors)}

    def reply(self, data: dict, reply: dict) -> None:
        """Put the reply on the orchestrator's tube (OSError or
        BeanstalkError when it cannot)."""
        target = data["beanstalkd_reply"]
        key = (target["addr"], target["tube"])
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        client = clients.get(key)
        try:
            if client is None:
                client = Beanstalk.from_url(target["addr"])
                client.use(target["tube"])
                clients[key] = client
            client.put(json.dumps(reply, separators=(",", ":")).encode())
        except Exception:
            clients.pop(key, None)
            if client is not None:
                client.close()
            raise
