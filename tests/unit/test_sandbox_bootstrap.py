"""The sandbox's configuration writer, without starting anything."""

import configparser
import json
import os

from oio.sandbox.bootstrap import Bootstrap
from oio.sandbox.layout import SandboxSettings
from oio.sandbox.sandbox import Sandbox


def test_ports_are_sequential_and_distinct(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False)
    ports = [spec.port for spec in s.services]
    assert ports == list(range(7000, 7000 + len(ports)))
    assert s.proxy == "127.0.0.1:7000"
    assert len(s.of_type("rawx")) == 9
    assert len({s.location(spec) for spec in s.of_type("rawx")}) == 9


def test_bootstrap_writes_every_file(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        chunk_size=1048576)
    Bootstrap(s).write_all()
    sds = configparser.ConfigParser(interpolation=None)
    sds.read(s.sds_conf)
    assert sds.get("OPENIO", "proxy") == "127.0.0.1:7000"
    assert sds.get("OPENIO", "ns.chunk_size") == "1048576"
    rawx = s.of_type("rawx")[0]
    text = open(os.path.join(s.conf_dir, f"{rawx.name}.conf")).read()
    assert f"Listen {rawx.addr}" in text and "grid_fsync enabled" in text
    assert "grid_fadvise_upload nocache" in text
    assert "grid_fadvise_download nocache" in text
    watch = json.load(open(os.path.join(s.watch_dir, f"{rawx.name}.yml")))
    assert watch["type"] == "rawx" and watch["port"] == rawx.port
    sup = configparser.ConfigParser(interpolation=None)
    sup.read(s.supervisor_conf)
    programs = [x for x in sup.sections() if x.startswith("program:")]
    # + the conscience agent, + the event agent when there is a beanstalkd,
    # + the xcute workers' event agent, + the blob rebuilder, the blob
    # improver and an auditor per rawx
    assert len(programs) == len(s.services) + 1 + bool(s.beanstalkd) \
        + s.with_xcute + s.with_healing * (2 + s.nb_rawx)
    assert "program:OPENIO-blob-rebuilder-1" in programs
    assert "oio-improve" not in sup["program:OPENIO-blob-improver-1"][
        "command"]   # its default tube
    handlers = configparser.ConfigParser(interpolation=None)
    handlers.read(os.path.join(s.conf_dir, "event-handlers.conf"))
    assert handlers["handler:storage.content.perfectible"]["pipeline"] == \
        "logger content_improve"
    assert handlers["filter:content_improve"]["tube"] == "oio-improve"
    audit = configparser.ConfigParser(interpolation=None)
    audit.read(os.path.join(s.conf_dir, f"{rawx.name}-auditor.conf"))
    assert audit["blob-auditor"]["volume"] == s.data_path(rawx)
    assert audit["blob-auditor"]["queue_url"].startswith("beanstalk://")
    if s.beanstalkd:
        assert "program:OPENIO-event-agent-1" in programs
    assert "program:OPENIO-xcute-agent-1" in programs
    assert "program:OPENIO-xcute-1" in programs


def test_settings_round_trip(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7100, user_conf=False,
                        nb_rawx=3)
    sandbox = Sandbox(s)
    sandbox.save()
    loaded = Sandbox.load(str(tmp_path)).settings
    assert loaded.services == s.services
    assert loaded.base_port == 7100


def test_rawx_copies_sharing_a_host_are_flawed_only_over_several_hosts(
        tmp_path):
    one = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False)
    many = SandboxSettings(root=str(tmp_path), base_port=7000,
                           user_conf=False, hosts=["10.0.0.1", "10.0.0.2"])
    assert "warn_dist=1" not in Bootstrap(one).pools()
    pools = configparser.ConfigParser(interpolation=None)
    pools.read_string(Bootstrap(many).pools())
    assert pools["pool:rawx3"]["warn_dist"] == "1"
    assert pools["pool:rawx2"]["warn_dist"] == "1"
