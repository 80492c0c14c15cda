"""The conscience server over real sockets: the proxy's conscience and lb
routes, dump, errors, and the Python client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.functional.conscience_process import running_conscience
from tests.utils import wait_until


class Conscience:
    def __init__(self, addr: str):
        self.base = f"http://{addr}/v3.0/OPENIO"
        self.addr = addr

    def req(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, resp.headers
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null"), err.headers


@pytest.fixture(scope="module")
def conscience(tmp_path_factory):
    # A type with a short score timeout, to watch expiry happen (not the
    # sandbox's `echo`, whose definition would override this one).
    echo = ("[type:expiring]\nscore_expr=(num stat.cpu)\nscore_timeout=1\n"
            "lock_at_first_register=false\n")
    with running_conscience(str(tmp_path_factory.mktemp("cs")),
                            extra_conf="expire_interval = 0.1\n",
                            extra_service_conf=echo) as addr:
        yield Conscience(addr)


def rawx(port, **tags):
    return {"type": "rawx", "addr": f"127.0.0.1:{port}",
            "tags": {"tag.1": True, "tag.up": True, "stat.cpu": 100.0,
                     "stat.io": 100.0, "stat.space": 100.0,
                     "tag.loc": f"rack.h.{port}",
                     "tag.slots": "rawx,rawx-odd" if port % 2 else "rawx,rawx-even",
                     **tags}}


def test_info_types_and_namespace_check(conscience):
    status, info, _ = conscience.req("GET", "/conscience/info")
    assert status == 200 and info["ns"] == "OPENIO"
    assert info["storage_policy"]["THREECOPIES"] == "rawx3:DUPONETHREE"
    assert info["options"]["storage_policy"] == "THREECOPIES"
    _, types, _ = conscience.req("GET", "/conscience/info?what=types")
    assert types == sorted(types) and "rawx" in types
    request = urllib.request.Request(
        f"http://{conscience.addr}/v3.0/OTHER/conscience/info")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 404
    assert json.loads(err.value.read())["status"] == 418


def test_register_lock_unlock_lb(conscience):
    ports = list(range(7001, 7007))
    assert conscience.req("POST", "/conscience/register",
                          [rawx(p) for p in ports])[0] == 204
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx")
    assert {s["score"] for s in listed} == {0}           # locked at first
    status, body, _ = conscience.req("POST", "/lb/poll?policy=THREECOPIES", {})
    assert status == 500 and body["status"] == 481
    conscience.req("POST", "/conscience/unlock",
                   [{"type": "rawx", "addr": f"127.0.0.1:{p}"} for p in ports])
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx&full=1")
    assert all(s["score"] > 0 for s in listed)
    assert "stat.cpu" in listed[0]["tags"]
    status, body, headers = conscience.req("POST", "/lb/poll?policy=THREECOPIES",
                                           {"avoid": ["OPENIO|rawx|127.0.0.1:7001"]})
    assert status == 200 and len(body) == 3
    assert "127.0.0.1:7001" not in [s["addr"] for s in body]
    assert all(s["id"].startswith("OPENIO|rawx|") for s in body)
    _, body, _ = conscience.req("GET", "/lb/choose?type=rawx&size=2&slot=odd")
    assert {int(s["addr"].rsplit(":", 1)[1]) % 2 for s in body} == {1}
    _, score, _ = conscience.req(
        "GET", "/conscience/score?type=rawx&service_id=127.0.0.1:7002")
    assert score["addr"] == "127.0.0.1:7002"
    _, dump, _ = conscience.req("GET", "/conscience/dump")
    assert len(dump["services"]["rawx"]) >= 6 and dump["info"]["ns"] == "OPENIO"


def test_lock_pins_the_score(conscience):
    conscience.req("POST", "/conscience/lock",
                   {"type": "rawx", "addr": "127.0.0.1:7003", "score": 42})
    _, listed, _ = conscience.req("GET", "/conscience/list?type=rawx")
    locked = [s for s in listed if s["addr"] == "127.0.0.1:7003"][0]
    assert locked["score"] == 42 and locked["tags"]["tag.lock"] is True


def test_silent_services_expire(conscience):
    conscience.req("POST", "/conscience/register",
                   {"type": "expiring", "addr": "127.0.0.1:7100",
                    "tags": {"stat.cpu": 80, "tag.up": True}})
    _, listed, _ = conscience.req("GET", "/conscience/list?type=expiring")
    assert listed[0]["score"] == 80

    def expired():
        _, listed, _ = conscience.req("GET", "/conscience/list?type=expiring")
        return listed[0]["score"] == 0 and listed[0]["tags"]["tag.up"] is False
    started = time.monotonic()
    wait_until(expired, timeout=5)
    assert time.monotonic() - started > 0.5


@pytest.mark.parametrize("path, body, http, status", [
    ("/conscience/register", {"type": "nope", "addr": "127.0.0.1:1"}, 404, 453),
    ("/conscience/register", {"type": "rawx", "addr": "nowhere"}, 400, 400),
    ("/conscience/register", {"type": "rawx", "addr": "1.2.3.4:99999"}, 400, 400),
    ("/conscience/register", {"addr": "127.0.0.1:1"}, 400, 400),
    ("/conscience/register", "garbage", 400, 400),
    ("/conscience/register", [1, 2], 400, 400),
    ("/conscience/lock", {"type": "x" * 5000, "addr": "127.0.0.1:1"}, 404, 453),
    ("/conscience/flush", None, 400, 400),
    ("/lb/poll?pool=nope", {}, 400, 400),
    ("/lb/poll", {}, 404, 400),
    ("/lb/poll?policy=NOPE", {}, 500, 481),
    ("/lb/poll?pool=rawx3", {"avoid": "x"}, 400, 400),
    ("/lb/poll?pool=rawx3", {"avoid_locations": ["x"]}, 400, 400),
    ("/lb/poll?pool=rawx3", [], 400, 400),
    ("/lb/create_pool?name=p", {"targets": 3}, 400, 400),
    ("/lb/create_pool?name=p", {"targets": "1,rawx", "options": {"a": []}},
     400, 400),
])
def test_bad_requests(conscience, path, body, http, status):
    got, reply, _ = conscience.req("POST", path, body)
    assert (got, reply["status"]) == (http, status)


def test_python_client(conscience):
    from oio.common import exceptions as exc
    from oio.conscience.client import ConscienceClient

    client = ConscienceClient({"namespace": "OPENIO"},
                              endpoint=f"http://{conscience.addr}")
    assert "rawx" in client.service_types()
    client.register({"type": "rawx", "addr": "127.0.0.1:7200",
                     "tags": {"stat.cpu": 90, "stat.io": 90, "stat.space": 90,
                              "tag.up": True}})
    ids = [s["id"] for s in client.all_services("rawx")]
    assert "127.0.0.1:7200" in ids
    client.register({"type": "rawx", "addr": "127.0.0.1:7201",
                     "tags": {"tag.service_id": "OPENIO-rawx-7201"}})
    assert client.resolve("rawx", "OPENIO-rawx-7201") == {
        "addr": "127.0.0.1:7201"}
    assert client.resolve_url("rawx", "http://OPENIO-rawx-7201/AB") == \
        "http://127.0.0.1:7201/AB"
    assert client.resolve_service_id("rawx", "127.0.0.1:1") == "127.0.0.1:1"
    with pytest.raises(exc.ServiceBusy):
        client.resolve("rawx", "OPENIO-rawx-none")
    assert len(client.next_instances("rawx", size=2)) == 2
    assert client.next_instance("rawx")["id"].startswith("OPENIO|rawx|")
    client.lb.create_pool("client_pool", [(1, "rawx")], force=True)
    with pytest.raises(exc.Conflict):
        client.lb.create_pool("client_pool", [(1, "rawx")])
    assert len(client.poll("client_pool")) == 1
    with pytest.raises(exc.NotFound):
        client.all_services("nope")
    client.deregister({"type": "rawx", "addr": "127.0.0.1:7201"})
    assert "127.0.0.1:7201" not in [s["addr"] for s in
                                    client.all_services("rawx")]


def test_status_info_and_dump_shape(conscience):
    with urllib.request.urlopen(f"http://{conscience.addr}/status",
                                timeout=5) as resp:
        assert json.loads(resp.read())["ns"] == "OPENIO"
    with urllib.request.urlopen(f"http://{conscience.addr}/info",
                                timeout=5) as resp:
        assert resp.read().startswith(b"conscience")
    _, dump, _ = conscience.req("GET", "/conscience/dump")
    assert set(dump) == {"info", "services"}
    assert set(dump["services"]) >= {"rawx", "meta2", "expiring"}
    info = dump["info"]
    assert info["chunksize"] > 0
    assert info["service_pools"]["rawx3"].startswith(
        "1,rawx-even,rawx;1,rawx-odd,rawx;1,rawx;max_dist=2")
    assert info["data_security"]["EC"].startswith("ec/")


def test_resolve_score_flush_and_deregister(conscience):
    item = {"type": "rdir", "addr": "127.0.0.1:7300",
            "tags": {"tag.service_id": "rdir-x", "tag.up": True,
                     "stat.cpu": 50, "stat.io": 50, "stat.space": 50}}
    conscience.req("POST", "/conscience/register", item)
    status, body, _ = conscience.req(
        "GET", "/conscience/resolve?type=rdir&service_id=rdir-x")
    assert (status, body) == (200, {"addr": "127.0.0.1:7300"})
    status, body, headers = conscience.req(
        "GET", "/conscience/resolve?type=rdir&service_id=nope")
    assert (status, body["status"]) == (503, 503) and headers["Retry-After"]
    status, body, _ = conscience.req(
        "GET", "/conscience/score?type=rdir&service_id=nope")
    assert (status, body["status"]) == (404, 404)
    status, body, _ = conscience.req("GET", "/conscience/list")
    assert status == 400
    assert conscience.req("POST", "/conscience/flush?type=rdir")[0] == 204
    assert conscience.req("GET", "/conscience/list?type=rdir")[1] == []
    conscience.req("POST", "/conscience/register", item)
    assert conscience.req("POST", "/conscience/deregister",
                          [{"type": "rdir", "addr": "127.0.0.1:7300"}])[0] == 204
    assert conscience.req("GET", "/conscience/list?type=rdir")[1] == []


def test_create_pool_and_poll_with_known(conscience):
    for p in range(7400, 7404):
        conscience.req("POST", "/conscience/register",
                       rawx(p, **{"tag.1": False}))
    conscience.req("POST", "/conscience/unlock",
                   [{"type": "rawx", "addr": f"127.0.0.1:{p}"}
                    for p in range(7400, 7404)])
    body = {"targets": "2,rawx", "options": {"min_dist": 1}}
    assert conscience.req("POST", "/lb/create_pool?name=two", body)[0] == 201
    status, reply, _ = conscience.req("POST", "/lb/create_pool?name=two", body)
    assert (status, reply["status"]) == (409, 421)
    assert conscience.req("POST", "/lb/create_pool?name=two&force=True",
                          body)[0] == 201
    status, sels, _ = conscience.req(
        "POST", "/lb/poll?pool=two", {"known": ["OPENIO|rawx|127.0.0.1:7400"],
                                      "unrelated": 1})
    assert status == 200 and len(sels) == 1
    assert sels[0]["addr"] != "127.0.0.1:7400"
    status, reply, _ = conscience.req(
        "POST", "/lb/poll?pool=two",
        {"known": ["OPENIO|rawx|127.0.0.1:7400", "OPENIO|rawx|127.0.0.1:7401"]})
    assert (status, reply["status"]) == (400, 400)
    _, info, _ = conscience.req("GET", "/conscience/info")
    assert info["service_pools"]["two"] == "2,rawx"
    assert conscience.req("POST", "/lb/reload")[0] == 204


def test_bad_configurations_exit_2(tmp_path, capsys):
    from oio.conscience.server import main

    types = tmp_path / "NS-service-types.conf"
    types.write_text("[type:rawx]\nscore_expr=root(3, (num stat.cpu)\n")
    conf = tmp_path / "cs.conf"
    conf.write_text(f"[conscience]\nnamespace=NS\nservices={tmp_path}/NS-service-*.conf\n")
    assert main([str(conf)]) == 2
    assert "score_expr" in capsys.readouterr().err
    conf.write_text("[conscience]\nbind_port=1\n")
    assert main([str(conf)]) == 2
    conf.write_text(f"[conscience]\nnamespace=NS\npolicies={tmp_path}/none.conf\n")
    assert main([str(conf)]) == 2
