"""`oio-rdir <conf>`: the rdir service (section [rdir-server], rdir.md §1)."""

from __future__ import annotations

import argparse
import errno
import os
import sys

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

from .app import build_app
from .backend import RdirBackend

SECTION = "rdir-server"
XATTR_PREFIX = "user."


class VolumeLockError(ConfigurationException):
    """db_path already belongs to another service or namespace."""


def lock_volume(path: str, namespace: str, server_id: str) -> bool:
    """Claim `path` with the server.ns/id/type xattrs (create only; an
    existing value must match). False when the filesystem has no xattrs."""
    wanted = {"server.ns": namespace, "server.id": server_id,
              "server.type": "rdir"}
    for key, value in wanted.items():
        name, raw = XATTR_PREFIX + key, value.encode("utf-8")
        try:
            os.setxattr(path, name, raw, os.XATTR_CREATE)
        except FileExistsError:
            current = os.getxattr(path, name)
            if current != raw:
                raise VolumeLockError(
                    f"{path}: {name} is {current.decode(errors='replace')!r}, "
                    f"not {value!r}: the directory belongs to another "
                    "service") from None
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return False
            raise
    return True


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
