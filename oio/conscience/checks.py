"""Health checks of the conscience agent (conscience.md §7.3).

A check is a callable `check(http) -> bool`; `Checker` wraps it with the
rise/fall state machine of the agent."""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable

import urllib3

from oio.common.http_urllib3 import SafePoolManager

CHECK_TIMEOUT = 5.0

# The gridd "REQ_PING" request of 7.2 (a framed ASN.1 message).
ASN1_PING = (bytes.fromhex("00000030302E8020")
             + b"80863FD712DC4234D7BA684CE2DEC00A"
             + bytes.fromhex("8108") + b"REQ_PING" + bytes.fromhex("A300"))


class TcpCheck:
    def __init__(self, host: str, port: int, timeout: float = CHECK_TIMEOUT):
        self.addr = (host, port)
        self.timeout = timeout

    def __call__(self, http: SafePoolManager) -> bool:
        try:
            with socket.create_connection(self.addr, timeout=self.timeout):
                return True
        except OSError:
            return False


class Asn1Check(TcpCheck):
    """Connect, send the binary ping, read up to 1 KiB without error."""

    def __call__(self, http: SafePoolManager) -> bool:
        try:
            with socket.create_connection(self.addr, timeout=self.timeout) as sock:
                sock.sendall(ASN1_PING)
                sock.recv(1024)
                return True
        except OSError:
            return False


class HttpCheck:
    def __init__(self, host: str, port: int, uri: str,
                 timeout: float = CHECK_TIMEOUT):
        self.url = f"http://{host}:{port}/{uri.lstrip('/')}"
        self.timeout = urllib3.Timeout(connect=min(timeout, 1.0), read=timeout)

    def __call__(self, http: SafePoolManager) -> bool:
        try:
            resp = http.request_whole(
                "GET", self.url, timeout=self.timeout,
                headers={"x-oio-req-id": f"chk-{time.time_ns()}"})
            return resp.status == 200
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return False


class Checker:
    """A check with its rise/fall history: the first result fills the
    history; down after `fall` failures in a row, up after `rise`
    successes in a row."""

    def __init__(self, check: Callable[[SafePoolManager], bool],
                 rise: int = 1, fall: int = 1):
        self.check = check
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.history: deque[bool] = deque(maxlen=max(self.rise, self.fall))
        self.up = False

    def record(self, ok: bool) -> bool:
        if not self.history:
            self.history.extend([ok] * self.history.maxlen)
            self.up = ok
            return self.up
        self.history.append(ok)
        recent = list(self.history)
        if self.up and not any(recent[-self.fall:]):
            self.up = False
        elif not self.up and all(recent[-self.rise:]):
            self.up = True
        return self.up

    def __call__(self, http: SafePoolManager) -> bool:
        return self.record(bool(self.check(http)))


def build_check(conf: dict, host: str, port: int, rise: int = 1,
                fall: int = 1) -> Checker:
    """A Checker from a watch file's `checks` entry."""
    kind = conf.get("type")
    host = str(conf.get("host", host))
    port = int(conf.get("port", port))
    timeout = float(conf.get("timeout", CHECK_TIMEOUT))
    if kind == "http":
        if not conf.get("uri"):
            raise ValueError("http check needs 'uri'")
        check = HttpCheck(host, port, str(conf["uri"]), timeout)
    elif kind == "tcp":
        check = TcpCheck(host, port, timeout)
    elif kind == "asn1":
        check = Asn1Check(host, port, timeout)
    else:
        raise ValueError(f"unknown check type {kind!r}")
    return Checker(check, int(conf.get("rise", rise)),
                   int(conf.get("fall", fall)))
