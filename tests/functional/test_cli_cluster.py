"""`openio cluster|events|rdir|volume ...` through the real binary."""

from __future__ import annotations

import uuid

import pytest

from oio.common.utils import cid_from_name
from oio.conscience.client import ConscienceClient
from oio.event.beanstalk import Beanstalk, BeanstalkError
from oio.rdir.client import RdirClient
from tests.functional.cli import run_cli
from tests.utils import free_port, wait_until

SCORED = ("meta0", "meta1", "meta2", "rawx", "account", "rdir")


def _conscience(namespace) -> ConscienceClient:
    return ConscienceClient({"namespace": namespace.ns},
                            endpoint=f"http://{namespace.proxy}")


def _rows(namespace, *args) -> list[dict]:
    result = run_cli(namespace, *args, "-f", "json")
    assert result.code == 0, result.err
    return result.json()


# cluster ---------------------------------------------------------------------
def test_cluster_list_shows_every_service_with_its_score(namespace):
    rows = _rows(namespace, "cluster", "list")
    assert list(rows[0]) == ["Type", "Addr", "Service Id", "Volume",
                             "Location", "Slots", "Up", "Score", "Locked"]
    listed = {(r["Type"], r["Addr"]) for r in rows}
    for kind in SCORED:
        for spec in namespace.services(kind):
            assert (kind, spec.addr) in listed
    assert all(isinstance(r["Score"], int) for r in rows)

    stats = _rows(namespace, "cluster", "list", "rawx", "--stats", "--tags")
    assert {r["Type"] for r in stats} == {"rawx"}
    assert len(stats) == len(namespace.services("rawx"))
    assert all("stat.cpu=" in r["Stats"] and "Tags" in r for r in stats)


def test_cluster_lock_and_unlock_a_service(namespace):
    addr = namespace.services("rawx")[0].addr

    def rawx_row() -> dict:
        return next(r for r in _rows(namespace, "cluster", "list", "rawx")
                    if r["Addr"] == addr)

    try:
        locked = _rows(namespace, "cluster", "lock", "rawx", addr, "-s", "7")
        assert locked == [{"Type": "rawx", "Service": addr,
                           "Result": "locked to 7"}]
        row = rawx_row()
        assert row["Score"] == 7 and row["Locked"] is True
    finally:
        unlocked = _rows(namespace, "cluster", "unlock", "rawx", addr)
    assert unlocked == [{"Type": "rawx", "Service": addr,
                         "Result": "unlocked"}]
    assert rawx_row()["Locked"] is False


def test_cluster_unlockall_and_wait(namespace):
    rows = _rows(namespace, "cluster", "unlockall", "rdir", "meta2")
    assert {(r["Type"], r["Result"]) for r in rows} == {
        ("rdir", "unlocked"), ("meta2", "unlocked")}
    waited = _rows(namespace, "cluster", "wait", "rawx", "-d", "30")
    assert {r["Service"] for r in waited} == {
        s.addr for s in namespace.services("rawx")}
    assert all(r["Score"] >= 1 for r in waited)

    late = run_cli(namespace, "cluster", "wait", "rawx", "-s", "101",
                   "-d", "0.5")
    assert late.code == 1 and "Timeout" in late.err and "still" in late.err


def test_cluster_deregister_a_service(namespace):
    conscience = _conscience(namespace)
    fake = {"type": "oioproxy", "addr": f"127.0.0.1:{free_port()}",
            "tags": {"tag.up": False}}

    def registered() -> bool:
        return any(s["addr"] == fake["addr"]
                   for s in conscience.all_services("oioproxy"))

    conscience.register(fake)
    try:
        wait_until(registered)
        rows = _rows(namespace, "cluster", "deregister", "oioproxy",
                     fake["addr"])
        assert rows == [{"Type": "oioproxy", "Service": fake["addr"],
                         "Result": "deregistered"}]
        assert not registered()
    finally:
        conscience.deregister(fake)


def test_cluster_show_resolve_and_local_views(namespace):
    shown = _rows(namespace, "cluster", "show")
    assert shown["namespace"] == namespace.ns
    assert shown["chunksize"] > 0
    assert "storage_policy.THREECOPIES" in shown

    conf = _rows(namespace, "cluster", "local", "conf")
    assert conf[f"{namespace.ns}/proxy"] == namespace.proxy

    addr = namespace.services("rawx")[0].addr
    assert _rows(namespace, "cluster", "resolve", "rawx", addr) == {
        "addr": addr}

    local = _rows(namespace, "cluster", "local", "list", "rawx")
    assert local and {r["Type"] for r in local} == {"rawx"}


def test_cluster_errors(namespace):
    unknown = run_cli(namespace, "cluster", "list", "nosuchtype")
    assert unknown.code == 1
    assert "Service type [nosuchtype] not managed" in unknown.err

    bad = run_cli(namespace, "cluster", "lock", "rawx", "no-such-id",
                  "-f", "json")
    assert bad.code == 1
    assert bad.json()[0]["Service"] == "no-such-id"
    assert "not found" in bad.json()[0]["Result"]

    port = run_cli(namespace, "cluster", "unlock", "rawx", "1.2.3.4:99999",
                   "-f", "json")
    assert port.code == 1
    assert port.json()[0]["Result"].startswith("Invalid service ID or address")

    unresolved = run_cli(namespace, "cluster", "resolve", "rawx", "nope")
    assert unresolved.code == 1 and "Service ID [nope] not found" in \
        unresolved.err

    flush = run_cli(namespace, "cluster", "flush", "nosuchtype", "-f", "json")
    assert flush.code == 1 and "not managed" in flush.json()[0]["Result"]
    assert "Traceback" not in unknown.err + bad.err + flush.err


# events ----------------------------------------------------------------------
@pytest.fixture
def beanstalk(namespace):
    if not namespace.services("beanstalkd"):
        pytest.skip("no beanstalkd in this sandbox")
    client = Beanstalk.from_url(namespace.services("beanstalkd")[0].addr)
    yield client
    client.close()


def test_events_list_count_and_exhume_buried_events(namespace, beanstalk):
    assert {"Tubes": "oio"} in _rows(namespace, "events", "tubes")

    # The agent buries what it cannot parse.
    beanstalk.use("oio")
    job = beanstalk.put(f"not json {uuid.uuid4()}".encode())

    def buried() -> bool:
        try:
            return beanstalk.stats_job(job)["state"] == "buried"
        except BeanstalkError:
            return False

    try:
        wait_until(buried)
        stats = _rows(namespace, "events", "stats")
        assert stats["name"] == "oio"
        assert stats["current-jobs-buried"] >= 1

        exhumed = _rows(namespace, "events", "exhume", "--limit", "1000")
        assert exhumed["Exhumed"] >= 1
        # Kicked back to the agent, which buries it again.
        assert beanstalk.stats_job(job)["kicks"] >= 1
        wait_until(buried)
    finally:
        wait_until(buried)
        beanstalk.delete(job)

    missing = run_cli(namespace, "events", "stats", "--tube", "no-such-tube")
    assert missing.code == 1 and "No such tube: no-such-tube" in missing.err
    nothing = _rows(namespace, "events", "exhume", "--tube",
                    f"empty-{uuid.uuid4().hex[:6]}")
    assert nothing == {"Exhumed": 0}


def test_events_without_an_endpoint(namespace, tmp_path):
    conf = tmp_path / "sds.conf"
    conf.write_text(f"[{namespace.ns}]\nproxy = {namespace.proxy}\n")
    result = run_cli(namespace, "events", "tubes",
                     env={"OIO_SDS_CONF": str(conf)})
    assert result.code == 1 and "No 'event-agent' endpoint" in result.err


# rdir and volume ---------------------------------------------------------------
def test_rdir_assignments_and_bootstrap(namespace):
    rdir = namespace.services("rdir")[0].addr
    rawx = [s.addr for s in namespace.services("rawx")]
    rows = _rows(namespace, "rdir", "assignments", "rawx")
    assert list(rows[0]) == ["Rdir", "Rawx", "Rdir location", "Rawx location"]
    assert sorted(r["Rawx"] for r in rows) == sorted(rawx)
    assert {r["Rdir"] for r in rows} == {rdir}

    aggregated = _rows(namespace, "volume", "assignation", "--aggregated")
    assert aggregated == [{"Rdir": rdir, "Number of bases": len(rawx),
                           "Bases": aggregated[0]["Bases"]}]
    assert sorted(aggregated[0]["Bases"].split()) == sorted(rawx)

    meta2 = _rows(namespace, "rdir", "assignments", "meta2")
    assert [r["Meta2"] for r in meta2] == [
        s.addr for s in namespace.services("meta2")]

    # A volume that lost its rdir gets one back from the load balancer.
    volume = rawx[0]
    try:
        assert run_cli(namespace, "reference", "unlink", volume, "rdir",
                       account="_RDIR").code == 0
        rows = _rows(namespace, "rdir", "assignments", "rawx")
        lost = next(r for r in rows if r["Rawx"] == volume)
        assert lost["Rdir"] == "n/a" and lost["Rdir location"] is None
        dry = _rows(namespace, "rdir", "bootstrap", "rawx", "--dry-run")
        assert next(r for r in dry if r["Rawx"] == volume)["Rdir"] == rdir
        assert "n/a" in {r["Rdir"] for r in _rows(
            namespace, "rdir", "assignments", "rawx")}
        done = _rows(namespace, "rdir", "bootstrap", "rawx")
        assert {r["Rdir"] for r in done} == {rdir}
        assert {r["Rdir"] for r in _rows(
            namespace, "rdir", "assignments", "rawx")} == {rdir}
    finally:
        namespace.sandbox.assign_rdir()

    unknown = run_cli(namespace, "rdir", "bootstrap", "rawx", "--service-id",
                      "no-such-rawx")
    assert unknown.code == 1 and "no-such-rawx is not a rawx" in unknown.err


def test_volume_show_and_admin(namespace):
    api = namespace.api()
    container = f"cli-vol-{uuid.uuid4().hex[:8]}"
    api.object_create("cli-vol", container, data=b"indexed",
                      obj_name="o", policy="SINGLE")
    _, chunks = api.object_locate("cli-vol", container, "o")
    volume = chunks[0]["url"].split("/")[2]
    cid = cid_from_name("cli-vol", container)
    rdir = RdirClient({"namespace": namespace.ns},
                      endpoint=f"http://{namespace.proxy}")
    wait_until(lambda: cid in rdir.status(volume)["container"])

    shown = _rows(namespace, "volume", "show", volume)
    assert shown[f"container.{cid}"] == '{"total": 1}'
    assert shown["chunk"]["total"] >= 1

    try:
        assert _rows(namespace, "volume", "admin", "lock", volume, "--key",
                     "cli-test") == [{"Volume": volume, "Success": True}]
        assert _rows(namespace, "volume", "admin", "incident", volume,
                     "--date", "1234") == [{"Volume": volume, "Date": 1234}]
        admin = _rows(namespace, "volume", "admin", "show", volume)
        assert admin["volume"] == volume
        assert admin["lock"] == "cli-test"
        assert str(admin["incident_date"]) == "1234"
        taken = run_cli(namespace, "volume", "admin", "clear", volume,
                        "-f", "json")
        assert taken.code == 1 and taken.json()[0]["Success"] is False
    finally:
        assert _rows(namespace, "volume", "admin", "unlock", volume) == [
            {"Volume": volume, "Success": True}]
    cleared = _rows(namespace, "volume", "admin", "clear", volume)
    assert cleared[0]["Success"] is True
    assert _rows(namespace, "volume", "admin", "show", volume) == {
        "volume": volume}

    missing = run_cli(namespace, "volume", "show", "no-such-volume")
    assert missing.code == 1
    assert "No rdir assigned to volume no-such-volume" in missing.err
