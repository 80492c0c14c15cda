"""`oio-conscience <conf>`: the service registry and load balancer."""

from __future__ import annotations

import argparse
import asyncio
import configparser
import logging
import sys

from oio.common.autocontainer import DEFAULT_FLAT_BITS
from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import build_app
from .policies import NamespaceInfo, ServiceType, load_policies, load_services
from .registry import Registry
from .score_expr import ScoreExpr, ScoreExprError

logger = logging.getLogger(__name__)

# Keys of [conscience] that configure the server, not the namespace options.
SERVER_KEYS = {"namespace", "bind_addr", "bind_port", "log_level", "policies",
               "services", "chunk_size", "expire_interval"}


def load_namespace(conf: Config) -> tuple[NamespaceInfo, dict[str, ServiceType]]:
    name = conf.get_str("namespace")
    if not name:
        raise ConfigurationException("[conscience] needs 'namespace'")
    ns = NamespaceInfo(name=name,
                       chunk_size=conf.get_size("chunk_size", 10 * 1024 * 1024))
    for key, value in conf.items():
        if key not in SERVER_KEYS:
            ns.options[key.removeprefix("ns.")] = str(value)
    ns.options.setdefault("storage_policy", "NONE")
    # Autocontainers: 7.2 always publishes the flat namespace bit length
    # (`ns.flat_bits`, default 17) as `flat_bitlength`.
    ns.options.setdefault("flat_bitlength",
                          ns.options.pop("flat_bits", str(DEFAULT_FLAT_BITS)))
    try:
        if conf.get_str("policies"):
            load_policies(ns, conf.get_str("policies"))
        types = load_services(ns, conf.get_str("services") or "")
        for stype in types.values():   # a bad expression fails here, not later
            try:
                ScoreExpr(stype.score_expr)
            except ScoreExprError as exc:
                raise ValueError(f"[type:{stype.name}] score_expr: {exc}") \
                    from None
    except (OSError, ValueError, configparser.Error) as exc:
        raise ConfigurationException(f"conscience configuration: {exc}") from exc
    return ns, types


class ExpiryTask:
    """Zeroes the scores of silent services, every second."""

    def __init__(self, registry: Registry, interval: float = 1.0):
        self.registry = registry
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for srv in self.registry.expire():
                logger.warning("%s %s silent: score 0", srv.type, srv.addr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oio-conscience", description="OpenIO service registry")
    parser.add_argument("config", help="INI file with a [conscience] section")
    args = parser.parse_args(argv)
    try:
        conf = Config(read_conf(args.config, "conscience"))
        ns, types = load_namespace(conf)
    except ConfigurationException as exc:
        print(f"oio-conscience: {exc}", file=sys.stderr)
        return 2
    registry = Registry(ns, types)
    expiry = ExpiryTask(registry, conf.get_duration("expire_interval", 1.0))
    run_service(build_app(registry), conf.get_str("bind_addr", "127.0.0.1"),
                conf.get_int("bind_port", 6000), name="oio-conscience",
                log_level=conf.get_str("log_level", "INFO"),
                on_startup=expiry.start, on_cleanup=expiry.stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
