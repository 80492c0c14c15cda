"""Health checks and stat collectors of the conscience agent
(conscience.md §7.3, §7.4). Each is a small object with one method called
once per round; collectors keep their previous sample to compute rates."""

from __future__ import annotations

import os
import socket
import time

import urllib3

CHECK_TIMEOUT = 5.0
HTTP_TIMEOUT = urllib3.Timeout(connect=1.0, read=CHECK_TIMEOUT)


class TcpCheck:
    def __init__(self, host: str, port: int, timeout: float = CHECK_TIMEOUT):
        self.addr = (host, port)
        self.timeout = timeout

    def __call__(self, http: urllib3.PoolManager) -> bool:
        try:
            with socket.create_connection(self.addr, timeout=self.timeout):
                return True
        except OSError:
            return False


class HttpCheck:
    def __init__(self, host: str, port: int, uri: str):
        self.url = f"http://{host}:{port}/{uri.lstrip('/')}"

    def __call__(self, http: urllib3.PoolManager) -> bool:
        try:
            resp = http.request("GET", self.url, timeout=HTTP_TIMEOUT,
                                retries=False,
                                headers={"x-oio-req-id": f"chk-{time.time_ns()}"})
            return resp.status == 200
        except urllib3.exceptions.HTTPError:
            return False


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as src:
        fields = [int(x) for x in src.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields)


class SystemStat:
    """`stat.cpu`: 100 × idle share of the CPU time since the last sample."""

    def __init__(self):
        self.last = _cpu_times()

    def __call__(self, http: urllib3.PoolManager) -> dict:
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

    def __call__(self, http: urllib3.PoolManager) -> dict:
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

    def __call__(self, http: urllib3.PoolManager) -> dict:
        resp = http.request("GET", self.url, timeout=HTTP_TIMEOUT, retries=False)
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


class HttpJsonStat:
    """Every top-level key of a JSON status page as `stat.<key>`."""

    def __init__(self, host: str, port: int, path: str):
        self.url = f"http://{host}:{port}/{path.lstrip('/')}"

    def __call__(self, http: urllib3.PoolManager) -> dict:
        import json

        resp = http.request("GET", self.url, timeout=HTTP_TIMEOUT, retries=False)
        if resp.status != 200:
            raise OSError(f"{self.url}: HTTP {resp.status}")
        out = {}
        for key, value in (json.loads(resp.data) or {}).items():
            if key == "uuid":
                out["tag.uuid"] = value
            elif isinstance(value, (int, float, str, bool)):
                out[f"stat.{key}"] = value
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

    def __call__(self, http: urllib3.PoolManager) -> dict:
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


def build_check(conf: dict, host: str, port: int):
    kind = conf.get("type")
    host = conf.get("host", host)
    port = int(conf.get("port", port))
    if kind == "http":
        if not conf.get("uri"):
            raise ValueError("http check needs 'uri'")
        return HttpCheck(host, port, conf["uri"])
    if kind in ("tcp", "asn1"):
        return TcpCheck(host, port, float(conf.get("timeout", CHECK_TIMEOUT)))
    raise ValueError(f"unknown check type {kind!r}")


def build_stat(conf: dict, host: str, port: int):
    kind = conf.get("type")
    if kind == "system":
        return SystemStat()
    if kind == "volume":
        return VolumeStat(conf.get("path", "/"))
    if kind == "rawx":
        return RawxStat(host, port, conf.get("path", "/stat"))
    if kind == "http":
        return HttpJsonStat(host, port, conf.get("path", "/status"))
    if kind == "beanstalkd":
        return BeanstalkdStat(host, port)
    return None   # collectors of other services: not needed for scores
