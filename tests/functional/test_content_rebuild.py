"""The chunk primitives of the rebuilders and movers against the sandbox
(9 rawx, 1 MiB chunks): `content/spare`, `ContentFactory`, plain and EC
`rebuild_chunk`, `move_chunk`, and `ChunkOperator.rebuild`."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from oio.common import exceptions as exc
from tests.utils import chunk_file

MiB = 1024 * 1024
ACCOUNT = "rebuild"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


@pytest.fixture(scope="module")
def conf(namespace):
    return {"namespace": namespace.ns, "proxyd_url": f"http://{namespace.proxy}"}


@pytest.fixture(autouse=True)
def every_rawx_up(namespace):
    namespace.sandbox.wait_all_up()


def _put(api, size: int, policy: str) -> tuple[str, str, bytes]:
    container = f"ct-{uuid.uuid4().hex[:8]}"
    data = os.urandom(size)
    api.object_create(ACCOUNT, container, data=data, obj_name="obj",
                      policy=policy)
    return container, "obj", data


def _content(api, conf, container: str, name: str = "obj"):
    from oio.common.utils import cid_from_name
    from oio.content.factory import ContentFactory

    meta, _ = api.object_locate(ACCOUNT, container, name)
    return ContentFactory(conf).get(cid_from_name(ACCOUNT, container),
                                    meta["id"])


def _read(api, container: str, name: str = "obj") -> bytes:
    return b"".join(api.object_fetch(ACCOUNT, container, name)[1])


def _chunks(api, container: str, name: str = "obj") -> list[dict]:
    return api.object_locate(ACCOUNT, container, name)[1]


def _urls(api, container: str) -> set[str]:
    """The chunks meta2 names (their scores change with the rawx load)."""
    return {c["url"] for c in _chunks(api, container)}


def _xattrs(namespace, url: str) -> dict[str, bytes]:
    path = chunk_file(namespace, url)
    return {k: os.getxattr(path, k) for k in os.listxattr(path)}


def _lose(namespace, chunk: dict) -> None:
    os.unlink(chunk_file(namespace, chunk["url"]))


def _same_but_id(namespace, old_xattrs: dict, new_url: str) -> None:
    new = _xattrs(namespace, new_url)
    ignore = {"user.grid.chunk.id", "user.grid.chunk.mtime"}

    def clean(attrs):
        # The fullpath xattr is named after the chunk ID.
        return {k: v for k, v in attrs.items() if k not in ignore
                and not k.startswith("user.oio.content.fullpath:")}
    assert clean(new) == clean(old_xattrs)
    fullpaths = [v for k, v in new.items()
                 if k.startswith("user.oio.content.fullpath:")]
    assert fullpaths == [v for k, v in old_xattrs.items()
                         if k.startswith("user.oio.content.fullpath:")]


def test_factory_gives_the_right_class(api, conf):
    from oio.content.ec import ECContent
    from oio.content.plain import PlainContent

    plain, _, _ = _put(api, 10, "THREECOPIES")
    ec, _, _ = _put(api, 10, "EC42")
    assert isinstance(_content(api, conf, plain), PlainContent)
    content = _content(api, conf, ec)
    assert isinstance(content, ECContent)
    assert content.full_path.startswith(f"{ACCOUNT}/{ec}/obj/")
    assert [c.pos for c in content.chunks] == [f"0.{i}" for i in range(6)]


def test_unknown_content_is_not_found(conf):
    from oio.common.utils import cid_from_name
    from oio.content.factory import ContentFactory

    with pytest.raises(exc.ContentNotFound):
        ContentFactory(conf).get(cid_from_name(ACCOUNT, "nothing-here"),
                                 "0123456789ABCDEF0123456789ABCDEF")


def test_plain_rebuild_by_id_restores_the_same_chunk_elsewhere(
        api, conf, namespace):
    container, name, data = _put(api, 2 * MiB + 5, "THREECOPIES")
    chunks = _chunks(api, container)
    lost = next(c for c in chunks if c["pos"] == "1")
    old = _xattrs(namespace, lost["url"])
    _lose(namespace, lost)
    content = _content(api, conf, container)
    host = lost["url"].split("/")[2]
    size = content.rebuild_chunk(lost["url"].rsplit("/", 1)[1],
                                 service_id=host)
    assert size == MiB
    after = _chunks(api, container)
    assert len(after) == len(chunks)
    at_pos = [c for c in after if c["pos"] == "1"]
    hosts = {c["url"].split("/")[2] for c in at_pos}
    assert len(hosts) == 3 and host not in hosts   # allow_same_rawx=False
    new = next(c for c in at_pos if c not in chunks)
    assert new["hash"] == lost["hash"] and new["size"] == lost["size"]
    _same_but_id(namespace, old, new["url"])
    assert _read(api, container) == data


def test_plain_rebuild_by_position_adds_the_missing_copy(api, conf):
    container, _, data = _put(api, 100, "THREECOPIES")
    chunks = _chunks(api, container)
    api.container.container_raw_delete(
        ACCOUNT, container, data=[{
            "type": "chunk", "id": chunks[0]["url"],
            "hash": chunks[0]["hash"], "size": chunks[0]["size"], "pos": "0",
            "content": api.object_locate(ACCOUNT, container, "obj")[0]["id"]}])
    left = _chunks(api, container)
    assert len(left) == 2
    content = _content(api, conf, container)
    assert content.rebuild_chunk(None, chunk_pos=0) == 100
    assert len(_chunks(api, container)) == 3
    assert _read(api, container) == data


def test_plain_rebuild_without_any_copy_is_unrecoverable(api, conf, namespace):
    container, _, _ = _put(api, 100, "TWOCOPIES")
    chunks = _chunks(api, container)
    for chunk in chunks:
        _lose(namespace, chunk)
    content = _content(api, conf, container)
    with pytest.raises(exc.UnrecoverableContent):
        content.rebuild_chunk(chunks[0]["url"].rsplit("/", 1)[1],
                              service_id=chunks[0]["url"].split("/")[2])
    assert _urls(api, container) == {c["url"] for c in chunks}   # untouched


def test_plain_rebuild_skips_a_corrupted_copy(api, conf, namespace):
    container, _, data = _put(api, MiB, "THREECOPIES")
    chunks = _chunks(api, container)
    lost, bad, good = chunks
    _lose(namespace, lost)
    with open(chunk_file(namespace, bad["url"]), "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    content = _content(api, conf, container)
    # The corrupted copy first: the target rawx refuses its data.
    content.chunks.filter(url=bad["url"])[0].raw()["score"] = 100
    content.chunks.filter(url=good["url"])[0].raw()["score"] = 0
    content.rebuild_chunk(lost["url"].rsplit("/", 1)[1],
                          service_id=lost["url"].split("/")[2])
    new = next(c for c in _chunks(api, container) if c not in chunks)
    with open(chunk_file(namespace, new["url"]), "rb") as handle:
        assert hashlib.md5(handle.read()).hexdigest().upper() == \
            lost["hash"].upper()
    assert len(_chunks(api, container)) == 3
    del data


def test_ec_rebuild_of_a_fragment(api, conf, namespace):
    container, _, data = _put(api, 4 * MiB + 3, "EC42")
    chunks = _chunks(api, container)
    lost = next(c for c in chunks if c["pos"] == "0.2")
    old = _xattrs(namespace, lost["url"])
    _lose(namespace, lost)
    content = _content(api, conf, container)
    written = content.rebuild_chunk(lost["url"].rsplit("/", 1)[1],
                                    service_id=lost["url"].split("/")[2],
                                    allow_same_rawx=True)
    assert written == os.path.getsize(chunk_file(
        namespace, next(c for c in _chunks(api, container)
                        if c["pos"] == "0.2")["url"]))
    new = next(c for c in _chunks(api, container) if c["pos"] == "0.2")
    assert new["url"] != lost["url"] and new["hash"] == lost["hash"]
    _same_but_id(namespace, old, new["url"])
    # Any two others may now go.
    for chunk in _chunks(api, container):
        if chunk["pos"] in ("0.0", "0.1"):
            _lose(namespace, chunk)
    assert _read(api, container) == data


def test_ec_rebuild_below_k_is_unrecoverable(api, conf, namespace):
    container, _, _ = _put(api, 1000, "EC42")
    chunks = _chunks(api, container)
    for chunk in chunks[:3]:
        _lose(namespace, chunk)
    content = _content(api, conf, container)
    # meta2 still names 6 fragments: 2 more "lost" on the rawx side makes
    # the read fail below k.
    with pytest.raises(exc.OioException):
        content.rebuild_chunk(chunks[0]["url"].rsplit("/", 1)[1],
                              service_id=chunks[0]["url"].split("/")[2],
                              allow_same_rawx=True)
    assert _urls(api, container) == {c["url"] for c in chunks}


@pytest.mark.parametrize("policy", ["THREECOPIES", "EC42"])
def test_move_chunk(api, conf, namespace, policy):
    container, _, data = _put(api, MiB + 10, policy)
    chunks = _chunks(api, container)
    moved = chunks[0]
    old = _xattrs(namespace, moved["url"])
    content = _content(api, conf, container)
    new = content.move_chunk(moved["url"].rsplit("/", 1)[1],
                             service_id=moved["url"].split("/")[2])
    after = _chunks(api, container)
    assert moved not in after and len(after) == len(chunks)
    assert not os.path.exists(chunk_file(namespace, moved["url"]))
    meta_pos = moved["pos"].split(".")[0]
    hosts = [c["url"].split("/")[2] for c in after
             if c["pos"].split(".")[0] == meta_pos]
    assert len(hosts) == len(set(hosts))
    assert new["url"] in {c["url"] for c in after}
    _same_but_id(namespace, old, new["url"])
    assert _read(api, container) == data


def test_move_of_an_unknown_chunk_is_an_orphan(api, conf):
    container, _, _ = _put(api, 10, "SINGLE")
    content = _content(api, conf, container)
    with pytest.raises(exc.OrphanChunk):
        content.move_chunk("0" * 64)


def test_spare_refuses_what_cannot_be(api, namespace):
    container, _, _ = _put(api, 10, "THREECOPIES")
    chunks = _chunks(api, container)
    cc = api.container
    with pytest.raises(exc.BadRequest) as err:
        cc.content_spare(ACCOUNT, container, "obj", stgpol="THREECOPIES",
                         position=0, data={"notin": chunks, "broken": []})
    assert "too many locations already known" in str(err.value)
    with pytest.raises(exc.BadRequest):
        cc.content_spare(ACCOUNT, container, "obj", stgpol="THREECOPIES",
                         position=0, data={"notin": [{"url": "x"}],
                                           "broken": []})
    spare = cc.content_spare(ACCOUNT, container, "obj", stgpol="THREECOPIES",
                             position=0, data={"notin": chunks[:2],
                                               "broken": chunks[2:]})
    assert len(spare["chunks"]) == 1
    host = spare["chunks"][0]["id"].split("/")[2]
    assert host not in {c["url"].split("/")[2] for c in chunks}
    assert spare["properties"][0]["key"] == \
        "__OIO_CHUNK__" + spare["chunks"][0]["id"]


@pytest.mark.parametrize("how", ["id", "url", "pos"])
def test_operator_rebuild(api, conf, namespace, how):
    from oio.blob.operator import ChunkOperator
    from oio.common.utils import cid_from_name

    container, _, data = _put(api, 3000, "THREECOPIES")
    meta, chunks = api.object_locate(ACCOUNT, container, "obj")
    lost = chunks[1]
    _lose(namespace, lost)
    host, chunk_id = lost["url"].split("/")[2], lost["url"].rsplit("/", 1)[1]
    item = {"id": chunk_id, "url": lost["url"], "pos": "0"}[how]
    operator = ChunkOperator(conf)
    cid = cid_from_name(ACCOUNT, container)
    if how == "pos":
        # A position adds a copy: meta2 must lack one first.
        api.container.container_raw_delete(
            cid=cid, data=[{"type": "chunk", "id": lost["url"],
                            "hash": lost["hash"], "size": lost["size"],
                            "pos": "0", "content": meta["id"]}])
    assert operator.rebuild(cid, meta["id"], item, rawx_id=host) == 3000
    after = _chunks(api, container)
    assert len(after) == 3 and lost not in after
    assert _read(api, container) == data
    with pytest.raises(exc.OrphanChunk):
        operator.rebuild(cid, meta["id"], "F" * 64, rawx_id=host)
    with pytest.raises(exc.OrphanChunk):
        operator.rebuild(cid, "0123456789ABCDEF0123456789ABCDEF", chunk_id)
