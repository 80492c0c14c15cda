"""Status mapping and request parameter validation of the proxy."""

import pytest

from oio.common.exceptions import OioConnectionException, OioTimeout
from oio.common.http_server import HttpError
from oio.common.utils import cid_from_name
from oio.proxy.errors import http_status_of, network_error, oio_error
from oio.proxy.params import container_url, normalize_cid, valid_content_id


@pytest.mark.parametrize("code,http", [
    (406, 404), (409, 404), (420, 404), (431, 404), (454, 404), (418, 404),
    (453, 404), (400, 400), (2, 503), (7, 503), (436, 503), (503, 503),
    (433, 409), (421, 409), (424, 409), (403, 403), (405, 405), (407, 500),
    (438, 500), (480, 500), (481, 500), (427, 500), (19, 500),
])
def test_common_mapping(code, http):
    assert http_status_of(code) == http


@pytest.mark.parametrize("code,http", [
    (438, 409), (421, 409), (427, 410), (19, 400), (431, 404), (436, 503),
])
def test_meta2_mapping(code, http):
    assert http_status_of(code, meta2=True) == http


def test_retry_after_on_503():
    assert oio_error(436, "frozen").headers == {"Retry-After": "1"}
    assert oio_error(420, "nope").headers == {}


def test_network_errors():
    err = network_error(OioConnectionException("Cannot connect to x"))
    assert (err.http_status, err.status) == (503, 2)
    err = network_error(OioTimeout("Read timeout from x"))
    assert (err.http_status, err.status) == (503, 7)
    err = network_error(OioTimeout("Connection timeout to x"))
    assert err.status == 5


def test_normalize_cid():
    cid = cid_from_name("acct", "ref")
    assert normalize_cid(cid.lower()) == cid
    assert normalize_cid(cid + ".1") == cid
    assert normalize_cid("a1") == "A1" + "0" * 62
    for bad in ("", "XYZ", cid + "0", cid + ".x", "12345"):
        with pytest.raises(HttpError) as exc:
            normalize_cid(bad)
        assert exc.value.http_status == 400


def test_container_url():
    url = container_url({"acct": "a", "ref": "r", "path": "p",
                         "version": "12"})
    assert url.cid == cid_from_name("a", "r")
    assert (url.account, url.reference, url.path, url.version) == (
        "a", "r", "p", 12)
    # cid wins over acct/ref
    cid = cid_from_name("x", "y")
    assert container_url({"cid": cid, "acct": "a", "ref": "r"}).cid == cid
    # version ignored without path
    assert container_url({"cid": cid, "version": "x"}).version is None


@pytest.mark.parametrize("args", [
    {}, {"acct": "a"}, {"acct": "", "ref": "r"},
    {"acct": "a", "ref": "r", "path": "p", "version": "v1"},
    {"acct": "a", "ref": "\udcff"}, {"cid": "nothex"},
])
def test_container_url_errors(args):
    with pytest.raises(HttpError) as exc:
        container_url(args)
    assert exc.value.http_status == 400
    assert exc.value.status == 400


def test_valid_content_id():
    assert valid_content_id("ABCD")
    assert not valid_content_id("ABC")
    assert not valid_content_id("")
    assert not valid_content_id(None)
    assert not valid_content_id("XYZW")
