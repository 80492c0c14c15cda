"""`openio-admin` through the real binary: locate, check, repair, and the
service commands, against the session's namespace."""

from __future__ import annotations

import os
import uuid

import pytest

from oio.common import exceptions as exc
from tests.functional.cli import run_cli
from tests.utils import chunk_file, wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(namespace):
    return namespace.api()


@pytest.fixture
def obj(namespace, api):
    """(account, container, object) of a fresh THREECOPIES object, listed
    by its account; removed afterwards."""
    account, container, name = _name("adm"), _name("ct"), "o1"
    api.account_create(account)
    api.object_create(account, container, data=b"x" * 4096, obj_name=name)
    # The account learns of its containers through events.
    wait_until(lambda: any(c[0] == container
                           for c in api.container_list(account)))
    yield account, container, name
    _drop(api, account, container)


def _drop(api, account, container) -> None:
    try:
        for item in api.object_list(account, container,
                                    versions=True)["objects"]:
            api.object_delete(account, container, item["name"],
                              version=item["version"])
        api.container_delete(account, container)
    except exc.OioException:
        pass


def admin(namespace, *args, account: str = ""):
    return run_cli(namespace, *args, binary="openio-admin", account=account)


def _urls(api, account, container, name) -> list[str]:
    return sorted(c["url"] for c in api.object_locate(account, container,
                                                      name)[1])


# Locate ----------------------------------------------------------------------
def test_locate_every_kind(namespace, api, obj):
    account, container, name = obj
    urls = _urls(api, account, container, name)

    acct = admin(namespace, "account", "locate", account, "-f", "json")
    assert acct.code == 0, acct.err
    (row,) = acct.json()
    assert list(row) == ["Type", "Item", "Service Id", "Addr", "Location",
                         "Status", "Errors"]
    assert row["Type"] == "account" and row["Item"] == account
    assert row["Addr"] == namespace.services("account")[0].addr

    ct = admin(namespace, "container", "locate", container, "-f", "json",
               account=account)
    assert ct.code == 0, ct.err
    kinds = {r["Type"]: r for r in ct.json()}
    assert set(kinds) == {"account", "meta0", "meta1", "meta2"}
    assert kinds["meta2"]["Addr"] == namespace.services("meta2")[0].addr
    assert kinds["meta2"]["Item"].startswith(f"{account}/{container} (")

    located = admin(namespace, "object", "locate", container, name, "-f",
                    "json", account=account)
    assert located.code == 0, located.err
    rawx = [r for r in located.json() if r["Type"] == "rawx"]
    assert sorted(r["Item"].split("(")[-1].rstrip(")") for r in rawx) == urls
    assert all(r["Status"].startswith("up=True") for r in rawx)

    chunk = admin(namespace, "chunk", "locate", urls[0], "-f", "json")
    assert chunk.code == 0, chunk.err
    (row,) = chunk.json()
    assert row["Item"].startswith(f"{account}/{container}/{name}/")
    assert row["Service Id"] == urls[0].split("/")[2]


def test_locate_errors(namespace, obj):
    account, container, _ = obj
    missing = admin(namespace, "object", "locate", container, "nope", "-f",
                    "json", account=account)
    assert missing.code == 1
    assert missing.json()[-1]["Status"] == "error"
    nocontainer = admin(namespace, "container", "locate", _name("none"),
                        "-f", "json", account=account)
    assert nocontainer.code == 1
    assert any("not found" in (r["Errors"] or "").lower()
               for r in nocontainer.json())
    noaccount = admin(namespace, "container", "locate", container)
    assert noaccount.code == 1 and "--oio-account" in noaccount.err
    auto = admin(namespace, "object", "locate", "--auto", "x", "--flat-bits",
                 "0", account=account)
    assert auto.code == 1 and "flat" in auto.err
    noobj = admin(namespace, "object", "check", container, account=account)
    assert noobj.code == 1 and "Missing value for object_name" in noobj.err
    assert "Traceback" not in noobj.err + auto.err


# Check -----------------------------------------------------------------------
def test_check_healthy_items(namespace, api, obj):
    account, container, name = obj
    checked = admin(namespace, "object", "check", container, name,
                    "--checksum", "-f", "json", account=account)
    assert checked.code == 0, checked.out + checked.err
    rows = checked.json()
    assert list(rows[0]) == ["Type", "Item", "Status", "Errors"]
    assert [r["Type"] for r in rows].count("chunk") == 3
    assert {r["Status"] for r in rows} == {"OK"}

    whole = admin(namespace, "account", "check", account, "-f", "json")
    assert whole.code == 0, whole.out
    assert sorted({r["Type"] for r in whole.json()}) == [
        "account", "chunk", "container", "object"]
    shallow = admin(namespace, "container", "check", container, "--depth",
                    "1", "-f", "json", account=account)
    assert shallow.code == 0
    assert "chunk" not in {r["Type"] for r in shallow.json()}


def test_broken_chunks_are_reported_then_repaired(namespace, api, obj, tmp_path):
    account, container, name = obj
    lost, corrupted, _ = _urls(api, account, container, name)
    os.unlink(chunk_file(namespace, lost))
    with open(chunk_file(namespace, corrupted), "r+b") as f:
        f.seek(100)
        f.write(b"corrupted")
    errors_file = tmp_path / "errors"

    checked = admin(namespace, "object", "check", container, name,
                    "--checksum", "-o", str(errors_file), "-f", "json",
                    account=account)
    assert checked.code == 1
    status = {r["Item"]: r for r in checked.json()}
    assert "Not found" in status[f"chunk={lost}"]["Errors"]
    assert "Corrupted" in status[f"chunk={corrupted}"]["Errors"]
    (obj_row,) = [r for r in checked.json() if r["Type"] == "object"]
    assert lost in obj_row["Errors"] and corrupted in obj_row["Errors"]
    assert lost in errors_file.read_text()

    chunk = admin(namespace, "chunk", "check", lost, "-f", "json")
    assert chunk.code == 1
    assert any(r["Item"] == f"chunk={lost}" and r["Status"] == "error"
               for r in chunk.json())

    repaired = admin(namespace, "object", "repair", container, name, "-f",
                     "json", account=account)
    assert repaired.code == 0, repaired.out + repaired.err
    assert repaired.json() == [{
        "Object": f"{namespace.ns}|{account}|{container}|{name}|None",
        "Status": "OK", "Errors": None}]
    urls = _urls(api, account, container, name)
    assert lost not in urls and corrupted not in urls and len(urls) == 3
    again = admin(namespace, "object", "check", container, name,
                  "--checksum", account=account)
    assert again.code == 0, again.out
    assert b"".join(api.object_fetch(account, container, name)[1]) \
        == b"x" * 4096


def test_ec_fragment_rebuilt(namespace, api):
    namespace.sandbox.wait_all_up()
    account, container = _name("adm"), _name("ec")
    data = os.urandom(100_000)
    try:
        api.object_create(account, container, data=data, obj_name="e",
                          policy="EC")
        lost = _urls(api, account, container, "e")[4]
        os.unlink(chunk_file(namespace, lost))
        broken = admin(namespace, "object", "check", container, "e",
                       account=account)
        assert broken.code == 1 and lost in broken.out
        repaired = admin(namespace, "object", "repair", container, "e",
                         account=account)
        assert repaired.code == 0, repaired.out + repaired.err
        assert lost not in _urls(api, account, container, "e")
        assert admin(namespace, "object", "check", container, "e",
                     "--checksum", account=account).code == 0
        assert b"".join(api.object_fetch(account, container, "e")[1]) == data
    finally:
        _drop(api, account, container)


def test_account_and_container_repair(namespace, obj):
    account, container, _ = obj
    acct = admin(namespace, "account", "repair", account, "-f", "json")
    assert acct.code == 0, acct.err
    assert {"Entry": f"{namespace.ns}|{account}|{container}", "Status": "OK",
            "Errors": None} in acct.json()
    ct = admin(namespace, "container", "repair", container, "-f", "json",
               account=account)
    assert ct.code == 0
    assert ct.json()[0]["Container"] == f"{namespace.ns}|{account}|{container}"
    missing = admin(namespace, "container", "repair", _name("none"), "-f",
                    "json", account=account)
    assert missing.code == 1 and missing.json()[0]["Status"] == "error"


# Services --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["directory", "meta0", "meta1", "rdir"])
def test_service_checks(namespace, kind):
    checked = admin(namespace, kind, "check", "-f", "json")
    assert checked.code == 0, checked.out + checked.err
    assert checked.json() == [{"Status": "OK", "Errors": None}]


def test_service_check_with_a_catalog(namespace, tmp_path):
    catalog = tmp_path / "catalog"
    catalog.write_text("# expected\nmeta1 127.0.0.1 1\n")
    checked = admin(namespace, "meta1", "check", "--catalog", str(catalog),
                    "-f", "json")
    assert checked.code == 1
    assert "127.0.0.1:1" in checked.json()[0]["Errors"]


def test_rawx_check(namespace, api, obj):
    account, container, name = obj
    url = _urls(api, account, container, name)[0]
    rawx = url.split("/")[2]
    wait_until(lambda: url in admin(namespace, "rawx", "check", rawx).out)
    checked = admin(namespace, "rawx", "check", rawx)
    line = next(x for x in checked.out.splitlines() if x.startswith(url))
    assert line.split()[1] == "OK"


def test_info_config_decache(namespace):
    meta2 = namespace.services("meta2")[0].addr
    info = admin(namespace, "meta2", "info", meta2, "-f", "json")
    assert info.code == 0, info.err
    assert info.json()["service"] == "meta2" and info.json()["addr"] == meta2

    # As 7.2: every meta service has a live configuration.
    for kind in ("meta0", "meta1", "meta2", "conscience"):
        addr = namespace.services(kind)[0].addr
        shown = admin(namespace, kind, "get-config", addr, "-f", "json")
        assert shown.code == 0, shown.err
        assert shown.json()["server.request.max_run_time"] == "300000000"
    changed = admin(namespace, "meta2", "set-config", meta2, "-p",
                    "server.request.max_run_time=1000000", "-p", "test=1",
                    "-f", "json")
    assert changed.code == 1        # "test" is no variable of meta2
    assert sorted(changed.json(), key=lambda r: r["Name"]) == [
        {"Name": "server.request.max_run_time", "Modified": True},
        {"Name": "test", "Modified": False}]
    shown = admin(namespace, "meta2", "get-config", meta2, "-f", "value",
                  "-c", "server.request.max_run_time")
    assert shown.out.strip() == "1000000"
    unknown = admin(namespace, "meta1", "info", "no-such-service")
    assert unknown.code == 1 and "no-such-service" in unknown.err

    conf = admin(namespace, "oioproxy", "get-config", "-f", "json")
    assert conf.code == 0
    versions = conf.json()["meta2.max_versions"]
    same = admin(namespace, "oioproxy", "set-config", "-p",
                 f"meta2.max_versions={versions}", "-f", "json")
    assert same.json() == [{"Name": "meta2.max_versions", "Modified": True}]
    bad = admin(namespace, "oioproxy", "set-config", "-p", "no.such=1")
    assert bad.code == 1

    for kind in ("oioproxy", "meta1", "meta2"):
        flushed = admin(namespace, kind, "decache", "-f", "json")
        assert flushed.code == 0, flushed.err
        assert {r["Status"] for r in flushed.json()} == {"OK"}
    down = admin(namespace, "meta2", "decache", "127.0.0.1:1", "-f", "json")
    assert down.code == 1 and down.json()[0]["Status"] == "error"


def test_list_containers(namespace, api, obj):
    from oio.common.utils import cid_from_name
    from oio.rdir.client import RdirClient

    account, container, name = obj
    rawx = _urls(api, account, container, name)[0].split("/")[2]
    listed = wait_until(lambda: [
        r for r in admin(namespace, "rawx", "list", "containers", rawx,
                         "-f", "json").json()
        if r["Name"] == f"{account}/{container}"])
    assert listed[0]["Chunks"] == 1

    meta2 = namespace.services("meta2")[0].addr
    rdir = RdirClient({"namespace": namespace.ns})
    path = f"{namespace.ns}/{account}/{container}"
    # Indexed by events too when meta1 sends them; pushed here to be sure.
    rdir.meta2_index_push(meta2, path, cid_from_name(account, container), 1)
    try:
        page = admin(namespace, "meta2", "list", "containers", meta2,
                     "--prefix", path, "-f", "json")
        assert page.json() == [{"Name": f"{account}/{container}"}]
        everything = admin(namespace, "meta2", "list", "containers", meta2,
                           "--no-paging")
        assert path in everything.out.split()
    finally:
        rdir.meta2_index_delete(meta2, path)


def test_rdir_reassign_dry_run(namespace):
    rawx = namespace.services("rawx")[0].addr
    shown = admin(namespace, "rdir", "reassign", "rawx", "--service-id", rawx,
                  "--dry-run", "-f", "json")
    assert shown.code == 0, shown.err
    assert shown.json()[0]["Rawx"] == rawx
    assert shown.json()[0]["Rdir"] == namespace.services("rdir")[0].addr
