"""kazoo, seen from asyncio: ZooKeeper calls as awaitables, watches and
session changes delivered on the event loop.

kazoo runs its own threads; its results, watch callbacks and state changes
arrive there. Everything the elections decide happens on the loop, so
this bridge hands every one of them over with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry

logger = logging.getLogger(__name__)


class ZkBridge:
    """One ZooKeeper session for a service's elections."""

    def __init__(self, hosts: str, session_timeout: float,
                 loop: asyncio.AbstractEventLoop):
        self.hosts = hosts
        self.loop = loop
        self.client = KazooClient(
            hosts=hosts, timeout=session_timeout,
            # Reconnect forever: elections resume when ZooKeeper is back.
            connection_retry=KazooRetry(max_tries=-1, delay=0.1,
                                        max_delay=1.0, ignore_expire=False),
            randomize_hosts=True)
        self.state = KazooState.LOST
        self.connected = asyncio.Event()
        self.listeners: list[Callable[[str], None]] = []
        self.client.add_listener(self._on_state_thread)

    def start(self) -> None:
        """Connect in the background (never blocks the loop)."""
        event = self.client.start_async()

        def started() -> None:
            if self.client.connected:
                self.loop.call_soon_threadsafe(self._on_state,
                                               KazooState.CONNECTED)
        # start_async's event is a threading.Event: watch it off the loop.
        self.loop.run_in_executor(None, lambda: (event.wait(), started()))

    def stop(self) -> None:
        try:
            self.client.stop()
            self.client.close()
        except Exception:  # noqa: BLE001 - stopping anyway
            logger.debug("closing the ZooKeeper client", exc_info=True)

    def _on_state_thread(self, state: str) -> None:
        self.loop.call_soon_threadsafe(self._on_state, state)

    def _on_state(self, state: str) -> None:
        # A CONNECTED seen by the starter thread may repeat a listener's.
        if state == self.state:
            return
        logger.info("ZooKeeper session %s (%s)", state.lower(), self.hosts)
        self.state = state
        if state == KazooState.CONNECTED:
            self.connected.set()
        else:
            self.connected.clear()
        for listener in list(self.listeners):
            try:
                listener(state)
            except Exception:  # noqa: BLE001 - one listener must not stop others
                logger.exception("ZooKeeper state listener")

    @property
    def session_id(self) -> int | None:
        ident = self.client.client_id
        return ident[0] if ident else None

    async def call(self, method: str, *args, **kwargs):
        """`client.<method>_async(*args, **kwargs)`, awaited."""
        future = self.loop.create_future()

        def done(result) -> None:
            def settle() -> None:
                if future.done():
                    return
                if result.successful():
                    future.set_result(result.value)
                else:
                    future.set_exception(result.exception)
            self.loop.call_soon_threadsafe(settle)

        getattr(self.client, f"{method}_async")(*args, **kwargs).rawlink(done)
        return await future

    def watcher(self, callback: Callable[[], None]) -> Callable:
        """A kazoo watch function that runs `callback()` on the loop."""
        def watch(_event) -> None:
            self.loop.call_soon_threadsafe(callback)
        return watch
