"""`oio-xcute CONFIG`: the xcute HTTP service (`[xcute-server]`), its
orchestrator (`[xcute-orchestrator]`), or both in one process. `[DEFAULT]`
holds `namespace` and `redis_host` (or `redis_sentinel_hosts` and
`redis_sentinel_name`), shared by both (spec healing.md §4.1)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from oio.common.configuration import read_conf
from oio.common.exceptions import ConfigurationException, OioException
from oio.common.http_server import run_service, setup_logging

SERVER = "xcute-server"
ORCHESTRATOR = "xcute-orchestrator"


def load(path: str) -> tuple[dict | None, dict | None]:
    """The settings of the server and of the orchestrator (None when the
    file has no such section)."""
    sections = read_conf(path)
    server = sections.get(SERVER)
    orchestrator = sections.get(ORCHESTRATOR)
    if server is None and orchestrator is None:
        raise ConfigurationException(
            f"{path}: no [{SERVER}] nor [{ORCHESTRATOR}] section")
    for conf in (server, orchestrator):
        if conf is not None and not conf.get("namespace"):
            raise ConfigurationException(f"{path}: no 'namespace'")
    return server, orchestrator


def _orchestrator(conf: dict, backend):
    from .orchestrator import XcuteOrchestrator

    try:
        return XcuteOrchestrator(conf, backend)
    except ValueError as err:
        raise ConfigurationException(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oio-xcute",
                                     description="OpenIO xcute job service")
    parser.add_argument("config", help=f"INI file with [{SERVER}] and/or "
                                       f"[{ORCHESTRATOR}] sections")
    args = parser.parse_args(argv)
    from .common.backend import XcuteBackend

    try:
        server, orch_conf = load(args.config)
        backend = XcuteBackend.from_conf(server or orch_conf)
        backend.status()    # Redis answers, or we say so now
        orchestrator = _orchestrator(orch_conf, backend) if orch_conf \
            else None
        if server is not None:
            port = int(server.get("bind_port") or 6400)
    except (ConfigurationException, ValueError) as err:
        print(f"oio-xcute: {err}", file=sys.stderr)
        return 2
    except OioException as err:
        print(f"oio-xcute: {err} (check that Redis runs and the redis_* "
              "settings)", file=sys.stderr)
        return 2
    if server is None:
        setup_logging("oio-xcute", orch_conf.get("log_level", "INFO"))
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        orchestrator.start()
        done.wait()
        orchestrator.stop()
        return 0

    from .app import build_app

    async def startup():
        if orchestrator is not None:
            orchestrator.start()

    async def cleanup():
        if orchestrator is not None:
            orchestrator.stop()

    run_service(build_app(backend), server.get("bind_addr", "127.0.0.1"),
                port, name="oio-xcute",
                log_level=server.get("log_level", "INFO"),
                on_startup=startup, on_cleanup=cleanup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
