"""Administration of services: information, live configuration, caches,
and the health checks of the directory, meta0, meta1 and rdir.

OpenIO 7.2 reaches meta services through the proxy's `forward/*` routes
and their ASN.1 protocol. Our meta services speak HTTP: what they expose
(`/status`, `/info`, their live configuration at `/config`) is read from
them directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from urllib.parse import urlparse

import urllib3

from oio.common import exceptions as exc
from oio.common.exceptions import CommandError
from oio.common.http_urllib3 import timeout

LOGGER = logging.getLogger(__name__)
CID_PREFIX_COUNT = 65536
# (type, host, port, score) of a service, live or expected.
Service = tuple[str, str, int, int]
Row = tuple[str, str | None]


class AdminClient:
    """`api` is an ObjectStorageApi (its pool and proxy), `conscience` a
    ConscienceClient."""

    def __init__(self, api, conscience, connection_timeout: float = 5.0,
                 read_timeout: float = 30.0) -> None:
        self.api = api
        self.conscience = conscience
        self.namespace = api.namespace
        self.timeout = timeout(connection_timeout, read_timeout)

    # Plumbing ----------------------------------------------------------------
    @property
    def local_proxy(self) -> str:
        return self.api.container.proxy_netloc

    def resolve(self, kind: str, service_id: str) -> str:
        """The address of a service given by ID or address."""
        if urlparse(f"http://{service_id}").port is not None:
            return service_id
        try:
            return self.conscience.resolve_service_id(kind, service_id)
        except exc.OioException as err:
            raise CommandError(
                f"Unknown {kind} service {service_id!r}: {err}") from None

    def _http(self, method: str, addr: str, path: str,
              body: dict | None = None) -> tuple[int, bytes]:
        url = f"http://{addr}{path}"
        try:
            resp = self.api.pool_manager.request(
                method, url, timeout=self.timeout, retries=False,
                body=json.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json"}
                if body is not None else None)
        except urllib3.exceptions.HTTPError as err:
            raise exc.OioNetworkException(f"{url}: {err}") from None
        if resp.status >= 300:
            raise exc.from_response(resp, resp.data)
        return resp.status, resp.data

    def request_json(self, method: str, addr: str, path: str,
              body: dict | None = None):
        _, data = self._http(method, addr, path, body)
        return json.loads(data) if data else {}

    # Meta services -----------------------------------------------------------
    def service_get_info(self, kind: str, service_id: str) -> dict:
        """What the service says of itself (`/status`, `/info`)."""
        addr = self.resolve(kind, service_id)
        info = {"addr": addr}
        status = self.request_json("GET", addr, "/status")
        if isinstance(status, dict):
            info.update(status)
        try:
            _, text = self._http("GET", addr, "/info")
            info["info"] = text.decode("utf-8", "replace").split()
        except exc.NotFound:
            pass
        return info

    def service_get_live_config(self, kind: str, service_id: str) -> dict:
        return self.request_json("GET", self.resolve(kind, service_id),
                                 "/config")

    def service_set_live_config(self, kind: str, service_id: str,
                                params: dict) -> dict:
        if not params:
            raise CommandError("Nothing to set: give -p <key=value>")
        return self.request_json("POST", self.resolve(kind, service_id),
                                 "/config",
                                 {k: str(v) for k, v in params.items()})

    def service_flush_cache(self, kind: str, service_id: str) -> None:
        """Our meta1 and meta2 resolve nothing (the proxy does), so they
        keep no resolver cache: check the service answers, nothing else to
        flush."""
        self._http("GET", self.resolve(kind, service_id), "/status")

    # Proxies -----------------------------------------------------------------
    def proxy_get_live_config(self, proxy: str | None = None) -> dict:
        return self.request_json("GET", proxy or self.local_proxy, "/v3.0/config")

    def proxy_set_live_config(self, proxy: str | None, params: dict) -> dict:
        if not params:
            raise CommandError("Nothing to set: give -p <key=value>")
        return self.request_json("POST", proxy or self.local_proxy, "/v3.0/config",
                          {k: str(v) for k, v in params.items()})

    def proxy_flush_cache(self, proxy: str | None = None, high: bool = True,
                          low: bool = True) -> None:
        addr = proxy or self.local_proxy
        if high and low:
            self._http("POST", addr, "/v3.0/cache/flush/local")
            return
        if high:
            self._http("POST", addr, "/v3.0/cache/flush/high")
        if low:
            self._http("POST", addr, "/v3.0/cache/flush/low")

    # Catalog -----------------------------------------------------------------
    def live_services(self) -> list[Service]:
        out = []
        for kind in self.conscience.service_types():
            for srv in self.conscience.all_services(kind):
                host, _, port = srv["addr"].rpartition(":")
                out.append((str(kind), host, int(port),
                            int(srv.get("score") or 0)))
        return out

    def meta0_dump(self, addr: str | None = None) -> dict:
        """The prefix → meta1 mapping, from the proxy or one meta0."""
        if addr is None:
            return self.request_json("GET", self.local_proxy,
                              f"/v3.0/{self.namespace}/admin/meta0_list")
        return self.request_json("GET", addr, "/v1/meta0/list")


def load_catalog(path: str) -> list[Service]:
    """Expected services, one `type host port` a line (# comments)."""
    out = []
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                kind, host, port = line.split()
                out.append((kind, host, int(port), 0))
            except ValueError:
                raise CommandError(f"{path}:{number}: expected 'type host "
                                   f"port', got {line!r}") from None
    return out


def of_type(services: Iterable[Service], kind: str) -> list[Service]:
    return [s for s in services if s[0] == kind]


class ServiceChecker:
    """Health checks; each yields (status, error) rows, status being OK,
    Warn or Error, and sets `success` to False on any Warn or Error."""

    def __init__(self, admin: AdminClient, rdir_dispatcher=None,
                 catalog: list[Service] | None = None) -> None:
        self.admin = admin
        self.rdir_dispatcher = rdir_dispatcher
        self.live = admin.live_services()
        self.catalog = catalog if catalog else list(self.live)
        self.success = True

    def _bad(self, status: str, message: str) -> Row:
        self.success = False
        return status, message

    def _missing(self, kind: str) -> Iterator[Row]:
        live = {(h, p) for _, h, p, _ in of_type(self.live, kind)}
        for _, host, port, _ in of_type(self.catalog, kind):
            if (host, port) not in live:
                yield self._bad("Error", f"{kind} {host}:{port} expected "
                                         "but not registered")

    def check_meta0(self) -> Iterator[Row]:
        # 7.2 also compares the meta0 registered in ZooKeeper; ours are
        # not replicated (no ZooKeeper), so each is asked directly.
        yield from self._missing("meta0")
        for _, host, port, score in of_type(self.live, "meta0"):
            if score <= 0:
                yield self._bad("Warn", f"{host}:{port} is down")
        for _, host, port, _ in of_type(self.catalog, "meta0"):
            addr = f"{host}:{port}"
            try:
                self.admin.request_json("GET", addr, "/v1/meta0/get?prefix=0000")
            except exc.OioException as err:
                yield self._bad("Error", f"{addr} cannot serve prefix 0000: "
                                         f"{err}")
        if self.success:
            yield "OK", None

    def check_meta1(self) -> Iterator[Row]:
        yield from self._missing("meta1")
        for _, host, port, score in of_type(self.live, "meta1"):
            if score <= 0:
                yield self._bad("Error", f"meta1 {host}:{port} has score "
                                         f"{score}")
        if self.success:
            yield "OK", None

    def check_directory(self) -> Iterator[Row]:
        try:
            dump = self.admin.meta0_dump()
        except exc.OioException as err:
            yield self._bad("Error", f"The proxy serves no meta0 dump: {err}")
            return
        if len(dump) != CID_PREFIX_COUNT:
            yield self._bad("Error", f"Found {len(dump)} entries in meta0, "
                                     f"expected {CID_PREFIX_COUNT}")
        first = None
        for _, host, port, _ in of_type(self.catalog, "meta0"):
            addr = f"{host}:{port}"
            try:
                other = self.admin.meta0_dump(addr)
            except exc.OioException as err:
                yield self._bad("Error", f"meta0 {addr} is incomplete: {err}")
                continue
            if other != dump:
                yield self._bad("Error", f"The dump of meta0 {addr} differs "
                                         f"from {first or 'the proxy'}'s")
            first = first or addr
        used = {addr for addrs in dump.values() for addr in addrs}
        known = {f"{h}:{p}" for _, h, p, _ in of_type(self.catalog, "meta1")}
        if used != known:
            yield self._bad(
                "Error", f"Meta1 used but not visible: {sorted(used - known)}, "
                         f"meta1 visible but not used: {sorted(known - used)}")
        if self.success:
            yield "OK", None

    def check_rdir(self) -> Iterator[Row]:
        if self.rdir_dispatcher is None:
            raise CommandError("rdir checks need oio.rdir.dispatcher")
        for kind in ("rawx", "meta2"):
            try:
                services, all_rdir = self.rdir_dispatcher.get_assignments(kind)
            except exc.OioException as err:
                yield self._bad("Error", f"Cannot load the {kind} "
                                         f"assignments: {err}")
                continue
            for srv in services:
                if not srv.get("rdir"):
                    yield self._bad("Error", f"{kind} {srv['id']} has no rdir "
                                             "service assigned")
        yield from self._missing("rdir")
        for _, host, port, score in of_type(self.live, "rdir"):
            if score <= 0:
                yield self._bad("Error", f"rdir {host}:{port} is down")
        if self.success:
            yield "OK", None
