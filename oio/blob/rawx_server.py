"""`oio-rawx`: start a rawx chunk server from its configuration file.

    oio-rawx [-f] CONF [-s SYSLOG_ID] [-v] [-D IGNORED] [-servicing]
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys

from oio.blob.chunk_store import ChunkStore, VolumeLockError
from oio.blob.rawx_app import RawxApp
from oio.blob.rawx_config import RawxConfig, load_rawx_conf
from oio.common.configuration import load_namespace_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import run_service

logger = logging.getLogger("oio.rawx")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="oio-rawx",
                                     description="OpenIO rawx chunk server")
    parser.add_argument("conf", nargs="?", help="configuration file")
    parser.add_argument("-f", dest="conf_opt", metavar="CONF",
                        help="configuration file")
    parser.add_argument("-s", dest="syslog_id", help="syslog identity")
    parser.add_argument("-v", dest="verbose", action="count", default=0,
                        help="more logs")
    parser.add_argument("-D", dest="ignored", help="ignored (compatibility)")
    parser.add_argument("-servicing", "--servicing", dest="servicing",
                        action="store_true",
                        help="do not lock the volume (maintenance)")
    args = parser.parse_args(argv)
    args.conf = args.conf_opt or args.conf
    if not args.conf:
        parser.error("a configuration file is required (-f CONF or CONF)")
    return args


def event_notifier(conf: RawxConfig):
    """Chunk events go to the namespace's `event-agent` beanstalkd through
    a spool beside the volume; none when events are off or no endpoint is
    configured (rawx.md §1.2)."""
    if not conf.events:
        return None
    endpoints = load_namespace_conf(conf.ns, failsafe=True).get("event-agent")
    if not endpoints:
        return None
    from oio.event.spool import EventSpool
    return EventSpool(conf.basedir.rstrip("/") + ".events.spool",
                      [u.strip() for u in endpoints.split(";") if u.strip()],
                      write_behind=True)


def prepare_volume(conf: RawxConfig, servicing: bool = False) -> None:
    """Check the volume root and claim it (unless servicing); raise
    ConfigurationException with what to fix otherwise."""
    if not os.path.isdir(conf.basedir):
        raise ConfigurationException(
            f"basedir {conf.basedir} is not a directory: create it first")
    if conf.compression not in ("", "off"):
        raise ConfigurationException(
            f"compression {conf.compression!r} is not supported: use 'off'")
    if servicing:
        return
    store = ChunkStore(conf.basedir, conf.hash_width, conf.hash_depth)
    try:
        store.lock_volume(conf.ns, conf.volume_id)
    except VolumeLockError as exc:
        raise ConfigurationException(str(exc)) from None
    except OSError as exc:
        raise ConfigurationException(
            f"cannot set the volume lock xattrs on {conf.basedir}: {exc}"
            " (does the filesystem support user xattrs?)") from None
    try:
        store.make_hash_dirs()
    except OSError as exc:
        raise ConfigurationException(
            f"cannot create the hash directories of {conf.basedir}: {exc}") from None


def server_kwargs(conf: RawxConfig) -> dict:
    """HttpServer settings from the rawx configuration."""
    return {
        "keep_alive": conf.keepalive,
        "header_timeout": conf.timeout_read_header,
        "body_timeout": conf.timeout_read_request,
        "write_timeout": conf.timeout_write_reply,
        "keepalive_timeout": conf.timeout_idle,
        "max_header_size": conf.headers_buffer_size,
        "access_log": conf.log_access,
        "echo_req_id": False,  # the app echoes only a request ID it was given
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        conf = load_rawx_conf(args.conf)
        prepare_volume(conf, args.servicing)
    except ConfigurationException as exc:
        print(f"oio-rawx: {exc}", file=sys.stderr)
        return 2
    try:
        notifier = event_notifier(conf)
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"oio-rawx: cannot queue events: {exc}", file=sys.stderr)
        return 2
    app = RawxApp(conf, notifier=notifier)
    name = args.syslog_id or conf.syslog_id or conf.service_id or "rawx"
    run_service(app, conf.host, conf.port, name=name,
                log_level="DEBUG" if args.verbose else "INFO",
                on_startup=app.start, on_cleanup=app.stop,
                **server_kwargs(conf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
