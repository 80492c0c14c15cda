"""`meta2-rebuild` and `meta2-decommission`: the container bases a meta2
service holds (its rdir meta2 index) are copied to the replicas that lack
them, or moved to other meta2 services (spec healing.md §4.8). The work
itself is oio.rebuilder.meta2_rebuilder and oio.directory.meta2_mover."""

from __future__ import annotations

from collections.abc import Iterator

from oio.xcute.common.job import XcuteTask

from .common import RdirJob

# One lock for both: a namespace runs one meta2 job at a time.
META2_LOCK = "meta2"


class Meta2Task(XcuteTask):
    def __init__(self, conf: dict, job_params: dict, logger=None):
        super().__init__(conf, job_params, logger)
        from oio.common.http_urllib3 import get_pool_manager
        from oio.rebuilder.sqlx_admin import SqlxAdminClient

        self.ns_conf = {"namespace": conf["namespace"]}
        self.pool = get_pool_manager()
        self.admin = SqlxAdminClient(self.ns_conf, pool_manager=self.pool,
                                     logger=self.logger)

    def rdir(self):
        from oio.rdir.client import RdirClient

        return RdirClient(self.ns_conf, pool_manager=self.pool,
                          logger=self.logger)


class Meta2RebuildTask(Meta2Task):
    def __init__(self, conf: dict, job_params: dict, logger=None):
        super().__init__(conf, job_params, logger)
        from oio.rebuilder.meta2_rebuilder import Meta2Rebuilder

        self.rebuilder = Meta2Rebuilder(
            self.admin, self.rdir(), job_params["service_id"],
            conf["namespace"], logger=self.logger)

    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        from oio.common import exceptions as exc

        try:
            errors = self.rebuilder.rebuild(task_payload["container_id"])
        except exc.NotFound as err:
            # A record left in the rdir index by a container deleted since:
            # nothing to rebuild, and not an error.
            self.logger.info("[reqid=%s] %s no longer exists: %s", reqid,
                             task_id, err)
            return {"orphan_bases": 1}
        if errors:
            self.logger.warning("[reqid=%s] rebuild of %s: %s", reqid,
                                task_id, "; ".join(errors))
            return {"errors": 1}
        return {"rebuilt_seq": 1}


class Meta2DecommissionTask(Meta2Task):
    def __init__(self, conf: dict, job_params: dict, logger=None):
        super().__init__(conf, job_params, logger)
        from oio.conscience.client import ConscienceClient
        from oio.directory.client import DirectoryClient
        from oio.directory.meta2_mover import Meta2Mover

        self.mover = Meta2Mover(
            self.admin, DirectoryClient(self.ns_conf, pool_manager=self.pool),
            ConscienceClient(self.ns_conf, pool_manager=self.pool),
            self.rdir(), namespace=conf["namespace"], logger=self.logger)

    def process(self, task_id: str, task_payload: dict,
                reqid: str | None = None) -> dict[str, int]:
        result = self.mover.move(task_payload["container_id"],
                                 self.params["service_id"],
                                 self.params.get("dst"))
        if result.error:
            self.logger.warning("[reqid=%s] move of %s: %s", reqid, task_id,
                                result.error)
            return {"errors": 1}
        return {"moved_seq": 1, f"to.{result.dst}": 1}


class Meta2Job(RdirJob):
    """Task ID `NS/account/container` (the meta2 index's own marker)."""

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked, _ = super().sanitize_params(params)
        return checked, META2_LOCK

    def containers(self, params: dict, marker: str | None = None
                   ) -> Iterator[tuple[str, dict]]:
        from oio.common.exceptions import BadRequest

        records = self.rdir().meta2_index_fetch_all(
            params["service_id"], marker=marker,
            limit=params["rdir_fetch_limit"],
            read_timeout=params["rdir_timeout"])
        try:
            for record in records:
                yield (record["container_url"],
                       {"container_id": record["container_id"],
                        "container_url": record["container_url"]})
        except BadRequest as err:
            # rdir creates a volume's index with its first record.
            if "not found" not in str(err).lower():
                raise

    def get_tasks(self, params: dict, marker: str | None = None
                  ) -> Iterator[tuple[str, dict]]:
        return self.containers(params, marker)

    def get_total_tasks(self, params: dict, marker: str | None = None
                        ) -> Iterator[tuple[str, int]]:
        return self.count_by_steps(
            task_id for task_id, _ in self.containers(params, marker))


class Meta2RebuildJob(Meta2Job):
    JOB_TYPE = "meta2-rebuild"
    TASK_CLASS = Meta2RebuildTask


class Meta2DecommissionJob(Meta2Job):
    JOB_TYPE = "meta2-decommission"
    TASK_CLASS = Meta2DecommissionTask

    @classmethod
    def sanitize_params(cls, params: dict) -> tuple[dict, str]:
        checked, lock = super().sanitize_params(params)
        dst = params.get("dst") or None
        if dst is not None and not isinstance(dst, str):
            raise ValueError("dst must be a meta2 service ID")
        checked["dst"] = dst
        return checked, lock
