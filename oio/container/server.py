"""`oio-meta2 CONFIG`: serve the container bases of one data directory.

Section `[meta2]` of the INI file:

| key | default | meaning |
|---|---|---|
| `namespace` | (required) | namespace name |
| `bind_addr` | `127.0.0.1` | listening address |
| `bind_port` | (required) | listening port |
| `datadir` | (required) | where bases live (`<cid[:3]>/<cid>.1.meta2`) |
| `conscience` | none | `IP:PORT` list of consciences (policies, chunk size) |
| `refresh_interval` | `5` | seconds between two `conscience/info` reads |
| `max_open_bases` | `256` | SQLite connections kept open (LRU) |
| `log_level` | `INFO` | |

Replication (`zookeeper`, `zk_session_timeout`, ...): oio/sqlx/config.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
from dataclasses import dataclass, field

from oio.common.aio_client import AsyncHttpClient
from oio.common.configuration import Config, load_namespace_conf, read_conf
from oio.common.exceptions import ConfigurationException, OioNetworkException
from oio.common.http_server import run_service
from oio.common.volume import lock_volume
from oio.sqlx.config import ReplicationConfig
from oio.sqlx.replicator import Replicator

from .app import Meta2App
from .meta2 import Meta2
from .replication import Meta2Store

logger = logging.getLogger(__name__)


@dataclass
class Meta2Config:
    namespace: str
    bind_port: int
    datadir: str
    bind_addr: str = "127.0.0.1"
    conscience: list[str] = field(default_factory=list)
    refresh_interval: float = 5.0
    max_open_bases: int = 256
    log_level: str = "INFO"
    # beanstalkd endpoints of the event agents (events.md §1.1)
    event_agent: list[str] = field(default_factory=list)
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)

    @classmethod
    def from_dict(cls, values: dict) -> Meta2Config:
        conf = Config(values)
        missing = [k for k in ("namespace", "bind_port", "datadir")
                   if not conf.get_str(k)]
        if missing:
            raise ConfigurationException(
                f"[meta2] needs {', '.join(missing)}")
        return cls(
            namespace=conf.get_str("namespace"),
            bind_port=conf.get_int("bind_port"),
            datadir=conf.get_str("datadir"),
            bind_addr=conf.get_str("bind_addr", "127.0.0.1"),
            conscience=[a.strip() for a in
                        (conf.get_str("conscience") or "").split(",")
                        if a.strip()],
            refresh_interval=conf.get_duration("refresh_interval", 5.0),
            max_open_bases=conf.get_int("max_open_bases", 256),
            log_level=conf.get_str("log_level", "INFO"),
            event_agent=[u.strip() for u in
                         (conf.get_str("event_agent") or "").split(";")
                         if u.strip()],
            replication=ReplicationConfig.from_conf(
                conf, conf.get_str("namespace"), "meta2"))

    @classmethod
    def from_file(cls, path: str) -> Meta2Config:
        return cls.from_dict(read_conf(path, "meta2"))


def parse_ns_info(info: dict):
    """A NamespaceInfo from the JSON of `conscience/info`."""
    from oio.conscience.policies import NamespaceInfo
    return NamespaceInfo.from_dict(info)


class NamespaceRefresher:
    """Keeps `meta2.ns_info` up to date from the conscience."""

    def __init__(self, meta2: Meta2, config: Meta2Config,
                 replicator: Replicator | None = None):
        self.meta2 = meta2
        self.config = config
        self.replicator = replicator
        self.client = AsyncHttpClient(connect_timeout=1.0, read_timeout=5.0,
                                      pool_size=2)
        self._task: asyncio.Task | None = None
        self._failing = False

    async def refresh(self) -> bool:
        path = f"/v3.0/{self.config.namespace}/conscience/info"
        error = "no conscience configured"
        for addr in self.config.conscience:
            try:
                resp = await self.client.request("GET", addr, path)
                if resp.status != 200:
                    error = f"{addr}: HTTP {resp.status}"
                    continue
                self.meta2.ns_info = parse_ns_info(resp.json())
                if self._failing:
                    logger.info("namespace info loaded from %s", addr)
                self._failing = False
                return True
            except (OioNetworkException, ValueError, KeyError,
                    TypeError, ImportError) as exc:
                error = f"{addr}: {exc}"
        if not self._failing:
            logger.warning("cannot load the namespace info: %s", error)
        self._failing = True
        return False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(
                self.config.refresh_interval if not self._failing else 1.0)
            await self.refresh()

    async def start(self) -> None:
        if self.replicator is not None:
            await self.replicator.start()
        if not self.config.conscience:
            logger.warning("no conscience configured: storage policies "
                           "unknown, object creations will fail")
            return
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()
        if self.replicator is not None:
            await self.replicator.stop()
        stop_events = getattr(self.meta2.events, "stop", None)
        if stop_events is not None:
            stop_events()
        self.meta2.close()


def build(config: Meta2Config) -> tuple[Meta2App, NamespaceRefresher]:
    events = None
    if config.event_agent:
        # Events go to beanstalkd through a durable spool in the datadir;
        # the event agent's account_update filter tells the account.
        from oio.event.spool import EventSpool

        from .events import CoalescingNotifier
        events = CoalescingNotifier(EventSpool(
            os.path.join(config.datadir, "events.spool"), config.event_agent))
    elif config.conscience:
        # Without beanstalkd, meta2 tells the account service itself
        # (found through the conscience's load balancer).
        from oio.account.client import AccountClient

        from .account_updater import AccountUpdater
        events = AccountUpdater(AccountClient(
            {"namespace": config.namespace},
            endpoint=f"http://{config.conscience[0]}",
            connection_timeout=1.0, read_timeout=10.0))
    local_addr = f"{config.bind_addr}:{config.bind_port}"
    meta2 = Meta2(config.datadir, config.namespace, events=events,
                  max_open=config.max_open_bases, local_addr=local_addr,
                  local_options=load_namespace_conf(config.namespace,
                                                    failsafe=True))
    replicator = config.replication.replicator(
        "meta2", config.namespace, local_addr, Meta2Store(meta2.bases),
        config.datadir)
    meta2.bases.replicator = replicator
    return (Meta2App(meta2, replicator=replicator),
            NamespaceRefresher(meta2, config, replicator))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oio-meta2", description="OpenIO SDS container service (meta2)")
    parser.add_argument("config", help="INI file with a [meta2] section")
    args = parser.parse_args(argv)
    try:
        config = Meta2Config.from_file(args.config)
    except ConfigurationException as exc:
        print(f"oio-meta2: {exc}", file=sys.stderr)
        return 2
    try:
        # Tools crawling the datadir (oio-meta2-indexer) read back whose
        # bases these are.
        os.makedirs(config.datadir, exist_ok=True)
        lock_volume(config.datadir, config.namespace,
                    f"{config.bind_addr}:{config.bind_port}", "meta2")
    except ConfigurationException as exc:
        print(f"oio-meta2: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"oio-meta2: cannot lock {config.datadir}: {exc}",
              file=sys.stderr)
        return 2
    try:
        app, refresher = build(config)
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"oio-meta2: cannot start: {exc}", file=sys.stderr)
        return 2
    run_service(app, config.bind_addr, config.bind_port, name="oio-meta2",
                log_level=config.log_level, on_startup=refresher.start,
                on_cleanup=refresher.stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
