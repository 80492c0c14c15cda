"""7.2's raw HTTP connections (`http_connect`), which were eventlet's
green httplib there; here the standard library's http.client, for the
code that streams a request by hand. Our own clients use urllib3
(`oio.common.http_urllib3`)."""

from __future__ import annotations

import logging
import socket
import ssl
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from urllib.parse import quote, urlencode

logger = logging.getLogger("oio.common.http")

__all__ = ["CustomHTTPResponse", "CustomHttpConnection",
           "CustomHttpsConnection", "http_connect"]


class CustomHTTPResponse(HTTPResponse):
    pass


class _Tuned:
    """TCP_NODELAY on connect, TCP_CORK on demand, a debug line per reply."""

    response_class = CustomHTTPResponse

    def connect(self) -> None:
        super().connect()
        self.set_nodelay(True)

    def set_cork(self, enabled: bool = True) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(enabled))

    def set_nodelay(self, enabled: bool = True) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                             int(enabled))

    def putrequest(self, method, url, *args, **kwargs):
        self._method, self._path = method, url
        return super().putrequest(method, url, *args, **kwargs)

    def getresponse(self):
        response = super().getresponse()
        logger.debug("HTTP %s %s:%s %s", self._method, self.host, self.port,
                     self._path)
        return response


class CustomHttpConnection(_Tuned, HTTPConnection):
    pass


class CustomHttpsConnection(_Tuned, HTTPSConnection):
    pass


def http_connect(host: str, method: str, path: str | bytes,
                 headers: dict | None = None, query_string=None,
                 scheme: str = "http") -> HTTPConnection:
    """A connection to `host` (`addr:port`) with the request line and
    headers sent: the caller sends the body (`send`) and reads
    `getresponse()`."""
    if isinstance(path, str):
        path = path.encode("utf-8")
    path = quote(path if path.startswith(b"/") else b"/" + path)
    if scheme == "https":
        conn: HTTPConnection = CustomHttpsConnection(
            host, context=ssl._create_unverified_context())
    else:
        conn = CustomHttpConnection(host)
    if query_string:
        if not isinstance(query_string, str):
            query_string = urlencode(query_string)
        path += "?" + query_string
    conn.path = path
    conn.putrequest(method, path)
    for key, value in (headers or {}).items():
        conn.putheader(key, str(value))
    conn.endheaders()
    return conn
