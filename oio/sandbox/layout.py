"""What a sandbox namespace is made of: services, ports, directories.

A plain description computed from a few settings; `bootstrap.py` writes the
configuration files from it and `supervisor.py` runs it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


@dataclass
class ServiceSpec:
    """One process of the sandbox."""

    type: str            # conscience, oioproxy, meta0, meta1, meta2, rawx...
    num: int             # 1-based number within its type
    port: int
    name: str = ""       # supervisor program name, e.g. OPENIO-rawx-3
    registered: bool = True  # watched by the conscience agent

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class SandboxSettings:
    namespace: str = "OPENIO"
    root: str = os.path.expanduser("~/.oio/sds")
    ip: str = "127.0.0.1"
    base_port: int = 6000
    nb_meta0: int = 1
    nb_meta1: int = 1
    nb_meta2: int = 1
    # Copies of each meta base (1 or 3); with 3, three services of each
    # meta type elect a master per base in ZooKeeper.
    replicas: int = 1
    # Run a ZooKeeper server (when installed): elections and `openio zk`.
    zookeeper: bool = True
    # supervisord restarts a service that died; fault tests turn it off to
    # keep a killed service dead.
    autorestart: bool = True
    nb_rawx: int = 9
    chunk_size: int = 10 * 1024 * 1024
    storage_policy: str = "THREECOPIES"
    meta1_digits: int = 2
    fsync: bool = True
    beanstalkd: bool = True
    # Write ~/.oio/sds.conf so that ObjectStorageApi(ns) finds the proxy.
    user_conf: bool = True
    services: list[ServiceSpec] = field(default_factory=list)

    def __post_init__(self):
        if self.replicas not in (1, 3):
            raise ValueError("replicas must be 1 or 3")
        if self.replicas > 1:
            self.nb_meta0 = max(self.nb_meta0, self.replicas)
            self.nb_meta1 = max(self.nb_meta1, self.replicas)
            self.nb_meta2 = max(self.nb_meta2, self.replicas)
        if not self.services:
            self.services = self._allocate()

    def _allocate(self) -> list[ServiceSpec]:
        port = self.base_port
        specs = []

        def add(kind, count, registered=True):
            nonlocal port
            for num in range(1, count + 1):
                specs.append(ServiceSpec(kind, num, port,
                                         f"{self.namespace}-{kind}-{num}",
                                         registered))
                port += 1

        add("oioproxy", 1)
        add("conscience", 1, registered=False)
        if self.zookeeper:
            add("zookeeper", 1, registered=False)
        if self.beanstalkd:
            add("beanstalkd", 1)
        add("meta0", self.nb_meta0)
        add("meta1", self.nb_meta1)
        add("meta2", self.nb_meta2)
        add("rawx", self.nb_rawx)
        add("account", 1)
        add("rdir", 1)
        return specs

    # Paths ----------------------------------------------------------------
    @property
    def conf_dir(self) -> str:
        return os.path.join(self.root, "conf")

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def run_dir(self) -> str:
        return os.path.join(self.root, "run")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def watch_dir(self) -> str:
        return os.path.join(self.conf_dir, "watch")

    @property
    def sds_conf(self) -> str:
        return os.path.join(self.conf_dir, "sds.conf")

    @property
    def supervisor_conf(self) -> str:
        return os.path.join(self.conf_dir, "supervisord.conf")

    def data_path(self, spec: ServiceSpec) -> str:
        return os.path.join(self.data_dir, spec.name)

    # Lookups --------------------------------------------------------------
    def of_type(self, kind: str) -> list[ServiceSpec]:
        return [s for s in self.services if s.type == kind]

    def one(self, kind: str) -> ServiceSpec:
        return self.of_type(kind)[0]

    @property
    def proxy(self) -> str:
        return self.one("oioproxy").addr

    @property
    def conscience(self) -> str:
        return self.one("conscience").addr

    @property
    def zookeeper_hosts(self) -> str:
        """`host:port,...` of the ZooKeeper ensemble, or ""."""
        return ",".join(s.addr for s in self.of_type("zookeeper"))

    def location(self, spec: ServiceSpec) -> str:
        """Distinct locations, so that replicas land on distinct 'hosts'."""
        return f"rack.{self.ip.replace('.', '-')}.{spec.port}"


def ports_free(base: int, count: int, host: str = "127.0.0.1") -> bool:
    for port in range(base, base + count):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def find_free_base_port(count: int, start: int = 20000, stop: int = 60000,
                        step: int = 50) -> int:
    """A base port with `count` consecutive free ports after it."""
    import random

    bases = list(range(start, stop, step))
    random.shuffle(bases)
    for base in bases:
        if ports_free(base, count):
            return base
    raise RuntimeError("no range of free ports found")
