"""`oio-proxy CONFIG`: serve the `/v3.0` gateway (section [proxy])."""

from __future__ import annotations

import argparse
import sys

from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import Proxy
from .config import ProxyConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oio-proxy", description="OpenIO SDS proxy (/v3.0 gateway)")
    parser.add_argument("config", help="INI file with a [proxy] section")
    args = parser.parse_args(argv)
    try:
        config = ProxyConfig.from_file(args.config)
    except ConfigurationException as exc:
        print(f"oio-proxy: {exc}", file=sys.stderr)
        return 2
    proxy = Proxy(config)
    run_service(proxy, config.bind_addr, config.bind_port, name="oio-proxy",
                log_level=config.log_level, on_startup=proxy.start,
                on_cleanup=proxy.stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
