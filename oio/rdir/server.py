"""`oio-rdir <conf>`: the rdir service (section [rdir-server], rdir.md §1)."""

from __future__ import annotations

import argparse
import os
import sys

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service
from oio.common.volume import VolumeLockError  # noqa: F401 - re-exported
from oio.common.volume import lock_volume as _lock_volume

from .app import build_app
from .backend import RdirBackend

SECTION = "rdir-server"


def lock_volume(path: str, namespace: str, server_id: str) -> bool:
    """Claim `path` for this rdir (see oio.common.volume.lock_volume)."""
    return _lock_volume(path, namespace, server_id, "rdir")


def load_config(path: str) -> Config:
    """The [rdir-server] settings, checked (ConfigurationException)."""
    conf = Config(read_conf(path, SECTION))
    for key in ("namespace", "db_path", "bind_addr", "bind_port"):
        if not conf.get_str(key):
            raise ConfigurationException(f"[{SECTION}] needs '{key}'")
    port = conf.get_int("bind_port")
    if not 0 < port < 65536:
        raise ConfigurationException(f"Invalid bind_port {port}")
    db_path = conf.get_str("db_path")
    if not os.path.isdir(db_path) or not os.access(db_path, os.R_OK | os.W_OK
                                                   | os.X_OK):
        raise ConfigurationException(
            f"db_path {db_path} must be an existing directory we can "
            "read, write and enter")
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oio-rdir",
                                     description="OpenIO rdir service")
    parser.add_argument("config", help=f"INI file with a [{SECTION}] section")
    args = parser.parse_args(argv)
    try:
        conf = load_config(args.config)
        addr = f"{conf.get_str('bind_addr')}:{conf.get_int('bind_port')}"
        if not lock_volume(conf.get_str("db_path"), conf.get_str("namespace"),
                           addr):
            print(f"oio-rdir: no xattr support on {conf.get_str('db_path')}, "
                  "the directory is not locked", file=sys.stderr)
    except (ConfigurationException, OSError) as exc:
        print(f"oio-rdir: {exc}", file=sys.stderr)
        return 2
    backend = RdirBackend(conf.get_str("db_path"),
                          service_id=conf.get_str("service_id") or None)
    public = {k: conf.get_str(k) for k in
              ("namespace", "db_path", "bind_addr", "bind_port", "service_id")
              if conf.get_str(k)}

    async def cleanup():
        backend.close()

    run_service(build_app(backend, public), conf.get_str("bind_addr"),
                conf.get_int("bind_port"), name="oio-rdir",
                log_level=conf.get_str("log_level", "INFO"),
                on_cleanup=cleanup, echo_req_id=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
