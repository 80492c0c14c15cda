"""Replication settings of a meta service, and the Replicator they make.

- `zookeeper`: `host:port,...` of the ensemble; default: the namespace's
  `zookeeper.<type>`, else `zookeeper`; empty: bases are never replicated.
- `zk_session_timeout` (3s): a dead master is replaced about this long
  after it died.
- `election_wait` (8s): how long a request waits for a master.
- `replication_timeout` (5s): one call to another replica.
"""

from __future__ import annotations

from dataclasses import dataclass

from oio.common.configuration import Config
from oio.common.exceptions import ConfigurationException
from oio.zk.client import zk_hosts


@dataclass
class ReplicationConfig:
    zookeeper: str = ""
    session_timeout: float = 3.0
    election_wait: float = 8.0
    rpc_timeout: float = 5.0

    @classmethod
    def from_conf(cls, conf: Config, namespace: str, kind: str
                  ) -> ReplicationConfig:
        hosts = conf.get_str("zookeeper")
        ensembles = ([h.strip() for h in hosts.split(";") if h.strip()]
                     if hosts is not None else zk_hosts(namespace, kind))
        # Several ensembles (';') shard upstream's elections: one is enough
        # for ours, the first.
        hosts = ensembles[0] if ensembles else ""
        timeout = conf.get_duration("zk_session_timeout", 3.0)
        if not 1.0 <= timeout <= 60.0:
            raise ConfigurationException(
                "zk_session_timeout must be 1 to 60 seconds")
        return cls(zookeeper=hosts, session_timeout=timeout,
                   election_wait=conf.get_duration("election_wait", 8.0),
                   rpc_timeout=conf.get_duration("replication_timeout", 5.0))

    def replicator(self, kind: str, namespace: str, self_id: str, store,
                   datadir: str):
        from .replicator import Replicator

        return Replicator(kind, namespace, self_id, store, datadir,
                          zk_hosts=self.zookeeper,
                          session_timeout=self.session_timeout,
                          wait_timeout=self.election_wait,
                          rpc_timeout=self.rpc_timeout)
