"""`beanstalkd` stat: job counters from the `stats` command."""

from __future__ import annotations

import socket

from oio.common.exceptions import ConfigurationException
from oio.conscience.stats.base import BaseStat

TIMEOUT = 5.0


def _recv_until(sock: socket.socket, data: bytes, done) -> bytes:
    while not done(data):
        part = sock.recv(65536)
        if not part:
            raise OSError("beanstalkd closed the connection")
        data += part
    return data


def beanstalkd_stats(host: str, port: int, timeout: float = TIMEOUT) -> dict:
    """The `stats` mapping of one beanstalkd (values as text)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"stats\r\n")
        data = _recv_until(sock, b"", lambda d: b"\r\n" in d)
        header, _, rest = data.partition(b"\r\n")
        words = header.split()
        if len(words) != 2 or words[0] != b"OK":
            raise OSError(f"beanstalkd answered {header[:100]!r}")
        size = int(words[1]) + 2
        rest = _recv_until(sock, rest, lambda d: len(d) >= size)
    out = {}
    for line in rest.decode("ascii", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


class BeanstalkdStat(BaseStat):
    stat_keys = {"current-tubes": "stat.tubes",
                 "current-jobs-buried": "stat.jobs_buried",
                 "current-jobs-delayed": "stat.jobs_delayed",
                 "current-jobs-ready": "stat.jobs_ready",
                 "current-jobs-reserved": "stat.jobs_reserved",
                 "current-jobs-urgent": "stat.jobs_urgent"}

    def configure(self) -> None:
        for key in ("host", "port"):
            if key not in self.stat_conf:
                raise ConfigurationException(
                    f'Missing field "{key}" in configuration')
        self.host = str(self.stat_conf["host"])
        self.port = int(self.stat_conf["port"])

    def get_stats(self) -> dict:
        stats = beanstalkd_stats(self.host, self.port)
        return {tag: int(stats[key]) for key, tag in self.stat_keys.items()
                if key in stats}
