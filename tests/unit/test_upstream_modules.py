"""Modules and names OpenIO 7.2's tools and tests import from `oio`
(tests/utils.py of its suite among them)."""

from __future__ import annotations

import configparser

import pytest


def test_event_fields_read_and_write_the_event_dict():
    from oio.event.evob import Event, is_error, is_success

    env = {"event": "storage.content.new", "request_id": "R1", "when": 3,
           "url": {"ns": "OPENIO", "account": "a"}, "data": []}
    event = Event(env)
    assert (event.event_type, event.reqid, event.when) == \
        ("storage.content.new", "R1", 3)
    assert event.url["account"] == "a" and event.data == []
    assert event.job_id is None
    event.job_id = 7
    assert env["job_id"] == 7
    assert is_success(204) and not is_success(404)
    assert is_error(503) and not is_error(404)


def test_easy_values():
    from oio.common.easy_value import (
        boolean_value,
        float_value,
        int_value,
        true_value,
    )

    assert true_value("yes") and not true_value("nope")
    assert boolean_value("off", True) is False
    assert boolean_value("maybe", True) is True
    assert boolean_value(None) is False
    assert int_value("12", 3) == 12 and int_value("", 3) == 3
    assert float_value(None, 0.5) == 0.5 and float_value("2", None) == 2.0
    with pytest.raises(ValueError):
        int_value("twelve", 1)


def test_json_green_and_beanstalk_names():
    from oio.common.green import sleep, time
    from oio.common.json import json
    from oio.event.beanstalk import BeanstalkError, ResponseError

    assert json.loads('{"a": 1}') == {"a": 1}
    assert callable(sleep) and time.time() > 0
    assert ResponseError is BeanstalkError


def test_set_namespace_options(tmp_path, monkeypatch):
    from oio.common.configuration import (
        load_namespace_conf,
        set_namespace_options,
    )
    from oio.common.exceptions import ConfigurationException

    path = tmp_path / "sds.conf"
    path.write_text("[OPENIO]\nproxy=127.0.0.1:6000\nns.chunk_size=1\n"
                    "[OTHER]\nproxy=127.0.0.1:7000\n")
    monkeypatch.setenv("OIO_SDS_CONF", str(path))
    out = set_namespace_options("OPENIO", {"ns.chunk_size": 2, "x": "y"},
                                remove=["x"])
    assert out == {"proxy": "127.0.0.1:6000", "ns.chunk_size": "2"}
    assert load_namespace_conf("OPENIO") == out
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser["OTHER"]["proxy"] == "127.0.0.1:7000"
    set_namespace_options("NEW", {"proxy": "127.0.0.1:8000"})
    assert load_namespace_conf("NEW") == {"proxy": "127.0.0.1:8000"}
    monkeypatch.setenv("OIO_SDS_CONF", str(tmp_path / "missing.conf"))
    with pytest.raises(ConfigurationException):
        set_namespace_options("OPENIO", {"a": 1})
