"""Hosts as network namespaces: reachability, cut/restore, kill, cleanup."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from oio.sandbox import netns
from oio.sandbox.netns import HostNetwork, NetnsUnavailable

pytestmark = [pytest.mark.functional, pytest.mark.timeout(120)]

PREFIX = "oiot"  # not the library's default, so that tests never meet real use
PORT = 7000

ECHO_SERVER = textwrap.dedent("""
    import socket, sys
    srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
    while True:
        conn, _ = srv.accept()
        try:
            with conn:
                conn.sendall(conn.recv(1024))
        except OSError:
            pass  # a probe that connected and left
""")

ECHO_CLIENT = textwrap.dedent("""
    import socket, sys
    addr = (sys.argv[1], int(sys.argv[2]))
    try:
        with socket.create_connection(addr, timeout=float(sys.argv[3])) as s:
            s.sendall(b"ping")
            print(s.recv(1024).decode())
    except TimeoutError:
        print("timeout")
    except OSError as exc:
        print("errno", exc.errno)
""")


def _ip_json(*args: str) -> list[dict]:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True,
                         check=True, timeout=10).stdout.strip()
    return json.loads(out) if out else []


def _ours_left(tag: str) -> list[str]:
    """Every namespace and root-namespace link of network `tag` still there."""
    names = [n["name"] for n in _ip_json("netns", "list")]
    names += [link["ifname"] for link in _ip_json("link", "show")]
    return [n for n in names if n.startswith(PREFIX + tag)]


def _running(pid: int) -> bool:
    """Alive: neither gone nor a zombie (killed orphans wait for init to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def hosts(count: int = 3) -> Iterator[HostNetwork]:
    try:
        net = HostNetwork(count, prefix=PREFIX)
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))
    with net:
        yield net


@pytest.fixture
def net() -> Iterator[HostNetwork]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with hosts(3) as net:
        yield net


def echo_server(host: netns.Host) -> subprocess.Popen:
    proc = host.run([sys.executable, "-c", ECHO_SERVER, host.ip, str(PORT)],
                    stdin=subprocess.DEVNULL)
    assert host.wait_reachable(PORT, timeout=15), "echo server did not start"
    return proc


def echo_from(client: netns.Host, server: netns.Host, timeout: float = 2.0) -> str:
    """What host `client` gets back from the echo server of host `server`."""
    return client.check_output(
        [sys.executable, "-c", ECHO_CLIENT, server.ip, str(PORT), str(timeout)],
        timeout=timeout + 15).strip()


def test_hosts_reach_each_other_and_the_root_namespace(net):
    h1, h2, h3 = net.hosts
    assert [h.name for h in net.hosts] == ["h1", "h2", "h3"]
    assert len({h.ip for h in net.hosts} | {net.gateway_ip}) == 4
    echo_server(h1)  # reachable from the root namespace, or it fails here
    assert echo_from(h2, h1) == "ping"
    assert echo_from(h3, h1) == "ping"
    assert h1.reachable(PORT)
    # Every port is the host's own: the same port on h2 is free.
    assert not h2.reachable(PORT)


def test_addresses_exist_only_inside_the_network(net):
    subnet = ipaddress.IPv4Network(f"{net.gateway_ip}/24", strict=False)
    # In the root namespace, only the bridge has an address of the subnet,
    # and only the bridge routes to it.
    for link in _ip_json("-4", "addr", "show"):
        for addr in link.get("addr_info", []):
            if ipaddress.IPv4Address(addr["local"]) in subnet:
                assert (link["ifname"], addr["local"]) == (net.bridge, net.gateway_ip)
    routes = [r for r in _ip_json("-4", "route", "show", "table", "all")
              if r.get("dst", "default") != "default"
              and ipaddress.IPv4Network(r["dst"], strict=False).overlaps(subnet)]
    assert routes and {r["dev"] for r in routes} == {net.bridge}
    h2 = net.hosts[1]
    # A host routes its /24 on eth0 and nothing else: no default route.
    host_routes = json.loads(h2.check_output(["ip", "-j", "-4", "route", "show"]))
    assert [(r["dst"], r["dev"]) for r in host_routes] == [(str(subnet), "eth0")]
    assert h2.check_output(["cat", "/proc/sys/net/ipv4/ip_forward"]).strip() == "0"
    # So an address outside the network is unreachable at once.
    outside = [a["local"] for link in _ip_json("-4", "addr", "show")
               for a in link.get("addr_info", [])
               if a["local"] != net.gateway_ip and not a["local"].startswith("127.")]
    for addr in outside[:1] + ["198.51.100.1"]:
        out = h2.check_output([sys.executable, "-c", ECHO_CLIENT, addr, "80", "2"],
                              timeout=15)
        assert out.strip() == f"errno {errno.ENETUNREACH}", addr


def test_cut_isolates_a_host_and_restore_brings_it_back(net):
    h1, h2, _ = net.hosts
    server = echo_server(h1)
    started = time.monotonic()
    h1.cut()
    assert h1.wait_reachable(PORT, timeout=5, reachable=False)
    out = echo_from(h2, h1, timeout=1.0)
    assert out in ("timeout", f"errno {errno.EHOSTUNREACH}"), out
    assert time.monotonic() - started < 10
    # Cut off, not killed.
    assert server.poll() is None and server.pid in h1.pids()
    h1.restore()
    assert h1.wait_reachable(PORT, timeout=5)
    assert echo_from(h2, h1) == "ping"


def test_kill_all_leaves_no_process(net):
    h1, h2, _ = net.hosts
    server = echo_server(h1)
    shell = h1.run(["sh", "-c", "sleep 300 & sleep 300 & wait"])
    # A daemon: its parent exits at once, it is no child of ours.
    h1.check_output(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 &"])
    other = h2.run(["sleep", "300"])
    deadline = time.monotonic() + 10
    while len(h1.pids()) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(h1.pids()) >= 5
    h1.kill_all()
    assert h1.pids() == []
    assert server.returncode == -signal.SIGKILL
    assert shell.returncode == -signal.SIGKILL
    assert not h1.reachable(PORT)
    # The other hosts keep theirs.
    assert other.poll() is None and h2.pids() == [other.pid]


def test_nothing_left_after_the_context_even_when_the_body_raises():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with pytest.raises(RuntimeError, match="test body failed"):
        with hosts(3) as net:
            tag = net.tag
            proc = net.hosts[0].run(["sleep", "300"])
            assert _ours_left(tag)
            raise RuntimeError("test body failed")
    assert _ours_left(tag) == []
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(netns.RUN_DIR, f"{tag}.json"))
    net.teardown()  # idempotent
    assert _ours_left(tag) == []


def test_a_half_made_network_is_removed(monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    made = []
    real = HostNetwork._make_host

    def failing(self, n):
        made.append(self.tag)
        if n == 2:
            raise netns.NetnsError("made to fail")
        real(self, n)

    monkeypatch.setattr(HostNetwork, "_make_host", failing)
    with pytest.raises(netns.NetnsError) as failure:
        HostNetwork(3, prefix=PREFIX)
    if isinstance(failure.value, NetnsUnavailable):
        pytest.skip(str(failure.value))
    assert "made to fail" in str(failure.value)
    assert made and _ours_left(made[0]) == []


def test_cleanup_stale_removes_what_a_dead_process_left():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    # A process makes hosts, starts a daemon in one, and dies without cleanup.
    child = textwrap.dedent(f"""
        import os, signal, subprocess
        from oio.sandbox.netns import HostNetwork
        net = HostNetwork(2, prefix={PREFIX!r})
        net.hosts[0].check_output(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 &"])
        print(net.tag, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    res = subprocess.run([sys.executable, "-c", child], capture_output=True,
                         text=True, timeout=60)
    if "NetnsUnavailable" in res.stderr:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    tag = res.stdout.strip()
    assert res.returncode == -signal.SIGKILL and tag, res.stderr
    try:
        assert _ours_left(tag)
        left = netns.netns_pids(f"{PREFIX}{tag}-h1")
        assert left
        # A live network is left alone (made without the cleanup of its own).
        with HostNetwork(1, prefix=PREFIX, clean_stale=False) as live:
            assert tag in netns.cleanup_stale(PREFIX)
            assert live.tag not in netns.cleanup_stale(PREFIX)
            assert _ours_left(live.tag)
        assert _ours_left(tag) == []
        assert not any(_running(pid) for pid in left)
    finally:
        netns.cleanup_stale(PREFIX)


def test_a_process_that_exits_without_teardown_leaves_nothing():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    child = textwrap.dedent(f"""
        from oio.sandbox.netns import HostNetwork
        net = HostNetwork(2, prefix={PREFIX!r})
        proc = net.hosts[1].run(["sleep", "300"])
        print(net.tag, proc.pid, flush=True)
    """)  # no teardown: the atexit hook does it
    res = subprocess.run([sys.executable, "-c", child], capture_output=True,
                         text=True, timeout=60)
    if "NetnsUnavailable" in res.stderr:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, res.stderr
    tag, pid = res.stdout.split()
    assert _ours_left(tag) == []
    assert not _running(int(pid))


def test_unavailable_when_not_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsUnavailable, match="root"):
        HostNetwork(1, prefix=PREFIX)


def test_names_fit_the_kernel_limit():
    with pytest.raises(ValueError, match="prefix"):
        HostNetwork(3, prefix="muchtoolong")
    with pytest.raises(ValueError, match="prefix"):
        HostNetwork(3, prefix="Bad-Prefix")
