"""The sandbox's test-bed mode for OpenIO's own functional tests."""

import configparser

import yaml

from oio.sandbox.bootstrap import Bootstrap
from oio.sandbox.cli import _parser, settings_from_args
from oio.sandbox.layout import SandboxSettings
from oio.sandbox.testbed import PRESERVED_TUBE, upstream_test_config


def _handlers(s):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(f"{s.conf_dir}/event-handlers.conf")
    return parser


def test_every_pipeline_ends_copying_the_event_to_oio_preserved(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        nb_rawx=12, testbed=True)
    Bootstrap(s).write_all()
    handlers = _handlers(s)
    pipelines = {name: handlers[name]["pipeline"].split()
                 for name in handlers.sections() if name.startswith("handler:")}
    assert pipelines and all(p[-1] == "preserve" for p in pipelines.values())
    assert pipelines["handler:storage.container.new"] == \
        ["account_update", "preserve"]
    assert pipelines["handler:storage.content.new"] == ["preserve"]
    preserve = handlers["filter:preserve"]
    assert preserve["use"] == "egg:oio#notify"
    assert preserve["tube"] == PRESERVED_TUBE
    assert preserve["queue_url"] == f"beanstalk://{s.one('beanstalkd').addr}"


def test_no_copy_outside_the_test_bed(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False)
    Bootstrap(s).write_all()
    handlers = _handlers(s)
    assert not handlers.has_section("filter:preserve")
    assert handlers["handler:storage.content.new"]["pipeline"] == ""
    assert not (tmp_path / "conf" / "test.yml").exists()


def test_test_yml_has_what_openio_tests_read(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        nb_rawx=12, testbed=True, chunk_size=1048576,
                        storage_policy="SINGLE")
    Bootstrap(s).write_all()
    with open(s.test_conf) as src:
        conf = yaml.safe_load(src)
    assert conf == upstream_test_config(s)
    assert conf["namespace"] == "OPENIO"
    assert conf["account"] == "test_account"
    assert conf["proxy"] == s.proxy == conf["services"]["proxy"][0]["addr"]
    assert conf["chunk_size"] == conf["config"]["ns.chunk_size"] == 1048576
    assert conf["storage_policy"] == "SINGLE"
    assert conf["sds_path"] == str(tmp_path)
    assert conf["with_service_id"] is False and conf["use_tls"] is False
    rawx = conf["services"]["rawx"]
    assert len(rawx) == 12   # fewer and their EC tests skip
    assert rawx[2] == {"num": "3", "addr": s.of_type("rawx")[2].addr,
                       "path": s.data_path(s.of_type("rawx")[2])}
    for kind in ("beanstalkd", "meta0", "meta1", "meta2", "account", "rdir",
                 "conscience"):
        assert conf["services"][kind], kind
    assert "redis" not in conf["services"]
    env = open(s.test_env).read()
    assert f"export SDS_TEST_CONFIG_FILE={s.test_conf}\n" in env
    assert f"export OIO_SDS_CONF={s.sds_conf}\n" in env


def test_the_echo_type_is_known_to_the_conscience(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        testbed=True)
    Bootstrap(s).write_all()
    types = open(f"{s.conf_dir}/OPENIO-service-types.conf").read()
    assert "[type:echo]" in types


def test_cli_testbed_settings(tmp_path):
    s = settings_from_args(_parser().parse_args(
        ["--root", str(tmp_path), "up", "--testbed"]))
    assert s.testbed and not s.user_conf and not s.with_healing
    assert (len(s.of_type("rawx")), s.chunk_size, s.storage_policy) == \
        (12, 1048576, "SINGLE")
    s = settings_from_args(_parser().parse_args(
        ["--root", str(tmp_path), "up", "--testbed", "--nb-rawx", "15"]))
    assert len(s.of_type("rawx")) == 15
    s = settings_from_args(_parser().parse_args(
        ["--root", str(tmp_path), "up"]))
    assert not s.testbed and s.user_conf and s.with_healing
    assert (len(s.of_type("rawx")), s.storage_policy) == (9, "THREECOPIES")


def test_rawx_of_the_test_bed_stand_in_three_places(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        nb_rawx=12, testbed=True)
    Bootstrap(s).write_all()
    places = {}
    for spec in s.of_type("rawx"):
        place = s.location(spec).rsplit(".", 1)[0]
        places.setdefault(place, []).append(spec)
    assert sorted(places) == ["rack.place-1", "rack.place-2", "rack.place-3"]
    assert all(len(specs) == 4 for specs in places.values())
    pools = (tmp_path / "conf").glob("*-service-pools.conf")
    assert "warn_dist=0" not in next(pools).read_text()
    sds = configparser.ConfigParser(interpolation=None)
    sds.read(s.sds_conf)
    assert sds[s.namespace]["meta2.flush_limit"] == "64"


def test_rawx_outside_the_test_bed_are_at_their_host(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False)
    spec = s.of_type("rawx")[0]
    assert s.location(spec) == f"rack.127-0-0-1.{spec.port}"


def test_the_test_bed_runs_an_ecd(tmp_path):
    s = SandboxSettings(root=str(tmp_path), base_port=7000, user_conf=False,
                        nb_rawx=12, testbed=True)
    Bootstrap(s).write_all()
    ecd = s.one("ecd")
    assert ecd is not None and not ecd.registered
    with open(s.test_conf) as src:
        assert yaml.safe_load(src)["services"]["ecd"][0]["addr"] == ecd.addr
    assert not SandboxSettings(root=str(tmp_path), base_port=7000,
                               user_conf=False).of_type("ecd")
