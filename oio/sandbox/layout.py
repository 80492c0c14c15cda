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
    host: str = "127.0.0.1"  # the address of the host it runs on

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


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
    # A namespace over several hosts: one address each (docs/multi-host.md).
    # Empty: one host, `ip`.
    hosts: list[str] = field(default_factory=list)
    nb_rawx: int = 9
    chunk_size: int = 10 * 1024 * 1024
    storage_policy: str = "THREECOPIES"
    meta1_digits: int = 2
    fsync: bool = True
    beanstalkd: bool = True
    # The xcute job service and its workers (an event agent on tube
    # `oio-xcute`), with the Redis holding its jobs; needs beanstalkd.
    xcute: bool = True
    # Self-healing daemons: a blob rebuilder per host listening to the
    # rebuild tube, a blob auditor per rawx volume (needs beanstalkd).
    healing: bool = True
    # What each auditor re-reads per second (a laptop runs 9 of them).
    audit_chunks_per_second: float = 5
    audit_bytes_per_second: int = 2_000_000
    audit_interval: float = 10
    # Write ~/.oio/sds.conf so that ObjectStorageApi(ns) finds the proxy.
    user_conf: bool = True
    # What OpenIO's own functional tests expect of their test bed: every
    # event also copied to the tube `oio-preserved`, and conf/test.yml
    # describing the namespace (docs/upstream-tests.md).
    testbed: bool = False
    services: list[ServiceSpec] = field(default_factory=list)

    def __post_init__(self):
        if self.replicas not in (1, 3):
            raise ValueError("replicas must be 1 or 3")
        if not self.hosts:
            self.hosts = [self.ip]
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError("hosts must be distinct addresses")
        if self.replicas > 1 and self.multi_host \
                and len(self.hosts) < self.replicas:
            raise ValueError(f"{self.replicas} replicas on distinct hosts "
                             f"need {self.replicas} hosts")
        if self.replicas > 1 and not self.multi_host:
            self.nb_meta0 = max(self.nb_meta0, self.replicas)
            self.nb_meta1 = max(self.nb_meta1, self.replicas)
            self.nb_meta2 = max(self.nb_meta2, self.replicas)
        if not self.services:
            self.services = self._allocate()

    @property
    def multi_host(self) -> bool:
        return len(self.hosts) > 1

    def _allocate(self) -> list[ServiceSpec]:
        """The services of every host. One host: as many of each meta type
        as asked. Several hosts: on each, a proxy, a beanstalkd, the meta
        services asked (per host), `nb_rawx` rawx, an account and an rdir;
        a conscience on the first two; a ZooKeeper on the first three (an
        ensemble) or the first; Redis (the accounts' store) on the first.
        Every host uses the same ports, from `base_port`. With xcute, the
        first host also runs the xcute service (and a Redis when alone)."""
        specs = []
        counts: dict[str, int] = {}

        def add(kind, count, host, port, registered=True):
            for _ in range(count):
                num = counts[kind] = counts.get(kind, 0) + 1
                specs.append(ServiceSpec(kind, num, port,
                                         f"{self.namespace}-{kind}-{num}",
                                         registered, host))
                port += 1
            return port

        many = self.multi_host
        for index, host in enumerate(self.hosts):
            port = self.base_port
            port = add("oioproxy", 1, host, port)
            port = add("conscience", 1 if index < (2 if many else 1) else 0,
                       host, port, registered=False)
            zk_hosts = 3 if len(self.hosts) >= 3 else 1
            if self.zookeeper:
                port = add("zookeeper", 1 if index < zk_hosts else 0, host,
                           port, registered=False)
            if self.beanstalkd:
                port = add("beanstalkd", 1, host, port)
            if many:
                port = add("redis", 1 if index == 0 else 0, host, port,
                           registered=False)
            port = add("meta0", self.nb_meta0, host, port)
            port = add("meta1", self.nb_meta1, host, port)
            port = add("meta2", self.nb_meta2, host, port)
            port = add("rawx", self.nb_rawx, host, port)
            port = add("account", 1, host, port)
            port = add("rdir", 1, host, port)
            if self.with_xcute and index == 0:
                # After every other port, so that one host keeps its
                # former ports; several hosts have their Redis already.
                if not many:
                    port = add("redis", 1, host, port, registered=False)
                port = add("xcute", 1, host, port)
            if self.testbed and index == 0:
                # OpenIO's tests of its EC daemon talk to one.
                add("ecd", 1, host, port, registered=False)
        return specs

    @property
    def with_xcute(self) -> bool:
        return self.xcute and self.beanstalkd

    @property
    def with_healing(self) -> bool:
        return self.healing and self.beanstalkd

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
    def test_conf(self) -> str:
        """The test.yml of a test bed (OpenIO's SDS_TEST_CONFIG_FILE)."""
        return os.path.join(self.conf_dir, "test.yml")

    @property
    def test_env(self) -> str:
        """Shell exports pointing OpenIO's tests at a test bed."""
        return os.path.join(self.conf_dir, "testbed.env")

    @property
    def sds_conf(self) -> str:
        return os.path.join(self.conf_dir, "sds.conf")

    @property
    def supervisor_conf(self) -> str:
        return self.supervisor_conf_of(self.hosts[0])

    def _per_host(self, name: str, host: str, ext: str) -> str:
        # One host keeps the names of a one-host sandbox.
        return name + ("" if not self.multi_host else f"-{host}") + ext

    def supervisor_conf_of(self, host: str) -> str:
        """The supervisord configuration of the services of `host`."""
        return os.path.join(self.conf_dir,
                            self._per_host("supervisord", host, ".conf"))

    def supervisor_socket(self, host: str) -> str:
        return os.path.join(self.run_dir,
                            self._per_host("supervisor", host, ".sock"))

    def supervisor_pidfile(self, host: str) -> str:
        return os.path.join(self.run_dir,
                            self._per_host("supervisord", host, ".pid"))

    def watch_dir_of(self, host: str) -> str:
        return os.path.join(self.conf_dir, self._per_host("watch", host, ""))

    def on_host(self, host: str) -> list[ServiceSpec]:
        return [s for s in self.services if s.host == host]

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
    def proxies(self) -> str:
        """Every proxy, comma-separated (clients fail over among them)."""
        return ",".join(s.addr for s in self.of_type("oioproxy"))

    @property
    def conscience(self) -> str:
        """Every conscience, comma-separated."""
        return ",".join(s.addr for s in self.of_type("conscience"))

    def local(self, kind: str, host: str) -> ServiceSpec | None:
        """The service of `kind` on `host`, else the first one."""
        return next((s for s in self.of_type(kind) if s.host == host),
                    self.of_type(kind)[0] if self.of_type(kind) else None)

    @property
    def zookeeper_hosts(self) -> str:
        """`host:port,...` of the ZooKeeper ensemble, or ""."""
        return ",".join(s.addr for s in self.of_type("zookeeper"))

    def location(self, spec: ServiceSpec) -> str:
        """`rack.<host>.<port>`: services of one host are at distance 1,
        of two hosts at distance 2 (what pools' `min_dist` counts)."""
        if self.testbed and spec.type == "rawx":
            return self.testbed_place(spec)
        return f"rack.{spec.host.replace('.', '-')}.{spec.port}"

    def testbed_place(self, spec: ServiceSpec) -> str:
        """OpenIO's tests of perfectible contents want rawx in 3 distinct
        places (second level): on one host the test bed makes them up,
        `rack.place-N.<port>`, each place with rawx of both slots."""
        index = self.of_type("rawx").index(spec)
        return f"rack.place-{(index // 2) % 3 + 1}.{spec.port}"


def ports_free(base: int, count: int, host: str = "127.0.0.1") -> bool:
    for port in range(base, base + count):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def find_free_base_port(count: int, start: int = 20000, stop: int = 32000,
                        step: int = 50) -> int:
    """A base port with `count` consecutive free ports after it, below
    Linux's ephemeral range (32768 and up): there, an outgoing connection
    may take a service's port before it binds, and polling a port not yet
    listened on may connect a socket to itself."""
    import random

    bases = list(range(start, stop, step))
    random.shuffle(bases)
    for base in bases:
        if ports_free(base, count):
            return base
    raise RuntimeError("no range of free ports found")
