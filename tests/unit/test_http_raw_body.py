"""The raw body reader: chunked framing, sized bodies, what comes after the
body, and the client that stalls or leaves, over a real socket pair."""

import socket

import pytest

from oio.common.http_raw_body import BodyError, RawBodyReader


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def read_all(reader: RawBodyReader, block: int = 7) -> bytes:
    out = bytearray()
    view = memoryview(bytearray(block))
    while got := reader.readinto(view):
        out += view[:got]
    return bytes(out)


def test_chunked_with_extensions_trailers_and_extra(pair):
    ours, theirs = pair
    theirs.sendall(b"llo\r\n3;ext=1\r\n wo\r\n2\r\nrl\r\n1\r\nd\r\n0\r\n"
                   b"X-A: 1\r\nx-b:  two \r\n\r\nGET / HTTP/1.1\r\n")
    reader = RawBodyReader(ours.fileno(), b"5\r\nhe", True, None, 5)
    assert read_all(reader) == b"hello world"
    assert reader.done and reader.received == 11
    assert reader.trailers == {"x-a": "1", "x-b": "two"}
    assert reader.extra == b"GET / HTTP/1.1\r\n"
    assert reader.readinto(memoryview(bytearray(4))) == 0


def test_sized_body_with_what_follows(pair):
    ours, theirs = pair
    theirs.sendall(b"defghijNEXT")
    reader = RawBodyReader(ours.fileno(), b"abc", False, 10, 5)
    assert reader.fill(memoryview(bytearray(4))) == 4
    assert read_all(reader) == b"efghij"
    assert reader.done and reader.extra == b"" and reader.received == 10


def test_stalled_client_times_out(pair):
    ours, _ = pair
    reader = RawBodyReader(ours.fileno(), b"", False, 10, 0.05)
    with pytest.raises(BodyError) as err:
        read_all(reader)
    assert err.value.timeout and err.value.status == 408


def test_client_gone_mid_body(pair):
    ours, theirs = pair
    theirs.sendall(b"4\r\nab")
    theirs.close()
    reader = RawBodyReader(ours.fileno(), b"", True, None, 5)
    with pytest.raises(BodyError) as err:
        read_all(reader)
    assert err.value.disconnected
    # Broken for good: the same error again, at once.
    with pytest.raises(BodyError):
        reader.readinto(memoryview(bytearray(1)))


@pytest.mark.parametrize("framing, message", [
    (b"x\r\n", "bad chunk size"),
    (b"-5\r\nhello\r\n", "bad chunk size"),
    (b"2\r\nabcd\r\n", "not followed by CRLF"),
    (b"0\r\nbad trailer\r\n\r\n", "bad trailer"),
    (b"1" * 9000, "too long"),
])
def test_bad_framing(pair, framing, message):
    ours, theirs = pair
    theirs.sendall(framing)
    reader = RawBodyReader(ours.fileno(), b"", True, None, 1)
    with pytest.raises(BodyError, match=message) as err:
        read_all(reader)
    assert err.value.status == 400
