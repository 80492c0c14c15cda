"""oio.blob.utils: 7.2's chunk and volume helpers."""

import os

import pytest

from oio.blob.utils import check_volume, read_chunk_metadata
from oio.common import exceptions as exc
from oio.common.fullpath import encode_fullpath

CHUNK_ID = "AB" * 32


def _chunk(tmp_path, with_fullpath=True):
    path = tmp_path / CHUNK_ID
    path.write_bytes(b"data")
    attrs = {"grid.chunk.position": "0", "grid.chunk.hash": "0" * 32,
             "grid.chunk.size": "4", "grid.content.chunk_method": "plain/nb_copy=1",
             "grid.content.storage_policy": "SINGLE",
             "grid.oio.version": "4.2"}
    if with_fullpath:
        attrs["oio.content.fullpath:" + CHUNK_ID] = encode_fullpath(
            "acct", "ct", "obj", 12, "C0FFEE")
        attrs["oio.content.fullpath:" + "CD" * 32] = "link/fullpath"
    for key, value in attrs.items():
        os.setxattr(path, "user." + key, value.encode())
    return path


def test_fields_come_from_the_fullpath(tmp_path):
    meta, raw = read_chunk_metadata(str(_chunk(tmp_path)), CHUNK_ID.lower())
    assert meta["chunk_id"] == CHUNK_ID
    assert meta["content_path"] == "obj" and meta["content_version"] == "12"
    assert meta["content_id"] == "C0FFEE" and len(meta["container_id"]) == 64
    assert meta["links"] == {"CD" * 32: "link/fullpath"}
    assert "grid.chunk.id" not in raw


def test_missing_attributes_make_a_faulty_chunk(tmp_path):
    with pytest.raises(exc.FaultyChunk) as caught:
        read_chunk_metadata(str(_chunk(tmp_path, with_fullpath=False)),
                            CHUNK_ID)
    assert "oio.content.fullpath:" + CHUNK_ID in str(caught.value)
    # An old chunk (no fullpath) whose recorded ID is another one.
    path = _chunk(tmp_path, with_fullpath=False)
    os.setxattr(path, "user.grid.oio.version", b"4.0")
    os.setxattr(path, "user.grid.chunk.id", b"EF" * 32)
    with pytest.raises(exc.MissingAttribute):
        read_chunk_metadata(str(path), CHUNK_ID)
    meta, _ = read_chunk_metadata(str(path), CHUNK_ID, for_conversion=True)
    assert meta["chunk_id"] == "EF" * 32


def test_check_volume(tmp_path):
    for key, value in (("ns", "NS"), ("type", "rawx"), ("id", "h:1")):
        os.setxattr(tmp_path, f"user.server.{key}", value.encode())
    assert check_volume(str(tmp_path)) == ("NS", "h:1")
    os.setxattr(tmp_path, "user.server.type", b"meta2")
    with pytest.raises(exc.OioException, match="not a rawx"):
        check_volume(str(tmp_path))
