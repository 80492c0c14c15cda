"""`gridinit_cmd` of the sandbox: the names OpenIO's tests give it."""

import pytest

from oio.sandbox.gridinit import expand, main, sandbox_root

PROGRAMS = ["OPENIO-rawx-1", "OPENIO-rawx-12", "OPENIO-meta2-1",
            "OPENIO-event-agent-1", "OPENIO-conscience-agent-1",
            "OPENIO-conscience-1"]


def test_groups_and_names():
    assert expand(["@rawx"], PROGRAMS, "OPENIO") == ["OPENIO-rawx-1",
                                                    "OPENIO-rawx-12"]
    assert expand(["@event"], PROGRAMS, "OPENIO") == ["OPENIO-event-agent-1"]
    assert expand(["@conscience"], PROGRAMS, "OPENIO") == [
        "OPENIO-conscience-1"]
    assert expand(["@OPENIO"], PROGRAMS, "OPENIO") == PROGRAMS
    assert expand(["@indexer"], PROGRAMS, "OPENIO") == []
    assert expand(["OPENIO-meta2-1"], PROGRAMS, "OPENIO") == [
        "OPENIO-meta2-1"]
    with pytest.raises(ValueError, match="unknown service OPENIO-meta2-9"):
        expand(["OPENIO-meta2-9"], PROGRAMS, "OPENIO")


def test_the_sandbox_comes_from_oio_sds_conf(tmp_path, capsys, monkeypatch):
    assert sandbox_root({"OIO_SDS_CONF": "/var/tmp/tb/conf/sds.conf"}) == \
        "/var/tmp/tb"
    monkeypatch.delenv("OIO_SDS_CONF", raising=False)
    assert main(["-S", "/x.sock", "stop", "@rawx"]) == 1
    assert "OIO_SDS_CONF is not set" in capsys.readouterr().err
    monkeypatch.setenv("OIO_SDS_CONF", str(tmp_path / "conf" / "sds.conf"))
    assert main(["status"]) == 1
    assert "No sandbox in" in capsys.readouterr().err
