"""Helpers shared by tests: free ports, servers in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading

from oio.common.http_server import HttpServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """Run an HttpServer (or any coroutine-started app) in its own loop thread.

    Usage: `with ServerThread(router) as srv: srv.addr`.
    """

    def __init__(self, handler, host: str = "127.0.0.1", port: int = 0,
                 on_startup=None, on_cleanup=None, **kwargs):
        self.server = HttpServer(handler, host, port, **kwargs)
        self.on_startup = on_startup
        self.on_cleanup = on_cleanup
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def addr(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            if self.on_startup is not None:
                self.loop.run_until_complete(self.on_startup())
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def run(self, coro, timeout: float = 30):
        """Run a coroutine in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        async def shutdown():
            await self.server.close(grace=1.0)
            if self.on_cleanup is not None:
                await self.on_cleanup()
        try:
            self.run(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until(condition, timeout: float = 20.0, interval: float = 0.05):
    """Poll `condition` until it returns a truthy value (returned), or fail
    the test after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def chunk_file(namespace, url: str) -> str:
    """Where the sandbox rawx of chunk `url` keeps its file."""
    import os

    addr, chunk_id = url.split("/")[2:4]
    spec = next(s for s in namespace.services("rawx") if s.addr == addr)
    return os.path.join(namespace.settings.data_dir, spec.name, chunk_id[:3],
                        chunk_id)


def container_listed(api, account: str, container: str) -> bool:
    """Whether the account service lists the container yet (it learns
    about containers asynchronously; the account may not exist yet)."""
    from oio.common.exceptions import NoSuchAccount

    try:
        return container in [c[0] for c in api.container_list(account)]
    except NoSuchAccount:
        return False


def chunks_gone(api, chunks) -> bool:
    """Whether none of `chunks` (dicts with a `url`) is on its rawx any
    more."""
    from oio.common import exceptions as exc

    for chunk in chunks:
        try:
            api.blob_client.chunk_head(chunk["url"], xattr=False)
            return False
        except exc.NotFound:
            pass
    return True
