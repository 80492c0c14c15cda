"""The account service over real sockets (account.md §4)."""

import json
import urllib.error
import urllib.request

import pytest

from oio.account.app import build_app
from oio.account.backend import AccountBackend
from tests.utils import ServerThread


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    backend = AccountBackend(str(tmp_path_factory.mktemp("account")))
    with ServerThread(build_app(backend)) as server:
        yield server.addr


def call(addr, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()


def test_account_routes(account):
    assert call(account, "PUT", "/v1.0/account/create?id=acme")[:1] == (201,)
    assert call(account, "PUT", "/v1.0/account/create?id=acme")[0] == 202
    status, ctype, body = call(account, "GET", "/v1.0/account/show?id=acme")
    assert status == 200 and ctype == "text/json"
    assert json.loads(body)["id"] == "acme"
    assert call(account, "PUT", "/v1.0/account/container/update?id=acme",
                {"name": "photos", "mtime": 1700000000.5, "objects": 2,
                 "bytes": 10})[2] == b'"photos"'
    status, _, body = call(account, "PUT", "/v1.0/account/container/update?id=acme",
                           {"name": "photos", "mtime": 1600000000})
    assert status == 409 and b"No update needed" in body
    status, _, body = call(account, "GET",
                           "/v1.0/account/containers?id=acme&limit=10")
    info = json.loads(body)
    assert info["listing"] == [["photos", 2, 10, 0, 1700000000.5]]
    assert info["objects"] == 2 and info["containers"] == 1
    _, _, body = call(account, "GET",
                      "/v1.0/account/show-container?id=acme&container=photos")
    assert json.loads(body)["bytes"] == 10
    assert json.loads(call(account, "GET", "/status")[2])["account_count"] >= 1
    assert "acme" in json.loads(call(account, "GET", "/v1.0/account/list")[2])


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v1.0/account/show", 400),
    ("GET", "/v1.0/account/show?id=nobody", 404),
    ("POST", "/v1.0/account/delete?id=nobody", 404),
    ("GET", "/v1.0/account/containers?id=nobody", 404),
    ("GET", "/v1.0/account/containers?id=acme&limit=x", 400),
    ("PUT", "/v1.0/account/container/update?id=acme", 400),
    ("PUT", "/v1.0/account/container/reset?id=acme", 400),
])
def test_account_errors(account, method, path, status):
    call(account, "PUT", "/v1.0/account/create?id=acme")
    got, ctype, _ = call(account, method, path, {} if method == "PUT" else None)
    assert got == status
    assert ctype.startswith("text/plain")


def test_bucket_routes(account):
    call(account, "PUT", "/v1.0/account/container/update?id=owner",
         {"name": "bk", "mtime": 1700000000, "bucket": "bk", "objects": 1,
          "bytes": 5})
    call(account, "PUT", "/v1.0/account/container/update?id=owner",
         {"name": "bk%2Fpart", "mtime": 1700000000, "bucket": "bk",
          "objects": 2, "bytes": 6})
    for path in ("/v1.0/bucket/show?id=bk", "/v1.0/account/show-bucket?id=bk"):
        status, ctype, body = call(account, "GET", path)
        assert status == 200 and ctype == "text/json"
        shown = json.loads(body)
        assert shown["account"] == "owner" and shown["objects"] == 3
        assert shown["bytes"] == 11 and shown["replication_enabled"] is False
    for path in ("/v1.0/bucket/update?id=bk", "/v1.0/account/update-bucket?id=bk"):
        status, _, body = call(account, "PUT", path,
                               {"metadata": {"replication_enabled": "true"},
                                "to_delete": None})
        assert status == 200 and json.loads(body)["replication_enabled"] is True
    _, _, body = call(account, "GET",
                      "/v1.0/account/show-container?id=owner&container=bk%252Fpart")
    assert json.loads(body)["replication_enabled"] is True
    for path in ("/v1.0/bucket/refresh?id=bk",
                 "/v1.0/account/refresh-bucket?id=bk"):
        assert call(account, "POST", path)[0] == 204
    status, _, body = call(account, "GET", "/v1.0/account/buckets?id=owner")
    info = json.loads(body)
    assert status == 200 and info["buckets"] == 1 and info["truncated"] is False
    assert info["listing"] == [{"name": "bk", "objects": 3, "bytes": 11,
                                "mtime": 1700000000.0}]
    assert "next_marker" not in info
    info = json.loads(call(account, "GET",
                           "/v1.0/account/buckets?id=owner&limit=1")[2])
    assert info["truncated"] is True and info["next_marker"] == "bk"
    info = json.loads(call(account, "GET",
                           "/v1.0/account/buckets?id=owner&marker=bk")[2])
    assert info["listing"] == [] and info["truncated"] is False


@pytest.mark.parametrize("method, path, status, message", [
    ("GET", "/v1.0/bucket/show", 400, b"Missing bucket ID"),
    ("GET", "/v1.0/bucket/show?id=nobucket", 404, b"Bucket not found"),
    ("GET", "/v1.0/account/show-bucket?id=nobucket", 404, b"Bucket not found"),
    ("POST", "/v1.0/bucket/refresh?id=nobucket", 404, b"not found"),
    ("PUT", "/v1.0/bucket/update", 400, b"Missing bucket ID"),
    ("GET", "/v1.0/account/buckets", 400, b"Missing account ID"),
    ("GET", "/v1.0/account/buckets?id=nobody", 404, b"Account not found"),
    ("GET", "/v1.0/account/buckets?id=acme&limit=x", 400, b"Invalid integer"),
])
def test_bucket_errors(account, method, path, status, message):
    call(account, "PUT", "/v1.0/account/create?id=acme")
    got, ctype, body = call(account, method, path,
                            {} if method == "PUT" else None)
    assert got == status and message in body
    assert ctype.startswith("text/plain")


def test_bucket_update_refuses_a_bad_body(account):
    status, _, body = call(account, "PUT", "/v1.0/bucket/update?id=bk",
                           {"metadata": ["not", "a", "dict"]})
    assert status == 400 and b"Invalid metadata" in body
