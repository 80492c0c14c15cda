"""Run a sandbox namespace under supervisord and bring it to a usable state."""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from oio.sandbox.bootstrap import Bootstrap
from oio.sandbox.layout import SandboxSettings, ServiceSpec

STATE_FILE = "sandbox.json"
# kazoo logs every refused connection while ZooKeeper starts.
_QUIET_KAZOO = logging.getLogger("oio.sandbox.kazoo")
_QUIET_KAZOO.setLevel(logging.CRITICAL)
# Service types the conscience must score before the namespace is usable.
SCORED_TYPES = ("meta0", "meta1", "meta2", "rawx", "account", "rdir",
                "xcute")


class SandboxError(Exception):
    pass


def _http(method: str, url: str, body=None, timeout: float = 5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        # Say what the service answered, not only its status.
        body = exc.read()[:300].decode("utf-8", "replace")
        exc.msg = f"{exc.msg}: {body}" if body else exc.msg
        raise
    with resp:
        raw = resp.read()
        if "json" not in (resp.headers.get("Content-Type") or ""):
            return resp.status, raw   # e.g. the proxy's text /v3.0/status
        return resp.status, (json.loads(raw) if raw.strip() else None)


def _accepts(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=1) as sock:
        # Polling a port nobody listens on yet, in the ephemeral range, can
        # connect the socket to itself (TCP simultaneous open): not a
        # service.
        return sock.getsockname() != sock.getpeername()


def wait_for(condition: Callable[[], object], timeout: float, what: str,
              interval: float = 0.2):
    """Poll `condition` until it returns a truthy value; SandboxError after
    `timeout` seconds, naming `what` we were waiting for."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError,
                http.client.HTTPException) as exc:
            # HTTPException: a service half started, or a socket connected
            # to itself (see _accepts), answering garbage.
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise SandboxError(f"Timeout after {timeout:.0f}s waiting for {what}{detail}")


Launcher = Callable[[str, list[str], dict], None]


def run_here(host: str, argv: list[str], env: dict) -> None:
    """Start `argv` on this machine (the host's address is one of ours)."""
    subprocess.run(argv, check=True, env=env, timeout=60)


class Sandbox:
    """One namespace: files under `settings.root`, one supervisord per host.

    `launcher(host, argv, env)` starts a host's supervisord: here by
    default; the tests give one that runs it in the host's network
    namespace (oio/sandbox/netns.py)."""

    def __init__(self, settings: SandboxSettings,
                 launcher: Launcher = run_here):
        self.settings = settings
        self.launcher = launcher

    # Persistence -----------------------------------------------------------
    @classmethod
    def load(cls, root: str) -> Sandbox:
        path = os.path.join(root, STATE_FILE)
        if not os.path.exists(path):
            raise SandboxError(f"No sandbox in {root}: run 'oio-sandbox up' first")
        with open(path) as src:
            raw = json.load(src)
        raw["services"] = [ServiceSpec(**spec) for spec in raw["services"]]
        return cls(SandboxSettings(**raw))

    def save(self) -> None:
        os.makedirs(self.settings.root, exist_ok=True)
        path = os.path.join(self.settings.root, STATE_FILE)
        with open(path + ".tmp", "w") as out:
            json.dump(dataclasses.asdict(self.settings), out, indent=1)
        os.replace(path + ".tmp", path)

    def bootstrap(self) -> None:
        Bootstrap(self.settings).write_all()
        self.save()

    # Supervisor ------------------------------------------------------------
    def host_of(self, name: str) -> str:
        spec = next((s for s in self.settings.services if s.name == name),
                    None)
        if spec is not None:
            return spec.host
        # The agents are numbered after their host.
        number = name.rsplit("-", 1)[-1]
        if number.isdigit() and 0 < int(number) <= len(self.settings.hosts):
            return self.settings.hosts[int(number) - 1]
        return self.settings.hosts[0]

    def _ctl(self, *args: str, check: bool = True,
             host: str | None = None) -> str:
        if host is None:
            host = self.host_of(args[-1]) if len(args) > 1 else \
                self.settings.hosts[0]
        cmd = [sys.executable, "-m", "supervisor.supervisorctl", "-c",
               self.settings.supervisor_conf_of(host), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        # supervisorctl exits non-zero when some program is not RUNNING.
        if check and proc.returncode not in (0, 3):
            raise SandboxError(f"supervisorctl {' '.join(args)} failed: "
                               f"{proc.stdout.strip()} {proc.stderr.strip()}")
        return proc.stdout

    def supervisor_running(self, host: str | None = None) -> bool:
        if host is None:
            return any(self.supervisor_running(h)
                       for h in self.settings.hosts)
        pidfile = self.settings.supervisor_pidfile(host)
        try:
            with open(pidfile) as src:
                os.kill(int(src.read().strip()), 0)
        except (OSError, ValueError):
            return False
        return True

    def start(self, hosts: list[str] | None = None) -> None:
        """Start the supervisord of each host (or of `hosts`), which starts
        its services."""
        if self.settings.beanstalkd and not shutil.which("beanstalkd"):
            raise SandboxError("beanstalkd is not installed (apt-get install "
                               "beanstalkd), or set beanstalkd=False")
        if self.settings.zookeeper:
            from oio.zk.server import installed

            if not installed():
                raise SandboxError("ZooKeeper is not installed (apt-get "
                                   "install zookeeper), or set zookeeper=False")
        if self.settings.of_type("redis") and not shutil.which("redis-server"):
            raise SandboxError("redis-server is not installed (apt-get "
                               "install redis-server): accounts on several "
                               "hosts and xcute jobs live in Redis (or set "
                               "xcute=False on one host)")
        env = dict(os.environ, OIO_SDS_CONF=self.settings.sds_conf)
        for host in hosts or self.settings.hosts:
            if self.supervisor_running(host):
                self._ctl("start", "all", check=False, host=host)
                continue
            self.launcher(host, [sys.executable, "-m",
                                 "supervisor.supervisord", "-c",
                                 self.settings.supervisor_conf_of(host)], env)

    def stop_service(self, name: str) -> None:
        self._ctl("stop", name)

    def pid(self, name: str) -> int | None:
        raw = self._ctl("pid", name, check=False).strip()
        return int(raw) if raw.isdigit() and raw != "0" else None

    def kill_service(self, name: str) -> None:
        """SIGKILL one service, as a crash would (it stays dead when the
        sandbox was made with autorestart=False)."""
        import signal

        pid = self.pid(name)
        if pid is None:
            raise SandboxError(f"{name} is not running")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: self.pid(name) != pid, 30, f"{name} to die",
                 interval=0.05)

    def start_service(self, name: str, wait: float = 30.0) -> None:
        """Start one service and wait until it accepts connections."""
        self._ctl("start", name)
        spec = next((s for s in self.settings.services if s.name == name), None)
        if spec is not None and spec.port and wait:
            wait_for(lambda: _accepts(spec.addr), wait, f"{name} to listen",
                     interval=0.05)

    def down(self, hosts: list[str] | None = None) -> None:
        """Stop every service and supervisord itself (of every host, or of
        `hosts`)."""
        for host in hosts or self.settings.hosts:
            if self.supervisor_running(host):
                self._ctl("shutdown", check=False, host=host)
        for host in hosts or self.settings.hosts:
            wait_for(lambda h=host: not self.supervisor_running(h), 60,
                     f"the supervisord of {host} to exit")

    def reset(self) -> None:
        """Stop everything and delete all data and configuration."""
        self.down()
        shutil.rmtree(self.settings.root, ignore_errors=True)

    # Readiness -------------------------------------------------------------
    @property
    def ns_url(self) -> str:
        return f"http://{self.settings.proxy}/v3.0/{self.settings.namespace}"

    def list_services(self, kind: str) -> list[dict]:
        _, services = _http("GET", f"{self.ns_url}/conscience/list?type={kind}")
        return services or []

    def _registered(self) -> bool:
        for kind in SCORED_TYPES:
            if len(self.list_services(kind)) < len(self.settings.of_type(kind)):
                return False
        return True

    def unlock_all(self) -> None:
        for kind in SCORED_TYPES:
            items = [{"type": kind, "addr": srv["addr"]}
                     for srv in self.list_services(kind)]
            if items:
                _http("POST", f"{self.ns_url}/conscience/unlock", items)

    def _all_scored(self) -> bool:
        for kind in SCORED_TYPES:
            scored = [s for s in self.list_services(kind) if s.get("score", 0) > 0]
            if len(scored) < len(self.settings.of_type(kind)):
                return False
        return True

    def bootstrap_zookeeper(self) -> bool:
        """`openio zk bootstrap --lazy`: the election directories exist
        before the first elections (each election would otherwise create
        its parents first, several round trips)."""
        from kazoo.client import KazooClient

        from oio.zk.admin import bootstrap

        zk = KazooClient(hosts=self.settings.zookeeper_hosts,
                         logger=_QUIET_KAZOO)
        try:
            zk.start(timeout=5)
            bootstrap(zk, self.settings.namespace, lazy=True,
                      log=_QUIET_KAZOO)
            return True
        except Exception:  # noqa: BLE001 - not yet: polled again
            return False
        finally:
            zk.stop()
            zk.close()

    def _meta0_registered(self) -> bool:
        """Every meta0 is one of the replicas of the meta0 base."""
        from kazoo.client import KazooClient

        from oio.zk.layout import meta0_dir

        zk = KazooClient(hosts=self.settings.zookeeper_hosts,
                         logger=_QUIET_KAZOO)
        try:
            zk.start(timeout=5)
            names = zk.get_children(meta0_dir(self.settings.namespace))
            return len(names) >= len(self.settings.of_type("meta0"))
        except Exception:  # noqa: BLE001 - not yet: polled again
            return False
        finally:
            zk.stop()
            zk.close()

    def init_directory(self) -> None:
        """Assign the meta0 prefixes to the meta1 services (once), on the
        master of the meta0 base (a replica names it in its 303)."""
        meta1 = [spec.addr for spec in self.settings.of_type("meta1")]
        replicas = min(self.settings.replicas, len(meta1))
        target = self.settings.of_type("meta0")[0].addr
        for _ in range(5):
            try:
                _http("POST", f"http://{target}/v1/meta0/init?replicas="
                      f"{replicas}", meta1, timeout=60)
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 409:  # already initialized
                    return
                if exc.code != 303:
                    raise
                target = exc.headers.get("x-oio-master") or target
        raise SandboxError("meta0: too many redirections to its master")

    def wait_ready(self, timeout: float = 90.0, log=print) -> None:
        """Block until clients can store and fetch objects."""
        wait_for(lambda: _http("GET", f"http://{self.settings.proxy}/v3.0/status"),
                 timeout, "the proxy to answer")
        log("proxy is up, waiting for services to register...")
        wait_for(self._registered, timeout, "every service to register")
        self.unlock_all()
        wait_for(lambda: all(
            _http("GET", f"http://{m.addr}/status") for m in
            self.settings.of_type("meta0")), timeout, "meta0")
        if self.settings.zookeeper:
            wait_for(self.bootstrap_zookeeper, timeout,
                     "ZooKeeper's election tree")
        if self.settings.replicas > 1:
            wait_for(self._meta0_registered, timeout,
                     "every meta0 to register in ZooKeeper")
        self.init_directory()
        log("directory initialized, waiting for scores...")
        wait_for(self._all_scored, timeout, "every service to get a score > 0")
        wait_for(self._proxy_sees_all_up, timeout,
                 "the proxy to see every service up")
        self.assign_rdir()
        if self.settings.with_xcute:
            wait_for(self._xcute_workers_listen, timeout,
                     "the xcute workers to watch their tube")

    def _xcute_workers_listen(self) -> bool:
        """The xcute event agent watches tube oio-xcute and the conscience
        scores its beanstalkd (the orchestrator only sends tasks to a
        scored beanstalkd whose tube is watched)."""
        from oio.event.beanstalk import Beanstalk, BeanstalkError
        from oio.sandbox.bootstrap import XCUTE_TUBE

        queue = self.settings.local("beanstalkd",
                                    self.settings.one("xcute").host)
        if not any(srv["addr"] == queue.addr and srv.get("score", 0) > 0
                   for srv in self.list_services("beanstalkd")):
            return False
        client = Beanstalk(queue.host, queue.port, timeout=2.0)
        try:
            return client.stats_tube(XCUTE_TUBE).get("current-watching",
                                                     0) > 0
        except (OSError, BeanstalkError):
            return False
        finally:
            client.close()

    def assign_rdir(self) -> None:
        """Give every rawx and meta2 volume an rdir (reference
        `_RDIR/<volume>` linked to a service of type rdir), as
        `openio rdir bootstrap rawx|meta2` does."""
        if not self.settings.of_type("rdir"):
            return
        for volume in self.settings.of_type("rawx") + self.settings.of_type(
                "meta2"):
            query = f"acct=_RDIR&ref={volume.addr}"
            _http("POST", f"{self.ns_url}/reference/create?{query}", {})
            _http("POST", f"{self.ns_url}/reference/link?{query}&type=rdir",
                  {})

    def wait_all_up(self, timeout: float = 60.0) -> None:
        """Block until every service is scored again, in the proxy's view
        too (after services were stopped and started)."""
        wait_for(self._all_scored, timeout, "every service to get a score > 0")
        wait_for(self._proxy_sees_all_up, timeout,
                 "the proxy to see every service up")

    def _proxy_sees_all_up(self) -> bool:
        """The proxy's load balancer refreshes from the conscience every
        second: wait until it has every service with a score."""
        _, text = _http("GET", f"http://{self.settings.proxy}/v3.0/status")
        gauges = {}
        for line in text.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "gauge":
                gauges[parts[1]] = parts[2]
        expected = sum(1 for spec in self.settings.services if spec.registered)
        return (gauges.get("down.srv") == "0"
                and int(gauges.get("known.srv", 0)) >= expected)

    def program_states(self) -> dict[str, str]:
        """Program name → supervisor state (RUNNING, STOPPED...), of every
        program of every host, agents and daemons included."""
        states = {}
        for host in self.settings.hosts:
            try:
                out = self._ctl("status", check=False, host=host)
            except (OSError, subprocess.SubprocessError):
                continue
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    states[parts[0]] = parts[1]
        return states

    def status(self) -> list[dict]:
        """Every service with its supervisor state and conscience score."""
        states = self.program_states()
        scores = {}
        for kind in {spec.type for spec in self.settings.services}:
            try:
                for srv in self.list_services(kind):
                    scores[(kind, srv["addr"])] = srv.get("score")
            except (OSError, urllib.error.URLError, ValueError):
                pass
        rows = []
        for spec in self.settings.services:
            rows.append({"name": spec.name, "type": spec.type, "addr": spec.addr,
                         "state": states.get(spec.name, "UNKNOWN"),
                         "score": scores.get((spec.type, spec.addr))})
        return rows
