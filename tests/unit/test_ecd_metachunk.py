"""What the ecd reads from a request's headers: metadata, chunks, range."""

from __future__ import annotations

import pytest

from oio.common import exceptions as exc
from oio.ecd.metachunk import (
    PREFIX,
    load_sysmeta,
    read_range,
    storage_method,
    write_chunks,
)

EC21 = "ec/algo=liberasurecode_rs_vand,k=2,m=1"


def _headers(**extra) -> dict[str, str]:
    base = {PREFIX + "content-id": "ID", PREFIX + "content-version": "12",
            PREFIX + "content-path": "dir/a%20b",
            PREFIX + "content-chunk-method": EC21,
            PREFIX + "content-storage-policy": "EC21",
            PREFIX + "container-id": "CID", PREFIX + "full-path": "a/c/o/12/ID",
            PREFIX + "chunk-pos": "3"}
    base.update({PREFIX + f"chunk-{i}": f"http://r{i}/C{i}" for i in range(3)})
    base.update(extra)
    return base


def test_sysmeta_and_ec_chunks():
    headers = _headers()
    meta = load_sysmeta(headers)
    assert meta["content_path"] == "dir/a b" and meta["version"] == "12"
    assert meta["mime_type"] == "application/octet-stream"
    chunks = write_chunks(storage_method(headers), headers)
    assert [c["pos"] for c in chunks] == ["3.0", "3.1", "3.2"]
    assert chunks[2]["url"] == "http://r2/C2"


def test_bad_requests_name_the_problem():
    headers = _headers()
    del headers[PREFIX + "full-path"]
    with pytest.raises(exc.BadRequest, match="full-path"):
        load_sysmeta(headers)
    headers = _headers()
    del headers[PREFIX + "chunk-1"]
    with pytest.raises(exc.BadRequest, match="Expected 3 chunk URLs"):
        write_chunks(storage_method(headers), headers)
    with pytest.raises(exc.BadRequest, match="Invalid chunk method"):
        storage_method(_headers(**{PREFIX + "content-chunk-method": "nope"}))


def test_replicated_chunks_share_the_position():
    headers = _headers(**{PREFIX + "content-chunk-method": "plain/nb_copy=3",
                          PREFIX + "chunks-nb": "3", PREFIX + "chunk-pos": "1"})
    chunks = write_chunks(storage_method(headers), headers)
    assert [c["pos"] for c in chunks] == ["1", "1", "1"]


def test_read_range():
    whole = read_range(None, 10)
    assert (whole.start, whole.end, whole.partial) == (0, 9, False)
    assert (read_range("bytes=2-4", 10).start,
            read_range("bytes=2-4", 10).end) == (2, 4)
    assert read_range("bytes=5-", 10).end == 9
    assert read_range("bytes=-3", 10).start == 7
    assert read_range("bytes=8-100", 10).end == 9
    with pytest.raises(exc.UnsatisfiableRange):
        read_range("bytes=10-", 10)
    for bad in ("bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=x-1"):
        with pytest.raises(exc.BadRequest):
            read_range(bad, 10)


def test_server_refuses_bad_config(tmp_path, capsys):
    from oio.ecd.server import main

    assert main([str(tmp_path / "missing.conf")]) == 2
    conf = tmp_path / "ecd.conf"
    conf.write_text("[ecd]\nbind_port = 0\n")
    assert main([str(conf)]) == 2
    conf.write_text("[ecd]\nbind_port = 6050\nread_timeout = -1\n")
    assert main([str(conf)]) == 2
    assert "read_timeout" in capsys.readouterr().err
