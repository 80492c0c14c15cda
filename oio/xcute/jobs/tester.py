"""`tester`: tasks that only say hello, failing at random on request (to
exercise xcute itself)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from oio.common import exceptions as exc
from oio.xcute.common.job import XcuteJob, XcuteTask, int_param

# What a failing task raises, picked at random.
EXCEPTIONS = (exc.BadRequest, exc.Forbidden, exc.NotFound,
              exc.MethodNotAllowed, exc.Conflict,
              exc.ClientPreconditionFailed, exc.TooLarge,
              exc.UnsatisfiableRange, exc.ServiceBusy)


class TesterTask(XcuteTask):
    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        msg = task_payload["msg"]
        self.logger.info("[reqid=%s] Hello: %s", reqid, msg)
        percentage = self.params.get("error_percentage") or 0
        if percentage and random.randrange(100) < percentage:
            raise random.choice(EXCEPTIONS)()
        return {"counter": len(msg)}


class TesterJob(XcuteJob):
    JOB_TYPE = "tester"
    TASK_CLASS = TesterTask
    DEFAULT_LOCK = "tester_lock"

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked = {"start": int_param(params, "start", 0),
                   "end": int_param(params, "end", 5),
                   "error_percentage": int_param(params, "error_percentage",
                                                 0)}
        lock = params.get("lock") or cls.DEFAULT_LOCK
        if not isinstance(lock, str):
            raise ValueError("lock must be a string")
        if "lock" in params:
            checked["lock"] = lock
        return checked, lock

    def get_tasks(self, params: dict, marker: str | None = None
                  ) -> Iterator[tuple[str, dict]]:
        start = int(marker) + 1 if marker else params["start"]
        for i in range(start, params["end"]):
            yield str(i), {"msg": f"World {i}"}

    def get_total_tasks(self, params: dict, marker: str | None = None
                        ) -> Iterator[tuple[str, int]]:
        start = int(marker) + 1 if marker is not None else params["start"]
        yield str(params["end"] - 1), max(params["end"] - start, 0)
