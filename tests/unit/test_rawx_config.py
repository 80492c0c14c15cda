"""The rawx `KEY VALUE` configuration file (rawx.md §1.1)."""

import pytest

from oio.blob.rawx_config import (
    MAX_BUFFER,
    MIN_BUFFER,
    load_rawx_conf,
    parse_rawx_bool,
    parse_rawx_conf,
)
from oio.blob.rawx_server import parse_args
from oio.common.exceptions import ConfigurationException

SANDBOX = """\
Listen 127.0.0.1:6009
PidFile /home/u/.oio/sds/run/OPENIO-rawx-1.pid
grid_docroot           /home/u/.oio/sds/data/OPENIO-rawx-1
grid_namespace         OPENIO
grid_dir_run           /home/u/.oio/sds/run
#grid_service_id        OPENIO-rawx-1
grid_hash_width        3
grid_hash_depth        1
grid_fsync             disabled
grid_buffer_size 8192
grid_fsync_dir         disabled
grid_compression off
"""


def test_sandbox_file():
    conf = parse_rawx_conf(SANDBOX)
    assert conf.addr == "127.0.0.1:6009"
    assert (conf.host, conf.port) == ("127.0.0.1", 6009)
    assert conf.basedir == "/home/u/.oio/sds/data/OPENIO-rawx-1"
    assert conf.ns == "OPENIO"
    assert conf.service_id == ""          # commented out
    assert conf.volume_id == "127.0.0.1:6009"
    assert (conf.hash_width, conf.hash_depth) == (3, 1)
    assert conf.fsync_file is False and conf.fsync_dir is False
    assert conf.buffer_size == 8192 * 1024
    assert conf.compression == "off"
    assert conf.checksum == "always"


def test_canonical_names_and_aliases():
    conf = parse_rawx_conf(
        "addr 10.0.0.1:7000\nnamespace NS\ndocroot /srv/vol/\n"
        "service_id NS-rawx-9\nhash_width 2\nhash_depth 2\nfsync yes\n"
        "fsync_dir ON\nchecksum smart\nhttp_keepalive no\nevents nope\n"
        "timeout_idle 30\nheaders_buffer_size 4096\nunknown_key whatever\n")
    assert conf.addr == "10.0.0.1:7000" and conf.ns == "NS"
    assert conf.basedir == "/srv/vol"
    assert conf.volume_id == "NS-rawx-9"
    assert (conf.hash_width, conf.hash_depth) == (2, 2)
    assert conf.fsync_file and conf.fsync_dir
    assert conf.checksum == "smart"
    assert conf.keepalive is False and conf.events is False
    assert conf.timeout_idle == 30.0 and conf.headers_buffer_size == 4096


def test_access_log_switch():
    base = "addr 1.2.3.4:5\nns N\nbasedir /v\n"
    assert parse_rawx_conf(base).log_access
    assert parse_rawx_conf(base + "log_access_get off\n").log_access
    assert not parse_rawx_conf(base + "log_access_get off\nlog_access_put no\n"
                               "log_access_delete false\n").log_access


def test_keys_are_case_insensitive_and_last_wins():
    conf = parse_rawx_conf("LISTEN 1.2.3.4:5\nNS a\nns b\nBASEDIR /x\n")
    assert conf.addr == "1.2.3.4:5" and conf.ns == "b"


@pytest.mark.parametrize("kib,expected", [(1, MIN_BUFFER), (64, 64 * 1024),
                                          (100000, MAX_BUFFER)])
def test_buffer_size_clamped(kib, expected):
    conf = parse_rawx_conf(f"addr 1.2.3.4:5\nns N\nbasedir /v\nbuffer_size {kib}\n")
    assert conf.buffer_size == expected


@pytest.mark.parametrize("word,value", [
    ("ok", True), ("yes", True), ("TRUE", True), ("enable", True),
    ("enabled", True), ("yeah", True), ("on", True),
    ("ko", False), ("no", False), ("false", False), ("disable", False),
    ("disabled", False), ("nope", False), ("off", False), ("wot?", False)])
def test_booleans(word, value):
    assert parse_rawx_bool(word, "k") is value


@pytest.mark.parametrize("text,message", [
    ("ns N\nbasedir /v\n", "addr"),
    ("addr 1.2.3.4:5\nbasedir /v\n", "ns"),
    ("addr 1.2.3.4:5\nns N\n", "basedir"),
    ("addr 1.2.3.4:5\nns N\nbasedir relative/dir\n", "absolute"),
    ("addr nowhere\nns N\nbasedir /v\n", "IP:PORT"),
    ("addr 1.2.3.4:5\nns N\nbasedir /v\nfsync maybe\n", "boolean"),
    ("addr 1.2.3.4:5\nns N\nbasedir /v\nhash_width x\n", "integer"),
    ("addr 1.2.3.4:5\nns N\nbasedir /v\ncompression bzip\n", "compression"),
    ("addr 1.2.3.4:5\nns N\nbasedir /v\nfadvise_upload often\n",
     "cache, nocache or a boolean"),
])
def test_errors(text, message):
    with pytest.raises(ConfigurationException, match=message):
        parse_rawx_conf(text)


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigurationException, match="cannot read"):
        load_rawx_conf(str(tmp_path / "nope.conf"))


def test_command_line_forms():
    assert parse_args(["-f", "/a.conf"]).conf == "/a.conf"
    assert parse_args(["/b.conf"]).conf == "/b.conf"
    args = parse_args(["-f", "/a.conf", "-s", "id", "-v", "-D", "x", "-servicing"])
    assert args.servicing and args.syslog_id == "id"
    with pytest.raises(SystemExit):
        parse_args([])


@pytest.mark.parametrize("word, mode", [
    ("nocache", "nocache"), ("CACHE", "cache"), ("yes", "yes"),
    ("enabled", "yes"), ("off", "none")])
def test_fadvise_modes(word, mode):
    conf = parse_rawx_conf(f"addr 1.2.3.4:5\nns N\nbasedir /v\n"
                           f"grid_fadvise_upload {word}\n"
                           f"fadvise_download {word}\n")
    assert conf.fadvise_upload == conf.fadvise_download == mode
    default = parse_rawx_conf("addr 1.2.3.4:5\nns N\nbasedir /v\n")
    assert default.fadvise_upload == default.fadvise_download == "none"
