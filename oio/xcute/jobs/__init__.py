"""The xcute job types by name (spec healing.md §4.2, §4.8)."""

from __future__ import annotations

from oio.xcute.common.job import XcuteJob

from .meta2 import Meta2DecommissionJob, Meta2RebuildJob
from .rawx_decommission import RawxDecommissionJob
from .rawx_rebuild import RawxRebuildJob
from .tester import TesterJob

JOB_TYPES: dict[str, type[XcuteJob]] = {
    job.JOB_TYPE: job for job in (TesterJob, RawxRebuildJob,
                                  RawxDecommissionJob, Meta2RebuildJob,
                                  Meta2DecommissionJob)}
