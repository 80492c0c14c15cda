"""A real redis-server on a free port of 127.0.0.1, for tests; skipped
cleanly where Debian's redis-server is not installed."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.utils import free_port, wait_until

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None,
                                 reason="redis-server is not installed")


class RedisServer:
    """`redis-server` without persistence in `datadir`; `stop` and `start`
    again keep its port, to play a Redis restart."""

    def __init__(self, datadir: str, port: int | None = None):
        self.datadir = datadir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        if REDIS_SERVER is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.datadir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._answers() or self.proc.poll() is not None,
                   timeout=10)
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
