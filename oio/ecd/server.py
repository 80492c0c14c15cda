"""`oio-ecd CONFIG`: serve the ecd (`[ecd]` section: `bind_addr`,
`bind_port`, `log_level`, and `connection_timeout`, `read_timeout`,
`write_timeout` in seconds for the rawx requests)."""

from __future__ import annotations

import argparse
import sys

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import ECD, build_app

SECTION = "ecd"


def load_config(path: str) -> Config:
    conf = Config(read_conf(path, SECTION))
    port = conf.get_int("bind_port", 0) or 0
    if not 0 < port < 65536:
        raise ConfigurationException(f"[{SECTION}] needs a valid 'bind_port'")
    for key in ("connection_timeout", "read_timeout", "write_timeout"):
        if conf.get_str(key) and not conf.get_float(key, 0) > 0:
            raise ConfigurationException(f"[{SECTION}] {key}: a positive "
                                         "number of seconds")
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oio-ecd", description="OpenIO erasure coding daemon")
    parser.add_argument("config", help=f"INI file with an [{SECTION}] section")
    args = parser.parse_args(argv)
    try:
        conf = load_config(args.config)
    except (ConfigurationException, ValueError) as err:
        print(f"oio-ecd: {err}", file=sys.stderr)
        return 2
    ecd = ECD(conf.to_dict())
    run_service(build_app(ecd), conf.get_str("bind_addr", "127.0.0.1"),
                conf.get_int("bind_port"), name="oio-ecd",
                log_level=conf.get_str("log_level", "INFO"), echo_req_id=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
