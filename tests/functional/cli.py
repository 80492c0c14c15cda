"""Run the real `openio` / `openio-admin` binaries against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run_cli(namespace, *args: str, binary: str = "openio", account: str = "",
            stdin: bytes | None = None, timeout: float = 120,
            env: dict | None = None) -> Result:
    """`openio --oio-ns NS [--oio-account A] args...` as a subprocess."""
    # The binary of the Python running the tests (a venv's bin/), not
    # whichever `openio` comes first on PATH.
    exe = Path(sys.executable).parent / binary
    main = "main" if binary == "openio" else "admin_main"
    cmd = [str(exe)] if exe.exists() else [
        sys.executable, "-c", f"import sys; from oio.cli.shell import {main}; "
        f"sys.exit({main}())"]
    cmd += ["--oio-ns", namespace.ns]
    if account:
        cmd += ["--oio-account", account]
    full_env = dict(os.environ, OIO_SDS_CONF=namespace.conf_path,
                    COLUMNS="200")
    full_env.pop("OIO_ACCOUNT", None)
    full_env.update(env or {})
    proc = subprocess.run(cmd + list(args), input=stdin, capture_output=True,
                          timeout=timeout, env=full_env)
    return Result(proc.returncode, proc.stdout.decode(errors="replace"),
                  proc.stderr.decode(errors="replace"))
