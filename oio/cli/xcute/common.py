"""What the xcute commands share: the client, the creation options, and
the figures `job show` derives from a job info."""

from __future__ import annotations

import time

from oio.cli import ShowOne, clients, flat_dict_from_dict


def xcute_client(manager):
    """The xcute client of the run, on the API's connection pool."""
    from oio.xcute.client import XcuteClient

    return XcuteClient({"namespace": manager.namespace},
                       **clients._kwargs(manager))


class XcuteCommand:
    @property
    def xcute(self):
        return xcute_client(self.app.client_manager)


def _percent(count: int, tasks: dict) -> float:
    if tasks["total"]:
        return count * 100.0 / tasks["total"]
    return 0.0 if tasks["is_total_temp"] else 100.0


def progress_figures(info: dict, now: float | None = None) -> dict:
    """Duration (s), rate (tasks/s) and time left (s, None when unknown)
    of a job."""
    job, tasks = info["job"], info["tasks"]
    end = job["mtime"] if job["status"] in ("FINISHED", "FAILED",
                                            "PAUSED") else (now or time.time())
    duration = max(end - job["ctime"], 0.0)
    rate = tasks["processed"] / (duration or 0.00001)
    left = tasks["total"] - tasks["processed"]
    time_left = None
    if job["status"] == "FINISHED":
        time_left = 0.0
    elif rate > 0 and not tasks["is_total_temp"]:
        time_left = max(left, 0) / rate
    return {"duration": duration, "rate": rate, "time_left": time_left}


def readable(info: dict, table: bool, now: float | None = None) -> dict:
    """`job show` without --raw: derived figures added, internal fields
    hidden (7.2's fields, plus `tasks.time_left`)."""
    job, tasks = info["job"], info["tasks"]
    figures = progress_figures(info, now)
    job["duration"] = job["mtime"] - job["ctime"]
    tasks["sent_percent"] = _percent(tasks["sent"], tasks)
    tasks["processed_percent"] = _percent(tasks["processed"], tasks)
    tasks["processed_per_second"] = tasks["processed"] / (
        job["duration"] or 0.00001)
    tasks["time_left"] = figures["time_left"]
    if table and not tasks["all_sent"]:
        state = "estimating" if tasks["is_total_temp"] else "estimated"
        tasks["total"] = f"{tasks['total']} ({state})"
    info.pop("orchestrator", None)
    job.pop("request_pause", None)
    for key in ("all_sent", "last_sent", "is_total_temp", "total_marker"):
        tasks.pop(key, None)
    return info


def list_progress(info: dict) -> str:
    tasks = info["tasks"]
    return f"{_percent(tasks['processed'], tasks):.2f}%"


class JobCreateCommand(XcuteCommand, ShowOne):
    """The creation of one job type; prints the job created."""

    JOB_TYPE = ""
    RATE_OPTION = "--tasks-per-second"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service_id", metavar="<service_id>",
                            help="ID of the service")
        parser.add_argument(
            "--put-on-hold-if-locked", action="store_true",
            help="If the lock is already used, put the job on hold until "
                 "the lock is released")
        parser.add_argument(
            self.RATE_OPTION, dest="tasks_per_second", type=int,
            help="Maximum items processed per second")
        parser.add_argument("--rdir-fetch-limit", type=int,
                            help="Maximum records of each rdir request")
        parser.add_argument("--rdir-timeout", type=float,
                            help="Timeout of rdir requests (s)")
        return parser

    def params(self, parsed_args) -> dict:
        return {"service_id": parsed_args.service_id,
                "rdir_fetch_limit": parsed_args.rdir_fetch_limit,
                "rdir_timeout": parsed_args.rdir_timeout}

    def take_action(self, parsed_args):
        config = {"tasks_per_second": parsed_args.tasks_per_second,
                  "params": self.params(parsed_args)}
        info = self.xcute.job_create(
            self.JOB_TYPE, job_config=config,
            put_on_hold_if_locked=parsed_args.put_on_hold_if_locked)
        return zip(*sorted(flat_dict_from_dict(parsed_args, info).items()),
                   strict=True)
