"""Upload header validation and stored metadata (rawx.md §4, §6, §7.1)."""

import pytest

from oio.blob.chunk_meta import (
    BadChunkMeta,
    CorruptChunkMeta,
    apply_trailers,
    fullpath_fields,
    http_date,
    parse_upload_headers,
    reply_headers,
    served_size,
    stored_fields,
    upload_xattrs,
)
from oio.common.utils import cid_from_name

CHUNK = "AB" * 32
CONTENT = "091B3B12DFB405005B1FC2A412341235"
FULLPATH = f"myaccount/mycontainer/dir%2Fmy%20file.txt/1606245060123456/{CONTENT}"
CID = cid_from_name("myaccount", "mycontainer")


def headers(**extra):
    base = {
        "x-oio-chunk-meta-content-storage-policy": "THREECOPIES",
        "x-oio-chunk-meta-content-chunk-method": "plain/nb_copy=3",
        "x-oio-chunk-meta-chunk-pos": "0",
        "x-oio-chunk-meta-full-path": FULLPATH,
    }
    for key, value in extra.items():
        name = "x-oio-chunk-meta-" + key.replace("_", "-")
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def test_client_headers_accepted():
    meta = parse_upload_headers(CHUNK, headers(
        content_id=CONTENT.lower(), content_version="1606245060123456",
        content_path="dir/my%20file.txt", container_id=CID.lower(),
        chunk_id=CHUNK.lower(), oio_version="4.2"))
    assert meta.container_id == CID
    assert meta.content_path == "dir/my file.txt"
    assert meta.content_id == CONTENT
    assert meta.fullpath == FULLPATH
    assert not meta.is_ec


def test_stored_fullpath_has_upper_content_id():
    meta = parse_upload_headers(CHUNK, headers(
        full_path=FULLPATH.replace(CONTENT, CONTENT.lower())))
    assert meta.fullpath == FULLPATH


def test_content_id_from_header_when_fullpath_lacks_it():
    meta = parse_upload_headers(CHUNK, headers(
        full_path=FULLPATH[:-len(CONTENT)], content_id=CONTENT))
    assert meta.fullpath == FULLPATH


@pytest.mark.parametrize("override", [
    {"content_storage_policy": None}, {"content_chunk_method": None},
    {"chunk_pos": None}, {"full_path": None}, {"content_storage_policy": ""},
    {"full_path": "a/b/c/1"}, {"full_path": "a/b/c/1/AB/x"},
    {"full_path": "/b/c/1/AB"}, {"full_path": "a//c/1/AB"},
    {"full_path": "a/b//1/AB"}, {"full_path": "a/b/c/notanumber/AB"},
    {"full_path": "a/b/c/99999999999999999999/AB"},
    {"full_path": "a/b/c/1/XYZ"}, {"full_path": "a/b/c/1/"},
    {"chunk_id": "CD" * 32}, {"container_id": "00" * 32},
    {"content_path": "other"}, {"content_version": "1"},
    {"content_id": "DEADBEEF"}, {"metachunk_hash": "xyz"},
    {"metachunk_size": "12a"}, {"chunk_hash": "nothex"},
    {"chunk_size": "-1"}, {"chunk_hash": "A" * 65},
])
def test_bad_headers(override):
    with pytest.raises(BadChunkMeta):
        parse_upload_headers(CHUNK, headers(**override))


def test_utf8_fullpath_from_a_c_client():
    # glib leaves non-ASCII unescaped; the core decodes headers as latin-1.
    raw = f"acct/cont/d\u00e9j\u00e0/1/{CONTENT}".encode().decode("latin-1")
    meta = parse_upload_headers(CHUNK, headers(full_path=raw))
    assert meta.content_path == "d\u00e9j\u00e0"
    attrs = upload_xattrs(meta, "", 0)
    assert attrs["user.oio.content.fullpath:" + CHUNK] == \
        f"acct/cont/d\u00e9j\u00e0/1/{CONTENT}".encode()


def test_xattrs_written():
    meta = parse_upload_headers(CHUNK, headers())
    attrs = upload_xattrs(meta, "9E107D9D372BB6826BD81D3542A419D6", 43, "off")
    assert attrs == {
        "user.oio.content.fullpath:" + CHUNK: FULLPATH.encode(),
        "user.grid.chunk.hash": b"9E107D9D372BB6826BD81D3542A419D6",
        "user.grid.chunk.size": b"43",
        "user.grid.chunk.position": b"0",
        "user.grid.content.chunk_method": b"plain/nb_copy=3",
        "user.grid.content.storage_policy": b"THREECOPIES",
        "user.grid.oio.version": b"4.2",
        "user.grid.compression": b"off",
    }


def test_ec_needs_metachunk_info_after_trailers():
    meta = parse_upload_headers(CHUNK, headers(
        content_chunk_method="ec/algo=liberasurecode_rs_vand,k=6,m=3",
        chunk_pos="0.4"))
    assert meta.is_ec
    with pytest.raises(BadChunkMeta, match="metachunk"):
        upload_xattrs(meta, "AA", 1)
    apply_trailers(meta, {
        "x-oio-chunk-meta-metachunk-size": "6291456",
        "x-oio-chunk-meta-metachunk-hash": "5d41402abc4b2a76b9719d911017c592",
        "x-oio-chunk-meta-chunk-hash": "7215ee9c7d9dc229d2921a40e899ec5f"})
    attrs = upload_xattrs(meta, "7215EE9C7D9DC229D2921A40E899EC5F", 10)
    assert attrs["user.grid.metachunk.hash"] == b"5D41402ABC4B2A76B9719D911017C592"
    assert attrs["user.grid.metachunk.size"] == b"6291456"


def test_trailers_override_headers_and_are_checked():
    meta = parse_upload_headers(CHUNK, headers(chunk_hash="00" * 16))
    apply_trailers(meta, {"x-oio-chunk-meta-chunk-hash": "ab" * 16})
    assert meta.chunk_hash == "AB" * 16
    with pytest.raises(BadChunkMeta, match="hash mismatch"):
        upload_xattrs(meta, "CD" * 16, 5)
    upload_xattrs(meta, "AB" * 16, 5)


def test_size_mismatch():
    meta = parse_upload_headers(CHUNK, headers(chunk_size="10"))
    with pytest.raises(BadChunkMeta, match="size mismatch"):
        upload_xattrs(meta, "", 9)


def test_checksum_off_stores_the_declared_hash():
    meta = parse_upload_headers(CHUNK, headers())
    assert "user.grid.chunk.hash" not in upload_xattrs(meta, "", 1)


def stored(**extra):
    attrs = {"user.oio.content.fullpath:" + CHUNK: FULLPATH.encode(),
             "user.grid.chunk.hash": b"9E10", "user.grid.chunk.size": b"43",
             "user.grid.chunk.position": b"0",
             "user.grid.content.chunk_method": b"plain/nb_copy=3",
             "user.grid.content.storage_policy": b"THREECOPIES",
             "user.grid.oio.version": b"4.2"}
    attrs.update(extra)
    return attrs


def test_stored_fields_and_reply_headers():
    fields = stored_fields(CHUNK, stored())
    assert fields["container_id"] == CID
    assert fields["content_path"] == "dir/my file.txt"
    assert fields["content_version"] == "1606245060123456"
    assert served_size(fields) == 43
    hdrs = reply_headers(fields, 1606245060.0)
    assert hdrs["X-Oio-Chunk-Meta-Full-Path"] == FULLPATH
    assert hdrs["X-Oio-Chunk-Meta-Content-Path"] == "dir%2Fmy%20file.txt"
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Id"] == CHUNK
    assert hdrs["X-Oio-Chunk-Meta-Chunk-Size"] == "43"
    assert "X-Oio-Chunk-Meta-Metachunk-Hash" not in hdrs   # empty: not sent
    assert hdrs["Last-Modified"] == http_date(1606245060.0)


def test_other_links_do_not_apply():
    attrs = stored()
    attrs["user.oio.content.fullpath:" + "CD" * 32] = b"x/y/z/1/AB"
    assert stored_fields(CHUNK, attrs)["full_path"] == FULLPATH


def test_legacy_chunk():
    attrs = {"user.grid.chunk.id": CHUNK.lower().encode(),
             "user.grid.content.container": CID.encode(),
             "user.grid.content.path": b"obj",
             "user.grid.content.version": b"12",
             "user.grid.content.id": b"AB"}
    fields = fullpath_fields(CHUNK, attrs)
    assert fields["container_id"] == CID and fields["content_path"] == "obj"
    assert fullpath_fields("CD" * 32, attrs)["content_path"] == ""


def test_corrupt_fullpath():
    with pytest.raises(CorruptChunkMeta):
        stored_fields(CHUNK, stored(**{"user.oio.content.fullpath:" + CHUNK: b"a/b"}))


def test_unusable_size_is_zero():
    assert served_size({"chunk_size": "x"}) == 0
    assert served_size({}) == 0


def test_http_date_format():
    assert len(http_date(0).split()) == 6   # "Thu, 01 Jan 1970 00:00:00 UTC"
