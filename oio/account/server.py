"""`oio-account <conf>`: the account service (section [account-server]).

`backend = sqlite` (default: `datadir` on this host) or `backend = redis`
(`redis_host` or `sentinel_hosts` + `sentinel_name`: one store shared by
the account services of every host); docs/account.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import build_app
from .backend import AccountBackend, AccountError

if TYPE_CHECKING:
    from .backend_redis import RedisAccountBackend

BACKENDS = ("sqlite", "redis")


def make_backend(conf: Config) -> AccountBackend | RedisAccountBackend:
    """The configured backend, checked: ConfigurationException on a bad
    setting, AccountError (503) when Redis does not answer."""
    kind = (conf.get_str("backend") or "sqlite").strip().lower()
    if kind not in BACKENDS:
        raise ConfigurationException(
            f"[account-server] backend must be sqlite or redis, not {kind!r}")
    autocreate = conf.get_bool("autocreate", True)
    if kind == "sqlite":
        if not conf.get_str("datadir"):
            raise ConfigurationException("[account-server] needs 'datadir'")
        return AccountBackend(conf.get_str("datadir"), autocreate=autocreate)
    from .backend_redis import RedisAccountBackend

    if not (conf.get_str("redis_host") or conf.get_str("sentinel_hosts")
            or conf.get_str("redis_sentinel_hosts")):
        raise ConfigurationException(
            "[account-server] backend = redis needs 'redis_host' (host:port) "
            "or 'sentinel_hosts' and 'sentinel_name'")
    try:
        backend = RedisAccountBackend.from_conf(conf, autocreate=autocreate)
    except ValueError as exc:
        raise ConfigurationException(f"[account-server] {exc}") from None
    backend.ping()
    return backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oio-account",
                                     description="OpenIO account service")
    parser.add_argument("config", help="INI file with an [account-server] section")
    args = parser.parse_args(argv)
    try:
        conf = Config(read_conf(args.config, "account-server"))
        backend = make_backend(conf)
    except ConfigurationException as exc:
        print(f"oio-account: {exc}", file=sys.stderr)
        return 2
    except AccountError as exc:   # Redis unreachable at start
        detail = getattr(exc, "detail", exc.message)
        print(f"oio-account: {detail} (check that Redis runs and the "
              "redis_*/sentinel_* settings)", file=sys.stderr)
        return 2
    run_service(build_app(backend), conf.get_str("bind_addr", "127.0.0.1"),
                conf.get_int("bind_port", 6009), name="oio-account",
                log_level=conf.get_str("log_level", "INFO"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
