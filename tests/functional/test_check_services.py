"""oio-check-services and oio-check-master as real processes against the
session namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional


def run_tool(namespace, binary: str, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / binary
    env = dict(os.environ, OIO_SDS_CONF=namespace.conf_path)
    env.pop("OIO_NS", None)
    env.pop("OIO_ACCOUNT", None)
    return subprocess.run([str(exe), *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_check_services_ok_for_every_rawx_and_meta2(namespace):
    proc = run_tool(namespace, "oio-check-services", "-v", namespace.ns)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    expected = {f"RAWX {s.addr} OK" for s in namespace.services("rawx")}
    expected |= {f"META2 {s.addr} OK" for s in namespace.services("meta2")}
    assert set(lines) == expected, proc.stdout + proc.stderr


def test_check_services_unknown_namespace(namespace):
    proc = run_tool(namespace, "oio-check-services", "NOSUCHNS")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_check_master_finds_one_master(namespace):
    api = namespace.api()
    api.container_create("checkmaster", "c1")
    proc = run_tool(namespace, "oio-check-master", "--oio-ns", namespace.ns,
                    "--oio-account", "checkmaster", "-t", "meta1", "-t",
                    "meta2", "c1")
    assert proc.returncode == 0, proc.stderr
    assert "meta2 checkmaster/c1: one master" in proc.stderr
    assert "meta1 checkmaster/c1: one master" in proc.stderr


def test_check_master_needs_an_account(namespace):
    proc = run_tool(namespace, "oio-check-master", "--oio-ns", namespace.ns,
                    "c1")
    assert proc.returncode == 2 and "account is required" in proc.stderr
