"""Behaviours OpenIO 7.2's own functional tests (container/, content/, cli/)
check, on the real sandbox namespace: status codes of proxy routes, the
shape of replies, what the client and CLI do with them."""

import json
import uuid

import pytest

from oio.common import exceptions as exc
from oio.common.constants import OIO_DB_STATUS_NAME

from .proxy_harness import http

pytestmark = pytest.mark.functional


def _ref(namespace, route, account, name, body=None):
    path = f"/v3.0/{namespace.ns}/{route}?acct={account}&ref={name}"
    return http("POST", namespace.proxy, path, body=body)


def _chunk(n):
    hexid = f"{n:016X}"
    return {"type": "chunk", "id": f"http://127.0.0.1:6008/{hexid}",
            "hash": "0" * 32, "pos": "0.0", "size": 0, "ctime": 0,
            "content": hexid}


def test_touch_of_missing_container_is_403(namespace):
    account, name = "compat", f"touch-{uuid.uuid4().hex}"
    # No reference at all (meta1 says 406), then a reference without base.
    assert _ref(namespace, "container/touch", account, name).status == 403
    assert _ref(namespace, "container/create", account, name, {}).status == 201
    assert _ref(namespace, "container/touch", account, name).status == 204


@pytest.mark.parametrize("body", [None, "not json", 1, [], {}, [{}],
                                  [{"type": "chunk"}]])
def test_raw_insert_checks_body_before_the_container(namespace, body):
    name = f"raw-{uuid.uuid4().hex}"
    data = body if body == "not json" else json.dumps(body)
    resp = _ref(namespace, "container/raw_insert", "compat", name, data)
    assert resp.status == 400, resp.body
    assert json.loads(resp.body)["status"] == 400


def test_raw_insert_of_chunks_without_header(namespace):
    name = f"raw-{uuid.uuid4().hex}"
    chunks = [_chunk(n) for n in range(4)]
    assert _ref(namespace, "container/raw_insert", "compat", name,
                chunks).status == 404
    assert _ref(namespace, "container/create", "compat", name, {}).status == 201
    assert _ref(namespace, "container/raw_insert", "compat", name,
                chunks).status == 204


def test_container_status_names(namespace):
    api = namespace.api()
    name = f"status-{uuid.uuid4().hex}"
    api.container_create("compat", name)
    system = api.container_get_properties("compat", name)["system"]
    assert OIO_DB_STATUS_NAME[system["sys.status"]] == "Enabled"
    assert OIO_DB_STATUS_NAME[int(system["sys.status"])] == "Enabled"


def test_fetch_through_cache_of_a_deleted_object(namespace):
    # The cached chunks are gone and so is the object: NoSuchObject, as the
    # fetch of a missing object says it, not a bare NotFound.
    cache: dict = {}
    api, other = namespace.api(cache=cache), namespace.api()
    container = f"cache-{uuid.uuid4().hex}"
    api.object_create("compat", container, data=b"cache", obj_name="o")
    assert b"".join(api.object_fetch("compat", container, "o")[1]) == b"cache"
    _, chunks = other.object_locate("compat", container, "o")
    other.object_delete("compat", container, "o")
    for chunk in chunks:           # if the content cleaner did not already
        try:
            other.blob_client.chunk_delete(chunk["url"])
        except exc.NotFound:
            pass
    _, stream = api.object_fetch("compat", container, "o")
    with pytest.raises(exc.NoSuchObject):
        b"".join(stream)
    with pytest.raises(exc.NoSuchObject):
        api.object_fetch("compat", container, "o")


def test_object_create_keeps_the_content_id_given(namespace):
    api = namespace.api()
    container, content_id = f"cid-{uuid.uuid4().hex}", uuid.uuid4().hex.upper()
    api.object_create("compat", container, data=b"1" * 128, obj_name="t",
                      content_id=content_id)
    assert api.object_show("compat", container, "t")["id"] == content_id
    # And a link can name its target by that ID alone.
    api.object_link("compat", container, None, "compat", container, "l",
                    target_content_id=content_id)
    assert b"".join(api.object_fetch("compat", container, "l")[1]) == \
        b"1" * 128


def test_object_link_without_autocreate(namespace):
    api = namespace.api()
    container = f"link-{uuid.uuid4().hex}"
    api.object_create("compat", container, data=b"x", obj_name="t")
    with pytest.raises(exc.NotFound):
        api.object_link("compat", container, "t", "compat",
                        f"missing-{uuid.uuid4().hex}", "l", autocreate=False)


def test_object_create_with_change_policy(namespace):
    # 7.2's keyword: object_create(..., change_policy=True, version=v)
    # rewrites version v with another policy.
    api = namespace.api()
    container = f"chpol-{uuid.uuid4().hex}"
    api.object_create("compat", container, data=b"data", obj_name="o")
    version = api.object_get_properties("compat", container, "o")["version"]
    api.object_create("compat", container, data=b"data", obj_name="o",
                      version=version, policy="SINGLE", change_policy=True)
    meta = api.object_get_properties("compat", container, "o")
    assert meta["policy"] == "SINGLE" and meta["version"] == version
    with pytest.raises(exc.ClientException):       # other bytes: refused
        api.object_create("compat", container, data=b"test", obj_name="o",
                          version=version, policy="THREECOPIES",
                          change_policy=True)
    # An unknown version: NoSuchContainer, as 7.2's object_create says it.
    with pytest.raises(exc.NoSuchContainer):
        api.object_create("compat", container, data=b"data", obj_name="o",
                          version="12344567890", policy="SINGLE",
                          change_policy=True)
