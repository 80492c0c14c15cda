"""Client-side names and behaviours of 7.2 that its own tests rely on:
the account service endpoint refresh, request attempts, rdir dispatcher."""

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


def test_7_2_names_of_the_rdir_dispatcher():
    """7.2's code imports the dispatcher from oio.rdir.client and calls
    assign_all_rawx / assign_all_meta2."""
    from oio.rdir.client import RdirDispatcher, _make_id

    class Recording(RdirDispatcher):
        def __init__(self):
            self.calls = []

        def assign_services(self, service_type, max_per_rdir=None, **kwargs):
            self.calls.append((service_type, max_per_rdir, kwargs))
            return []

    disp = Recording()
    disp.assign_all_rawx(3, min_dist=2)
    disp.assign_all_meta2()
    assert disp.calls == [("rawx", 3, {"min_dist": 2}), ("meta2", None, {})]
    assert _make_id("NS", "rawx", "a:1") == "NS|rawx|a:1"


def test_property_names_keep_their_case_in_content_headers():
    from oio.container.client import extract_content_headers_meta

    meta = extract_content_headers_meta({
        "X-Oio-Content-Meta-Chunk-Method": "plain/nb_copy=1",
        "x-oio-content-meta-MiXed": "a%20b",
        "x-oio-content-meta-x-Custom": "c",
        "x-oio-ns-chunk-size": "1024"})
    assert meta["chunk_method"] == "plain/nb_copy=1"
    assert meta["properties"] == {"MiXed": "a b", "x-Custom": "c"}
    assert meta["chunk_size"] == 1024


def test_async_response_keeps_the_header_names_sent():
    from oio.common.aio_client import AsyncResponse
    from oio.proxy.forward import relay

    resp = AsyncResponse(200, "OK", {"x-oio-content-meta-mixed": "v",
                                     "connection": "close"}, b"",
                         {"x-oio-content-meta-mixed":
                          "x-oio-content-meta-MiXed",
                          "connection": "Connection"})
    assert resp.headers["x-oio-content-meta-mixed"] == "v"
    relayed = relay(resp)
    assert relayed.headers == {"x-oio-content-meta-MiXed": "v"}


def test_the_blob_client_of_the_api_is_its__blob_client():
    """7.2's tests replace ObjectStorageApi._blob_client with a spy and
    expect the API to use it."""
    from oio import ObjectStorageApi

    api = ObjectStorageApi("NS", endpoint="http://127.0.0.1:9")
    spy = object()
    api._blob_client = spy
    assert api.blob_client is spy
    other = object()
    api.blob_client = other
    assert api._blob_client is other


def test_blob_rebuilder_names_its_tube_as_7_2():
    from oio.blob import rebuild_tasks
    from oio.blob.rebuilder import BlobRebuilder

    assert BlobRebuilder.DEFAULT_BEANSTALKD_WORKER_TUBE == "oio-rebuild"
    assert rebuild_tasks.DEFAULT_TUBE == "oio-rebuild"


def test_old_fullpath_as_7_2():
    import pytest

    from oio.common.fullpath import decode_old_fullpath, encode_old_fullpath

    old = encode_old_fullpath("my acct", "c/t", "a b+c", 12)
    assert old == "my+acct/c%2Ft/a+b%2Bc/12"
    assert decode_old_fullpath(old) == ("my acct", "c/t", "a b+c", "12")
    with pytest.raises(ValueError):
        encode_old_fullpath("a", "c", "", 1)
    with pytest.raises(ValueError):
        decode_old_fullpath("a/c/p/1/ID")
