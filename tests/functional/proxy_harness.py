"""Helpers for the proxy functional tests: an in-process proxy on a free
port, subprocess services, and a tiny JSON HTTP client."""

from __future__ import annotations

import asyncio
import http.client as httpclient
import json
import os
import socket
import subprocess
import sys
import threading
import time

from oio.common.http_server import HttpServer
from oio.proxy.app import Proxy
from oio.proxy.config import ProxyConfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll `predicate` until it returns a true value (short backoff)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    last_exc = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # not ready yet
            last_exc = exc
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last_exc!r})")


class Reply:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None


def http(method: str, addr: str, path: str, body=None, headers=None,
         timeout: float = 10.0) -> Reply:
    host, port = addr.rsplit(":", 1)
    conn = httpclient.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = body
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.reason,
                     {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class InProcessProxy:
    """A Proxy served by HttpServer on its own event loop thread."""

    def __init__(self, config: ProxyConfig):
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.proxy: Proxy | None = None
        self.server: HttpServer | None = None
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       daemon=True)

    def start(self) -> str:
        self.thread.start()

        async def boot():
            self.proxy = Proxy(self.config)
            await self.proxy.start()
            self.server = HttpServer(self.proxy, "127.0.0.1",
                                     self.config.bind_port, name="oio-proxy",
                                     access_log=False)
            await self.server.start()
            return self.server.port

        port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(30)
        return f"127.0.0.1:{port}"

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def down():
            await self.server.close(grace=1.0)
            await self.proxy.stop()

        try:
            self.call(down())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def spawn(module: str, conf_path: str, log_path: str) -> subprocess.Popen:
    """Start `module:main` with the config file as its only argument."""
    code = (f"import sys; from {module} import main; "
            "sys.argv = ['svc', sys.argv[1]]; sys.exit(main())")
    env = dict(os.environ)
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-c", code, conf_path],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
