"""`rawx-decommission`: the chunks of a rawx volume are moved to other
rawx services, until the volume's usage falls to a target (spec
healing.md §1.5, §4.8)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from oio.xcute.common.job import XcuteTask, float_param, int_param

from .common import ChunkJob

DEFAULT_RAWX_TIMEOUT = 60.0
NULL_CHUNK_ID = "0" * 64


class RawxDecommissionTask(XcuteTask):
    def __init__(self, conf: dict, job_params: dict, logger=None):
        super().__init__(conf, job_params, logger)
        from oio.blob.client import BlobClient

        self.service_id = job_params["service_id"]
        self.blob = BlobClient(conf, logger=self.logger,
                               read_timeout=job_params["rawx_timeout"],
                               connection_timeout=5.0)
        self._factory = None
        self._conscience = None

    @property
    def factory(self):
        if self._factory is None:
            from oio.content.factory import ContentFactory

            self._factory = ContentFactory(self.conf, logger=self.logger)
        return self._factory

    def chunk_url(self, chunk_id: str) -> str:
        """The chunk's URL, its rawx ID resolved to an address."""
        if self._conscience is None:
            from oio.conscience.client import ConscienceClient

            self._conscience = ConscienceClient(
                {"namespace": self.conf["namespace"]})
        return self._conscience.resolve_url(
            "rawx", f"http://{self.service_id}/{chunk_id}")

    def fake_excluded(self, meta: dict) -> list[dict]:
        """One chunk per excluded rawx, so that the spare avoids them."""
        return [{"url": f"http://{rawx}/{NULL_CHUNK_ID}",
                 "hash": meta.get("chunk_hash"), "pos": meta.get("chunk_pos"),
                 "size": int(meta.get("chunk_size") or 0)}
                for rawx in self.params.get("excluded_rawx") or ()]

    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        from oio.common.exceptions import NotFound, OrphanChunk

        cid = task_payload["container_id"]
        content_id = task_payload["content_id"]
        chunk_id = task_payload["chunk_id"]
        try:
            meta = self.blob.chunk_head(self.chunk_url(chunk_id), reqid=reqid)
        except NotFound:
            return {"skipped_chunks_no_longer_exist": 1}
        if meta.get("container_id", cid).upper() != cid.upper():
            raise ValueError(f"Mismatch container ID: {cid} != "
                             f"{meta.get('container_id')}")
        if meta.get("content_id", content_id).upper() != content_id.upper():
            raise ValueError(f"Mismatch content ID: {content_id} != "
                             f"{meta.get('content_id')}")
        size = int(meta.get("chunk_size") or 0)
        if size < self.params["min_chunk_size"]:
            return {"skipped_chunks_too_small": 1}
        if self.params["max_chunk_size"] and size > self.params[
                "max_chunk_size"]:
            return {"skipped_chunks_too_big": 1}
        try:
            content = self.factory.get(cid, content_id)
            # With the service ID: chunk IDs may be shared by copies.
            content.move_chunk(chunk_id, service_id=self.service_id,
                               fake_excluded_chunks=self.fake_excluded(meta))
        except OrphanChunk as err:
            self.logger.warning("[reqid=%s] orphan chunk %s: %s", reqid,
                                task_id, err)
            return {"orphan_chunks": 1}
        return {"moved_chunks": 1, "moved_bytes": size}


class RawxDecommissionJob(ChunkJob):
    JOB_TYPE = "rawx-decommission"
    TASK_CLASS = RawxDecommissionTask

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked, _ = super().sanitize_params(params)
        checked["rawx_timeout"] = float_param(params, "rawx_timeout",
                                              DEFAULT_RAWX_TIMEOUT)
        checked["min_chunk_size"] = int_param(params, "min_chunk_size", 0)
        checked["max_chunk_size"] = int_param(params, "max_chunk_size", 0)
        excluded = params.get("excluded_rawx") or []
        if isinstance(excluded, str):
            excluded = [r.strip() for r in excluded.split(",") if r.strip()]
        if not isinstance(excluded, list):
            raise ValueError("excluded_rawx must be a comma-separated list")
        checked["excluded_rawx"] = excluded
        checked["usage_target"] = int_param(params, "usage_target", 0)
        if not 0 <= checked["usage_target"] <= 100:
            raise ValueError("usage_target must be between 0 and 100")
        checked["usage_check_interval"] = float_param(
            params, "usage_check_interval", 60.0)
        return checked, f"rawx/{checked['service_id']}"

    def get_usage(self, service_id: str) -> float:
        """Percentage of the volume in use (100 − stat.space)."""
        from oio.conscience.client import ConscienceClient

        conscience = ConscienceClient({"namespace": self.conf["namespace"]})
        for srv in conscience.all_services("rawx"):
            if service_id in (srv.get("id"), srv.get("addr")):
                return 100.0 - float((srv.get("tags") or {}).get(
                    "stat.space", 100))
        raise ValueError(f"No rawx service with this ID ({service_id})")

    def get_tasks(self, params: dict, marker: str | None = None
                  ) -> Iterator[tuple[str, dict]]:
        target = params["usage_target"]
        next_check = 0.0
        for task in self.chunks(params, marker):
            if target > 0 and time.monotonic() >= next_check:
                usage = self.get_usage(params["service_id"])
                if usage <= target:
                    self.logger.info("usage of %s is %.2f%% <= %d%%: done",
                                     params["service_id"], usage, target)
                    return
                next_check = time.monotonic() + params["usage_check_interval"]
            yield task

    def get_total_tasks(self, params: dict, marker: str | None = None
                        ) -> Iterator[tuple[str, int]]:
        scale = 1.0
        if params["usage_target"] > 0:
            usage = self.get_usage(params["service_id"])
            scale = max(0.0, 1.0 - params["usage_target"] / usage) \
                if usage > 0 else 0.0
        return self.count_by_steps(
            (task_id for task_id, _ in self.chunks(params, marker)), scale)
