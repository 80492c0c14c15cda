"""`openio account ...` through the real binary."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.cli import run_cli


def _name() -> str:
    return f"cli-acct-{uuid.uuid4().hex[:8]}"


def test_account_lifecycle(namespace):
    name = _name()
    created = run_cli(namespace, "account", "create", name, "-f", "json")
    assert created.code == 0, created.err
    assert created.json() == [{"Name": name, "Created": True}]
    again = run_cli(namespace, "account", "create", name, "-f", "json")
    assert again.json() == [{"Name": name, "Created": False}]

    listed = run_cli(namespace, "account", "list", "-f", "json")
    assert {"Name": name} in listed.json()

    assert run_cli(namespace, "account", "set", name, "-p", "team=blue",
                   "-p", "tier=gold").code == 0
    shown = run_cli(namespace, "account", "show", name, "-f", "json").json()
    assert shown["account"] == name
    assert shown["metadata"] == {"team": "blue", "tier": "gold"}
    assert shown["objects"] == 0 and shown["containers"] == 0

    assert run_cli(namespace, "account", "unset", name, "-p", "tier").code == 0
    shown = run_cli(namespace, "account", "show", name, "-f", "json").json()
    assert shown["metadata"] == {"team": "blue"}

    value = run_cli(namespace, "account", "show", name, "-f", "value",
                    "-c", "account")
    assert value.out.strip() == name

    assert run_cli(namespace, "account", "refresh", name).code == 0
    assert run_cli(namespace, "account", "flush", name).code == 0
    assert run_cli(namespace, "account", "delete", name).code == 0
    gone = run_cli(namespace, "account", "show", name)
    assert gone.code == 1
    assert "Account not found" in gone.err


def test_account_errors(namespace):
    missing = run_cli(namespace, "account", "show", _name())
    assert missing.code == 1 and "not found" in missing.err
    assert "Traceback" not in missing.err

    no_target = run_cli(namespace, "account", "refresh")
    assert no_target.code == 1
    assert "Missing value for account or --all" in no_target.err

    usage = run_cli(namespace, "account", "set", _name())
    assert usage.code == 2 and "--property" in usage.err

    unknown = run_cli(namespace, "account", "frobnicate")
    assert unknown.code == 2

    noaccount = run_cli(namespace, "lifecycle", "get", "c")
    assert noaccount.code == 1 and "--oio-account" in noaccount.err


@pytest.mark.parametrize("binary", ["openio", "openio-admin"])
def test_help_lists_every_command(namespace, binary):
    """Every command of the registry loads (help skips those that do not)."""
    from oio.cli.registry import ADMIN, OPENIO

    helped = run_cli(namespace, "help", binary=binary)
    assert helped.code == 0
    listed = {line.split("  ")[1].strip() for line in helped.out.splitlines()
              if line.startswith("  ") and "  " in line[2:]}
    registry = OPENIO if binary == "openio" else ADMIN
    assert set(registry) <= listed, set(registry) - listed
    assert "Could not load" not in helped.err


def test_request_id_reaches_the_services(namespace):
    """--request-id is the request ID of every request of the run."""
    import glob
    import os

    from tests.utils import wait_until

    reqid = f"CLI-{uuid.uuid4().hex[:12]}"
    account = _name()
    done = run_cli(namespace, "--request-id", reqid, "account", "create",
                   account)
    assert done.code == 0, done.err
    logs = glob.glob(os.path.join(namespace.settings.log_dir, "*.log"))

    def seen() -> bool:
        for path in logs:
            with open(path, errors="replace") as log:
                if reqid in log.read():
                    return True
        return False

    wait_until(seen, timeout=10)
    run_cli(namespace, "account", "delete", account)
