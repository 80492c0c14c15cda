"""A namespace over several hosts made on this machine as network
namespaces (oio/sandbox/netns.py): each host has its own address and runs
its own supervisord with its services, as real hosts would.

    with NetnsCluster(root, hosts=3, replicas=3) as cluster:
        cluster.start()
        cluster.cut(0)        # the first host loses its network
        cluster.kill(1)       # every process of the second host dies
        cluster.revive(1)     # its supervisord and services start again

Used by the tests and the benchmark, and by `oio-sandbox up --hosts N
--netns`. Traffic goes only to loopback and to the hosts' own addresses.
"""

from __future__ import annotations

import os
import subprocess

from .layout import SandboxSettings
from .netns import Host, HostNetwork
from .sandbox import Sandbox


class NetnsCluster:
    """`hosts` network namespaces and the namespace laid over them."""

    def __init__(self, root: str, hosts: int = 3, **settings):
        self.network = HostNetwork(hosts)
        try:
            self.settings = SandboxSettings(
                root=root, hosts=[h.ip for h in self.network.hosts],
                **settings)
            self.sandbox = Sandbox(self.settings, launcher=self._launch)
        except BaseException:
            self.network.teardown()
            raise

    def __enter__(self) -> NetnsCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def hosts(self) -> list[Host]:
        return self.network.hosts

    def host(self, which: int | str) -> Host:
        """A host by index or by address."""
        if isinstance(which, int):
            return self.hosts[which]
        return next(h for h in self.hosts if h.ip == which)

    def _launch(self, ip: str, argv: list[str], env: dict) -> None:
        """supervisord daemonizes: the command returns once it runs in the
        background, inside the host's network namespace."""
        proc = self.host(ip).run(argv, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=60)
        if proc.returncode:
            raise RuntimeError(f"supervisord of {ip} failed: "
                               f"{err.decode(errors='replace')[-400:]}")

    def start(self, timeout: float = 180.0, log=lambda *_: None) -> None:
        if not os.path.exists(os.path.join(self.settings.root,
                                           "sandbox.json")):
            self.sandbox.bootstrap()
        self.sandbox.start()
        self.sandbox.wait_ready(timeout=timeout, log=log)

    def cut(self, which: int | str) -> None:
        """The host loses its network; its processes go on."""
        self.host(which).cut()

    def restore(self, which: int | str) -> None:
        self.host(which).restore()

    def kill(self, which: int | str) -> None:
        """Every process of the host dies at once (a host crash)."""
        host = self.host(which)
        host.kill_all()
        # Its supervisord is gone: forget its pid file.
        pidfile = self.settings.supervisor_pidfile(host.ip)
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    def revive(self, which: int | str, timeout: float = 60.0) -> None:
        """Start the supervisord of a killed host again, and wait until
        its services listen."""
        host = self.host(which)
        self.sandbox.start(hosts=[host.ip])
        for spec in self.settings.on_host(host.ip):
            host.wait_reachable(spec.port, timeout=timeout)

    def stop(self) -> None:
        try:
            for host in self.hosts:
                host.restore()
            self.sandbox.down()
        except Exception:  # noqa: BLE001 - the network teardown kills all
            pass
        finally:
            self.network.teardown()
