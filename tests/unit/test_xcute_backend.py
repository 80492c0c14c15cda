"""The xcute job backend on a real redis-server: the Redis layout of spec
healing.md §4.4 and every transition of §4.3, without the 7.2 lock
defects, plus the re-sending of unacknowledged tasks."""

from __future__ import annotations

import re
import time

import pytest

from oio.common.exceptions import Forbidden, NotFound
from oio.xcute.common.backend import XcuteBackend, new_job_id
from oio.xcute.jobs import tester
from tests.redis_process import RedisServer

ORCH = "orch-1"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture
def backend(redis_server):
    backend = XcuteBackend.from_conf({"redis_host": redis_server.addr})
    backend.conn.flushdb()
    return backend


def create(backend, lock="tester_lock", on_hold=False, **params):
    config, lock = tester.TesterJob.sanitize_config(
        {"params": dict(params, lock=lock)})
    return backend.create("tester", config, lock, on_hold)


def status(backend, job_id):
    return backend.get_job_info(job_id)["job"]["status"]


def run_all(backend, job_id, task_ids):
    """Dispatch and acknowledge every task: the job finishes."""
    assert backend.run_next(ORCH)["job"]["id"] == job_id
    backend.tasks_sent(job_id, [(t, {}) for t in task_ids], time.time() + 60)
    backend.tasks_sent(job_id, [], 0, all_sent=True)
    return backend.tasks_processed(job_id, task_ids, {}, {"counter": 1})


def test_job_id_sorts_by_time():
    first, second = new_job_id(1584636356.708006), new_job_id()
    assert re.fullmatch(r"20200319164556708006-[0-9a-f]{11}", first)
    assert first < second


def test_create_writes_the_spec_layout(backend):
    job_id = create(backend)
    conn = backend.conn
    assert conn.zrange("xcute:job:ids", 0, -1, withscores=True) == \
        [(job_id, 0.0)]
    assert conn.lrange("xcute:waiting:jobs", 0, -1) == [job_id]
    assert conn.hgetall("xcute:locks") == {"tester_lock": job_id}
    fields = conn.hgetall(f"xcute:job:info:{job_id}")
    assert fields["job.status"] == "WAITING"
    assert fields["job.request_pause"] == "False"
    assert fields["tasks.is_total_temp"] == "True"
    assert re.fullmatch(r"\d{10}\.\d{5}", fields["job.mtime"])
    info = backend.get_job_info(job_id)
    assert info["tasks"] == {"sent": 0, "processed": 0, "all_sent": False,
                             "is_total_temp": True, "total": 0,
                             "last_sent": None, "total_marker": None}
    assert info["config"]["params"]["end"] == 5
    assert info["errors"] == {"total": 0}


def test_lock_busy_forbidden_or_on_hold(backend):
    create(backend)
    with pytest.raises(Forbidden) as err:
        create(backend)
    assert err.value.message == ("A job with the same lock (tester_lock) "
                                 "is already in progress")
    held = create(backend, on_hold=True)
    assert status(backend, held) == "ON_HOLD"
    assert backend.conn.lrange("xcute:on_hold:jobs:tester_lock", 0, -1) == \
        [held]


def test_run_finish_hands_the_lock_over(backend):
    first = create(backend)
    second = create(backend, on_hold=True)
    assert run_all(backend, first, ["0", "1"]) == "FINISHED"
    assert backend.get_lock("tester_lock") == {"lock": "tester_lock",
                                               "job_id": second}
    assert status(backend, second) == "WAITING"
    assert backend.conn.smembers(f"xcute:orchestrator:jobs:{ORCH}") == set()
    info = backend.get_job_info(first)
    assert info["tasks"]["processed"] == 2
    assert info["results"] == {"counter": 1}


def test_duplicate_reply_counts_once(backend):
    job_id = create(backend)
    backend.run_next(ORCH)
    backend.tasks_sent(job_id, [("0", {}), ("1", {})], time.time() + 60)
    backend.tasks_processed(job_id, ["0", "1"], {"Boom": 1}, {"counter": 2})
    backend.tasks_processed(job_id, ["0", "1"], {"Boom": 1}, {"counter": 2})
    info = backend.get_job_info(job_id)
    assert info["tasks"]["processed"] == 2
    assert info["errors"] == {"total": 1, "Boom": 1}
    assert info["results"] == {"counter": 2}
    assert info["job"]["status"] == "RUNNING"   # not all sent yet


def test_pause_and_resume(backend):
    job_id = create(backend)
    assert backend.request_pause(job_id) == "PAUSED"   # WAITING: at once
    assert backend.conn.llen("xcute:waiting:jobs") == 0
    assert backend.resume(job_id) == "WAITING"
    backend.run_next(ORCH)
    assert backend.request_pause(job_id) == "RUNNING"
    assert backend.get_job_info(job_id)["job"]["request_pause"] is True
    # Resuming cancels a pending pause.
    backend.resume(job_id)
    assert backend.get_job_info(job_id)["job"]["request_pause"] is False
    backend.request_pause(job_id)
    status_now, _ = backend.tasks_sent(job_id, [("0", {})], time.time())
    assert status_now == "PAUSED"
    assert backend.get_lock("tester_lock")["job_id"] == job_id
    backend.resume(job_id)
    info = backend.run_next(ORCH)
    assert info["tasks"]["last_sent"] == "0"


def test_pause_refusals(backend):
    job_id = create(backend)
    held = create(backend, on_hold=True)
    with pytest.raises(Forbidden, match="The job is on hold"):
        backend.request_pause(held)
    backend.run_next(ORCH)
    backend.tasks_sent(job_id, [("0", {})], time.time())
    backend.tasks_sent(job_id, [], 0, all_sent=True)
    with pytest.raises(Forbidden, match="all jobs have been sent"):
        backend.request_pause(job_id)
    backend.tasks_processed(job_id, ["0"], {}, {})
    with pytest.raises(Forbidden, match="The job is finished"):
        backend.request_pause(job_id)
    with pytest.raises(Forbidden, match="The job is finished"):
        backend.resume(job_id)
    with pytest.raises(NotFound, match="The job does not exist"):
        backend.request_pause("nope")


def test_update_only_when_paused(backend):
    job_id = create(backend)
    config = backend.get_job_info(job_id)["config"]
    with pytest.raises(Forbidden, match="The job must be paused"):
        backend.update_config(job_id, config, "tester_lock")
    backend.request_pause(job_id)
    with pytest.raises(ValueError, match="can not change the lock"):
        backend.update_config(job_id, config, "other")
    config["tasks_per_second"] = 3
    backend.update_config(job_id, config, "tester_lock")
    assert backend.get_job_info(job_id)["config"]["tasks_per_second"] == 3


@pytest.mark.parametrize("how", ["waiting", "paused", "failed"])
def test_delete_releases_the_lock_once(backend, how):
    job_id = create(backend)
    heir = create(backend, on_hold=True)
    if how == "paused":
        backend.request_pause(job_id)
    elif how == "failed":
        backend.run_next(ORCH)
        backend.fail(job_id)
        # The failed job gave its lock to the on-hold one...
        assert backend.get_lock("tester_lock")["job_id"] == heir
    backend.delete(job_id)
    # ... and deleting it does not take the lock from its new holder.
    assert backend.get_lock("tester_lock")["job_id"] == heir
    assert status(backend, heir) == "WAITING"
    assert backend.conn.exists(f"xcute:job:info:{job_id}") == 0
    assert backend.conn.zscore("xcute:job:ids", job_id) is None
    assert backend.conn.lrange("xcute:waiting:jobs", 0, -1) == [heir]


def test_delete_refusals_and_on_hold(backend):
    job_id = create(backend)
    held = create(backend, on_hold=True)
    backend.delete(held)
    assert backend.conn.llen("xcute:on_hold:jobs:tester_lock") == 0
    backend.run_next(ORCH)
    with pytest.raises(Forbidden, match="The job running"):
        backend.delete(job_id)


def test_resume_failed_takes_the_lock_again(backend):
    job_id = create(backend)
    backend.run_next(ORCH)
    backend.fail(job_id)
    assert backend.get_lock("tester_lock")["job_id"] is None
    assert backend.resume(job_id) == "WAITING"
    assert backend.get_lock("tester_lock")["job_id"] == job_id
    # A second failed job waits for the lock instead of sharing it.
    backend.run_next(ORCH)
    backend.fail(job_id)
    other = create(backend)
    assert backend.resume(job_id) == "ON_HOLD"
    assert run_all(backend, other, ["0"]) == "FINISHED"
    assert status(backend, job_id) == "WAITING"


def test_free_puts_the_job_first(backend):
    first = create(backend, lock="a")
    second = create(backend, lock="b")
    assert backend.run_next(ORCH)["job"]["id"] == first
    backend.free(first)
    assert backend.conn.lrange("xcute:waiting:jobs", 0, -1) == [first, second]


def test_unsent_batch_is_undone(backend):
    job_id = create(backend)
    backend.run_next(ORCH)
    backend.tasks_sent(job_id, [("0", {})], time.time())
    _, previous = backend.tasks_sent(job_id, [("1", {}), ("2", {})],
                                     time.time())
    assert previous == "0"
    backend.tasks_unsent(job_id, ["1", "2"], previous)
    info = backend.get_job_info(job_id)
    assert (info["tasks"]["sent"], info["tasks"]["last_sent"]) == (1, "0")
    assert backend.conn.smembers(f"xcute:tasks:running:{job_id}") == {"0"}


def test_overdue_tasks_are_taken_again(backend):
    job_id = create(backend)
    backend.run_next(ORCH)
    now = time.time()
    backend.tasks_sent(job_id, [("0", {"msg": "a"})], now - 1)
    backend.tasks_sent(job_id, [("1", {"msg": "b"})], now + 60)
    assert backend.take_overdue(job_id, now, now + 100) == [
        ("0", {"msg": "a"})]
    assert backend.take_overdue(job_id, now, now + 100) == []   # re-armed
    backend.tasks_processed(job_id, ["0"], {}, {})
    assert backend.take_overdue(job_id, now + 1000, now + 2000) == [
        ("1", {"msg": "b"})]


def test_total_estimation(backend):
    job_id = create(backend)
    backend.incr_total(job_id, "4", 5)
    info = backend.get_job_info(job_id)
    assert (info["tasks"]["total"], info["tasks"]["total_marker"]) == (5, "4")
    backend.total_done(job_id)
    backend.incr_total(job_id, "9", 5)
    assert backend.get_job_info(job_id)["tasks"]["total"] == 5


def test_list_filters_and_pages(backend):
    ids = [create(backend, lock=f"lock-{i}") for i in range(5)]
    backend.request_pause(ids[1])
    listed = [j["job"]["id"] for j in backend.list_jobs()]
    assert listed == ids[::-1]
    assert [j["job"]["id"] for j in backend.list_jobs(limit=2)] == \
        ids[::-1][:2]
    assert [j["job"]["id"] for j in backend.list_jobs(marker=ids[3])] == \
        ids[:3][::-1]
    assert [j["job"]["id"] for j in backend.list_jobs(
        job_status="PAUSED")] == [ids[1]]
    assert [j["job"]["id"] for j in backend.list_jobs(
        job_lock="LOCK-*")] == []          # case kept, unlike 7.2
    assert len(backend.list_jobs(job_lock="lock-*")) == 5
    assert len(backend.list_jobs(prefix=ids[0][:4])) == 5
    assert backend.list_locks()[0] == {"lock": "lock-0", "job_id": ids[0]}
