"""The base classes of xcute job types: a job sanitizes its parameters,
names its lock, lists its tasks (and estimates how many); a task runs one
item on a worker and returns counters (spec healing.md §4.2)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from oio.common.utils import parse_bool

DEFAULT_TASKS_PER_SECOND = 32
MAX_TASKS_BATCH_SIZE = 32


def int_param(params: dict, key: str, default: int | None) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer, not {value!r}") from None


def float_param(params: dict, key: str, default: float | None
                ) -> float | None:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, not {value!r}") from None


def bool_param(params: dict, key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    parsed = parse_bool(str(value))
    if parsed is None:
        raise ValueError(f"{key} must be a boolean, not {value!r}")
    return parsed


class XcuteTask:
    """Runs the tasks of one job on a worker; built once per job config."""

    def __init__(self, conf: dict, job_params: dict,
                 logger: logging.Logger | None = None):
        self.conf = conf
        self.params = job_params
        self.logger = logger or logging.getLogger(type(self).__name__)

    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        """Run one task; its counters (summed into `results.*`). An
        exception counts as an error named by its class."""
        raise NotImplementedError


class XcuteJob:
    """One job type. Class methods check what a client sends; instances
    run in the orchestrator (`conf` has `namespace`)."""

    JOB_TYPE = ""
    TASK_CLASS: type[XcuteTask] = XcuteTask
    DEFAULT_TASKS_PER_SECOND = DEFAULT_TASKS_PER_SECOND

    def __init__(self, conf: dict, logger: logging.Logger | None = None):
        self.conf = conf
        self.logger = logger or logging.getLogger(type(self).__name__)

    @classmethod
    def sanitize_config(cls, config: Any) -> tuple[dict, str]:
        """(checked config, lock); ValueError on bad input."""
        if not isinstance(config, dict):
            raise ValueError("The job configuration must be a JSON object")
        tps = int_param(config, "tasks_per_second",
                        cls.DEFAULT_TASKS_PER_SECOND)
        default_batch = min(tps, MAX_TASKS_BATCH_SIZE) if tps > 0 \
            else MAX_TASKS_BATCH_SIZE
        batch = int_param(config, "tasks_batch_size", default_batch)
        if batch < 1:
            raise ValueError("Tasks batch size should be positive")
        if batch > MAX_TASKS_BATCH_SIZE:
            raise ValueError("Tasks batch size should be less than "
                             f"{MAX_TASKS_BATCH_SIZE + 1}")
        params = config.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("The job parameters must be a JSON object")
        params, lock = cls.sanitize_params(params)
        return ({"tasks_per_second": tps, "tasks_batch_size": batch,
                 "params": params}, lock)

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        """(checked params, lock)."""
        raise NotImplementedError

    @staticmethod
    def merge_config(current: dict, new: Any) -> dict:
        """An update: the current config with the new top-level keys and
        params over it; the batch size is recomputed unless given."""
        if not isinstance(new, dict):
            raise ValueError("The job configuration must be a JSON object")
        merged = dict(current)
        merged.pop("tasks_batch_size", None)
        params = dict(merged.get("params") or {})
        for key, value in new.items():
            if key == "params":
                if not isinstance(value, dict):
                    raise ValueError("The job parameters must be a JSON "
                                     "object")
                params.update(value)
            else:
                merged[key] = value
        merged["params"] = params
        return merged

    def prepare(self, job_id: str, params: dict) -> None:
        """Run once before the first task of a fresh job."""

    def get_tasks(self, params: dict, marker: str | None = None
                  ) -> Iterator[tuple[str, dict]]:
        """(task ID, payload) after `marker` (a task ID), in order."""
        raise NotImplementedError

    def get_total_tasks(self, params: dict, marker: str | None = None
                        ) -> Iterator[tuple[str, int]]:
        """(marker, increment) steps of the estimation of the total."""
        raise NotImplementedError
