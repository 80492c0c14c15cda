"""The handlers file loader, 7.2-style filter chains mixed with ours, and
what the agent's worker makes of each answer of a pipeline."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from oio.event.consumer import MAX_RELEASES, AgentApp, AppEnv, EventWorker
from oio.event.evob import Event, EventError, EventOk, EventTypes, status_map
from oio.event.filters.base import Filter
from oio.event.handlers.base import Handler, handler_factory
from oio.event.loader import (
    BUILTINS,
    FILTER_GROUP,
    HANDLER_GROUP,
    LoaderError,
    find_factory,
    load_pipelines,
    loadhandlers,
)
from tests.event_plugin import DIST, write_plugin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The 7.2-style package on sys.path, as if installed."""
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "site")))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("acme_events")]:
        del sys.modules[name]


def write(tmp_path, text: str) -> str:
    path = tmp_path / "handlers.conf"
    path.write_text(text)
    return str(path)


def run(entry, env: dict) -> list[tuple[int, str]]:
    answers = []
    entry(env, None, lambda status, body="": answers.append((status, body)))
    return answers


def test_a_7_2_filter_chains_with_ours(plugin):
    out, dumps = plugin / "tagged.jsonl", plugin / "dumps"
    dumps.mkdir()
    path = write(plugin, f"""
[DEFAULT]
tag = from-default
[handler:storage.content.new]
pipeline = tagger dump
[handler:storage.content.deleted]
pipeline = egg:oio#noop tagger
[filter:tagger]
use = egg:{DIST}#tagger
output = {out}
[filter:dump]
use = egg:oio#dump
directory = {dumps}
tag = from-section
[handler: spaced.type ]
pipeline = egg:oio#noop
""")
    app = AgentApp({"namespace": "NS"})
    pipelines = load_pipelines(path, {"namespace": "NS"}, app)
    # Every stage shares the agent's app_env, ours in between included.
    assert pipelines["storage.content.new"].stages[0].app_env is app.app_env
    env = {"event": "storage.content.new", "job_id": 4,
           "url": {"path": "obj"}}
    assert run(pipelines["storage.content.new"].entry, env) == [(200, "")]
    # The tagger ran first, then passed its change on to our dump filter.
    dumped = json.loads((dumps / "event_4").read_text())
    assert dumped["tagged_by"] == "from-default"
    assert json.loads(out.read_text()) == {
        "event": "storage.content.new", "path": "obj", "job_id": 4}
    # Its answer stops the pipeline: nothing after it runs.
    env = {"event": "storage.content.new", "job_id": 5,
           "url": {"path": "refuse-me"}}
    assert run(pipelines["storage.content.new"].entry, env) == [
        (500, "refused by the tagger")]
    assert not (dumps / "event_5").exists()
    assert pipelines["spaced.type"].stages[0].filter.conf["tag"] == \
        "from-default"
    assert pipelines["storage.content.new"].stages[1].filter.conf[
        "tag"] == "from-section"      # a section overrides [DEFAULT]
    stages = pipelines["storage.content.deleted"].stages
    assert type(stages[1]).__name__ == "TaggerFilter"
    assert stages[1].conf["namespace"] == "NS"


def test_7_2_entry_point_names(plugin):
    """loadhandlers as 7.2: event type → first stage."""
    path = write(plugin, f"[handler:a]\npipeline = t\n"
                         f"[filter:t]\nuse = egg:acme_events#tagger\n"
                         f"output = {plugin / 'o'}\n")
    handlers = loadhandlers(path, {})
    assert run(handlers["a"], {"event": "a"}) == [(200, "")]
    with pytest.raises(LoaderError, match="unknown use"):
        find_factory(f"egg:{DIST}#missing")


def test_sections_using_sections(tmp_path):
    path = write(tmp_path, f"""
[handler:a]
pipeline = mine
[filter:base]
use = egg:oio#dump
directory = /nowhere
[filter:mine]
use = base
directory = {tmp_path}
""")
    stage = load_pipelines(path, {})["a"].stages[0]
    assert stage.filter.conf["directory"] == str(tmp_path)
    assert run(stage, {"event": "a", "job_id": 9}) == [(200, "")]
    assert (tmp_path / "event_9").exists()


@pytest.mark.parametrize("text,message", [
    ("[handler:a]\npipeline = x\n[filter:x]\nk = v\n", "has no 'use'"),
    ("[handler:a]\npipeline = x\n[filter:x]\nuse = y\n[filter:y]\n"
     "use = x\n", "loops"),
    ("[handler:a]\npipeline = x\n[filter:x]\nuse = python:os#path\n",
     "only egg:"),
    ("[handler:a]\npipeline = egg:nobody#noop\n", "unknown use"),
    ("[handler:a\n", "handlers.conf"),
])
def test_bad_files(tmp_path, text, message):
    with pytest.raises(LoaderError, match=message):
        load_pipelines(write(tmp_path, text), {})


def test_builtins_are_the_declared_entry_points():
    tomllib = pytest.importorskip("tomllib")       # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]
    for group in (FILTER_GROUP, HANDLER_GROUP):
        assert declared[group] == BUILTINS[group]
        for name in declared[group]:
            assert callable(find_factory(f"egg:oio#{name}", group))


def test_our_filters_load_without_package_metadata(monkeypatch):
    """A source tree or an editable install without entry points: ours
    are found all the same, and without scanning installed packages."""
    import importlib.metadata

    def no_scan(**_kwargs):
        raise AssertionError("entry points scanned for a built-in")

    monkeypatch.setattr(importlib.metadata, "entry_points", no_scan)
    for name in BUILTINS[FILTER_GROUP]:
        assert callable(find_factory(f"egg:oio#{name}"))
    assert callable(find_factory("egg:oio#default", HANDLER_GROUP))


def test_handler_answers():
    class Failing(Handler):
        def process(self, event):
            raise RuntimeError("boom")

    class Answering(Handler):
        def process(self, event):
            return status_map[204](event=event)

    app = type("App", (), {"app_env": {}, "logger": None})()
    assert run(handler_factory(app, {"a": 1}, b=2), {}) == [(200, "")]
    assert run(Failing(app, {}), {})[0][0] == 500
    assert run(Answering(app, {}), {}) == [(204, "")]


def test_evob_names():
    event = Event({"event": EventTypes.CONTENT_NEW})
    err = EventError(event=event, body="later")
    assert isinstance(err, Exception) and err.status == 500
    assert str(err) == "later" and str(EventError()) == "status 500"
    assert EventOk().status == 200
    assert EventTypes.CONTENT_NEW in EventTypes.CONTENT_EVENTS


def test_app_env_creates_shared_clients_on_first_use(monkeypatch):
    made = []

    class Fake:
        def __init__(self, conf):
            made.append(conf)

    import oio.account.client

    monkeypatch.setattr(oio.account.client, "AccountClient", Fake)
    env = AppEnv({"namespace": "NS"})
    assert made == []
    assert env["account_client"] is env.get("account_client")
    assert made == [{"namespace": "NS"}]
    assert env.get("nothing") is None


class _Jobs:
    """The beanstalkd calls a worker makes about a job."""

    def __init__(self, releases: int = 0):
        self.calls: list[tuple] = []
        self.releases = releases

    def bury(self, job_id):
        self.calls.append(("bury", job_id))

    def release(self, job_id, delay=0):
        self.calls.append(("release", job_id, delay))

    def stats_job(self, job_id):
        return {"releases": self.releases}


def _worker(tmp_path, filter_source: str) -> EventWorker:
    """A worker whose `t` events go through a 7.2 filter `process`."""
    module = tmp_path / "answers_filter.py"
    module.write_text(filter_source)
    sys.path.insert(0, str(tmp_path))
    try:
        import answers_filter
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("answers_filter", None)
    handler = handler_factory(None, {})
    entry = answers_filter.Answer(handler, {})
    from oio.event.loader import Pipeline

    return EventWorker("beanstalk://127.0.0.1:1", "oio",
                       {"t": Pipeline(entry, [entry])}, stop=None)


@pytest.mark.parametrize("body,fate", [
    ("return self.app(env, beanstalkd, cb)", None),
    ("return None", None),      # no answer at all: done
    ("return status_map[404](body='x')(env, beanstalkd, cb)", "release"),
    ("return EventError(body='x')(env, beanstalkd, cb)", "release"),
    ("raise EventError('later')", "release"),
    ("raise EventOk()", None),
    ("raise ExplicitBury('no')", "bury"),
    ("raise KeyError('x')", "bury"),
])
def test_what_the_worker_makes_of_answers(tmp_path, body, fate):
    worker = _worker(tmp_path, f"""
from oio.common.exceptions import ExplicitBury
from oio.event.evob import EventError, EventOk, status_map
from oio.event.filters.base import Filter

class Answer(Filter):
    def process(self, env, beanstalkd, cb):
        {body}
""")
    jobs = _Jobs()
    done = worker.handle(jobs, 7, json.dumps({"event": "t"}).encode())
    assert done is (fate is None)
    assert [c[0] for c in jobs.calls] == ([fate] if fate else [])
    # A job failing again and again is buried in the end.
    if fate == "release":
        jobs = _Jobs(releases=MAX_RELEASES)
        worker.handle(jobs, 7, json.dumps({"event": "t"}).encode())
        assert jobs.calls == [("bury", 7)]


SEED_MODULES = [
    "oio.event.agent", "oio.event.beanstalk", "oio.event.client",
    "oio.event.consumer", "oio.event.evob", "oio.event.loader",
    "oio.event.handlers", "oio.event.handlers.base", "oio.event.filters",
] + [f"oio.event.filters.{name}" for name in (
    "account_update", "base", "bury", "content_cleaner", "dump", "logger",
    "noop", "notify", "replicate", "volume_index", "webhook", "xcute")]


@pytest.mark.parametrize("module", SEED_MODULES)
def test_the_seed_event_modules_import(module):
    imported = importlib.import_module(module)
    if module.startswith("oio.event.filters.") and module[18:] != "base":
        assert callable(imported.filter_factory)


def test_filter_base_defaults():
    seen = []
    base = Filter(lambda env, b, cb: seen.append(env), {})
    base({"event": "x"}, None, None)
    assert seen == [{"event": "x"}] and base.app_env == {}
    base.flush()
