"""A filter package written for OpenIO 7.2, named in the handlers file of
a real event agent of the sandbox namespace, next to our filters."""

from __future__ import annotations

import configparser
import glob
import json
import os
import subprocess
import sys
import uuid

import pytest

from oio.event.beanstalk import Beanstalk
from oio.event.client import EventClient
from tests.event_plugin import DIST, write_plugin
from tests.utils import chunks_gone, wait_until


@pytest.fixture
def api(namespace):
    if not namespace.services("beanstalkd"):
        pytest.skip("no beanstalkd in this sandbox")
    return namespace.api()


def _handlers_with_the_tagger(sandbox_conf: str, output: str) -> str:
    """The sandbox's handlers, with the tagger first on new and deleted
    contents (before our content_cleaner there)."""
    handlers = configparser.ConfigParser(interpolation=None)
    handlers.optionxform = str
    handlers.read(sandbox_conf)
    handlers["filter:tagger"] = {"use": f"egg:{DIST}#tagger",
                                 "output": output, "set_property": "yes"}
    handlers["handler:storage.content.new"] = {"pipeline": "tagger"}
    handlers["handler:storage.content.deleted"] = {
        "pipeline": "tagger content_cleaner"}
    return handlers


@pytest.fixture
def tagging_agent(api, namespace, tmp_path):
    """Our agent in place of the sandbox's, with the 7.2 package on its
    PYTHONPATH; yields the file where the tagger notes events."""
    conf_dir = namespace.settings.conf_dir
    agent_conf = configparser.ConfigParser(interpolation=None)
    agent_conf.read(sorted(glob.glob(os.path.join(
        conf_dir, "event-agent*.conf")))[0])
    output = tmp_path / "tagged.jsonl"
    handlers = _handlers_with_the_tagger(
        agent_conf["event-agent"]["handlers_conf"], str(output))
    with open(tmp_path / "handlers.conf", "w") as out:
        handlers.write(out)
    agent_conf["event-agent"]["handlers_conf"] = str(tmp_path /
                                                     "handlers.conf")
    with open(tmp_path / "agent.conf", "w") as out:
        agent_conf.write(out)
    env = dict(os.environ, PYTHONPATH=str(write_plugin(tmp_path / "site")),
               OIO_SDS_CONF=namespace.conf_path)
    script = os.path.join(os.path.dirname(sys.executable), "oio-event-agent")
    name = f"{namespace.ns}-event-agent-1"
    namespace.sandbox.stop_service(name)
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen([script, str(tmp_path / "agent.conf")], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        yield output
    finally:
        agent.terminate()
        agent.wait(15)
        log.close()
        namespace.sandbox.start_service(name)


def _noted(output) -> list[dict]:
    if not output.exists():
        return []
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_a_7_2_filter_runs_in_the_event_agent(api, namespace, tagging_agent):
    account, container = "acme", f"ct-{uuid.uuid4().hex[:8]}"
    api.object_create(account, container, data=b"hello", obj_name="o")

    def tag():
        props = api.object_get_properties(account, container, "o")
        return props.get("properties", {}).get("tagged-by")

    # The filter tagged the object through the API, in the namespace.
    assert wait_until(tag, timeout=20) == "acme"
    assert {"event": "storage.content.new", "path": "o"}.items() <= \
        _noted(tagging_agent)[0].items()
    # On deletions it passes the event on to our content_cleaner.
    _, chunks = api.object_locate(account, container, "o")
    api.object_delete(account, container, "o")
    wait_until(lambda: chunks_gone(api, chunks), timeout=20)
    assert [n["event"] for n in _noted(tagging_agent)
            if n["path"] == "o"] == ["storage.content.new",
                                     "storage.content.deleted"]


def test_a_7_2_filter_answering_500_has_the_event_retried(
        api, namespace, tagging_agent):
    addr = namespace.services("beanstalkd")[0].addr
    stats = Beanstalk.from_url(f"beanstalk://{addr}")
    delayed = stats.stats_tube("oio")["current-jobs-delayed"]
    container = f"ct-{uuid.uuid4().hex[:8]}"
    api.object_create("acme", container, data=b"x", obj_name="refuse-me")
    # Released for later (7.2's EventError), not buried, not deleted.
    wait_until(lambda: stats.stats_tube("oio")["current-jobs-delayed"]
               > delayed, timeout=20)
    props = api.object_get_properties("acme", container, "refuse-me")
    assert "tagged-by" not in props.get("properties", {})
    stats.close()


def test_event_client(api, namespace):
    client = EventClient({"namespace": namespace.ns})
    try:
        assert "oio" in client.list_tubes()
        assert "current-jobs-ready" in client.stats()
        assert client.exhume(limit=1, tube="nobody-uses-this") == 0
    finally:
        client.close()
