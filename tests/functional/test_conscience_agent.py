"""The conscience agent registering real services in a real conscience (the
agent's `proxy` points at the conscience, which serves the same paths)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from oio.common.exceptions import ConfigurationException
from oio.conscience.agent import Agent, main
from oio.conscience.checker import ASN1_PING, BaseChecker, build_check
from tests.functional.conscience_process import running_conscience
from tests.utils import free_port, wait_until


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def conscience(tmp_path_factory):
    with running_conscience(str(tmp_path_factory.mktemp("csa"))) as addr:
        yield addr


def listing(addr, kind):
    services = _get(f"http://{addr}/v3.0/OPENIO/conscience/list?type={kind}&full=1")
    return {s["addr"]: s for s in services}


class SlowServer:
    """A TCP server that accepts and never answers: an HTTP check on it
    lasts until its timeout."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_agent_registers_scores_and_is_not_slowed(conscience, tmp_path):
    host, port = conscience.split(":")
    slow = SlowServer()
    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "meta1-1.yml").write_text(json.dumps({
        "host": host, "port": int(port), "type": "meta1",
        "location": "rack.a.1", "slots": ["meta1", "meta1-x"],
        "service_id": "OPENIO-meta1-1",
        "checks": [{"type": "http", "uri": "/status"}],
        "stats": [{"type": "volume", "path": str(tmp_path)}, {"type": "system"},
                  {"type": "http", "path": "/status",
                   "parser": "json"}]}))
    (watch / "meta1-2.yml").write_text(json.dumps({
        "host": "127.0.0.1", "port": free_port(), "type": "meta1",
        "checks": [{"type": "tcp"}], "stats": [{"type": "system"}]}))
    (watch / "meta1-slow.yml").write_text(
        f"host: 127.0.0.1\nport: {slow.port}\ntype: meta1\n"
        "checks:\n  - {type: http, uri: /status, timeout: 30}\n")
    (watch / "broken.yml").write_text("host: [unclosed\n")
    (watch / "notes.txt").write_text("ignored")
    agent = Agent({"namespace": "OPENIO", "proxy": conscience,
                   "check_interval": 0.2, "include_dir": str(watch)})
    assert sorted(w.name for w in agent.watchers) == [
        "meta1-1", "meta1-2", "meta1-slow"]
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        dead_addr = [w.addr for w in agent.watchers if w.name == "meta1-2"][0]

        def scored():
            by_addr = listing(conscience, "meta1")
            alive = by_addr.get(conscience)
            return alive and dead_addr in by_addr and \
                alive["score"] > 0 and by_addr
        by_addr = wait_until(scored, timeout=10)
        # the slow service (30 s check timeout) held back nobody
        assert time.monotonic() - started < 5
        alive = by_addr[conscience]
        tags = alive["tags"]
        assert tags["tag.loc"] == "rack.a.1"
        assert tags["tag.slots"] == "meta1,meta1-x"
        assert tags["tag.service_id"] == "OPENIO-meta1-1"
        assert tags["tag.vol"] == str(tmp_path) and tags["tag.up"] is True
        assert 0 <= tags["stat.space"] <= 100 and 0 <= tags["stat.cpu"] <= 100
        assert tags["stat.io"] >= 0
        assert tags["stat.ns"] == "OPENIO"       # from the JSON /status
        assert by_addr[dead_addr]["score"] == 0
        assert by_addr[dead_addr]["tags"]["tag.up"] is False
        # the slow one is still being checked: not registered yet
        assert f"127.0.0.1:{slow.port}" not in by_addr
    finally:
        stop.set()
        slow.close()
        thread.join(10)


def test_duplicates_and_deregister_on_exit(conscience, tmp_path):
    host, port = conscience.split(":")
    base = {"host": host, "port": int(port), "type": "meta0",
            "checks": [{"type": "tcp"}]}
    agent = Agent({"namespace": "OPENIO", "proxy": conscience,
                   "services": {"a": base, "b": base}})
    assert agent.watchers == []          # both ignored, as upstream does
    agent = Agent({"namespace": "OPENIO", "proxy": conscience,
                   "check_interval": 0.1,
                   "services": {"a": dict(base, deregister_on_exit=True)}})
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: listing(conscience, "meta0").get(conscience, {})
                   .get("tags", {}).get("tag.up") is True)
    finally:
        stop.set()
        thread.join(10)
    last = listing(conscience, "meta0")[conscience]
    assert last["tags"]["tag.up"] is False and last["score"] == 0


def test_checks_rise_fall_and_asn1():
    results = iter([True, False, False, True, True, True])

    class Scripted(BaseChecker):
        def _check(self):
            return next(results)
    checker = Scripted(None, {"host": "h", "port": 1, "rise": 2, "fall": 2})
    assert [checker.service_status() for _ in range(6)] == [
        True, True, False, False, True, True]
    assert len(ASN1_PING) == 52 and ASN1_PING[8:40] == \
        b"80863FD712DC4234D7BA684CE2DEC00A"
    server = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        conn, _ = server.accept()
        received.append(conn.recv(100))
        conn.sendall(b"\x00\x00\x00\x02ok")
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    check = build_check(None, {"type": "asn1"}, "127.0.0.1",
                        server.getsockname()[1])
    assert check.service_status() is True and received == [ASN1_PING]
    server.close()
    assert build_check(None, {"type": "tcp", "timeout": 1}, "127.0.0.1",
                       free_port()).service_status() is False
    with pytest.raises(ConfigurationException):
        build_check(None, {"type": "http"}, "127.0.0.1", 1)
    with pytest.raises(ValueError, match="unknown check type 'nope'"):
        build_check(None, {"type": "nope"}, "127.0.0.1", 1)


def test_main_rejects_bad_config(tmp_path, capsys):
    conf = tmp_path / "agent.yml"
    conf.write_text("- not a mapping\n")
    assert main([str(conf)]) == 2
    assert main([str(tmp_path / "missing.yml")]) == 2
    assert "oio-conscience-agent" in capsys.readouterr().err


class RecordingProxy:
    """Records the bodies POSTed to it and answers 204."""

    def __init__(self):
        import http.server

        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                bodies.append(json.loads(body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.server.server_address[:2]
        self.addr = f"{host}:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_one_round_of_watchers_is_one_registration(tmp_path):
    proxy = RecordingProxy()
    services = {f"s{i}": {"host": "127.0.0.1", "port": free_port(),
                          "type": "rawx", "checks": [{"type": "tcp"}]}
                for i in range(5)}
    agent = Agent({"namespace": "OPENIO", "proxy": proxy.addr,
                   "check_interval": 0.5, "services": services})
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(proxy.bodies) >= 2, timeout=10)
    finally:
        stop.set()
        thread.join(10)
        proxy.close()
    # A round of the five watchers went in one POST, an array.
    whole = [b for b in proxy.bodies if isinstance(b, list) and len(b) == 5]
    assert whole, proxy.bodies
    assert sorted(d["addr"] for d in whole[0]) == sorted(
        f"127.0.0.1:{s['port']}" for s in services.values())
    assert all(d["tags"]["tag.up"] is False for d in whole[0])


def test_a_refused_description_does_not_keep_the_others_out(conscience):
    host, port = conscience.split(":")
    agent = Agent({"namespace": "OPENIO", "proxy": conscience, "services": {}})
    good = {"ns": "OPENIO", "type": "meta2", "addr": conscience, "score": -1,
            "tags": {"tag.up": True}}
    bad = {"ns": "OPENIO", "type": "nosuchtype", "addr": conscience,
           "score": -1, "tags": {"tag.up": True}}
    agent.submit(good)
    agent.submit(bad)
    agent.flush()
    assert conscience in listing(conscience, "meta2")
    assert agent._failing      # the bad one was refused, and said so
    agent.register(good)
    assert not agent._failing
