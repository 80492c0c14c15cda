"""The sandbox's test-bed mode, running: what OpenIO 7.2's own functional
tests read (test.yml) and watch (a copy of every event in the tube
`oio-preserved`, once handled)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request

import pytest
import yaml

from oio.event.beanstalk import Beanstalk
from oio.sandbox.layout import SandboxSettings, find_free_base_port
from oio.sandbox.sandbox import Sandbox
from oio.sandbox.testbed import PRESERVED_TUBE

pytestmark = pytest.mark.skipif(not shutil.which("beanstalkd"),
                                reason="needs beanstalkd")


@pytest.fixture(scope="module")
def testbed():
    tmp = os.environ.get("OIO_TEST_TMP") or (
        "/var/tmp" if os.path.isdir("/var/tmp") else None)
    root = tempfile.mkdtemp(prefix="oio-testbed-", dir=tmp)
    sandbox = Sandbox(SandboxSettings(
        namespace="OPENIO", root=root, base_port=find_free_base_port(40),
        nb_rawx=3, chunk_size=1024 * 1024, storage_policy="SINGLE",
        user_conf=False, healing=False, xcute=False, zookeeper=False,
        testbed=True))
    sandbox.bootstrap()
    try:
        sandbox.start()
        sandbox.wait_ready(timeout=120, log=lambda *_: None)
        yield sandbox
    finally:
        sandbox.down()
        if os.environ.get("OIO_KEEP_SANDBOX") is None:
            shutil.rmtree(root, ignore_errors=True)


def _conf(sandbox) -> dict:
    with open(sandbox.settings.test_conf) as src:
        return yaml.safe_load(src)


def test_test_yml_describes_the_running_namespace(testbed):
    conf = _conf(testbed)
    assert conf["proxy"] == testbed.settings.proxy
    with urllib.request.urlopen(
            f"http://{conf['proxy']}/v3.0/{conf['namespace']}/conscience/"
            "info?what=types", timeout=10) as resp:
        types = json.loads(resp.read())
    assert "echo" in types
    for rawx in conf["services"]["rawx"]:
        with urllib.request.urlopen(f"http://{rawx['addr']}/info",
                                    timeout=10) as resp:
            assert rawx["path"] in resp.read().decode()


def test_every_handled_event_is_copied_to_oio_preserved(testbed):
    conf = _conf(testbed)
    queue = Beanstalk.from_url(
        "beanstalk://" + conf["services"]["beanstalkd"][0]["addr"])
    queue.watch(PRESERVED_TUBE)
    api = _api(testbed)
    api.object_create("testbed-acct", "ct", data=b"hello", obj_name="obj")
    wanted = {"storage.container.new", "storage.content.new",
              "storage.chunk.new"}
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while not wanted <= set(seen) and time.monotonic() < deadline:
        job = queue.poll(timeout=1)
        if job is None:
            continue
        queue.delete(job[0])
        event = json.loads(job[1])
        # Chunk events name the chunk, not the account.
        if (event.get("url") or {}).get("account") == "testbed-acct" \
                or event["event"] == "storage.chunk.new":
            seen[event["event"]] = event
    assert wanted <= set(seen), sorted(seen)
    assert seen["storage.content.new"]["url"]["user"] == "ct"
    # The copy comes last in the pipeline: the account already knows the
    # container when its event is preserved.
    listing = api.container_list("testbed-acct")
    assert [c[0] for c in listing] == ["ct"]


def _api(sandbox):
    from oio import ObjectStorageApi

    return ObjectStorageApi(sandbox.settings.namespace,
                            endpoint=f"http://{sandbox.settings.proxy}")
