"""xcute job types, worker and orchestrator with their neighbours faked:
the rawx jobs against stand-ins of ChunkOperator and ContentFactory (the
interfaces of spec healing.md §1), the meta2 jobs against fake movers,
the orchestrator on a real redis-server with an in-memory beanstalkd."""

from __future__ import annotations

import json
import sys
import time
import types

import pytest

from oio.cli.xcute.common import readable
from oio.cli.xcute.job import date_prefix
from oio.common.exceptions import CommandError, NotFound, OrphanChunk
from oio.xcute.common.backend import XcuteBackend
from oio.xcute.common.worker import XcuteWorker
from oio.xcute.jobs import JOB_TYPES
from oio.xcute.orchestrator import XcuteOrchestrator, tasks_event
from tests.redis_process import RedisServer

CONF = {"namespace": "OPENIO"}
CID, CONTENT = "A" * 64, "C0FFEE"


# -- job configurations ---------------------------------------------------
def test_config_defaults_and_batch_limits():
    config, lock = JOB_TYPES["tester"].sanitize_config({})
    assert config == {"tasks_per_second": 32, "tasks_batch_size": 32,
                      "params": {"start": 0, "end": 5,
                                 "error_percentage": 0}}
    assert lock == "tester_lock"
    config, _ = JOB_TYPES["tester"].sanitize_config({"tasks_per_second": 5})
    assert config["tasks_batch_size"] == 5
    for bad in (0, 33):
        with pytest.raises(ValueError, match="batch size"):
            JOB_TYPES["tester"].sanitize_config({"tasks_batch_size": bad})
    with pytest.raises(ValueError, match="end must be an integer"):
        JOB_TYPES["tester"].sanitize_config({"params": {"end": "x"}})


def test_rawx_rebuild_params_and_lock():
    cls = JOB_TYPES["rawx-rebuild"]
    with pytest.raises(ValueError, match="Missing service ID"):
        cls.sanitize_params({})
    params, lock = cls.sanitize_params({"service_id": "rawx-1"})
    assert lock == "rawx/rawx-1"
    assert params["allow_same_rawx"] is True
    assert params["rdir_fetch_limit"] == 1000
    assert params["set_specific_incident_date"] is None
    params, _ = cls.sanitize_params({"service_id": "r",
                                     "set_specific_incident_date": 1234})
    assert params["set_incident_date"] is True
    before = int(time.time())
    params, _ = cls.sanitize_params({"service_id": "r",
                                     "set_incident_date": "true"})
    assert params["set_specific_incident_date"] >= before


def test_rawx_decommission_and_meta2_params():
    params, lock = JOB_TYPES["rawx-decommission"].sanitize_params(
        {"service_id": "r", "excluded_rawx": "a, b", "usage_target": "40"})
    assert (params["excluded_rawx"], params["usage_target"]) == (["a", "b"],
                                                                  40)
    assert lock == "rawx/r"
    params, lock = JOB_TYPES["meta2-decommission"].sanitize_params(
        {"service_id": "m"})
    assert (params["dst"], lock) == (None, "meta2")
    assert JOB_TYPES["meta2-rebuild"].sanitize_params(
        {"service_id": "m"})[1] == "meta2"


def test_update_merges_params():
    cls = JOB_TYPES["tester"]
    current, _ = cls.sanitize_config({"tasks_per_second": 5,
                                      "params": {"end": 9}})
    merged = cls.merge_config(current, {"tasks_per_second": 50,
                                        "params": {"start": 2}})
    config, _ = cls.sanitize_config(merged)
    assert config["tasks_batch_size"] == 32     # recomputed
    assert (config["params"]["start"], config["params"]["end"]) == (2, 9)


# -- rdir job sides -------------------------------------------------------
class FakeRdir:
    def __init__(self, count: int):
        self.records = [(CID, CONTENT, f"{i:064X}", {"mtime": 1})
                        for i in range(count)]
        self.incident = None
        self.calls = []

    def chunk_fetch(self, volume, limit=1000, rebuild=False,
                    start_after=None, **kwargs):
        self.calls.append((volume, limit, rebuild, start_after))
        for record in self.records:
            if start_after is None or "|".join(record[:3]) > start_after:
                yield record

    def admin_incident_set(self, volume, date, **kwargs):
        self.incident = (volume, date)


def test_rawx_rebuild_tasks_total_and_incident():
    job = JOB_TYPES["rawx-rebuild"](CONF)
    rdir = FakeRdir(2500)
    job.rdir = lambda: rdir
    params, _ = job.sanitize_params({"service_id": "rawx-1",
                                     "set_specific_incident_date": 99})
    job.prepare("job", params)
    assert rdir.incident == ("rawx-1", 99)
    tasks = list(job.get_tasks(params))
    assert tasks[0] == (f"{CID}|{CONTENT}|{0:064X}",
                        {"container_id": CID, "content_id": CONTENT,
                         "chunk_id": f"{0:064X}"})
    assert rdir.calls[0][2] is True          # only chunks to rebuild
    resumed = list(job.get_tasks(params, marker=tasks[1999][0]))
    assert len(resumed) == 500
    steps = list(job.get_total_tasks(params))
    assert [inc for _, inc in steps] == [1000, 1000, 500]
    assert steps[-1][0] == tasks[-1][0]


def fake_module(monkeypatch, name: str, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, name, module)


class FakeOperator:
    calls: list = []

    def __init__(self, conf, logger=None):
        self.conf = conf

    def rebuild(self, container_id, content_id, chunk_id_or_pos,
                rawx_id=None, try_chunk_delete=False,
                allow_frozen_container=True, allow_same_rawx=True):
        FakeOperator.calls.append((chunk_id_or_pos, rawx_id,
                                   try_chunk_delete, allow_frozen_container,
                                   allow_same_rawx))
        if chunk_id_or_pos == "ORPHAN":
            raise OrphanChunk("Chunk not found in content")
        if chunk_id_or_pos == "LOST":
            raise ValueError("no copy")
        return 1024


def test_rawx_rebuild_task_counts(monkeypatch):
    fake_module(monkeypatch, "oio.blob.operator", ChunkOperator=FakeOperator)
    params, _ = JOB_TYPES["rawx-rebuild"].sanitize_params(
        {"service_id": "rawx-1", "try_chunk_delete": True})
    worker = XcuteWorker(CONF)
    data = {"job_id": "j1", "job_type": "rawx-rebuild",
            "job_config": {"tasks_per_second": 0, "params": params},
            "tasks": {f"t{i}": {"container_id": CID, "content_id": CONTENT,
                                "chunk_id": chunk}
                      for i, chunk in enumerate(("AB", "ORPHAN", "LOST"))}}
    reply = worker.process(data)
    assert reply == {"job_id": "j1", "task_ids": ["t0", "t1", "t2"],
                     "task_results": {"rebuilt_chunks": 1,
                                      "rebuilt_bytes": 1024,
                                      "orphan_chunks": 1},
                     "task_errors": {"ValueError": 1}}
    assert FakeOperator.calls[0] == ("AB", "rawx-1", True, False, True)
    dry = dict(data, job_id="j2", job_config={
        "params": dict(params, dry_run=True)})
    assert worker.process(dry)["task_results"] == {"skipped_chunks": 3}


class FakeContent:
    moved: list = []

    def move_chunk(self, chunk_id, service_id=None, check_quality=False,
                   dry_run=False, max_attempts=3, fake_excluded_chunks=None):
        if chunk_id == "ORPHAN":
            raise OrphanChunk("gone")
        FakeContent.moved.append((chunk_id, service_id,
                                  fake_excluded_chunks))
        return {"url": f"http://other/{chunk_id}"}


class FakeFactory:
    def __init__(self, conf, logger=None):
        pass

    def get(self, cid, content_id):
        return FakeContent()


class FakeBlob:
    def chunk_head(self, url, **kwargs):
        chunk = url.rsplit("/", 1)[-1]
        if chunk == "GONE":
            raise NotFound()
        size = {"SMALL": 1, "BIG": 10**9}.get(chunk, 4096)
        cid = "B" * 64 if chunk == "OTHER" else CID
        return {"container_id": cid, "content_id": CONTENT,
                "chunk_size": str(size), "chunk_hash": "00", "chunk_pos": "0"}


def test_rawx_decommission_task(monkeypatch):
    fake_module(monkeypatch, "oio.content", factory=None)
    fake_module(monkeypatch, "oio.content.factory", ContentFactory=FakeFactory)
    cls = JOB_TYPES["rawx-decommission"]
    params, _ = cls.sanitize_params({
        "service_id": "rawx-1", "excluded_rawx": "rawx-9",
        "min_chunk_size": 2, "max_chunk_size": 10**6})
    task = cls.TASK_CLASS(CONF, params)
    task.blob = FakeBlob()
    task.chunk_url = lambda chunk: f"http://127.0.0.1:1/{chunk}"
    counters = {}
    for chunk in ("OK1", "GONE", "SMALL", "BIG", "ORPHAN"):
        for key, value in task.process(
                chunk, {"container_id": CID, "content_id": CONTENT,
                        "chunk_id": chunk}).items():
            counters[key] = counters.get(key, 0) + value
    assert counters == {"moved_chunks": 1, "moved_bytes": 4096,
                        "skipped_chunks_no_longer_exist": 1,
                        "skipped_chunks_too_small": 1,
                        "skipped_chunks_too_big": 1, "orphan_chunks": 1}
    chunk, service_id, fakes = FakeContent.moved[0]
    assert (chunk, service_id) == ("OK1", "rawx-1")
    assert fakes[0]["url"] == "http://rawx-9/" + "0" * 64
    with pytest.raises(ValueError, match="Mismatch container ID"):
        task.process("x", {"container_id": CID, "content_id": CONTENT,
                           "chunk_id": "OTHER"})


def test_rawx_decommission_stops_at_usage_target():
    job = JOB_TYPES["rawx-decommission"](CONF)
    job.rdir = lambda: FakeRdir(10)
    usages = iter([80.0, 30.0])
    job.get_usage = lambda service_id: next(usages)
    params, _ = job.sanitize_params({"service_id": "r", "usage_target": 50,
                                     "usage_check_interval": 0})
    assert len(list(job.get_tasks(params))) == 1


def test_meta2_tasks_count_moves_and_errors():
    from oio.directory.meta2_mover import MoveResult

    cls = JOB_TYPES["meta2-decommission"]
    params, _ = cls.sanitize_params({"service_id": "m1"})
    task = cls.TASK_CLASS.__new__(cls.TASK_CLASS)
    task.params, task.logger = params, __import__("logging").getLogger()

    class Mover:
        def move(self, cid, src, dst):
            return MoveResult(cid, f"{cid}.1", src, "m2",
                              error="boom" if cid == "BAD" else None)
    task.mover = Mover()
    assert task.process("NS/a/c", {"container_id": "GOOD"}) == {
        "moved_seq": 1, "to.m2": 1}
    assert task.process("NS/a/d", {"container_id": "BAD"}) == {"errors": 1}


# -- the orchestrator ------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


class FakePool:
    def __init__(self):
        self.jobs: list[dict] = []
        self.fail = False

    def put(self, body: bytes, ttr: int) -> str:
        if self.fail:
            raise OSError("no beanstalkd")
        self.jobs.append(json.loads(body))
        return "fake"


@pytest.fixture
def orchestrator(redis_server):
    backend = XcuteBackend.from_conf({"redis_host": redis_server.addr})
    backend.conn.flushdb()
    return XcuteOrchestrator(
        {"namespace": "OPENIO", "orchestrator_id": "o1",
         "beanstalkd_workers_tube": "oio-xcute",
         "beanstalkd_reply_addr": "127.0.0.1:1", "task_ttr": "0.2"},
        backend, pool=FakePool())


def start_tester(orch, **params):
    config, lock = JOB_TYPES["tester"].sanitize_config(
        {"tasks_per_second": 1000, "tasks_batch_size": 4, "params": params})
    orch.backend.create("tester", config, lock)
    return orch.backend.run_next("o1")


def test_dispatch_batches_and_finish(orchestrator):
    info = start_tester(orchestrator, end=10)
    orchestrator.run_job(info)
    jobs = orchestrator.pool.jobs
    assert [len(j["data"]["tasks"]) for j in jobs] == [4, 4, 2]
    assert jobs[0]["event"] == "xcute.tasks"
    assert jobs[0]["data"]["beanstalkd_reply"] == {
        "addr": "beanstalk://127.0.0.1:1", "tube": "oio-xcute.reply"}
    job_id = info["job"]["id"]
    for job in jobs:
        orchestrator.backend.tasks_processed(job_id, list(job["data"]["tasks"]),
                                             {}, {"counter": 1})
    done = orchestrator.backend.get_job_info(job_id)
    assert done["job"]["status"] == "FINISHED"
    assert done["tasks"]["total"] == 10


def test_lost_tasks_are_sent_again(orchestrator):
    info = start_tester(orchestrator, end=6)
    orchestrator.run_job(info)
    job_id = info["job"]["id"]
    first = orchestrator.pool.jobs[0]
    orchestrator.backend.tasks_processed(job_id, list(first["data"]["tasks"]),
                                         {}, {})
    time.sleep(1.0)     # past the deadline of 0.2 s per task
    orchestrator.pool.jobs.clear()
    orchestrator.reconcile()
    assert [list(j["data"]["tasks"]) for j in orchestrator.pool.jobs] == [
        ["4", "5"]]
    orchestrator.backend.tasks_processed(job_id, ["4", "5"], {}, {})
    assert orchestrator.backend.get_job_info(job_id)["job"]["status"] == \
        "FINISHED"


def test_batch_refused_then_job_paused(orchestrator):
    info = start_tester(orchestrator, end=6)
    job_id = info["job"]["id"]
    orchestrator.pool.fail = True
    orchestrator.backend.request_pause(job_id)
    orchestrator.run_job(info)
    after = orchestrator.backend.get_job_info(job_id)
    # The record was undone: nothing counted as sent, and the job paused.
    assert after["job"]["status"] == "PAUSED"
    assert after["tasks"]["sent"] == 0 and after["tasks"]["last_sent"] is None


def test_oversized_batch_is_refused():
    info = {"job": {"id": "j", "type": "tester"}, "config": {}}
    with pytest.raises(ValueError, match="too large"):
        tasks_event(info, [("1", {"msg": "x" * 70000})], "a", "t")


# -- CLI helpers -------------------------------------------------------------
def test_date_prefix():
    assert date_prefix("2020") == "2020"
    assert date_prefix("2020-03-19T16:45") == "202003191645"
    for bad in ("2020T10", "yesterday", "2020-13"):
        with pytest.raises(CommandError):
            date_prefix(bad)


def test_show_figures():
    info = {"job": {"id": "j", "status": "RUNNING", "ctime": 100.0,
                    "mtime": 110.0, "request_pause": False},
            "orchestrator": {"id": "o"},
            "tasks": {"sent": 50, "processed": 20, "total": 100,
                      "all_sent": False, "is_total_temp": False,
                      "last_sent": "49", "total_marker": "99"},
            "errors": {"total": 1}, "results": {}, "config": {}}
    shown = readable(info, table=True, now=120.0)
    tasks = shown["tasks"]
    assert tasks["total"] == "100 (estimated)"
    assert tasks["processed_percent"] == 20.0
    assert tasks["processed_per_second"] == 2.0
    assert tasks["time_left"] == pytest.approx(80 / 1.0)
    assert "orchestrator" not in shown and "last_sent" not in tasks


def test_watch_line_on_a_terminal():
    import io

    from oio.cli.xcute.job import JobProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = JobProgress(None, stream=stream, interval=0)
    progress.info = {"job": {"id": "j1", "status": "RUNNING",
                             "ctime": time.time() - 10, "mtime": time.time()},
                     "tasks": {"processed": 50, "total": 200,
                               "is_total_temp": False},
                     "errors": {"total": 2}}
    progress.update(0)
    progress.finish()
    drawn = stream.getvalue()
    assert "j1 RUNNING 50/200 tasks 25.00%" in drawn
    assert "2 errors" in drawn and "ETA 00:" in drawn
    assert drawn.endswith("\r\x1b[K")       # erased at the end


def test_oio_xcute_refuses_a_bad_config(tmp_path, capsys):
    from oio.xcute.server import main

    conf = tmp_path / "xcute.conf"
    conf.write_text("[xcute-orchestrator]\nnamespace = OPENIO\n"
                    "redis_host = 127.0.0.1:1\n")
    assert main([str(conf)]) == 2
    assert "oio-xcute:" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.conf")]) == 2
