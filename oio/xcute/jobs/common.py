"""What the jobs fed by an rdir index share: its paging options, and
task IDs that are also rdir markers."""

from __future__ import annotations

from collections.abc import Iterator

from oio.xcute.common.job import XcuteJob, float_param, int_param

DEFAULT_RDIR_FETCH_LIMIT = 1000
DEFAULT_RDIR_TIMEOUT = 60.0
# Records counted per step of a total estimation.
ESTIMATE_STEP = 1000


def service_id_of(params: dict) -> str:
    service_id = params.get("service_id")
    if not service_id or not isinstance(service_id, str):
        raise ValueError("Missing service ID")
    return service_id


class RdirJob(XcuteJob):
    """A job over the records of one volume's rdir index."""

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked = {
            "service_id": service_id_of(params),
            "rdir_fetch_limit": int_param(params, "rdir_fetch_limit",
                                          DEFAULT_RDIR_FETCH_LIMIT),
            "rdir_timeout": float_param(params, "rdir_timeout",
                                        DEFAULT_RDIR_TIMEOUT)}
        if checked["rdir_fetch_limit"] <= 0:
            raise ValueError("rdir_fetch_limit must be positive")
        return checked, ""

    def rdir(self):
        from oio.rdir.client import RdirClient

        return RdirClient({"namespace": self.conf["namespace"]},
                          logger=self.logger)

    @staticmethod
    def count_by_steps(task_ids: Iterator[str], scale: float = 1.0
                       ) -> Iterator[tuple[str, int]]:
        """(marker, increment) every ESTIMATE_STEP IDs, then the rest."""
        count, last = 0, None
        for last in task_ids:
            count += 1
            if count == ESTIMATE_STEP:
                yield last, int(count * scale)
                count = 0
        if count and last is not None:
            yield last, int(count * scale)


class ChunkJob(RdirJob):
    """Jobs over the chunks of a rawx volume: task ID
    `<cid>|<content_id>|<chunk_id>`, the rdir's own marker."""

    REBUILD_ONLY = False

    def chunks(self, params: dict, marker: str | None = None
               ) -> Iterator[tuple[str, dict]]:
        records = self.rdir().chunk_fetch(
            params["service_id"], limit=params["rdir_fetch_limit"],
            rebuild=self.REBUILD_ONLY, start_after=marker,
            read_timeout=params["rdir_timeout"])
        for cid, content_id, chunk_id, _ in records:
            yield (f"{cid}|{content_id}|{chunk_id}",
                   {"container_id": cid, "content_id": content_id,
                    "chunk_id": chunk_id})
