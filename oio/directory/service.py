"""What meta0 and meta1 servers share: configuration, error replies, main."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException
from oio.common.http_server import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
    run_service,
)
from oio.sqlx.config import ReplicationConfig

from .errors import DirectoryError, bad_request

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class DirectoryConfig:
    kind: str
    namespace: str
    datadir: str
    bind_addr: str = "127.0.0.1"
    bind_port: int = 6001
    meta1_digits: int = 4
    log_level: str = "INFO"
    # Conscience addresses (comma-separated). Not used yet: the
    # conscience-agent registers these services; kept for the election work.
    conscience: str = ""
    # beanstalkd endpoints (meta1: `account.services` events), ';'-separated.
    event_agent: tuple[str, ...] = ()
    # meta1: where the meta0 map comes from (else the conscience's meta0).
    meta0: tuple[str, ...] = ()
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)

    @property
    def service_id(self) -> str:
        return f"{self.bind_addr}:{self.bind_port}"

    @classmethod
    def from_file(cls, path: str, kind: str) -> DirectoryConfig:
        conf = Config(read_conf(path, kind))
        for key in ("namespace", "datadir", "bind_port"):
            if not conf.get_str(key):
                raise ConfigurationException(f"[{kind}] needs '{key}'")
        digits = conf.get_int("meta1_digits", 4)
        if not 0 <= digits <= 4:
            raise ConfigurationException(
                f"[{kind}] meta1_digits must be 0 to 4, not {digits}")
        return cls(kind=kind, namespace=conf.get_str("namespace"),
                   datadir=conf.get_str("datadir"),
                   bind_addr=conf.get_str("bind_addr", "127.0.0.1"),
                   bind_port=conf.get_int("bind_port"),
                   meta1_digits=digits,
                   log_level=conf.get_str("log_level", "INFO"),
                   conscience=conf.get_str("conscience", ""),
                   event_agent=tuple(
                       u.strip() for u in
                       (conf.get_str("event_agent") or "").split(";")
                       if u.strip()),
                   meta0=tuple(a.strip() for a in
                               (conf.get_str("meta0") or "").split(",")
                               if a.strip()),
                   replication=ReplicationConfig.from_conf(
                       conf, conf.get_str("namespace"), kind))


def json_body(raw: bytes) -> Any:
    """A request body parsed as JSON: None when empty, 400 when it is not
    JSON (or nests too deep to parse)."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"Invalid JSON body: {exc}") from None


def guarded(handler: Handler) -> Handler:
    """Answer DirectoryError as the OpenIO JSON error."""
    async def wrapper(req: Request) -> Response:
        try:
            return await handler(req)
        except DirectoryError as exc:
            raise HttpError(exc.http_status, exc.message,
                            status=exc.status) from None
    return wrapper


def add_status_routes(router: Router, kind: str, namespace: str) -> None:
    async def status(req: Request) -> Response:
        return json_response({"service": kind, "ns": namespace})

    async def info(req: Request) -> Response:
        return Response(200, f"{kind}\n{namespace}\n",
                        headers={"Content-Type": "text/plain"})

    router.add("GET", "/status", status)
    router.add("GET", "/info", info)


@dataclass
class Service:
    """What a directory service runs: its routes, and what to start and
    stop around them (replication, the meta0 map)."""

    router: Router
    on_startup: Callable[[], Awaitable[None]] | None = None
    on_cleanup: Callable[[], Awaitable[None]] | None = None


def serve(kind: str, build: Callable[[DirectoryConfig], Service],
          argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"oio-{kind}",
                                     description=f"OpenIO directory ({kind})")
    parser.add_argument("config", help=f"INI file with a [{kind}] section")
    args = parser.parse_args(argv)
    try:
        config = DirectoryConfig.from_file(args.config, kind)
    except ConfigurationException as exc:
        print(f"oio-{kind}: {exc}", file=sys.stderr)
        return 2
    try:
        service = build(config)
    except (ConfigurationException, ValueError, OSError) as exc:
        print(f"oio-{kind}: {exc}", file=sys.stderr)
        return 2
    run_service(service.router, config.bind_addr, config.bind_port,
                name=f"oio-{kind}", log_level=config.log_level,
                on_startup=service.on_startup, on_cleanup=service.on_cleanup)
    return 0
