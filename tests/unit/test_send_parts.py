"""send_parts: several buffers in one sendmsg at a time, resumed after
partial sends, byte for byte."""

from __future__ import annotations

import os
import socket
import threading

from oio.api.replication import send_parts


def test_partial_sends_resume_where_they_stopped():
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    body = os.urandom(3_000_000)
    expected = b"2dc6c0\r\n" + body + b"\r\n"
    got = bytearray()

    def receive():
        while len(got) < len(expected):
            got.extend(right.recv(65536))

    reader = threading.Thread(target=receive)
    reader.start()
    send_parts(left, (b"2dc6c0\r\n", memoryview(body), b"", b"\r\n"))
    reader.join(10)
    left.close()
    right.close()
    assert bytes(got) == expected
