"""Write every configuration file of a sandbox namespace."""

from __future__ import annotations

import configparser
import os
import shutil
import sys

from oio.sandbox.layout import SandboxSettings, ServiceSpec

# The tube of xcute's tasks (its workers' event agent watches it).
XCUTE_TUBE = "oio-xcute"
# Where the event agent keeps perfectible objects for the blob improvers.
IMPROVE_TUBE = "oio-improve"

POLICIES = """\
[STORAGE_POLICY]
SINGLE=NONE:NONE
TWOCOPIES=rawx2:DUPONETWO
THREECOPIES=rawx3:DUPONETHREE
EC=NONE:EC
EC21=NONE:EC21
ECX21=NONE:ECX21
ECISAL=NONE:ECISAL
ECISAL21=NONE:ECISAL21
EC42=NONE:EC42

[DATA_SECURITY]
DUPONETWO=plain/min_dist=1,nb_copy=2
DUPONETHREE=plain/max_dist=2,min_dist=1,nb_copy=3
EC=ec/k=6,m=3,algo=liberasurecode_rs_vand,min_dist=1
EC21=ec/k=2,m=1,algo=liberasurecode_rs_vand,min_dist=1,warn_dist=0
ECX21=ec/k=2,m=1,algo=liberasurecode_rs_vand,min_dist=0,max_dist=2,warn_dist=0
ECISAL=ec/k=6,m=3,algo=isa_l_rs_vand,min_dist=1
ECISAL21=ec/k=2,m=1,algo=isa_l_rs_vand,min_dist=1,warn_dist=0
EC42=ec/k=4,m=2,algo=isa_l_rs_vand,min_dist=1
"""

POOLS = """\
[pool:meta1]
targets=1,meta1

[pool:meta2]
targets=1,meta2

[pool:rawx2]
targets=1,rawx-even,rawx;1,rawx-odd,rawx
warn_dist=0

[pool:rawx3]
targets=1,rawx-even,rawx;1,rawx-odd,rawx;1,rawx
max_dist=2
warn_dist=0

[pool:rawxevenodd]
targets=1,rawx-even;1,rawx-odd
"""

# OpenIO's sandbox scores are the cube root of cpu idle × io idle × free
# space. Here every service shares one machine and one disk, so a busy disk
# or busy cores would drop every rawx to 0 at once and refuse all writes
# (seen under benchmarks). Ours keeps that weighting between 10 and 100 and
# only a full volume (space < 1 %) scores 0.
UPSTREAM_SCORE_EXPR = (
    "((num stat.cpu)>0) * ((num stat.io)>0) * ((num stat.space)>1)"
    " * root(3,((num stat.cpu)*(num stat.space)*(num stat.io)))")
SCORE_EXPR = ("((num stat.space)>1) * (10 + ((9 * root(3,((num stat.cpu)"
              "*(num stat.space)*(num stat.io)))) / 10))")
BEANSTALKD_EXPR = ("root(3, (num stat.cpu) * (num stat.space) * "
                   "(100 - root(3, (num stat.jobs_ready))))")

SERVICE_TYPES = f"""\
[type:meta0]
score_expr={SCORE_EXPR}
score_timeout=3600
score_variation_bound=20
lock_at_first_register=false

[type:meta1]
score_expr={SCORE_EXPR}
score_timeout=120
lock_at_first_register=false

[type:meta2]
score_expr={SCORE_EXPR}
score_timeout=120

[type:rawx]
score_expr={SCORE_EXPR}
score_timeout=120

[type:rdir]
score_expr={SCORE_EXPR}
score_timeout=120

[type:account]
score_expr=(1 + (num stat.cpu))
score_timeout=120

[type:oioproxy]
score_expr=(1 + (num stat.cpu))
score_timeout=120
lock_at_first_register=false

[type:xcute]
score_expr=(1 + (num stat.cpu))
score_timeout=120
lock_at_first_register=false

[type:beanstalkd]
score_expr={BEANSTALKD_EXPR}
score_timeout=120
lock_at_first_register=false

# No daemon: tests register fake services of this type (OpenIO's test
# suites flush it before and after each test).
[type:echo]
score_expr=(num stat.cpu)
score_timeout=30
"""


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _script(name: str) -> str:
    """The entry point `name` of this Python's environment (a venv's bin/),
    else the first on PATH."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name) or name


def _ini(sections: dict[str, dict[str, object]]) -> str:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k}={v}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


class Bootstrap:
    """Turns SandboxSettings into files under settings.root."""

    def __init__(self, settings: SandboxSettings):
        self.s = settings

    def conf_path(self, spec: ServiceSpec) -> str:
        ext = {"beanstalkd": "none", "zookeeper": "cfg"}.get(spec.type, "conf")
        return os.path.join(self.s.conf_dir, f"{spec.name}.{ext}")

    def write_all(self) -> None:
        s = self.s
        for path in (s.conf_dir, s.data_dir, s.run_dir, s.log_dir):
            os.makedirs(path, exist_ok=True)
        self.write_namespace_conf()
        for spec in s.services:
            os.makedirs(s.data_path(spec), exist_ok=True)
            writer = getattr(self, f"write_{spec.type}", None)
            if writer is not None:
                writer(spec)
            if spec.type == "rawx" and s.with_healing:
                self.write_auditor(spec)
        for host in s.hosts:
            self.write_agent(host)
            if s.beanstalkd:
                self.write_event_agent(host)
            if s.with_xcute and host == s.one("xcute").host:
                self.write_xcute_agent(host)
            self.write_supervisor(host)
        if s.user_conf:
            self.install_user_conf()
        if s.testbed:
            from oio.sandbox.testbed import write_test_config

            write_test_config(s)

    def _local_beanstalkd(self, spec: ServiceSpec) -> str:
        """The event queue of the host of `spec`."""
        return f"beanstalk://{self.s.local('beanstalkd', spec.host).addr}"

    # Namespace ------------------------------------------------------------
    def namespace_section(self) -> dict[str, object]:
        s = self.s
        proxy = s.one("oioproxy")
        section: dict[str, object] = {
            # Clients fail over from one proxy to the next.
            "proxy": s.proxies,
            "conscience": s.conscience,
            "ns.meta1_digits": s.meta1_digits,
            "ns.chunk_size": s.chunk_size,
            "ns.storage_policy": s.storage_policy,
            "proxy.location": s.location(proxy),
        }
        if s.beanstalkd:
            section["event-agent"] = self._local_beanstalkd(proxy)
        if s.zookeeper_hosts:
            section["zookeeper"] = s.zookeeper_hosts
        if s.testbed:
            # OpenIO's test bed flushes containers by small batches, and
            # its tests of `container flush` count on it.
            section["meta2.flush_limit"] = 64
        return section

    def write_namespace_conf(self) -> None:
        _write(self.s.sds_conf, _ini({"default": {},
                                      self.s.namespace: self.namespace_section()}))

    def install_user_conf(self) -> None:
        """Add or replace our namespace section in ~/.oio/sds.conf."""
        path = os.path.expanduser("~/.oio/sds.conf")
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(path)
        if parser.has_section(self.s.namespace):
            parser.remove_section(self.s.namespace)
        parser.add_section(self.s.namespace)
        for key, value in self.namespace_section().items():
            parser.set(self.s.namespace, key, str(value))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as out:
            parser.write(out)
        os.replace(path + ".tmp", path)

    # Services -------------------------------------------------------------
    def _base(self, spec: ServiceSpec) -> dict[str, object]:
        return {"namespace": self.s.namespace, "bind_addr": spec.host,
                "bind_port": spec.port, "log_level": "INFO"}

    def pools(self) -> str:
        """The service pools: a container's meta2 replicas on distinct
        services, on distinct hosts when there are several; rawx copies
        on one host are then flawed (`warn_dist` 1)."""
        s = self.s
        meta2 = f"targets={s.replicas},meta2"
        if s.multi_host and s.replicas > 1:
            meta2 += "\nmin_dist=2"
        pools = POOLS.replace("targets=1,meta2", meta2)
        if s.multi_host or s.testbed:
            # Copies that had to share a host (a place of the test bed)
            # are worth a `storage.content.perfectible` event (as 7.2's
            # sandbox does).
            pools = pools.replace("warn_dist=0", "warn_dist=1")
        return pools

    def service_types(self) -> str:
        """The score rules. Over several hosts, a service whose agent stops
        registering (its host cut off or dead) is down after 10 s rather
        than 2 minutes: new chunks and bases then avoid it."""
        if not self.s.multi_host:
            return SERVICE_TYPES
        return SERVICE_TYPES.replace("score_timeout=120", "score_timeout=10")

    def write_conscience_conf(self) -> None:
        for spec in self.s.of_type("conscience"):
            self.write_conscience(spec)

    def write_conscience(self, spec: ServiceSpec) -> None:
        s = self.s
        prefix = os.path.join(s.conf_dir, s.namespace)
        _write(f"{prefix}-policies.conf", POLICIES)
        _write(f"{prefix}-service-pools.conf", self.pools())
        _write(f"{prefix}-service-types.conf", self.service_types())
        conf = self._base(spec)
        conf.update({
            "policies": f"{prefix}-policies.conf",
            "services": f"{prefix}-service-*.conf",
            "chunk_size": s.chunk_size,
            "storage_policy": s.storage_policy,
            "meta1_digits": s.meta1_digits,
            "ns.service_update_policy":
                f"meta2=KEEP|{s.replicas}|1;sqlx=KEEP|1|1|;rdir=KEEP|1|1|",
        })
        _write(self.conf_path(spec), _ini({"conscience": conf}))

    def write_oioproxy(self, spec: ServiceSpec) -> None:
        conf = self._base(spec)
        conf["conscience"] = self.s.conscience
        _write(self.conf_path(spec), _ini({"proxy": conf}))

    def _write_meta(self, spec: ServiceSpec, kind: str,
                    extra: dict | None = None) -> None:
        conf = self._base(spec)
        conf["datadir"] = self.s.data_path(spec)
        conf["conscience"] = self.s.conscience
        conf["meta1_digits"] = self.s.meta1_digits
        conf.update(extra or {})
        _write(self.conf_path(spec), _ini({kind: conf}))

    def write_meta0(self, spec: ServiceSpec) -> None:
        self._write_meta(spec, "meta0")

    def write_meta1(self, spec: ServiceSpec) -> None:
        # Where meta1 reads the meta0 map (the replicas of its bases).
        extra = {"meta0": ",".join(m.addr for m in self.s.of_type("meta0"))}
        if self.s.beanstalkd:
            extra["event_agent"] = self._local_beanstalkd(spec)
        self._write_meta(spec, "meta1", extra)

    def write_meta2(self, spec: ServiceSpec) -> None:
        extra = {}
        if self.s.beanstalkd:
            extra["event_agent"] = self._local_beanstalkd(spec)
        self._write_meta(spec, "meta2", extra)

    def _zk_nodes(self) -> list:
        """Every ZooKeeper server; several form an ensemble, with quorum
        and election ports after the services' range (the same on every
        host: each has its own address)."""
        from oio.zk.server import ZkNode

        specs = self.s.of_type("zookeeper")
        nodes = [ZkNode(spec.num, spec.host, spec.port,
                        peer_port=self.s.base_port + 90,
                        election_port=self.s.base_port + 91,
                        data_dir=self.s.data_path(spec), fsync=self.s.fsync)
                 for spec in specs]
        for node in nodes:
            node.ensemble = nodes
        return nodes

    def write_zookeeper(self, spec: ServiceSpec) -> None:
        node = next(n for n in self._zk_nodes() if n.myid == spec.num)
        node.write(self.conf_path(spec))

    def write_rawx(self, spec: ServiceSpec) -> None:
        fsync = "enabled" if self.s.fsync else "disabled"
        text = (f"Listen {spec.addr}\n"
                f"grid_docroot {self.s.data_path(spec)}\n"
                f"grid_namespace {self.s.namespace}\n"
                "grid_hash_width 3\n"
                "grid_hash_depth 1\n"
                f"grid_fsync {fsync}\n"
                f"grid_fsync_dir {fsync}\n"
                # Chunks of 1 MiB and more leave the page cache once synced
                # and are read without it (docs/rawx.md, "Page cache").
                "grid_fadvise_upload nocache\n"
                "grid_fadvise_download nocache\n"
                "grid_buffer_size 1024\n")
        _write(self.conf_path(spec), text)

    def auditor_conf(self, spec: ServiceSpec) -> str:
        return os.path.join(self.s.conf_dir, f"{spec.name}-auditor.conf")

    def write_auditor(self, spec: ServiceSpec) -> None:
        """The blob auditor of a rawx volume: damaged chunks go to the
        rebuild tube of the rawx's host, where its rebuilder listens."""
        from oio.blob.auditor import auditor_config

        s = self.s
        auditor_config(s.data_path(spec), s.namespace, self.auditor_conf(spec),
                       queue_url=self._local_beanstalkd(spec),
                       chunks_per_second=s.audit_chunks_per_second,
                       bytes_per_second=s.audit_bytes_per_second,
                       interval=s.audit_interval, report_interval=300)

    def healing_programs(self, host: str) -> list[tuple[str, str]]:
        """The blob rebuilder and the blob improver of `host` (on its
        beanstalkd's rebuild and improve tubes) and the auditors of its rawx
        volumes."""
        s = self.s
        number = s.hosts.index(host) + 1
        queue = s.local("beanstalkd", host).addr
        programs = [(f"{s.namespace}-blob-rebuilder-{number}",
                     f"{_script('oio-blob-rebuilder')} {s.namespace} "
                     f"--beanstalkd {queue} --concurrency 2 "
                     "--chunks-per-second 0 --delete-faulty-chunks "
                     "--retry-delay 60 --report-interval 300"),
                    (f"{s.namespace}-blob-improver-{number}",
                     f"{_script('oio-blob-improver')} {s.namespace} "
                     f"--beanstalkd {queue} --retry-delay 30")]
        for spec in s.on_host(host):
            if spec.type == "rawx":
                programs.append((f"{spec.name}-auditor",
                                 f"{_script('oio-blob-auditor')} --daemon "
                                 f"{self.auditor_conf(spec)}"))
        return programs

    def write_account(self, spec: ServiceSpec) -> None:
        conf = self._base(spec)
        conf["datadir"] = self.s.data_path(spec)
        conf["autocreate"] = "true"
        redis = self.s.of_type("redis")
        if redis and self.s.multi_host:
            # Account services of every host share one store.
            conf["backend"] = "redis"
            conf["redis_host"] = redis[0].addr
        _write(self.conf_path(spec), _ini({"account-server": conf}))

    def write_rdir(self, spec: ServiceSpec) -> None:
        conf = self._base(spec)
        conf["db_path"] = self.s.data_path(spec)
        _write(self.conf_path(spec), _ini({"rdir-server": conf}))

    def write_ecd(self, spec: ServiceSpec) -> None:
        _write(self.conf_path(spec), _ini({"ecd": self._base(spec)}))

    def write_xcute(self, spec: ServiceSpec) -> None:
        """The xcute service and its orchestrator, in one process; jobs in
        the sandbox's Redis, replies through the local beanstalkd."""
        s = self.s
        _write(self.conf_path(spec), _ini({
            "DEFAULT": {"namespace": s.namespace,
                        "redis_host": s.one("redis").addr},
            "xcute-server": {"bind_addr": spec.host, "bind_port": spec.port,
                             "log_level": "INFO"},
            "xcute-orchestrator": {
                "orchestrator_id": f"orchestrator-{spec.num}",
                "beanstalkd_workers_tube": XCUTE_TUBE,
                "beanstalkd_reply_addr": self._local_beanstalkd(spec),
                "beanstalkd_reply_tube": f"{XCUTE_TUBE}.reply"}}))

    # Event agent ----------------------------------------------------------
    def event_agent_conf(self, host: str) -> str:
        return os.path.join(self.s.conf_dir, self.s._per_host(
            "event-agent", host, ".conf"))

    def write_event_agent(self, host: str) -> None:
        """The agent consuming the beanstalkd of `host`, and its handlers
        (the sandbox's of events.md §5, for the filters that exist so
        far)."""
        s = self.s
        handlers = os.path.join(s.conf_dir, "event-handlers.conf")
        queue = s.local("beanstalkd", host)
        _write(self.event_agent_conf(host), _ini({
            "event-agent": {
                "namespace": s.namespace,
                "queue_url": f"beanstalk://{queue.addr}",
                "tube": "oio", "concurrency": 8,
                "handlers_conf": handlers}}))
        pipelines = {
            "storage.content.deleted": "content_cleaner",
            "storage.content.drained": "content_cleaner",
            "storage.container.new": "account_update",
            "storage.container.state": "account_update",
            "storage.container.deleted": "account_update",
            "storage.chunk.new": "volume_index",
            "storage.chunk.deleted": "volume_index",
            "storage.meta2.deleted": "volume_index",
            "account.services": "account_update volume_index",
            # Uploads accepted with missing chunks, reads that met broken
            # ones: kept in the rebuild tube for a rebuilder, as 7.2 does.
            "storage.content.broken": "content_rebuild",
            # Objects placed below their pool's quality (a fallback slot,
            # copies too close): kept for the blob improvers, as 7.2 does.
            "storage.content.perfectible": "logger content_improve"}
        for event in ("storage.content.new", "storage.content.update",
                      "storage.content.append", "storage.container.update"):
            pipelines[event] = ""
        main_queue = f"beanstalk://{s.one('beanstalkd').addr}"
        if s.testbed:
            from oio.sandbox import testbed

            pipelines = testbed.preserve_pipelines(pipelines)
        sections: dict[str, dict] = {f"handler:{event}": {"pipeline": pipeline}
                                     for event, pipeline in pipelines.items()}
        sections["filter:content_cleaner"] = {
            "use": "egg:oio#content_cleaner", "concurrency": 4,
            "timeout": 4.5}
        sections["filter:volume_index"] = {"use": "egg:oio#volume_index"}
        sections["filter:content_rebuild"] = {
            "use": "egg:oio#notify", "tube": "oio-rebuild",
            "queue_url": main_queue}
        sections["filter:content_improve"] = {
            "use": "egg:oio#notify", "tube": IMPROVE_TUBE,
            "queue_url": main_queue}
        if s.testbed:
            sections[f"filter:{testbed.PRESERVE_FILTER}"] = \
                testbed.preserve_filter(main_queue)
        sections["filter:account_update"] = {
            "use": "egg:oio#account_update", "connection_timeout": 1.0,
            "read_timeout": 15.0}
        for name in ("bury", "dump", "noop", "logger"):
            sections[f"filter:{name}"] = {"use": f"egg:oio#{name}"}
        _write(handlers, _ini(sections))

    def xcute_agent_conf(self, host: str) -> str:
        return os.path.join(self.s.conf_dir, self.s._per_host(
            "xcute-agent", host, ".conf"))

    def write_xcute_agent(self, host: str) -> None:
        """The xcute workers: an event agent on tube oio-xcute."""
        s = self.s
        handlers = os.path.join(s.conf_dir, "xcute-handlers.conf")
        queue = s.local("beanstalkd", host)
        _write(self.xcute_agent_conf(host), _ini({
            "event-agent": {
                "namespace": s.namespace,
                "queue_url": f"beanstalk://{queue.addr}",
                "tube": XCUTE_TUBE, "concurrency": 4,
                "handlers_conf": handlers}}))
        _write(handlers, _ini({
            "handler:xcute.tasks": {"pipeline": "xcute"},
            "filter:xcute": {"use": "egg:oio#xcute",
                             "retry_delay_to_reply": 60}}))

    # Agent ----------------------------------------------------------------
    def _watch(self, spec: ServiceSpec) -> dict[str, object]:
        watch: dict[str, object] = {
            "host": spec.host, "port": spec.port, "type": spec.type,
            "location": self.s.location(spec),
        }
        data = self.s.data_path(spec)
        if spec.type == "rawx":
            parity = "odd" if spec.num % 2 else "even"
            watch["slots"] = ["rawx", f"rawx-{parity}"]
            watch["checks"] = [{"type": "http", "uri": "/info"}]
            watch["stats"] = [{"type": "volume", "path": data},
                              {"type": "rawx", "path": "/stat"},
                              {"type": "system"}]
        elif spec.type in ("meta0", "meta1", "meta2"):
            watch["slots"] = [spec.type]
            watch["checks"] = [{"type": "http", "uri": "/status"}]
            watch["stats"] = [{"type": "volume", "path": data},
                              {"type": "system"}]
        else:
            watch["slots"] = [spec.type]
            watch["checks"] = [{"type": "tcp"}]
            watch["stats"] = [{"type": "volume", "path": data},
                              {"type": "system"}]
            if spec.type == "beanstalkd":
                watch["stats"].append({"type": "beanstalkd"})
            if spec.type in ("account", "xcute"):
                watch["stats"].append({"type": "http", "path": "/status",
                                       "parser": "json"})
        return watch

    def agent_conf(self, host: str) -> str:
        return os.path.join(self.s.conf_dir, self.s._per_host(
            "conscience-agent", host, ".yml"))

    def write_agent(self, host: str) -> None:
        """The conscience agent of `host`: it watches the services of its
        host and registers them through its host's proxy first."""
        import json

        s = self.s
        watch_dir = s.watch_dir_of(host)
        os.makedirs(watch_dir, exist_ok=True)
        for spec in s.on_host(host):
            if spec.registered:
                # JSON is valid YAML: no YAML writer needed here.
                _write(os.path.join(watch_dir, f"{spec.name}.yml"),
                       json.dumps(self._watch(spec), indent=1) + "\n")
        local = s.local("oioproxy", host).addr
        proxies = [local] + [p.addr for p in s.of_type("oioproxy")
                             if p.addr != local]
        agent = {"namespace": s.namespace, "check_interval": 1, "rise": 1,
                 "fall": 1, "include_dir": watch_dir,
                 "proxy": ",".join(proxies), "log_level": "INFO"}
        _write(self.agent_conf(host), json.dumps(agent, indent=1) + "\n")

    # Supervisor -----------------------------------------------------------
    def command(self, spec: ServiceSpec) -> str:
        if spec.type == "zookeeper":
            from oio.zk.server import command

            return " ".join(command(self.conf_path(spec)))
        if spec.type == "beanstalkd":
            binlog = self.s.data_path(spec)
            return (f"{shutil.which('beanstalkd') or 'beanstalkd'} "
                    f"-l {spec.host} -p {spec.port} -b {binlog} -f 1000")
        if spec.type == "redis":
            # The accounts of every host; its append-only file is synced
            # every second (statistics are recomputed from meta2 anyway).
            return (f"{shutil.which('redis-server') or 'redis-server'} "
                    f"--bind {spec.host} --port {spec.port} "
                    f"--dir {self.s.data_path(spec)} --appendonly yes "
                    "--appendfsync everysec --save '' --protected-mode no")
        entry = {"oioproxy": "oio-proxy", "conscience": "oio-conscience",
                 "meta0": "oio-meta0", "meta1": "oio-meta1",
                 "meta2": "oio-meta2", "rawx": "oio-rawx",
                 "account": "oio-account", "rdir": "oio-rdir",
                 "xcute": "oio-xcute", "ecd": "oio-ecd"}[spec.type]
        return f"{_script(entry)} {self.conf_path(spec)}"

    def write_supervisor(self, host: str) -> None:
        """The supervisord of `host`: its services and agents."""
        s = self.s
        sock = s.supervisor_socket(host)
        env = f'OIO_SDS_CONF="{s.sds_conf}"'
        sections = {
            "unix_http_server": {"file": sock},
            "supervisord": {
                "logfile": os.path.join(s.log_dir, s._per_host(
                    "supervisord", host, ".log")),
                "pidfile": s.supervisor_pidfile(host),
                "childlogdir": s.log_dir,
                "environment": env,
            },
            "rpcinterface:supervisor": {
                "supervisor.rpcinterface_factory":
                    "supervisor.rpcinterface:make_main_rpcinterface"},
            "supervisorctl": {"serverurl": f"unix://{sock}"},
        }
        programs = [(spec.name, self.command(spec))
                    for spec in s.on_host(host)]
        number = s.hosts.index(host) + 1
        programs.append((f"{s.namespace}-conscience-agent-{number}",
                         f"{_script('oio-conscience-agent')} "
                         f"{self.agent_conf(host)}"))
        if s.beanstalkd:
            events = _script("oio-event-agent")
            programs.append((f"{s.namespace}-event-agent-{number}",
                             f"{events} {self.event_agent_conf(host)}"))
            if s.with_xcute and host == s.one("xcute").host:
                programs.append((f"{s.namespace}-xcute-agent-{number}",
                                 f"{events} {self.xcute_agent_conf(host)}"))
        if s.with_healing:
            programs += self.healing_programs(host)
        first = {spec.name for spec in s.on_host(host)
                 if spec.type in ("zookeeper", "redis")}
        for name, command in programs:
            sections[f"program:{name}"] = {
                # What others depend on starts first and stops last: meta
                # services leave their elections as they stop.
                "priority": "100" if name in first else "999",
                "command": command,
                "autostart": "true",
                "autorestart": "true" if s.autorestart else "false",
                "startsecs": "0",
                "startretries": "100",
                "stopsignal": "TERM",
                "stopwaitsecs": "10",
                "redirect_stderr": "true",
                "stdout_logfile": os.path.join(s.log_dir, f"{name}.log"),
                "stdout_logfile_maxbytes": "50MB",
                "stdout_logfile_backups": "1",
            }
        _write(s.supervisor_conf_of(host), _ini(sections))
