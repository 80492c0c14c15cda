"""`oio-account <conf>`: the account service (section [account-server])."""

from __future__ import annotations

import argparse
import sys

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import build_app
from .backend import AccountBackend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oio-account",
                                     description="OpenIO account service")
    parser.add_argument("config", help="INI file with an [account-server] section")
    args = parser.parse_args(argv)
    try:
        conf = Config(read_conf(args.config, "account-server"))
        if not conf.get_str("datadir"):
            raise ConfigurationException("[account-server] needs 'datadir'")
    except ConfigurationException as exc:
        print(f"oio-account: {exc}", file=sys.stderr)
        return 2
    backend = AccountBackend(conf.get_str("datadir"),
                             autocreate=conf.get_bool("autocreate", True))
    run_service(build_app(backend), conf.get_str("bind_addr", "127.0.0.1"),
                conf.get_int("bind_port", 6009), name="oio-account",
                log_level=conf.get_str("log_level", "INFO"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
