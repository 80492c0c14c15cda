"""`oio-conscience-agent <conf.yml>`: checks the local services and registers
them with their tags and stats through the proxy (conscience.md §7).

One thread per watched service, so that a slow service never delays the
registration of the others (checks and stats of one service run in turn,
each bounded by its timeout). The descriptions the watchers produce within
`GATHER` seconds go to the proxy in one POST (an array, which
`conscience/register` accepts): one request per interval instead of one
per service, for the agent, the proxy and the conscience alike.

`proxy` may list several proxies (`local:6000,other:6000`, the local one
first): a registration that cannot reach one goes to the next, and one that
failed is tried last for a few seconds.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import logging
import os
import signal
import sys
import threading
import time

import urllib3

from oio.common.entry_points import load_group
from oio.common.exceptions import ConfigurationException
from oio.common.failover import FailoverOrder, split_addresses
from oio.common.http_urllib3 import get_pool_manager

from .checker import build_check, checker_classes
from .stats import build_stat, stat_classes

logger = logging.getLogger("oio.conscience.agent")

# Seconds a proxy that failed is tried last.
PROXY_PENALTY = 5.0


def load_file(path: str) -> dict:
    """A YAML (or JSON) mapping; ValueError when it is not one."""
    with open(path, encoding="utf-8") as src:
        text = src.read()
    try:
        import yaml
    except ImportError:  # JSON is valid YAML: the sandbox writes JSON
        data = json.loads(text)
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


class Watcher:
    """Checks one service every interval and registers it."""

    def __init__(self, agent: Agent, name: str, conf: dict):
        self.agent = agent
        self.name = name
        self.host = str(conf["host"])
        self.port = int(conf["port"])
        self.type = str(conf["type"])
        self.interval = float(conf.get("check_interval", agent.interval))
        self.rise = int(conf.get("rise", agent.rise))
        self.fall = int(conf.get("fall", agent.fall))
        # What 7.2's checkers and stats read from the watcher they get.
        self.service = conf
        self.conf = agent.conf
        self.pool_manager = agent.http
        self.checks = [build_check(self, c, self.host, self.port, self.rise,
                                   self.fall, logger, agent.checker_classes)
                       for c in conf.get("checks") or ()]
        self.deregister_on_exit = bool(conf.get("deregister_on_exit", False))
        self.stats = [build_stat(self, c, self.host, self.port, logger,
                                 agent.stat_classes)
                      for c in conf.get("stats") or ()]
        self.static_tags: dict[str, object] = {}
        if conf.get("location"):
            self.static_tags["tag.loc"] = str(conf["location"])
        if conf.get("slots"):
            slots = conf["slots"]
            self.static_tags["tag.slots"] = slots if isinstance(slots, str) \
                else ",".join(str(x) for x in slots)
        if conf.get("service_id"):
            self.static_tags["tag.service_id"] = str(conf["service_id"])
        if conf.get("tls"):
            self.static_tags["tag.tls"] = str(conf["tls"])
        self.tags: dict[str, object] = {}

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    @functools.cached_property
    def client(self):
        """A proxy client without the namespace in its URLs, for 7.2
        plugins that ask the proxy (`/v3.0/forward/...`)."""
        from oio.common.client import ProxyClient

        return ProxyClient({"namespace": self.agent.namespace},
                           no_ns_in_url=True, pool_manager=self.pool_manager,
                           endpoint=f"{self.agent._scheme}://"
                                    f"{self.agent.proxies[0]}")

    def check_once(self) -> dict:
        """Run checks and stats; the description to register."""
        # every check runs, to keep each rise/fall history going
        up = all([check.service_status() for check in self.checks])
        if up:
            for stat in self.stats:
                try:
                    self.tags.update(stat.get_stats())
                except Exception as exc:  # noqa: BLE001 - any stat failure
                    logger.warning("%s: stat %s failed: %s", self.name,
                                   type(stat).__name__, exc)
                    up = False
        return self.description(up)

    def description(self, up: bool) -> dict:
        """What is registered: score -1 lets the conscience compute it (any
        score is ignored there anyway), 0 says down."""
        tags = dict(self.tags, **self.static_tags)
        tags["tag.up"] = up
        return {"ns": self.agent.namespace, "type": self.type,
                "addr": self.addr, "score": -1 if up else 0, "tags": tags}

    def run(self, stop: threading.Event) -> None:
        was_up = None
        while not stop.is_set():
            started = time.monotonic()
            try:
                desc = self.check_once()
                if desc["tags"]["tag.up"] != was_up:
                    logger.info("%s %s is %s", self.type, self.addr,
                                "up" if desc["tags"]["tag.up"] else "down")
                    was_up = desc["tags"]["tag.up"]
                self.agent.submit(desc)
            except Exception:  # noqa: BLE001 - keep watching whatever happens
                logger.exception("%s: watch round failed", self.name)
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        if self.deregister_on_exit:
            # Replaces any description of this service still waiting: the
            # agent sends what is left once every watcher has stopped.
            self.agent.submit(self.description(False))


class Agent:
    # Seconds a registration waits for the other watchers' of the same round.
    GATHER = 0.05

    def __init__(self, conf: dict):
        self.conf = conf
        self.namespace = str(conf["namespace"])
        proxy = str(conf.get("proxy") or "")
        if not proxy:
            from oio.common.configuration import load_namespace_conf
            proxy = load_namespace_conf(self.namespace)["proxy"]
        scheme, self.proxies = split_addresses(proxy)
        if not self.proxies:
            raise ValueError(f"no proxy address in {proxy!r}")
        self.proxy = ",".join(self.proxies)
        self._scheme = scheme
        self._proxy_order = FailoverOrder(PROXY_PENALTY)
        self.interval = float(conf.get("check_interval", 1))
        self.rise = int(conf.get("rise", 1))
        self.fall = int(conf.get("fall", 1))
        self.http = get_pool_manager(pool_maxsize=32)
        self._path = f"/v3.0/{self.namespace}/conscience/register"
        self.checker_classes = checker_classes()
        self.stat_classes = stat_classes()
        self.watchers = self._load_watchers(conf)
        self._failing = False
        # (type, addr) → the latest description not sent yet
        self._outbox: dict[tuple[str, str], dict] = {}
        self._outbox_lock = threading.Lock()
        self._outbox_ready = threading.Event()

    def _load_watchers(self, conf: dict) -> list[Watcher]:
        defs: dict[str, dict] = dict(conf.get("services") or {})
        for folder in str(conf.get("include_dir") or "").split(":"):
            if not folder:
                continue
            for path in sorted(glob.glob(os.path.join(folder, "*"))):
                base, ext = os.path.splitext(os.path.basename(path))
                if ext in (".yml", ".yaml", ".json"):
                    try:
                        defs[base] = load_file(path)
                    except (OSError, ValueError) as exc:
                        logger.error("watch %s ignored: %s", path, exc)
        watchers, seen = [], {}
        for name, wconf in defs.items():
            try:
                watcher = Watcher(self, name, wconf)
            except (KeyError, ValueError, TypeError, ConfigurationException) as exc:
                logger.error("watch %s ignored: %s", name, exc)
                continue
            seen.setdefault(watcher.addr, []).append(watcher)
            watchers.append(watcher)
        duplicates = {a for a, ws in seen.items() if len(ws) > 1}
        for addr in duplicates:
            logger.error("two watch definitions for %s: both ignored", addr)
        return [w for w in watchers if w.addr not in duplicates]

    def submit(self, desc: dict) -> None:
        """Queue `desc` for the next registration (a newer description of
        the same service replaces it)."""
        with self._outbox_lock:
            self._outbox[(desc["type"], desc["addr"])] = desc
        self._outbox_ready.set()

    def flush(self) -> None:
        """Register every queued description now."""
        with self._outbox_lock:
            descs = list(self._outbox.values())
            self._outbox.clear()
            self._outbox_ready.clear()
        if descs:
            self.register(descs)

    def register(self, descs: dict | list[dict]) -> None:
        """Register one description or several in one request. When the
        proxy refuses a batch (4xx: one bad description fails it all),
        each is sent on its own so that the others still get in."""
        if isinstance(descs, dict):
            descs = [descs]
        status, error = self._post(descs[0] if len(descs) == 1 else descs)
        if 400 <= status < 500 and len(descs) > 1:
            refused = [(desc, *self._post(desc)) for desc in descs]
            refused = [r for r in refused if not 0 < r[1] < 300]
            status, error = 204, ""
            if refused:
                desc, status, error = refused[-1]
                error = (f"{len(refused)} of {len(descs)} refused, "
                         f"{desc.get('type')} {desc.get('addr')}: {error}")
        ok = 0 < status < 300
        if not ok and not self._failing:
            logger.warning("registration through %s failed: %s", self.proxy, error)
        elif ok and self._failing:
            logger.info("registrations through %s work again", self.proxy)
        self._failing = not ok

    def _post(self, body: dict | list) -> tuple[int, str]:
        """(HTTP status, error text) of the registration through the first
        proxy that answers; status 0 when none did. A proxy that cannot be
        reached or reaches no conscience (503) hands over to the next: a
        registration sent twice does no harm."""
        data = json.dumps(body).encode()
        status, error = 0, "no proxy"
        for proxy in self._proxy_order.order(self.proxies):
            status, error = self._post_to(proxy, data)
            if 0 < status != 503:
                if self._proxy_order.succeeded(proxy) and \
                        len(self.proxies) > 1:
                    logger.info("proxy %s answers again", proxy)
                return status, error
            if self._proxy_order.failed(proxy) and len(self.proxies) > 1:
                logger.warning("proxy %s failed (%s): trying the others",
                               proxy, error)
        return status, error

    def _post_to(self, proxy: str, data: bytes) -> tuple[int, str]:
        try:
            resp = self.http.request_whole(
                "POST", f"{self._scheme}://{proxy}{self._path}", body=data,
                headers={"Content-Type": "application/json"},
                timeout=urllib3.Timeout(connect=1.0, read=5.0))
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            return 0, str(exc) or type(exc).__name__
        return resp.status, f"HTTP {resp.status} {resp.data[:200]!r}"

    def _registrar(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self._outbox_ready.wait(0.5):
                continue
            # The watchers of one round finish close together: one POST.
            if stop.wait(self.GATHER):
                return
            self.flush()

    def run(self, stop: threading.Event) -> None:
        threads = [threading.Thread(target=w.run, args=(stop,), daemon=True,
                                    name=f"watch-{w.name}") for w in self.watchers]
        registrar = threading.Thread(target=self._registrar, args=(stop,),
                                     daemon=True, name="registrar")
        registrar.start()
        for thread in threads:
            thread.start()
        logger.info("watching %d services, registering through %s",
                    len(threads), self.proxy)
        stop.wait()
        registrar.join(timeout=10)
        for thread in threads:
            thread.join(timeout=10)
        # What the watchers said last, their deregistrations included.
        self.flush()


# 7.2's names for the watcher and the agent, and its plugin tables.
ServiceWatcher = Watcher
ConscienceAgent = Agent


def load_modules(group_name: str) -> dict[str, object]:
    """Name → class of the entry points of `group_name`."""
    return load_group(group_name)


def __getattr__(name: str):
    # Loaded on demand: entry points are read when asked for.
    if name == "CHECKERS_MODULES":
        return checker_classes()
    if name == "STATS_MODULES":
        return stat_classes()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oio-conscience-agent",
        description="Check local services and register them in the conscience")
    parser.add_argument("config", help="YAML configuration file")
    args = parser.parse_args(argv)
    try:
        conf = load_file(args.config)
        logging.basicConfig(
            level=str(conf.get("log_level", "INFO")).upper(),
            format="%(asctime)s oio-conscience-agent[%(process)d] %(levelname)s "
                   "%(message)s")
        agent = Agent(conf)
    except (OSError, ValueError, KeyError) as exc:
        print(f"oio-conscience-agent: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agent.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
