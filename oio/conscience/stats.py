"""Stat collectors of the conscience agent (conscience.md §7.4). Each is a
small callable run once per round, returning tags; collectors keep their
previous sample to compute rates."""

from __future__ import annotations

import json
import os
import socket
import time

import urllib3

from oio.common.http_urllib3 import SafePoolManager

CHECK_TIMEOUT = 5.0
HTTP_TIMEOUT = urllib3.Timeout(connect=1.0, read=10.0)


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as src:
        fields = [int(x) for x in src.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields)


class SystemStat:
    """`stat.cpu`: 100 × idle share of the CPU time since the last sample."""

    def __init__(self):
        self.last = _cpu_times()

    def __call__(self, http: SafePoolManager) -> dict:
        idle, total = _cpu_times()
        d_idle, d_total = idle - self.last[0], total - self.last[1]
        self.last = (idle, total)
        if d_total <= 0:
            return {"stat.cpu": 100.0}
        return {"stat.cpu": round(100.0 * d_idle / d_total, 6)}


def _io_ticks(dev: int) -> int | None:
    """Milliseconds spent doing I/O by the block device `dev`."""
    major, minor = os.major(dev), os.minor(dev)
    try:
        with open("/proc/diskstats", encoding="ascii") as src:
            for line in src:
                fields = line.split()
                if int(fields[0]) == major and int(fields[1]) == minor:
                    return int(fields[12])
    except (OSError, ValueError, IndexError):
        pass
    return None


class VolumeStat:
    """`stat.space` from statvfs, `stat.io` from the device's busy time
    (100 when the device cannot be found, e.g. in a container)."""

    def __init__(self, path: str = "/"):
        self.path = path
        self.last: tuple[float, int] | None = None

    def __call__(self, http: SafePoolManager) -> dict:
        vfs = os.statvfs(self.path)
        blocks = vfs.f_bavail / vfs.f_blocks if vfs.f_blocks else 1.0
        inodes = vfs.f_ffree / vfs.f_files if vfs.f_files else 1.0
        out = {"stat.space": round(100.0 * min(blocks, inodes), 6),
               "tag.vol": self.path, "stat.io": 100.0}
        ticks = _io_ticks(os.stat(self.path).st_dev)
        now = time.monotonic()
        if ticks is not None:
            if self.last is not None and now > self.last[0]:
                busy = (ticks - self.last[1]) / ((now - self.last[0]) * 1000.0)
                out["stat.io"] = round(max(0.0, 100.0 * (1.0 - busy)), 6)
            self.last = (now, ticks)
        return out


class RawxStat:
    """Request rate and mean time from the rawx `/stat` counters."""

    def __init__(self, host: str, port: int, path: str = "/stat"):
        self.url = f"http://{host}:{port}/{path.lstrip('/')}"
        self.last: tuple[float, int, int] | None = None

    def __call__(self, http: SafePoolManager) -> dict:
        resp = http.request_whole("GET", self.url, timeout=HTTP_TIMEOUT)
        if resp.status != 200:
            raise OSError(f"{self.url}: HTTP {resp.status}")
        counters, out = {}, {}
        for line in resp.data.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "counter":
                counters[parts[1]] = int(parts[2])
            elif len(parts) >= 3 and parts[0] == "config" and \
                    parts[1] == "service_id":
                out["tag.service_id"] = parts[2]
        now = time.monotonic()
        hits, spent = counters.get("req.hits", 0), counters.get("req.time", 0)
        out["stat.total_reqpersec"] = 0.0
        out["stat.total_avreqtime"] = 1
        if self.last is not None and now > self.last[0]:
            d_hits = hits - self.last[1]
            out["stat.total_reqpersec"] = round(d_hits / (now - self.last[0]), 6)
            if d_hits > 0:
                out["stat.total_avreqtime"] = (spent - self.last[2]) // d_hits
        self.last = (now, hits, spent)
        return out


def _scalar(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class HttpJsonStat:
    """A status page: with the `json` parser every top-level key as
    `stat.<key>` (`uuid` as `tag.uuid`); with `lines`, each line split at
    its last blank into a key (kept verbatim) and a value."""

    def __init__(self, host: str, port: int, path: str, parser: str = "json"):
        self.url = f"http://{host}:{port}/{path.lstrip('/')}"
        if parser not in ("json", "lines"):
            raise ValueError(f"unknown http stat parser {parser!r}")
        self.parser = parser

    def __call__(self, http: SafePoolManager) -> dict:
        resp = http.request_whole("GET", self.url, timeout=HTTP_TIMEOUT,
                                  headers={"Connection": "close"})
        if resp.status != 200:
            raise OSError(f"{self.url}: HTTP {resp.status}")
        out: dict = {}
        if self.parser == "lines":
            for line in resp.data.decode("utf-8", "replace").splitlines():
                parts = line.rsplit(None, 1)
                if len(parts) == 2:
                    out[parts[0].strip()] = _scalar(parts[1])
            return out
        data = json.loads(resp.data)
        if not isinstance(data, dict):
            raise ValueError(f"{self.url}: not a JSON object")
        for key, value in data.items():
            if key == "uuid":
                out["tag.uuid"] = value
            elif isinstance(value, (int, float, str, bool)):
                out[f"stat.{key}"] = value
        return out


class ProxyStat:
    """`gauge <name> <value>` lines of the proxy's `/v3.0/status`."""

    def __init__(self, host: str, port: int):
        self.url = f"http://{host}:{port}/v3.0/status"

    def __call__(self, http: SafePoolManager) -> dict:
        resp = http.request_whole("GET", self.url, timeout=HTTP_TIMEOUT)
        if resp.status != 200:
            raise OSError(f"{self.url}: HTTP {resp.status}")
        out: dict[str, float] = {}
        for line in resp.data.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "gauge":
                try:
                    out[f"stat.{parts[1]}"] = float(parts[-1])
                except ValueError:
                    continue
        return out


class BeanstalkdStat:
    """Job counters from the beanstalkd `stats` command."""

    KEYS = {"current-tubes": "stat.tubes",
            "current-jobs-buried": "stat.jobs_buried",
            "current-jobs-delayed": "stat.jobs_delayed",
            "current-jobs-ready": "stat.jobs_ready",
            "current-jobs-reserved": "stat.jobs_reserved",
            "current-jobs-urgent": "stat.jobs_urgent"}

    def __init__(self, host: str, port: int):
        self.addr = (host, port)

    def __call__(self, http: SafePoolManager) -> dict:
        with socket.create_connection(self.addr, timeout=CHECK_TIMEOUT) as sock:
            sock.sendall(b"stats\r\n")
            data = b""
            while b"\r\n" not in data:
                part = sock.recv(65536)
                if not part:
                    raise OSError("beanstalkd closed the connection")
                data += part
            header, _, rest = data.partition(b"\r\n")
            words = header.split()
            if len(words) != 2 or words[0] != b"OK":
                raise OSError(f"beanstalkd answered {header[:100]!r}")
            size = int(words[1]) + 2
            while len(rest) < size:
                part = sock.recv(65536)
                if not part:
                    raise OSError("beanstalkd closed the connection")
                rest += part
        out = {}
        for line in rest.decode("ascii", "replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in self.KEYS:
                out[self.KEYS[key.strip()]] = int(value.strip())
        return out


def build_stat(conf: dict, host: str, port: int):
    kind = conf.get("type")
    if kind == "system":
        return SystemStat()
    if kind == "volume":
        return VolumeStat(conf.get("path", "/"))
    if kind == "rawx":
        return RawxStat(host, port, conf.get("path", "/stat"))
    if kind == "http":
        return HttpJsonStat(host, port, conf.get("path", "/status"),
                            conf.get("parser", "json"))
    if kind == "beanstalkd":
        return BeanstalkdStat(host, port)
    if kind == "oioproxy":
        return ProxyStat(host, port)
    return None   # collectors of other services: not needed for scores
