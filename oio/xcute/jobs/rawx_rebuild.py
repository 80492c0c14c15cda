"""`rawx-rebuild`: every chunk of a lost rawx volume that rdir lists as
older than the volume's incident date is rebuilt elsewhere from its copies
or the other fragments (spec healing.md §1.6, §4.8)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from oio.xcute.common.job import XcuteTask, bool_param, float_param, int_param

from .common import ChunkJob

DEFAULT_RAWX_TIMEOUT = 60.0


class RawxRebuildTask(XcuteTask):
    def __init__(self, conf: dict, job_params: dict, logger=None):
        super().__init__(conf, job_params, logger)
        self._operator = None

    @property
    def operator(self):
        if self._operator is None:
            from oio.blob.operator import ChunkOperator

            conf = dict(self.conf, rawx_timeout=self.params["rawx_timeout"])
            self._operator = ChunkOperator(conf, logger=self.logger)
        return self._operator

    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        from oio.common.exceptions import OrphanChunk

        cid = task_payload["container_id"]
        content_id = task_payload["content_id"]
        chunk_id = task_payload["chunk_id"]
        if self.params["dry_run"]:
            self.logger.info("[reqid=%s] [dryrun] rebuilding %s", reqid,
                             task_id)
            return {"skipped_chunks": 1}
        try:
            size = self.operator.rebuild(
                cid, content_id, chunk_id,
                rawx_id=self.params["service_id"],
                try_chunk_delete=self.params["try_chunk_delete"],
                allow_frozen_container=self.params["allow_frozen_container"],
                allow_same_rawx=self.params["allow_same_rawx"])
        except OrphanChunk as err:
            self.logger.warning("[reqid=%s] orphan chunk %s: %s", reqid,
                                task_id, err)
            return {"orphan_chunks": 1}
        return {"rebuilt_chunks": 1, "rebuilt_bytes": int(size or 0)}


class RawxRebuildJob(ChunkJob):
    JOB_TYPE = "rawx-rebuild"
    TASK_CLASS = RawxRebuildTask
    REBUILD_ONLY = True

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked, _ = super().sanitize_params(params)
        checked["rawx_timeout"] = float_param(params, "rawx_timeout",
                                              DEFAULT_RAWX_TIMEOUT)
        for key, default in (("dry_run", False), ("allow_same_rawx", True),
                             ("try_chunk_delete", False),
                             ("allow_frozen_container", False),
                             ("set_incident_date", False)):
            checked[key] = bool_param(params, key, default)
        specific = int_param(params, "set_specific_incident_date", None)
        checked["set_specific_incident_date"] = specific
        if specific is not None:
            checked["set_incident_date"] = True
        elif checked["set_incident_date"]:
            # "now" is when the job was asked for, not when it starts.
            checked["set_specific_incident_date"] = int(time.time())
        return checked, f"rawx/{checked['service_id']}"

    def prepare(self, job_id: str, params: dict) -> None:
        if params.get("set_incident_date"):
            self.rdir().admin_incident_set(
                params["service_id"], params["set_specific_incident_date"],
                read_timeout=params["rdir_timeout"])

    def get_tasks(self, params: dict, marker: str | None = None
                  ) -> Iterator[tuple[str, dict]]:
        return self.chunks(params, marker)

    def get_total_tasks(self, params: dict, marker: str | None = None
                        ) -> Iterator[tuple[str, int]]:
        return self.count_by_steps(
            task_id for task_id, _ in self.chunks(params, marker))
