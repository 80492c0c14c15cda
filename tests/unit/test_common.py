"""Identifiers, fullpaths, configuration and exceptions of oio.common."""

import pytest

from oio.common import exceptions as exc
from oio.common.configuration import (
    Config,
    load_namespace_conf,
    parse_duration,
    parse_size,
)
from oio.common.fullpath import decode_fullpath, encode_fullpath
from oio.common.utils import (
    cid_from_name,
    compute_chunk_id,
    generate_content_id,
    parse_bool,
    request_id,
)


def test_cid_matches_the_spec_example():
    assert cid_from_name("my_account", "mycontainer") == (
        "4759C216D394886BE909299B1121559728F8176BA99A5404557EE18DB807888D")


def test_chunk_id_is_predictable_upper_hex():
    cid = cid_from_name("a", "c")
    one = compute_chunk_id(cid, "obj", 12, "0", "SINGLE")
    assert one == compute_chunk_id(cid, "obj", "12", 0, "SINGLE")
    assert len(one) == 64 and one == one.upper()


def test_request_id_shapes():
    assert len(request_id()) == 32
    rid = request_id("create-")
    assert rid.startswith("create-") and len(rid) == 32
    assert len(request_id("x" * 80)) == 63


def test_content_id_starts_with_little_endian_timestamp():
    import time

    cid = generate_content_id()
    assert len(cid) == 32
    stamp = int.from_bytes(bytes.fromhex(cid[:16]), "little")
    assert abs(stamp / 1e6 - time.time()) < 5


def test_fullpath_spec_example():
    path = encode_fullpath("myaccount", "my container", "dir/é.txt",
                           1606245060123456, "091B3B12DFB405005B1FC2A412341235")
    assert path == ("myaccount/my%20container/dir%2F%C3%A9.txt/"
                    "1606245060123456/091B3B12DFB405005B1FC2A412341235")
    assert decode_fullpath(path) == ("myaccount", "my container", "dir/é.txt",
                                     "1606245060123456",
                                     "091B3B12DFB405005B1FC2A412341235")
    with pytest.raises(ValueError):
        decode_fullpath("a/b/c")
    with pytest.raises(ValueError):
        encode_fullpath("a", "", "p", 1, "C0")


def test_parse_bool_words():
    assert parse_bool("Yeah") is True and parse_bool("nope") is False
    assert parse_bool("maybe", default=None) is None


def test_typed_config():
    conf = Config({"size": "10M", "n": "3", "flag": "on", "t": "500ms",
                   "bad": "x"})
    assert conf.get_size("size") == 10 * 1024 * 1024
    assert conf.get_int("n") == 3 and conf.get_bool("flag") is True
    assert conf.get_duration("t") == 0.5
    assert conf.get_int("missing", 7) == 7
    with pytest.raises(exc.ConfigurationException):
        conf.get_int("bad")
    assert parse_size("4KiB") == 4096 and parse_duration("2m") == 120


def test_namespace_conf_from_env(tmp_path, monkeypatch):
    conf = tmp_path / "sds.conf"
    conf.write_text("[OPENIO]\nproxy=127.0.0.1:6000\n")
    monkeypatch.setenv("OIO_SDS_CONF", str(conf))
    assert load_namespace_conf("OPENIO")["proxy"] == "127.0.0.1:6000"
    with pytest.raises(exc.ConfigurationException):
        load_namespace_conf("OTHER")
    assert load_namespace_conf("OTHER", failsafe=True) == {}


class _Resp:
    def __init__(self, status, reason="Not Found"):
        self.status = status
        self.reason = reason


def test_from_response_picks_class_by_http_status():
    err = exc.from_response(_Resp(404), b'{"status": 420, "message": "nope"}')
    assert isinstance(err, exc.NotFound)
    assert (err.http_status, err.status, err.message) == (404, 420, "nope")
    assert str(err) == "nope (HTTP 404) (STATUS 420)"
    err = exc.from_response(_Resp(500), b"raw text")
    assert type(err) is exc.ClientException and err.message == "raw text"
    err = exc.from_response(_Resp(503, "Busy"), b"")
    assert isinstance(err, exc.ServiceBusy) and err.status == "Busy"
    assert issubclass(exc.SourceReadTimeout, exc.OioTimeout)
