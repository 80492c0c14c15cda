"""The xcute orchestrator (spec healing.md §4.6): it takes waiting jobs,
estimates their totals, dispatches their tasks by batches on beanstalkd at
`tasks_per_second`, counts the workers' replies, and sends again the tasks
left unacknowledged past their deadline (a lost job or reply).

One thread polls the waiting list, one per job dispatches it, one reads
the replies. A stop hands the jobs being dispatched back to the front of
the waiting list; jobs whose tasks are all sent stay in this
orchestrator's set and are watched again after a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from oio.common.exceptions import OioException
from oio.event.beanstalk import MAX_JOB_SIZE, Beanstalk, BeanstalkError

from .beanstalkd import BeanstalkdPool
from .common.backend import XcuteBackend
from .jobs import JOB_TYPES

SECTION = "xcute-orchestrator"
TASK_TTR = 120          # seconds a worker gets per task of a batch
POLL_INTERVAL = 1.0
RECONCILE_INTERVAL = 10.0
RETRY_DELAY = 1.0


def tasks_event(job_info: dict, tasks: list[tuple[str, dict]],
                reply_addr: str, reply_tube: str) -> bytes:
    """The beanstalkd job of a batch (spec §4.7); ValueError when it does
    not fit in one beanstalkd job."""
    job = job_info["job"]
    body = json.dumps({"event": "xcute.tasks", "data": {
        "job_id": job["id"], "job_type": job["type"],
        "job_config": job_info["config"], "tasks": dict(tasks),
        "beanstalkd_reply": {"addr": reply_addr, "tube": reply_tube}}},
        separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_JOB_SIZE:
        raise ValueError(f"Batch of {len(tasks)} tasks too large "
                         f"({len(body)} bytes > {MAX_JOB_SIZE})")
    return body


class XcuteOrchestrator:
    def __init__(self, conf: dict, backend: XcuteBackend,
                 pool: BeanstalkdPool | None = None,
                 logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger("oio.xcute.orchestrator")
        for key in ("orchestrator_id", "beanstalkd_workers_tube",
                    "beanstalkd_reply_addr"):
            if not conf.get(key):
                raise ValueError(f"[{SECTION}] needs '{key}'")
        self.conf = conf
        self.backend = backend
        self.orchestrator_id = conf["orchestrator_id"]
        self.workers_tube = conf["beanstalkd_workers_tube"]
        self.reply_addr = conf["beanstalkd_reply_addr"]
        if "://" not in self.reply_addr:
            self.reply_addr = "beanstalk://" + self.reply_addr
        self.reply_tube = conf.get("beanstalkd_reply_tube") or \
            f"{self.workers_tube}.reply"
        self.task_ttr = float(conf.get("task_ttr") or TASK_TTR)
        self.reconcile_interval = float(conf.get("reconcile_interval")
                                        or RECONCILE_INTERVAL)
        self.pool = pool or BeanstalkdPool(
            self._beanstalkd_services, self.workers_tube,
            max_jobs=int(conf.get("max_jobs_per_beanstalkd") or 1024),
            refresh=float(conf.get("refresh_time_beanstalkd_workers") or 30),
            logger=self.logger)
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self._service_threads: list[threading.Thread] = []

    def _beanstalkd_services(self) -> list[dict]:
        from oio.conscience.client import ConscienceClient

        conscience = ConscienceClient({"namespace": self.conf["namespace"]})
        return conscience.all_services("beanstalkd")

    # -- life ---------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._main_loop, "xcute-orchestrator"),
                             (self._reply_loop, "xcute-replies")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._service_threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in list(self.threads.values()) + self._service_threads:
            thread.join(timeout)

    def _main_loop(self) -> None:
        self._resume_own_jobs()
        last_reconcile = time.monotonic()
        while not self.stop_event.is_set():
            try:
                while not self.stop_event.is_set():
                    job_info = self.backend.run_next(self.orchestrator_id)
                    if job_info is None:
                        break
                    self._start_job(job_info)
                if time.monotonic() - last_reconcile >= \
                        self.reconcile_interval:
                    last_reconcile = time.monotonic()
                    self.reconcile()
            except Exception as err:  # noqa: BLE001 - Redis away: go on
                self.logger.warning("orchestrator loop: %s: %s",
                                    type(err).__name__, err)
            self.stop_event.wait(POLL_INTERVAL)

    def _resume_own_jobs(self) -> None:
        """After a restart, the jobs this orchestrator was dispatching."""
        while not self.stop_event.is_set():
            try:
                jobs = self.backend.orchestrator_jobs(self.orchestrator_id)
                break
            except OioException as err:
                self.logger.warning("cannot list my jobs: %s", err)
                self.stop_event.wait(RETRY_DELAY)
        else:
            return
        for job_info in jobs:
            if job_info["job"]["status"] == "RUNNING":
                self.logger.info("resuming job %s", job_info["job"]["id"])
                self._start_job(job_info)

    def _start_job(self, job_info: dict) -> None:
        job_id = job_info["job"]["id"]
        thread = self.threads.get(job_id)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=self.run_job, args=(job_info,),
                                  name=f"xcute-job-{job_id}", daemon=True)
        self.threads[job_id] = thread
        thread.start()

    # -- one job ------------------------------------------------------------
    def run_job(self, job_info: dict) -> None:
        job_id = job_info["job"]["id"]
        try:
            cls = JOB_TYPES.get(job_info["job"]["type"])
            if cls is None:
                raise ValueError(f"Unknown job type {job_info['job']['type']}")
            job = cls(self.conf, logger=self.logger)
            params = job_info["config"]["params"]
            tasks = job_info["tasks"]
            if tasks["all_sent"]:
                return      # replies and reconciliation finish it
            if tasks["sent"] == 0 and tasks["last_sent"] is None:
                job.prepare(job_id, params)
            if tasks["is_total_temp"]:
                threading.Thread(target=self.estimate_total,
                                 args=(job, job_info), daemon=True,
                                 name=f"xcute-total-{job_id}").start()
            self.dispatch(job, job_info)
        except Exception as err:  # noqa: BLE001 - the job fails, not us
            self.logger.error("job %s failed: %s: %s", job_id,
                              type(err).__name__, err)
            try:
                self.backend.fail(job_id)
            except OioException as err2:
                self.logger.error("job %s not marked failed: %s", job_id,
                                  err2)

    def estimate_total(self, job, job_info: dict) -> None:
        job_id = job_info["job"]["id"]
        try:
            for marker, increment in job.get_total_tasks(
                    job_info["config"]["params"],
                    marker=job_info["tasks"]["total_marker"]):
                status = self.backend.incr_total(job_id, marker, increment)
                if status in ("PAUSED", "FAILED") or self.stop_event.is_set():
                    return
                if self.backend.get_job_info(job_id)["tasks"]["all_sent"]:
                    break
            self.backend.total_done(job_id)
        except Exception as err:  # noqa: BLE001 - an estimate only
            self.logger.warning("job %s: total not estimated: %s: %s",
                                job_id, type(err).__name__, err)

    def dispatch(self, job, job_info: dict) -> None:
        job_id = job_info["job"]["id"]
        config = job_info["config"]
        batch_size = int(config["tasks_batch_size"])
        tps = float(config["tasks_per_second"])
        interval = batch_size / tps if tps > 0 else 0.0
        tasks = job.get_tasks(config["params"],
                              marker=job_info["tasks"]["last_sent"])
        next_at = time.monotonic()
        for batch in _batches(tasks, batch_size):
            if self.stop_event.is_set():
                self.backend.free(job_id)
                return
            status = self.send_batch(job_info, batch)
            if status != "RUNNING":
                self.logger.info("job %s is %s: dispatch stops", job_id,
                                 status)
                return
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                self.backend.free(job_id)
                return
        status, _ = self.backend.tasks_sent(job_id, [], 0.0, all_sent=True)
        self.logger.info("job %s: every task sent (%s)", job_id, status)

    def send_batch(self, job_info: dict, batch: list[tuple[str, dict]]
                   ) -> str:
        """Record the batch, then put it on a beanstalkd, until one takes
        it; the job's status after the record."""
        job_id = job_info["job"]["id"]
        body = tasks_event(job_info, batch, self.reply_addr, self.reply_tube)
        ttr = int(self.task_ttr * len(batch))
        ids = [task_id for task_id, _ in batch]
        while True:
            status, previous = self.backend.tasks_sent(
                job_id, batch, time.time() + ttr)
            try:
                self.pool.put(body, ttr)
                return status
            except OSError as err:
                self.backend.tasks_unsent(job_id, ids, previous)
                self.logger.warning("job %s: batch not sent: %s", job_id, err)
                if self.stop_event.wait(RETRY_DELAY) or status != "RUNNING":
                    return status if status != "RUNNING" else "STOPPED"

    # -- lost tasks ---------------------------------------------------------
    def reconcile(self) -> None:
        """Send again the tasks of our running jobs that nobody
        acknowledged in time."""
        for job_info in self.backend.orchestrator_jobs(self.orchestrator_id):
            if job_info["job"]["status"] != "RUNNING":
                continue
            job_id = job_info["job"]["id"]
            batch_size = int(job_info["config"]["tasks_batch_size"])
            now = time.time()
            overdue = self.backend.take_overdue(
                job_id, now, now + self.task_ttr * batch_size)
            for batch in _batches(iter(overdue), batch_size):
                self.logger.warning("job %s: %d task(s) unacknowledged, sent "
                                    "again", job_id, len(batch))
                try:
                    self.pool.put(tasks_event(job_info, batch,
                                              self.reply_addr,
                                              self.reply_tube),
                                  int(self.task_ttr * len(batch)))
                except OSError as err:
                    # Their deadline moved: tried again next time.
                    self.logger.warning("job %s: not sent again: %s", job_id,
                                        err)
                    break

    # -- replies ------------------------------------------------------------
    def _reply_loop(self) -> None:
        client = Beanstalk.from_url(self.reply_addr)
        while not self.stop_event.is_set():
            try:
                client.watch(self.reply_tube)
                client.ignore("default")
                while not self.stop_event.is_set():
                    job = client.poll(timeout=1)
                    if job is not None:
                        self._handle_reply(client, *job)
            except (OSError, BeanstalkError) as err:
                self.logger.warning("replies from %s: %s", self.reply_addr,
                                    err)
                client.close()
                self.stop_event.wait(RETRY_DELAY)
        client.close()

    def _handle_reply(self, client: Beanstalk, beanstalk_id: int,
                      body: bytes) -> None:
        try:
            reply = json.loads(body)
            job_id = reply["job_id"]
            task_ids = list(reply["task_ids"])
        except (ValueError, KeyError, TypeError):
            self.logger.error("malformed reply buried: %r", body[:200])
            client.bury(beanstalk_id)
            return
        try:
            status = self.backend.tasks_processed(
                job_id, task_ids, reply.get("task_errors") or {},
                reply.get("task_results") or {})
        except OioException as err:
            self.logger.warning("reply of job %s not counted yet: %s",
                                job_id, err)
            client.release(beanstalk_id, delay=1)
            return
        if status == "FINISHED":
            self.logger.info("job %s finished", job_id)
        client.delete(beanstalk_id)


def _batches(tasks: Iterator[tuple[str, Any]], size: int
             ) -> Iterator[list[tuple[str, Any]]]:
    while True:
        batch = list(islice(tasks, size))
        if not batch:
            return
        yield batch
