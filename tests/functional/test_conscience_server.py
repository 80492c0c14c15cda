"""The conscience over real sockets, and the agent registering through it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from oio.conscience.agent import Agent
from oio.sandbox.bootstrap import Bootstrap
from oio.sandbox.layout import SandboxSettings, find_free_base_port
from tests.utils import wait_until


class Conscience:
    def __init__(self, addr: str):
        self.base = f"http://{addr}/v3.0/OPENIO"
        self.addr = addr

    def req(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, resp.headers
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null"), err.headers


@pytest.fixture(scope="module")
def conscience(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cs"))
    settings = SandboxSettings(root=root, base_port=find_free_base_port(20),
                               user_conf=False)
    boot = Bootstrap(settings)
    boot.write_conscience_conf()
    spec = settings.one("conscience")
    with open(boot.conf_path(spec), "a") as conf:
        conf.write("expire_interval = 0.1\n")
    # A type with a short score timeout, to watch expiry happen.
    prefix = f"{settings.conf_dir}/{settings.namespace}"
    with open(f"{prefix}-service-test.conf", "w") as conf:
        conf.write("[type:echo]\nscore_expr=(num stat.cpu)\nscore_timeout=1\n"
                   "lock_at_first_register=false\n")
    proc = subprocess.Popen([sys.executable, "-m", "oio.conscience.server",
                             boot.conf_path(spec)], stderr=subprocess.DEVNULL)
    cs = Conscience(spec.addr)

    def up():
        try:
            return cs.req("GET", "/conscience/info")[0] == 200
        except OSError:
            return False
    try:
        wait_until(up)
        yield cs
    finally:
        proc.terminate()
        proc.wait(10)


def rawx(port, **tags):
    return {"type": "rawx", "addr": f"127.0.0.1:{port}",
            "tags": {"tag.1": True, "tag.up": True, "stat.cpu": 100.0,
                     "stat.io": 100.0, "stat.space": 100.0,
                     "tag.loc": f"rack.h.{port}",
                     "tag.slots": "rawx,rawx-odd" if port % 2 else "rawx,rawx-even",
                     **tags}}


def test_info_types_and_namespace_check(conscience):
    status, info, _ = conscience.req("GET", "/conscience/info")
    assert status == 200 and info["ns"] == "OPENIO"
    assert info["storage_policy"]["THREECOPIES"] == "rawx3:DUPONETHREE"
    assert info["options"]["storage_policy"] == "THREECOPIES"
    _, types, _ = conscience.req("GET", "/conscience/info?what=types")
    assert types == sorted(types) and "rawx" in types
    request = urllib.request.Request(
        f"http://{conscience.addr}/v3.0/OTHER/conscience/info")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 404
    assert json.loads(err.value.read())["status"] == 418


def test_register_lock_unlock_lb(conscience):
    ports = list(range(7001, 7007))
    assert conscience.req("POST", "/conscience/register",
                          [rawx(p) for p in ports])[0] == 204
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx")
    assert {s["score"] for s in listed} == {0}           # locked at first
    status, body, _ = conscience.req("POST", "/lb/poll?policy=THREECOPIES", {})
    assert status == 500 and body["status"] == 481
    conscience.req("POST", "/conscience/unlock",
                   [{"type": "rawx", "addr": f"127.0.0.1:{p}"} for p in ports])
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx&full=1")
    assert all(s["score"] > 0 for s in listed)
    assert "stat.cpu" in listed[0]["tags"]
    status, body, headers = conscience.req("POST", "/lb/poll?policy=THREECOPIES",
                                           {"avoid": ["OPENIO|rawx|127.0.0.1:7001"]})
    assert status == 200 and len(body) == 3
    assert "127.0.0.1:7001" not in [s["addr"] for s in body]
    assert all(s["id"].startswith("OPENIO|rawx|") for s in body)
    _, body, _ = conscience.req("GET", "/lb/choose?type=rawx&size=2&slot=odd")
    assert {int(s["addr"].rsplit(":", 1)[1]) % 2 for s in body} == {1}
    _, score, _ = conscience.req(
        "GET", "/conscience/score?type=rawx&service_id=127.0.0.1:7002")
    assert score["addr"] == "127.0.0.1:7002"
    _, dump, _ = conscience.req("GET", "/conscience/dump")
    assert len(dump["services"]["rawx"]) >= 6 and dump["info"]["ns"] == "OPENIO"


def test_lock_pins_the_score(conscience):
    conscience.req("POST", "/conscience/lock",
                   {"type": "rawx", "addr": "127.0.0.1:7003", "score": 42})
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx")
    locked = [s for s in listed if s["addr"] == "127.0.0.1:7003"][0]
    assert locked["score"] == 42 and locked["tags"]["tag.lock"] is True


def test_silent_services_expire(conscience):
    conscience.req("POST", "/conscience/register",
                   {"type": "echo", "addr": "127.0.0.1:7100",
                    "tags": {"stat.cpu": 80, "tag.up": True}})
    _, listed, _ = conscience.req("GET", "/conscience/list?type=echo")
    assert listed[0]["score"] == 80

    def expired():
        _, listed, _ = conscience.req("GET", "/conscience/list?type=echo")
        return listed[0]["score"] == 0 and listed[0]["tags"]["tag.up"] is False
    started = time.monotonic()
    wait_until(expired, timeout=5)
    assert time.monotonic() - started > 0.5


@pytest.mark.parametrize("path, body, http, status", [
    ("/conscience/register", {"type": "nope", "addr": "127.0.0.1:1"}, 404, 453),
    ("/conscience/register", {"type": "rawx", "addr": "nowhere"}, 400, 400),
    ("/conscience/register", "garbage", 400, 400),
    ("/lb/poll?pool=nope", {}, 404, 453),
    ("/lb/poll?policy=NOPE", {}, 400, 480),
])
def test_bad_requests(conscience, path, body, http, status):
    got, reply, _ = conscience.req("POST", path, body)
    assert (got, reply["status"]) == (http, status)


def test_agent_registers_and_scores(conscience, tmp_path):
    host, port = conscience.addr.split(":")
    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "meta1-1.yml").write_text(json.dumps({
        "host": host, "port": int(port), "type": "meta1",
        "location": "rack.a.1", "slots": ["meta1"],
        "checks": [{"type": "http", "uri": "/status"}],
        "stats": [{"type": "volume", "path": str(tmp_path)}, {"type": "system"}]}))
    (watch / "meta1-2.yml").write_text(json.dumps({
        "host": "127.0.0.1", "port": 1, "type": "meta1",
        "checks": [{"type": "tcp"}], "stats": [{"type": "system"}]}))
    agent = Agent({"namespace": "OPENIO", "proxy": conscience.addr,
                   "check_interval": 0.2, "include_dir": str(watch)})
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        def scored():
            _, listed, _ = conscience.req("GET", "/conscience/list?type=meta1&full=1")
            by_addr = {s["addr"]: s for s in listed}
            alive = by_addr.get(conscience.addr)
            dead = by_addr.get("127.0.0.1:1")
            return alive and dead and alive["score"] > 0 and by_addr
        by_addr = wait_until(scored)
        alive = by_addr[conscience.addr]
        assert alive["tags"]["tag.loc"] == "rack.a.1"
        assert alive["tags"]["tag.vol"] == str(tmp_path)
        assert 0 <= alive["tags"]["stat.space"] <= 100
        assert by_addr["127.0.0.1:1"]["score"] == 0
        assert by_addr["127.0.0.1:1"]["tags"]["tag.up"] is False
    finally:
        stop.set()
        thread.join(10)


def test_python_client(conscience):
    from oio.common import exceptions as exc
    from oio.conscience.client import ConscienceClient

    client = ConscienceClient({"namespace": "OPENIO"},
                              endpoint=f"http://{conscience.addr}")
    assert "rawx" in client.service_types()
    client.register({"type": "rawx", "addr": "127.0.0.1:7200",
                     "tags": {"stat.cpu": 90, "stat.io": 90, "stat.space": 90,
                              "tag.up": True}})
    ids = [s["id"] for s in client.all_services("rawx")]
    assert "127.0.0.1:7200" in ids
    assert client.resolve("rawx", "127.0.0.1:7200") == "127.0.0.1:7200"
    assert len(client.next_instances("rawx", size=2)) == 2
    with pytest.raises(exc.NotFound):
        client.all_services("nope")
