"""Blocking code (our synchronous chunk writers and readers, WSGI apps)
served from the asyncio HTTP core: the request body read from a thread,
and a thread's iterator of bytes sent as a streamed reply, both with
back-pressure."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Callable, Iterable

from oio.common.http_server import Request

_END = object()


class SyncRequestBody(io.RawIOBase):
    """The body of `req` as a blocking binary file, for a worker thread
    (never the loop's thread: each read waits for the loop)."""

    def __init__(self, req: Request, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self.req = req
        self.loop = loop

    def readable(self) -> bool:
        return True

    def remaining(self) -> int | None:
        """Bytes still to come when the length is known (lets the chunk
        writers send a small body in one piece)."""
        if self.req.content_length is None:
            return None
        return self.req.content_length - self.req.bytes_read

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        return asyncio.run_coroutine_threadsafe(
            self.req.readinto(view), self.loop).result()


async def thread_iter(make_iter: Callable[[], Iterable[bytes]],
                      depth: int = 4) -> AsyncIterator[bytes]:
    """The items of `make_iter()`, run in a thread started on the first
    read, at most `depth` items ahead of the reader. Its errors raise
    here; closing this iterator early stops the thread at its next item."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()   # bounded by `room`
    room = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        end: object = _END
        try:
            for item in make_iter():
                while not room.acquire(timeout=0.5):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(items.put_nowait, item)
        except BaseException as exc:  # noqa: BLE001 - raised in the reader
            end = exc
        loop.call_soon_threadsafe(items.put_nowait, end)

    threading.Thread(target=produce, daemon=True, name="thread-iter").start()
    try:
        while True:
            item = await items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        stop.set()


async def primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` with its first item already read, so that an error before
    the first byte raises here (and still makes a clean error reply)
    rather than in the middle of a reply already started."""
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = b""

    async def replay() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for data in chunks:
            yield data
    return replay()
