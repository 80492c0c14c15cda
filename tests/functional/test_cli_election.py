"""`openio election ...`, `openio-admin election balance` and
`openio-admin container vacuum` through the real binaries, against a
namespace whose meta bases have 3 replicas (real ZooKeeper)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass

import pytest

from oio.common.utils import cid_from_name
from oio.zk.server import installed
from tests.functional.cli import run_cli
from tests.utils import wait_until

from .replicated import election, start_replicated, stop

pytestmark = [pytest.mark.functional,
              pytest.mark.skipif(not installed(),
                                 reason="ZooKeeper is not installed")]

ACCOUNT = "elcli"
HUMAN_LOG = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+, \S+ -> \S+$")


@dataclass
class Namespace:
    """What run_cli needs, plus the sandbox."""

    ns: str
    conf_path: str
    sandbox: object


@pytest.fixture(scope="module")
def ns():
    sandbox = start_replicated()
    try:
        yield Namespace(sandbox.settings.namespace, sandbox.settings.sds_conf,
                        sandbox)
    finally:
        stop(sandbox)


@pytest.fixture(scope="module")
def api(ns):
    from oio import ObjectStorageApi

    return ObjectStorageApi(ns.ns,
                            endpoint=f"http://{ns.sandbox.settings.proxy}")


@pytest.fixture(scope="module")
def container(api) -> str:
    api.container_create(ACCOUNT, "ct")
    return "ct"


def openio(ns, *args, account: str = ACCOUNT):
    return run_cli(ns, *args, account=account)


def admin(ns, *args, account: str = ACCOUNT):
    return run_cli(ns, *args, binary="openio-admin", account=account)


def rows(result) -> list[dict]:
    assert result.code == 0, result.err
    return result.json()


def statuses(result) -> dict[str, tuple[int, str]]:
    return {r["Id"]: (r["Status"], r["Message"]) for r in rows(result)}


def assert_one_master(states: dict[str, tuple[int, str]]) -> str:
    """The master's ID, once checked that the others are its slaves."""
    assert len(states) == 3, states
    masters = [peer for peer, (status, _) in states.items() if status == 200]
    assert len(masters) == 1, states
    for peer, (status, message) in states.items():
        if peer != masters[0]:
            assert (status, message) == (303, masters[0]), states
    return masters[0]


def forward_info(ns, svc: str) -> dict:
    url = f"http://{ns.sandbox.settings.proxy}/v3.0/forward/info?id={svc}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


# status ----------------------------------------------------------------------
def test_status_meta2_one_master_two_slaves(ns, container):
    result = openio(ns, "election", "status", "meta2", container, "-f",
                    "json")
    assert [r["Id"] for r in rows(result)] == sorted(
        r["Id"] for r in rows(result))
    assert list(rows(result)[0]) == ["Id", "Status", "Message"]
    master = assert_one_master(statuses(result))
    assert master == election(ns.sandbox, "meta2", acct=ACCOUNT,
                              ref=container)[0]
    value = openio(ns, "election", "status", "meta2", container, "-f",
                   "value")
    assert value.code == 0
    assert f"{master} 200 OK" in value.out.splitlines()
    by_cid = openio(ns, "election", "status", "meta2", "--cid",
                    cid_from_name(ACCOUNT, container).lower(), "-f", "json",
                    account="")
    assert assert_one_master(statuses(by_cid)) == master


def test_status_meta1_by_cid_prefix(ns, container):
    prefix = cid_from_name(ACCOUNT, container)[:ns.sandbox.settings
                                               .meta1_digits]
    result = openio(ns, "election", "status", "meta1", prefix, "--cid",
                    "-f", "json", account="")
    assert_one_master(statuses(result))


def test_meta1_election_is_that_of_the_prefix_base(ns, container):
    # A meta1 base is named after its prefix padded to 4 digits (spec
    # replication.md §1: digits 2 -> "AB00"), whatever CID addresses it.
    digits = ns.sandbox.settings.meta1_digits
    cid = cid_from_name(ACCOUNT, container)
    for reference in (cid[:digits], cid):
        result = openio(ns, "election", "debug", "meta1", reference, "--cid",
                        "-f", "json", account="")
        assert {r["Body"]["base"]["name"] for r in rows(result)} == {
            cid[:digits].ljust(4, "0")}


def test_status_meta0_by_namespace_name(ns):
    result = openio(ns, "election", "status", "meta0", ns.ns, "-f", "json",
                    account="")
    assert_one_master(statuses(result))


# ping, debug, sync -----------------------------------------------------------
def test_ping_answers_at_once_on_every_replica(ns, container):
    result = openio(ns, "election", "ping", "meta2", container, "-f", "json")
    assert {r["Status"] for r in rows(result)} == {200}
    assert len(rows(result)) == 3


def test_debug_json_shape(ns, container):
    master, slaves = election(ns.sandbox, "meta2", acct=ACCOUNT,
                              ref=container)
    result = openio(ns, "election", "debug", "meta2", container, "-f",
                    "json")
    by_id = {r["Id"]: r for r in rows(result)}
    assert sorted(by_id) == sorted([master, *slaves])
    for peer, row in by_id.items():
        assert list(row) == ["Id", "Status", "Message", "Body"]
        assert (row["Status"], row["Message"]) == (200, "OK")
        body = row["Body"]
        assert {"local", "master", "base", "#", "peers", "log"} <= set(body)
        assert body["local"]["url"] == peer
        assert peer not in body["peers"] and len(body["peers"]) == 2
        assert body["base"]["type"] == "meta2"
        assert body["base"]["name"] == \
            f"{cid_from_name(ACCOUNT, container)}.1"
        assert all(re.match(r"^\d+:[^:]+:[^:]+:[^:]+$", e)
                   for e in body["log"])
    assert by_id[master]["Body"]["local"]["state"] == "MASTER"
    assert by_id[master]["Body"]["master"]["url"] is None
    for slave in slaves:
        assert by_id[slave]["Body"]["local"]["state"] == "SLAVE"
        assert by_id[slave]["Body"]["master"]["url"] == master
    human = openio(ns, "election", "debug", "meta2", container, "--human",
                   "--service-id", master, "-f", "json")
    (only,) = rows(human)
    assert only["Id"] == master and only["Body"]["log"]
    assert all(HUMAN_LOG.match(e) for e in only["Body"]["log"]), only
    table = openio(ns, "election", "debug", "meta2", container)
    assert table.code == 0 and '"state": "MASTER"' in table.out


def test_sync_slaves_copy_master_refuses(ns, container):
    master, slaves = election(ns.sandbox, "meta2", acct=ACCOUNT,
                              ref=container)
    result = openio(ns, "election", "sync", "meta2", container,
                    "--check-type", "2", "-f", "json")
    states = statuses(result)
    assert states[master] == (301, "not SLAVE")
    assert all(states[s][0] == 200 for s in slaves)
    assert list(rows(result)[0]) == ["Id", "Status", "Message", "Body"]
    bad = openio(ns, "election", "sync", "meta2", container,
                 "--check-type", "5")
    assert bad.code != 0 and "Traceback" not in bad.err


# leave -----------------------------------------------------------------------
def test_leave_on_the_master_moves_mastership(ns, api):
    api.container_create(ACCOUNT, "moving")
    old = assert_one_master(statuses(openio(
        ns, "election", "status", "meta2", "moving", "-f", "json")))
    left = openio(ns, "election", "leave", "meta2", "moving",
                  "--service-id", old, "-f", "json")
    assert statuses(left) == {old: (200, "OK")}

    def moved() -> str | None:
        states = statuses(openio(ns, "election", "status", "meta2",
                                 "moving", "-f", "json"))
        masters = [p for p, (s, _) in states.items() if s == 200]
        if len(masters) != 1 or masters[0] == old:
            return None
        return assert_one_master(states)

    new = wait_until(moved, timeout=30, interval=0.5)
    assert new != old


# balance ---------------------------------------------------------------------
def test_balance_gives_up_masterships(ns, api):
    for i in range(4):
        api.container_create(ACCOUNT, f"bal{i}")
    masters = [election(ns.sandbox, "meta2", acct=ACCOUNT, ref=f"bal{i}")[0]
               for i in range(4)]
    busiest = max(set(masters), key=masters.count)
    before = forward_info(ns, busiest)["elections"]["master"]
    assert before >= 1
    result = admin(ns, "election", "balance", "--service-id", busiest,
                   "--max", "1", "-f", "json")
    assert rows(result) == [{"Id": busiest, "Status": 200, "Count": 1}]
    wait_until(lambda: forward_info(ns, busiest)["elections"]["master"]
               < before, timeout=30, interval=0.3)
    # Every meta2 of the namespace, by type.
    every = admin(ns, "election", "balance", "meta2", "--max", "1", "-f",
                  "json")
    meta2 = sorted(s.addr for s in ns.sandbox.settings.of_type("meta2"))
    assert sorted(r["Id"] for r in rows(every)) == meta2
    assert {r["Status"] for r in rows(every)} == {200}
    assert all(r["Count"] in (0, 1) for r in rows(every))
    # --average: only those above the mean are asked (status 0 otherwise).
    average = admin(ns, "election", "balance", "meta2", "--average", "-f",
                    "json")
    assert {r["Status"] for r in rows(average)} <= {0, 200}
    assert len(rows(average)) == 3


def test_balance_bad_input(ns):
    two = admin(ns, "election", "balance", "meta1", "meta2", "--average")
    assert two.code == 1 and "exactly one service type" in two.err
    unknown = admin(ns, "election", "balance", "nosuchtype")
    assert unknown.code == 1 and "nosuchtype" in unknown.err
    assert "Traceback" not in two.err + unknown.err


# vacuum ----------------------------------------------------------------------
def test_container_vacuum(ns, api, container):
    api.object_create(ACCOUNT, container, data=b"x" * 100, obj_name="o",
                      policy="SINGLE")
    result = admin(ns, "container", "vacuum", container, "-f", "json")
    assert rows(result) == [{"Container": container, "Status": "OK"}]
    cid = cid_from_name(ACCOUNT, container)
    by_cid = admin(ns, "container", "vacuum", "--cid", cid, "-f", "json",
                   account="")
    assert rows(by_cid) == [{"Container": cid, "Status": "OK"}]
    missing = admin(ns, "container", "vacuum", container, "nosuch", "-f",
                    "json")
    assert missing.code == 1
    out = {r["Container"]: r["Status"] for r in missing.json()}
    assert out[container] == "OK" and "not found" in out["nosuch"]
    # The base is still served after its vacuum.
    assert api.object_list(ACCOUNT, container)["objects"][0]["name"] == "o"


# bad input -------------------------------------------------------------------
def test_bad_input_says_what_and_exits_non_zero(ns, container):
    started = time.monotonic()
    unknown = openio(ns, "election", "status", "nosuchtype", container)
    assert unknown.code == 1
    assert "No replicated bases of type nosuchtype" in unknown.err
    missing = openio(ns, "election", "status", "meta2", "nosuch")
    assert missing.code == 1 and "not found" in missing.err
    assert "elcli/nosuch" in missing.err
    noaccount = openio(ns, "election", "status", "meta2", container,
                       account="")
    assert noaccount.code == 1 and "--oio-account" in noaccount.err
    badcid = openio(ns, "election", "ping", "meta2", "XYZ", "--cid")
    assert badcid.code == 1 and "Invalid container ID" in badcid.err
    for result in (unknown, missing, noaccount, badcid):
        assert "Traceback" not in result.err and not result.out
    # Refused at once, not after the 32 s timeout.
    assert time.monotonic() - started < 30
