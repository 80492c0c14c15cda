"""AccountClient: the account service it talks to, and when it looks for
another one (as 7.2's client does)."""

import socket
import time

import pytest

from oio.account.client import AccountClient
from oio.common import exceptions as exc


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _OneAddress(AccountClient):
    """The load balancer's answer, without a proxy."""

    def __init__(self, addr: str):
        super().__init__({"namespace": "NS"}, endpoint="http://127.0.0.1:9",
                         connection_timeout=1.0, read_timeout=1.0)
        self.addr, self.asked = addr, 0

    def _get_account_addr(self, **kwargs) -> str:
        self.asked += 1
        return self.addr


def test_a_network_error_looks_for_another_account_service():
    other = f"127.0.0.1:{_closed_port()}"
    client = _OneAddress(other)
    client.endpoint = f"127.0.0.1:{_closed_port()}"   # 7.2's tests set it so
    client._last_refresh = time.time()
    with pytest.raises(exc.OioNetworkException):
        client.account_list()
    assert client.asked == 1
    assert other in client.endpoint


def test_the_account_service_is_looked_up_once_then_after_the_delay():
    client = _OneAddress(f"127.0.0.1:{_closed_port()}")
    assert client._base_url() == f"http://{client.addr}/v1.0"
    client._base_url()
    assert client.asked == 1
    client._last_refresh -= client.refresh_delay + 1
    client._base_url()
    assert client.asked == 2


def test_negative_request_attempts_are_refused():
    client = _OneAddress("127.0.0.1:1")
    with pytest.raises(exc.OioException, match="request attempts"):
        client._direct_request("GET", "http://127.0.0.1:1/",
                               request_attempts=-1)
