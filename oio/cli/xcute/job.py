"""`openio-admin xcute job list|show|pause|resume|update|delete`."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from oio.cli import Lister, ShowOne, flat_dict_from_dict
from oio.cli.progress import Progress, _clock_text
from oio.cli.utils import KeyValueAction
from oio.common.exceptions import CommandError, OioException

from .common import XcuteCommand, list_progress, progress_figures, readable

LOG = logging.getLogger(__name__)
STATUSES = ("ON_HOLD", "WAITING", "RUNNING", "PAUSED", "FAILED", "FINISHED")
JOB_TYPES = ("tester", "rawx-rebuild", "rawx-decommission", "meta2-rebuild",
             "meta2-decommission")
DATE_PARTS = (("%Y", "%Y"), ("-%m", "%m"), ("-%d", "%d"), ("T%H", "%H"),
              (":%M", "%M"), (":%S", "%S"))


def date_prefix(text: str) -> str:
    """The job ID prefix of `%Y[-%m[-%d[T%H[:%M[:%S]]]]]`."""
    day, _, hour = text.partition("T")
    count = len(day.split("-"))
    if hour:
        if count != 3:
            raise CommandError(f"Wrong date format: {text!r}")
        count += len(hour.split(":"))
    if count > len(DATE_PARTS):
        raise CommandError(f"Wrong date format: {text!r}")
    parsing = "".join(p[0] for p in DATE_PARTS[:count])
    try:
        when = datetime.strptime(text, parsing)
    except ValueError:
        raise CommandError(f"Wrong date format: {text!r} (expected "
                           "%Y[-%m[-%d[T%H[:%M[:%S]]]]])") from None
    return when.strftime("".join(p[1] for p in DATE_PARTS[:count]))


class JobList(XcuteCommand, Lister):
    """List the jobs, newest first."""

    columns = ("ID", "Status", "Type", "Lock", "Progress")

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--date", help="Jobs created at that date "
                            "(%%Y[-%%m[-%%d[T%%H[:%%M[:%%S]]]]])")
        parser.add_argument("--status", choices=STATUSES,
                            help="Jobs with this status")
        parser.add_argument("--type", choices=JOB_TYPES,
                            help="Jobs of this type")
        parser.add_argument("--lock", help="Jobs whose lock matches "
                            "(wildcards allowed)")
        return parser

    def take_action(self, parsed_args):
        prefix = date_prefix(parsed_args.date) if parsed_args.date else None
        jobs = self.xcute.job_list(prefix=prefix,
                                   job_status=parsed_args.status,
                                   job_type=parsed_args.type,
                                   job_lock=parsed_args.lock)
        return self.columns, [
            (j["job"]["id"], j["job"]["status"], j["job"]["type"],
             j["job"].get("lock"), list_progress(j)) for j in jobs]


class JobProgress(Progress):
    """The live line of `job show --watch`: the job's own figures."""

    info: dict | None = None

    def line(self, now: float | None = None) -> str:
        info = self.info
        tasks = info["tasks"]
        figures = progress_figures(info)
        total = f"{tasks['total']}" + ("?" if tasks["is_total_temp"] else "")
        parts = [info["job"]["id"], info["job"]["status"],
                 f"{tasks['processed']}/{total} tasks",
                 f"{list_progress(info)}",
                 f"{figures['rate']:.1f} tasks/s",
                 f"{tasks_errors(info)} errors"]
        if figures["time_left"] is not None:
            parts.append(f"ETA {_clock_text(figures['time_left'])}")
        return " ".join(parts)


def tasks_errors(info: dict) -> int:
    return int(info.get("errors", {}).get("total", 0))


class JobShow(XcuteCommand, ShowOne):
    """Everything about a job: its progress (tasks processed of the total,
    rate, errors, time left), results and configuration. With --watch, a
    live line on the terminal until the job stops running."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("job_id", metavar="<job_id>",
                            help="ID of the job to show")
        parser.add_argument("--raw", action="store_true",
                            help="Show the raw information")
        parser.add_argument("--watch", action="store_true",
                            help="Follow the job on the terminal (stderr) "
                                 "until it is no longer running or waiting")
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds between refreshes of --watch")
        return parser

    def watch(self, job_id: str, interval: float) -> dict:
        info = self.xcute.job_show(job_id)
        with JobProgress(None, label="", interval=0) as progress:
            while True:
                progress.info = info
                progress.update(0)
                if info["job"]["status"] not in ("RUNNING", "WAITING",
                                                 "ON_HOLD"):
                    return info
                try:
                    time.sleep(interval)
                except KeyboardInterrupt:
                    return info
                info = self.xcute.job_show(job_id)

    def take_action(self, parsed_args):
        if parsed_args.watch:
            info = self.watch(parsed_args.job_id, parsed_args.interval)
        else:
            info = self.xcute.job_show(parsed_args.job_id)
        if not parsed_args.raw:
            info = readable(info, parsed_args.formatter == "table")
        return zip(*sorted(flat_dict_from_dict(parsed_args, info).items()),
                   strict=True)


class _JobAction(XcuteCommand, Lister):
    """An action on several jobs: one row each, exit 1 if one failed."""

    columns: tuple[str, str] = ("ID", "")
    verb = ""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("job_ids", nargs="+", metavar="<job_id>",
                            help=f"IDs of the jobs to {self.verb}")
        return parser

    def act(self, job_id: str) -> None:
        raise NotImplementedError

    def take_action(self, parsed_args):
        rows = []
        for job_id in parsed_args.job_ids:
            try:
                self.act(job_id)
                rows.append((job_id, True))
            except OioException as err:
                LOG.error("Failed to %s job %s: %s", self.verb, job_id,
                          getattr(err, "message", err))
                self.success = False
                rows.append((job_id, False))
        return self.columns, rows


class JobPause(_JobAction):
    """Pause jobs (a running job pauses after its current batch)."""

    columns = ("ID", "Paused")
    verb = "pause"

    def act(self, job_id):
        self.xcute.job_pause(job_id)


class JobResume(_JobAction):
    """Resume paused or failed jobs (or cancel a pending pause)."""

    columns = ("ID", "Resumed")
    verb = "resume"

    def act(self, job_id):
        self.xcute.job_resume(job_id)


class JobDelete(_JobAction):
    """Delete jobs that are not running."""

    columns = ("ID", "Deleted")
    verb = "delete"

    def act(self, job_id):
        self.xcute.job_delete(job_id)


class JobUpdate(XcuteCommand, ShowOne):
    """Change the configuration of a paused (failed, on hold) job; prints
    the new configuration."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("job_id", metavar="<job_id>",
                            help="ID of the job to update")
        parser.add_argument("--tasks-per-second", type=int,
                            help="Tasks per second")
        parser.add_argument("--tasks-batch-size", type=int,
                            help="Tasks per batch sent to a worker")
        parser.add_argument("-p", "--param", dest="params", metavar="KEY=VALUE",
                            action=KeyValueAction, default={},
                            help="Job parameter to change (repeatable)")
        return parser

    def take_action(self, parsed_args):
        config: dict = {}
        if parsed_args.tasks_per_second is not None:
            config["tasks_per_second"] = parsed_args.tasks_per_second
        if parsed_args.tasks_batch_size is not None:
            config["tasks_batch_size"] = parsed_args.tasks_batch_size
        if parsed_args.params:
            config["params"] = parsed_args.params
        new = self.xcute.job_update(parsed_args.job_id, config)
        return zip(*sorted(flat_dict_from_dict(parsed_args, new).items()),
                   strict=True)
