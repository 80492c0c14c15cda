"""Checkers and stats written for 7.2 (`cls(agent, conf, logger)`) named by
entry point in a watch definition, and the built-in collectors' parsing."""

from __future__ import annotations

import sys
import textwrap

import pytest

from oio.conscience.agent import Agent
from oio.conscience.checker import checker_classes
from oio.conscience.stats import build_stat, stat_classes
from oio.conscience.stats.http import HttpStat
from oio.conscience.stats.proxy import gauges

PLUGIN = '''
from oio.conscience.checker.base import BaseChecker
from oio.conscience.stats.base import BaseStat


class FileChecker(BaseChecker):
    checker_type = "file"

    def _configure(self):
        self.path = self.checker_conf["path"]

    def _check(self):
        import os
        return os.path.exists(self.path)


class ConstStat(BaseStat):
    def configure(self):
        self.value = int(self.stat_conf.get("value", 7))

    def get_stats(self):
        return {"stat.const": self.value,
                "stat.srv": self.agent.service["type"]}
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution on sys.path declaring a checker and a stat."""
    (tmp_path / "myplugin.py").write_text(PLUGIN)
    info = tmp_path / "myplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [oio.conscience.checker]
        file = myplugin:FileChecker
        [oio.conscience.stats]
        const = myplugin:ConstStat
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("myplugin", None)


def test_builtin_names_are_those_of_7_2():
    assert {"asn1", "http", "tcp"} <= set(checker_classes())
    assert {"beanstalkd", "http", "meta", "oioproxy", "rawx", "system",
            "volume"} <= set(stat_classes())


def test_agent_runs_plugins_named_in_a_watch(plugin):
    flag = plugin / "flag"
    agent = Agent({"namespace": "OPENIO", "proxy": "127.0.0.1:1",
                   "services": {"svc": {
                       "host": "127.0.0.1", "port": 1, "type": "echo",
                       "checks": [{"type": "file", "path": str(flag)}],
                       "stats": [{"type": "const", "value": 42}]}}})
    [watcher] = agent.watchers
    assert type(watcher.checks[0]).__name__ == "FileChecker"
    desc = watcher.check_once()
    assert desc["tags"]["tag.up"] is False and desc["score"] == 0
    assert "stat.const" not in desc["tags"]     # no stats while down
    flag.write_text("")
    desc = watcher.check_once()
    assert desc["tags"]["tag.up"] is True
    assert desc["tags"]["stat.const"] == 42
    assert desc["tags"]["stat.srv"] == "echo"
    # what 7.2 plugins reach through their watcher
    assert watcher.service["type"] == "echo"
    assert watcher.pool_manager is agent.http
    assert watcher.client.endpoint == "http://127.0.0.1:1/v3.0"


def test_unknown_type_ignores_the_watch(caplog):
    agent = Agent({"namespace": "OPENIO", "proxy": "127.0.0.1:1",
                   "services": {"svc": {
                       "host": "127.0.0.1", "port": 1, "type": "echo",
                       "stats": [{"type": "nope"}]}}})
    assert agent.watchers == []
    assert "unknown stat type 'nope'" in caplog.text


def test_http_stat_parsers():
    lines = HttpStat._parse_stats_lines(
        b"counter req.hits 12\nconfig service_id OPENIO-rawx-1\n"
        b"gauge cpu 0.5\nlonely\n")
    assert lines == {"counter req.hits": 12,
                     "config service_id": "OPENIO-rawx-1",
                     "gauge cpu": 0.5, "lonely": None}
    assert gauges(lines) == {"stat.cpu": 0.5}
    assert HttpStat._parse_stats_json(
        b'{"uuid": "u1", "ns": "OPENIO", "n": 3, "deep": {"x": 1}}') == {
        "tag.uuid": "u1", "stat.ns": "OPENIO", "stat.n": 3}
    with pytest.raises(ValueError):
        HttpStat._parse_stats_json(b"[1]")


def test_volume_and_system_stats(tmp_path):
    vol = build_stat(None, {"type": "volume", "path": str(tmp_path)},
                     "127.0.0.1", 1)
    tags = vol.get_stats()
    assert tags["tag.vol"] == str(tmp_path)
    assert 0 <= tags["stat.space"] <= 100
    cpu = build_stat(None, {"type": "system"}, "127.0.0.1", 1).get_stats()
    assert 0 <= cpu["stat.cpu"] <= 100
