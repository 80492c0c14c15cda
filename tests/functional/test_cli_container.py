"""`openio container ...` through the real binary (buckets:
test_cli_bucket.py)."""

from __future__ import annotations

import hashlib
import os
import uuid

from oio.common.utils import cid_from_name
from tests.functional.cli import run_cli
from tests.utils import wait_until


def _account() -> str:
    return f"cli-ct-{uuid.uuid4().hex[:8]}"


def _listed(api, account: str, names) -> bool:
    try:
        return set(names) <= {e[0] for e in api.container_list(account)}
    except Exception:  # the account appears with its first container
        return False


def test_container_lifecycle(namespace):
    acct = _account()
    odd = "dossier été 2024"
    created = run_cli(namespace, "container", "create", "plain", odd,
                      "--property", "team=blue", "--max-versions", "3",
                      "-f", "json", account=acct)
    assert created.code == 0, created.err
    assert created.json() == [{"Name": "plain", "Created": True},
                              {"Name": odd, "Created": True}]

    shown = run_cli(namespace, "container", "show", odd, "-f", "json",
                    account=acct)
    assert shown.code == 0, shown.err
    info = shown.json()
    assert info["account"] == acct and info["container"] == odd
    assert info["meta.team"] == "blue"
    assert info["max_versions"] == "3"
    assert info["storage_policy"] == "Namespace default"
    assert info["quota"] == "Namespace default"
    assert info["status"] == "Enabled"
    assert info["objects"] == 0 and info["bytes_usage"] == 0
    assert info["base_name"].startswith(cid_from_name(acct, odd).upper())

    assert run_cli(namespace, "container", "set", odd, "--property", "x=1",
                   "--quota", "1000", "--storage-policy", "SINGLE",
                   "--status", "frozen", account=acct).code == 0
    info = run_cli(namespace, "container", "show", odd, "-f", "json",
                   account=acct).json()
    assert (info["meta.x"], info["meta.team"]) == ("1", "blue")
    assert (info["quota"], info["storage_policy"]) == ("1000", "SINGLE")
    assert info["status"] == "Frozen"

    # --cid finds the container without --oio-account.
    cid = cid_from_name(acct, odd)
    assert run_cli(namespace, "container", "set", "--cid", cid, "--status",
                   "enabled").code == 0
    assert run_cli(namespace, "container", "unset", odd, "--property",
                   "team", account=acct).code == 0
    assert run_cli(namespace, "container", "unset", odd, "--quota",
                   "--storage-policy", account=acct).code == 0
    info = run_cli(namespace, "container", "show", "--cid", cid,
                   "-f", "json").json()
    assert "meta.team" not in info and info["meta.x"] == "1"
    assert info["quota"] == "Namespace default"
    assert info["storage_policy"] == "Namespace default"
    assert info["status"] == "Enabled"

    located = run_cli(namespace, "container", "locate", odd, "-f", "json",
                      account=acct)
    assert located.code == 0, located.err
    where = located.json()
    services = namespace.api().directory.list(acct, odd)
    assert where["name"] == odd and where["account"] == acct
    assert where["meta2"] == ", ".join(
        s["host"] for s in services["srv"] if s["type"] == "meta2")
    assert where["meta1"] == ", ".join(
        s["host"] for s in services["dir"] if s["type"] == "meta1")
    assert where["status"] == "Enabled"

    deleted = run_cli(namespace, "container", "delete", "plain", odd,
                      account=acct)
    assert deleted.code == 0, deleted.err
    gone = run_cli(namespace, "container", "show", odd, account=acct)
    assert gone.code == 1
    assert f"Container '{odd}' not found in account '{acct}'" in gone.err


def test_container_list_prefix_marker_limit(namespace):
    acct = _account()
    names = ["c-a", "c-b", "c-c", "d-x"]
    api = namespace.api()
    for name in names:
        api.container_create(acct, name)
    # The account learns of containers through events.
    wait_until(lambda: _listed(api, acct, names))

    listed = run_cli(namespace, "container", "list", "--prefix", "c-",
                     "-f", "json", account=acct)
    assert listed.code == 0, listed.err
    rows = listed.json()
    assert [r["Name"] for r in rows] == ["c-a", "c-b", "c-c"]
    assert list(rows[0]) == ["Name", "Bytes", "Count", "Mtime", "CID"]
    assert rows[1]["CID"] == cid_from_name(acct, "c-b")
    assert rows[1]["Bytes"] == 0 and rows[1]["Count"] == 0

    paged = run_cli(namespace, "container", "list", "--prefix", "c-",
                    "--marker", "c-a", "--limit", "1", "-f", "json",
                    account=acct)
    assert [r["Name"] for r in paged.json()] == ["c-b"]

    full = run_cli(namespace, "container", "list", "--full", "-c", "Name",
                   account=acct)
    assert full.out.split() == names


def test_container_errors(namespace):
    acct = _account()
    missing = run_cli(namespace, "container", "show", "nope", account=acct)
    assert missing.code == 1
    assert "Container 'nope' not found" in missing.err
    assert "Traceback" not in missing.err

    no_account = run_cli(namespace, "container", "list")
    assert no_account.code == 1
    assert "Set the account with --oio-account" in no_account.err

    run_cli(namespace, "container", "create", "keep", account=acct)
    partial = run_cli(namespace, "container", "delete", "ghost", "keep",
                      account=acct)
    assert partial.code == 1
    assert "Failed to delete ghost" in partial.err
    assert "keep" not in partial.err      # the second one was deleted
    assert run_cli(namespace, "container", "show", "keep",
                   account=acct).code == 1

    bad_status = run_cli(namespace, "container", "set", "keep", "--status",
                         "asleep", account=acct)
    assert bad_status.code == 2 and "--status" in bad_status.err

    bad_policy = run_cli(namespace, "container", "create", "p",
                         "--storage-policy", "NOPE", account=acct)
    assert bad_policy.code == 1 and "NOPE" in bad_policy.err


def test_container_data_commands(namespace, tmp_path, monkeypatch):
    acct = _account()
    api = namespace.api()
    payloads = {"a.txt": b"alpha", "dir/b.bin": os.urandom(1500 * 1024),
                "ünï code": b"text"}
    for name, data in payloads.items():
        api.object_create(acct, "box", data=data, obj_name=name)
    for i in range(3):
        api.container_create(acct, "versions", system={
            "sys.m2.policy.version": "-1"})
        api.object_create(acct, "versions", data=b"v%d" % i, obj_name="same")

    # save: every object under the current directory, same bytes.
    monkeypatch.chdir(tmp_path)
    saved = run_cli(namespace, "container", "save", "box", account=acct)
    assert saved.code == 0, saved.err
    assert saved.err == ""      # no progress bar when stderr is no tty
    for name, data in payloads.items():
        got = (tmp_path / name).read_bytes()
        assert hashlib.md5(got).digest() == hashlib.md5(data).digest(), name
    assert not [p for p in tmp_path.rglob("*.part")]

    purged = run_cli(namespace, "container", "purge", "versions",
                     "--max-versions", "1", account=acct)
    assert purged.code == 0, purged.err
    left = api.object_list(acct, "versions", versions=True)["objects"]
    assert len(left) == 1
    meta, stream = api.object_fetch(acct, "versions", "same")
    assert b"".join(stream) == b"v2"

    snap = run_cli(namespace, "container", "snapshot", "box",
                   "--dst-container", "box-snap", "-f", "json", account=acct)
    assert snap.code == 0, snap.err
    assert snap.json() == [{"Account": acct, "Container": "box-snap",
                            "Status": "OK"}]
    snapped = api.object_list(acct, "box-snap")["objects"]
    assert sorted(o["name"] for o in snapped) == sorted(payloads)

    for command in (("touch", "box", "--recompute"), ("refresh", "box")):
        done = run_cli(namespace, "container", *command, account=acct)
        assert done.code == 0, (command, done.err)

    flushed = run_cli(namespace, "container", "flush", "box", account=acct)
    assert flushed.code == 0, flushed.err
    assert api.object_list(acct, "box")["objects"] == []
