"""Sending a file's bytes on a socket from a worker thread (the blocking
half of the HTTP core's FileResponse).

`sendfile_all` uses sendfile (zero copy, through the page cache);
`send_direct` reads an O_DIRECT descriptor by aligned blocks into reused
buffers, the next block read while the current one is sent, and sends
them: no page cache at all (docs/rawx.md, "Page cache"). Both work on a
duplicate of a non-blocking socket, waiting with poll when it is full.
"""

from __future__ import annotations

import concurrent.futures
import mmap
import os
import select
import threading
from collections.abc import Callable


def _blocking_sends(sock_fd: int, send: Callable[[], int],
                    timeout: float) -> None:
    """Call `send` (one non-blocking send, returning what it sent; 0 ends)
    until it returns 0, waiting at most `timeout` for the socket to take
    more each time it is full."""
    poller = None
    while True:
        try:
            if not send():
                return
        except BlockingIOError:
            if poller is None:
                poller = select.poll()
                poller.register(sock_fd, select.POLLOUT)
            if not poller.poll(timeout * 1000):
                raise TimeoutError("timeout while sending a file") from None
        except InterruptedError:
            continue


def sendfile_all(sock_fd: int, fd: int, offset: int, length: int,
                  timeout: float) -> int:
    """Blocking sendfile loop on a non-blocking socket; returns bytes sent."""
    sent = 0

    def send() -> int:
        nonlocal sent
        n = os.sendfile(sock_fd, fd, offset + sent, length - sent) \
            if sent < length else 0
        sent += n
        return n

    _blocking_sends(sock_fd, send, timeout)
    return sent


def _send_all(sock_fd: int, data: memoryview, timeout: float) -> None:
    """Blocking send of all of `data` on a non-blocking socket."""
    left = data

    def send() -> int:
        nonlocal left
        n = os.write(sock_fd, left) if left else 0
        left = left[n:]
        return n

    _blocking_sends(sock_fd, send, timeout)


DIRECT_ALIGN = 4096
DIRECT_BLOCK = 1024 * 1024
_direct_buffers = threading.local()
# Reads the next block of an O_DIRECT reply while the current one is sent.
_read_ahead = concurrent.futures.ThreadPoolExecutor(
    max_workers=16, thread_name_prefix="direct-read")


def _direct_pair() -> tuple[memoryview, memoryview]:
    """This thread's two aligned blocks for O_DIRECT reads, reused: memory
    the process touched recently costs nothing to touch again, fresh
    page-cache pages do (on the virtual machines we measure, ~4 s per
    GiB)."""
    pair = getattr(_direct_buffers, "pair", None)
    if pair is None:
        pair = _direct_buffers.pair = (
            memoryview(mmap.mmap(-1, DIRECT_BLOCK)),
            memoryview(mmap.mmap(-1, DIRECT_BLOCK)))
    return pair


def send_direct(sock_fd: int, fd: int, offset: int, length: int,
                 timeout: float) -> int:
    """Send `length` bytes of `fd` (O_DIRECT) from `offset`, read by aligned
    blocks, the next one read while the current one is sent; returns the
    bytes sent (fewer: the file is shorter)."""
    pair = _direct_pair()
    pos = offset - offset % DIRECT_ALIGN
    skip = offset - pos
    end = offset + length
    sent = 0
    current = 0
    reading = _read_ahead.submit(os.preadv, fd, [pair[0]], pos)
    while reading is not None:
        got = reading.result()
        buf = pair[current]
        reading = None
        if got == buf.nbytes and pos + got < end:
            current = 1 - current
            reading = _read_ahead.submit(os.preadv, fd, [pair[current]],
                                         pos + got)
        usable = min(got, end - pos)
        if usable <= skip:
            break
        try:
            _send_all(sock_fd, buf[skip:usable], timeout)
        except BaseException:
            if reading is not None:
                reading.result()       # never leave a read into our buffer
            raise
        sent += usable - skip
        pos += got
        skip = 0
    return sent
