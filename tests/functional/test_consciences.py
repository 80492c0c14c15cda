"""Two real oio-conscience processes behind one real oio-proxy, fed by a
real conscience agent: every registration reaches both; with one killed,
reads, the load balancer and registrations still work; restarted, it is
whole again (services and locks) within a bounded time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from oio.conscience.agent import Agent
from oio.conscience.client import ConscienceClient

from .proxy_harness import free_port, http, spawn, stop, wait_for

pytestmark = pytest.mark.functional
NS = "OPENIO"
TYPES = """\
[type:rawx]
score_expr=(1 + (num stat.cpu))
score_timeout=120
"""


class ConscienceProcess:
    """An oio-conscience on a fixed port, that can be killed and started
    again on that port."""

    def __init__(self, root: str, name: str):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        os.makedirs(root, exist_ok=True)
        types = os.path.join(root, f"{NS}-service-types.conf")
        with open(types, "w") as out:
            out.write(TYPES)
        self.conf = os.path.join(root, f"{name}.conf")
        with open(self.conf, "w") as out:
            out.write(f"[conscience]\nnamespace = {NS}\n"
                      f"bind_addr = 127.0.0.1\nbind_port = {self.port}\n"
                      f"services = {types}\nstorage_policy = SINGLE\n")
        self.log = os.path.join(root, f"{name}.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oio.conscience.server", self.conf],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(lambda: self.get("/status") is not None, what=self.addr)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def get(self, path: str):
        try:
            with urllib.request.urlopen(f"http://{self.addr}{path}",
                                        timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            return None

    def rawx(self) -> dict[str, dict]:
        """addr → description of the rawx services this conscience holds."""
        listed = self.get(f"/v3.0/{NS}/conscience/list?type=rawx") or []
        return {s["addr"]: s for s in listed}


class FakeServices:
    """Listening sockets the agent checks (tcp) as rawx services."""

    def __init__(self, count: int):
        self.socks = [socket.create_server(("127.0.0.1", 0))
                      for _ in range(count)]
        self.addrs = [f"127.0.0.1:{s.getsockname()[1]}" for s in self.socks]

    def watches(self) -> dict[str, dict]:
        return {f"rawx-{i}": {
            "host": "127.0.0.1", "port": int(addr.rsplit(":", 1)[1]),
            "type": "rawx", "location": f"rack.{i}.1",
            "checks": [{"type": "tcp"}], "stats": [{"type": "system"}]}
            for i, addr in enumerate(self.addrs)}

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("consciences"))
    first = ConscienceProcess(os.path.join(root, "cs1"), "cs1")
    second = ConscienceProcess(os.path.join(root, "cs2"), "cs2")
    proxy_port = free_port()
    proxy_conf = os.path.join(root, "proxy.conf")
    with open(proxy_conf, "w") as out:
        out.write(f"[proxy]\nnamespace = {NS}\nbind_port = {proxy_port}\n"
                  f"conscience = {first.addr},{second.addr}\n")
    proxy_addr = f"127.0.0.1:{proxy_port}"
    services = FakeServices(3)
    # The agent's first proxy is dead: it fails over to the real one.
    agent = Agent({"namespace": NS, "check_interval": 1,
                   "proxy": f"127.0.0.1:{free_port()},{proxy_addr}",
                   "services": services.watches()})
    stop_agent = threading.Event()
    agent_thread = threading.Thread(target=agent.run, args=(stop_agent,),
                                    daemon=True)
    proxy = None
    try:
        first.start()
        second.start()
        proxy = spawn("oio.proxy.server", proxy_conf,
                      os.path.join(root, "proxy.log"))
        wait_for(lambda: http("GET", proxy_addr, "/v3.0/status").status
                 == 200, what="proxy")
        agent_thread.start()
        yield {"cs": (first, second), "proxy": proxy_addr,
               "rawx": services.addrs, "root": root}
    finally:
        stop_agent.set()
        if agent_thread.is_alive():
            agent_thread.join(10)
        if proxy is not None:
            stop(proxy)
        first.kill()
        second.kill()
        services.close()


def proxy_call(world, method, route, body=None):
    return http(method, world["proxy"], f"/v3.0/{NS}/{route}", body=body)


def rawx_desc(addr, **tags):
    return {"ns": NS, "type": "rawx", "addr": addr,
            "tags": {"tag.up": True, "stat.cpu": 50, **tags}}


def test_registrations_reach_both_and_survive_a_restart(world):
    first, second = world["cs"]
    rawx = world["rawx"]
    # 1. What the agent registers through the proxy is in both consciences.
    for cs in (first, second):
        wait_for(lambda cs=cs: set(rawx) <= set(cs.rawx()), timeout=20,
                 what=f"agent registrations in {cs.addr}")
    # First registrations lock at 0 (tag.1 reached both): unlock them,
    # then an operator locks the last one at 7.
    resp = proxy_call(world, "POST", "conscience/unlock",
                      [{"type": "rawx", "addr": a} for a in rawx])
    assert resp.status == 204
    resp = proxy_call(world, "POST", "conscience/lock",
                      {"type": "rawx", "addr": rawx[2], "score": 7})
    assert resp.status == 204
    for cs in (first, second):
        listed = cs.rawx()
        assert [listed[a]["tags"]["tag.lock"] for a in rawx] == \
            [False, False, True]
        assert listed[rawx[2]]["score"] == 7
        wait_for(lambda cs=cs: cs.rawx()[rawx[0]]["score"] > 0,
                 what="a score")

    # 2. The first conscience dies: reads, LB and registrations go on.
    first.kill()
    resp = proxy_call(world, "GET", "conscience/list?type=rawx")
    assert resp.status == 200 and len(resp.json()) == 3
    resp = proxy_call(world, "GET", "lb/choose?type=rawx&size=2")
    assert resp.status == 200 and len(resp.json()) == 2
    orphan = "127.0.0.1:1"      # no agent registers it: only a resync can
    resp = proxy_call(world, "POST", "conscience/register", rawx_desc(orphan))
    assert resp.status == 204
    assert orphan in second.rawx()
    # The proxy's own view (its local LB) is reloaded from the second.
    wait_for(lambda: "gauge known.srv 4" in http(
        "GET", world["proxy"], "/v3.0/status").body.decode(),
        what="the proxy's view from the second conscience")
    # The Python client, given a dead proxy first, fails over too.
    client = ConscienceClient({"namespace": NS}, endpoint=(
        f"127.0.0.1:{free_port()},{world['proxy']}"))
    assert len(client.all_services("rawx")) == 4

    # 3. Restarted empty: whole again, locks included, in bounded time.
    started = time.monotonic()
    first.start()

    def whole():
        listed = first.rawx()
        if set(listed) != set(rawx) | {orphan}:
            return False
        locked = listed[rawx[2]]
        return locked["tags"]["tag.lock"] and locked["score"] == 7 and \
            not listed[rawx[0]]["tags"]["tag.lock"]

    wait_for(whole, timeout=15, what="the restarted conscience whole")
    elapsed = time.monotonic() - started
    print(f"restarted conscience whole in {elapsed:.1f} s")
    assert elapsed < 15
    # Registrations still reach it, and reads may go to it again.
    resp = proxy_call(world, "POST", "conscience/register",
                      rawx_desc(orphan, **{"stat.cpu": 60}))
    assert resp.status == 204
    assert first.rawx()[orphan]["score"] >= 0
    assert proxy_call(world, "GET", "lb/choose?type=rawx").status == 200
