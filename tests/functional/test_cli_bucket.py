"""`openio bucket ...` through the real binary."""

from __future__ import annotations

import re
import uuid

from tests.functional.cli import run_cli
from tests.utils import wait_until


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _show(namespace, bucket: str):
    return run_cli(namespace, "bucket", "show", bucket, "-f", "json")


def test_bucket_commands(namespace, tmp_path):
    account, bucket = _name("cli-acct"), _name("cli-bk")
    # The replication flag may be set before the bucket exists (as 7.2).
    flag = run_cli(namespace, "bucket", "set", "--replication", "yes", bucket,
                   "-f", "value", "-c", "replication_enabled")
    assert flag.code == 0, flag.err
    assert flag.out == "True\n"
    created = run_cli(namespace, "container", "create", "--bucket-name",
                      bucket, bucket, account=account)
    assert created.code == 0, created.err
    wait_until(lambda: _show(namespace, bucket).code == 0 and
               "account" in _show(namespace, bucket).json(), timeout=20)
    source = tmp_path / "data"
    source.write_bytes(b"test")
    put = run_cli(namespace, "object", "create", bucket, str(source),
                  "--name", "test", account=account)
    assert put.code == 0, put.err
    wait_until(lambda: _show(namespace, bucket).json()["objects"] == 1,
               timeout=20)
    shown = run_cli(namespace, "bucket", "show", bucket, "-f", "value",
                    "-c", "account", "-c", "bytes", "-c", "objects",
                    "-c", "replication_enabled")
    assert shown.out == f"{account}\n4\n1\nTrue\n"
    table = run_cli(namespace, "bucket", "show", bucket)
    assert table.code == 0, table.err
    # Tables show sizes with units and dates in ISO 8601, as 7.2.
    assert re.search(r"\| bytes +\| 4 +\|", table.out)
    assert re.search(r"\| mtime +\| \d{4}-\d\d-\d\dT\d\d:\d\d", table.out)

    refreshed = run_cli(namespace, "bucket", "refresh", bucket)
    assert refreshed.code == 0, refreshed.err
    assert _show(namespace, bucket).json()["bytes"] == 4

    listed = run_cli(namespace, "bucket", "list", "-f", "json",
                     account=account)
    assert listed.code == 0, listed.err
    assert [(b["Name"], b["Bytes"], b["Objects"]) for b in listed.json()] == [
        (bucket, 4, 1)]
    versioning = run_cli(namespace, "bucket", "list", "--versioning",
                         "--prefix", bucket, "-f", "value", "-c", "Name",
                         "-c", "Versioning", account=account)
    assert versioning.out == f"{bucket} Suspended\n"
    assert run_cli(namespace, "container", "set", "--max-versions", "-1",
                   bucket, account=account).code == 0
    versioning = run_cli(namespace, "bucket", "list", "--versioning",
                         "--prefix", bucket, "-f", "value", "-c", "Name",
                         "-c", "Versioning", account=account)
    assert versioning.out == f"{bucket} Enabled\n"

    unset = run_cli(namespace, "bucket", "set", "--replication", "no", bucket,
                    "-f", "json")
    assert unset.json()["replication_enabled"] is False


def test_bucket_list_pages(namespace):
    account = _name("cli-acct")
    buckets = sorted(_name("cli-bk") for _ in range(3))
    for bucket in buckets:
        assert run_cli(namespace, "container", "create", "--bucket-name",
                       bucket, bucket, account=account).code == 0

    def names(*args: str) -> list[str]:
        out = run_cli(namespace, "bucket", "list", *args, "-f", "value",
                      "-c", "Name", account=account)
        assert out.code == 0, out.err
        return out.out.split()

    wait_until(lambda: names() == buckets, timeout=20)
    assert names("--limit", "2") == buckets[:2]
    assert names("--limit", "2", "--marker", buckets[1]) == buckets[2:]
    assert names("--limit", "1", "--no-paging") == buckets
    assert names("--prefix", buckets[0]) == buckets[:1]


def test_bucket_errors(namespace):
    missing = run_cli(namespace, "bucket", "show", _name("nobucket"))
    assert missing.code == 1 and "not found" in missing.err
    assert "Traceback" not in missing.err
    missing = run_cli(namespace, "bucket", "refresh", _name("nobucket"))
    assert missing.code == 1 and "not found" in missing.err
    no_account = run_cli(namespace, "bucket", "list")
    assert no_account.code == 1 and "--oio-account" in no_account.err
    empty = run_cli(namespace, "bucket", "list", "-f", "json",
                    account=_name("nobody"))
    assert empty.code == 1 and "not found" in empty.err
    usage = run_cli(namespace, "bucket", "set", "--replication", "maybe", "b")
    assert usage.code == 2 and "not a boolean" in usage.err
