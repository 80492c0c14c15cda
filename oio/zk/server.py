"""The ZooKeeper server (Debian's package) as the sandbox runs it: its
configuration file and its command line, for one node or an ensemble.

Debian installs the server as `/usr/share/java/zookeeper.jar` (with the
jars it needs named in its manifest); we start its main class ourselves
under supervisord rather than through Debian's service scripts, so that a
namespace owns its ZooKeeper like any other of its services.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

ZK_JAR = "/usr/share/java/zookeeper.jar"
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# ZooKeeper's tick bounds session timeouts to [2, 20] ticks: a 500 ms tick
# lets services ask for sessions of 1 to 10 s (ours: a few seconds, so
# that a dead master is replaced quickly).
TICK_MS = 500


def installed() -> bool:
    return os.path.exists(ZK_JAR) and shutil.which("java") is not None


@dataclass
class ZkNode:
    """One ZooKeeper server: `myid` within its ensemble (1-based), the
    address clients reach, and its quorum and election ports."""

    myid: int
    host: str
    client_port: int
    peer_port: int = 0
    election_port: int = 0
    data_dir: str = ""
    ensemble: list[ZkNode] = field(default_factory=list)
    fsync: bool = True

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.client_port}"

    def config(self) -> str:
        lines = [
            f"tickTime={TICK_MS}",
            "initLimit=20",
            "syncLimit=10",
            f"dataDir={self.data_dir}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={self.host}",
            "minSessionTimeout=1000",
            "maxSessionTimeout=60000",
            # Its HTTP admin server would take port 8080 on every address.
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,stat,srvr,mntr,conf",
            "maxClientCnxns=0",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
            # Election and node changes are the only load: no need for the
            # 64 MiB preallocated log files.
            "preAllocSize=4096",
            f"forceSync={'yes' if self.fsync else 'no'}",
        ]
        if len(self.ensemble) > 1:
            lines.append("quorumListenOnAllIPs=false")
            for node in self.ensemble:
                lines.append(f"server.{node.myid}={node.host}:{node.peer_port}"
                             f":{node.election_port}")
        return "\n".join(lines) + "\n"

    def write(self, conf_path: str) -> None:
        """Write the configuration file and the data directory (with the
        `myid` file an ensemble member needs)."""
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(os.path.dirname(conf_path), exist_ok=True)
        with open(conf_path + ".tmp", "w") as out:
            out.write(self.config())
        os.replace(conf_path + ".tmp", conf_path)
        with open(os.path.join(self.data_dir, "myid"), "w") as out:
            out.write(f"{self.myid}\n")


def command(conf_path: str, heap_mb: int = 512) -> list[str]:
    """The command line of a server reading `conf_path`. The serial
    collector and a heap that grows only as needed: the machine runs
    everything else too. The cap leaves room for the bootstrapped tree
    (70,000 directories) plus an election node per replica of each base:
    128 MiB was seen thrashing in full collections."""
    java = shutil.which("java") or "java"
    return [java, "-Xms16m", f"-Xmx{heap_mb}m", "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            "-Dzookeeper.admin.enableServer=false",
            "-cp", ZK_JAR, ZK_MAIN, conf_path]
