"""`openio reference|directory ...` through the real binary."""

from __future__ import annotations

import json
import uuid

from oio.common.utils import cid_from_name
from tests.functional.cli import run_cli

ACCOUNT = "cli-ref"


def _name() -> str:
    return f"cli-ref-{uuid.uuid4().hex[:8]}"


def _ok(namespace, *args, account: str = ACCOUNT, json_out: bool = True):
    extra = ("-f", "json") if json_out else ()
    result = run_cli(namespace, *args, *extra, account=account)
    assert result.code == 0, result.err
    return result.json() if json_out else result


# reference -------------------------------------------------------------------
def test_reference_lifecycle(namespace):
    ref = _name()
    assert _ok(namespace, "reference", "create", ref) == [
        {"Name": ref, "Created": True}]
    assert _ok(namespace, "reference", "create", ref) == [
        {"Name": ref, "Created": False}]
    meta2 = namespace.services("meta2")[0].addr
    try:
        _ok(namespace, "reference", "link", ref, "meta2", json_out=False)
        assert _ok(namespace, "reference", "list", ref) == [
            {"Type": "meta2", "Host": meta2, "Args": "", "Seq": 1}]
        located = _ok(namespace, "reference", "locate", ref)
        assert located["cid"] == cid_from_name(ACCOUNT, ref)
        assert located["meta0"] == namespace.services("meta0")[0].addr
        assert located["meta1"] == namespace.services("meta1")[0].addr
        _ok(namespace, "reference", "poll", ref, "meta2", json_out=False)

        _ok(namespace, "reference", "set", ref, "--property", "a=1",
            "--property", "b=2", json_out=False)
        _ok(namespace, "reference", "unset", ref, "--property", "a",
            json_out=False)
        assert _ok(namespace, "reference", "show", ref) == {
            "account": ACCOUNT, "name": ref,
            "cid": cid_from_name(ACCOUNT, ref), "meta.b": "2"}
        _ok(namespace, "reference", "set", ref, "--clear", "--property",
            "c=3", json_out=False)
        shown = _ok(namespace, "reference", "show", ref)
        assert "meta.b" not in shown and shown["meta.c"] == "3"

        still = run_cli(namespace, "reference", "delete", ref,
                        account=ACCOUNT)
        assert still.code == 1 and "still linked" in still.err

        _ok(namespace, "reference", "unlink", ref, "meta2", json_out=False)
        assert _ok(namespace, "reference", "list", ref) == []
        _ok(namespace, "reference", "force", ref, meta2, "meta2", "--seq",
            "3", "--args", "x", json_out=False)
        assert _ok(namespace, "reference", "list", ref) == [
            {"Type": "meta2", "Host": meta2, "Args": "x", "Seq": 3}]
        again = run_cli(namespace, "reference", "force", ref, meta2, "meta2",
                        account=ACCOUNT)
        assert again.code == 1 and "already linked" in again.err
        _ok(namespace, "reference", "force", ref, meta2, "meta2", "--replace",
            json_out=False)
        assert _ok(namespace, "reference", "list", ref)[0]["Seq"] == 1
    finally:
        run_cli(namespace, "reference", "unlink", ref, "meta2",
                account=ACCOUNT)
    _ok(namespace, "reference", "delete", ref, json_out=False)
    gone = run_cli(namespace, "reference", "show", ref, account=ACCOUNT)
    assert gone.code == 1 and "Reference not found" in gone.err
    assert "Traceback" not in gone.err


def test_reference_errors(namespace):
    missing = run_cli(namespace, "reference", "list", _name(),
                      account=ACCOUNT)
    assert missing.code == 1 and "Reference not found" in missing.err

    no_account = run_cli(namespace, "reference", "show", _name())
    assert no_account.code == 1 and "Set the account" in no_account.err

    usage = run_cli(namespace, "reference", "unset", _name(),
                    account=ACCOUNT)
    assert usage.code == 2 and "--property" in usage.err


# directory -------------------------------------------------------------------
def test_directory_check_dump_and_restore(namespace, tmp_path):
    ok = run_cli(namespace, "directory", "check", "--replicas", "1")
    assert ok.code == 0, ok.err
    # The sandbox has one meta1: 3 replicas per base cannot be there.
    short = run_cli(namespace, "directory", "check")
    assert short.code == 1
    assert "bases have fewer than 3 services" in short.err

    dumped = run_cli(namespace, "directory", "dump")
    assert dumped.code == 0
    mapping = json.loads(dumped.out)
    meta1 = namespace.services("meta1")[0].addr
    assert len(mapping) == 65536
    assert set(map(tuple, mapping.values())) == {(meta1,)}

    backup = tmp_path / "meta0.json"
    backup.write_text(dumped.out)
    unsure = run_cli(namespace, "directory", "restore", str(backup),
                     "--replicas", "1")
    assert unsure.code == 0 and "--I-know-what-I-am-doing" in unsure.err
    sure = run_cli(namespace, "directory", "restore", "-", "--replicas", "1",
                   "--I-know-what-I-am-doing", stdin=dumped.out.encode())
    assert sure.code == 0, sure.err
    assert json.loads(run_cli(namespace, "directory", "dump").out) == mapping

    broken = run_cli(namespace, "directory", "restore", "-",
                     stdin=b'{"0000": 3}')
    assert broken.code == 1 and "Not a meta0 map" in broken.err
    unreadable = run_cli(namespace, "directory", "restore",
                         str(tmp_path / "nope.json"))
    assert unreadable.code == 1 and "Cannot read" in unreadable.err


def test_directory_bootstrap_rebalance_decommission_warmup(namespace):
    before = json.loads(run_cli(namespace, "directory", "dump").out)
    done = run_cli(namespace, "directory", "bootstrap", "--replicas", "1",
                   "--check")
    assert done.code == 0, done.err
    # Recomputed from the conscience's meta1 and written again: the same.
    forced = run_cli(namespace, "directory", "bootstrap", "--replicas", "1",
                     "--force")
    assert forced.code == 0, forced.err
    assert json.loads(run_cli(namespace, "directory", "dump").out) == before
    impossible = run_cli(namespace, "directory", "bootstrap", "--force")
    assert impossible.code == 1
    assert "3 replicas asked but only 1 meta1" in impossible.err

    balanced = run_cli(namespace, "directory", "rebalance", "--replicas", "1")
    assert balanced.code == 0, balanced.err

    meta1 = namespace.services("meta1")[0].addr
    alone = run_cli(namespace, "directory", "decommission", meta1,
                    "--replicas", "1")
    assert alone.code == 1 and "Did nothing" in alone.err
    stranger = run_cli(namespace, "directory", "decommission", "127.0.0.1:1",
                       "--replicas", "1")
    assert stranger.code == 1 and "neither a meta1" in stranger.err
    assert json.loads(run_cli(namespace, "directory", "dump").out) == before

    warm = run_cli(namespace, "directory", "warmup", "--workers", "4")
    assert warm.code == 0, warm.err
