"""A real oio-conscience process on free ports, for functional tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.request

from oio.sandbox.bootstrap import Bootstrap
from oio.sandbox.layout import SandboxSettings, find_free_base_port
from tests.utils import wait_until


@contextlib.contextmanager
def running_conscience(root: str, extra_conf: str = "",
                       extra_service_conf: str = ""):
    """Start a conscience with the sandbox's configuration (plus
    `extra_conf` lines in [conscience] and an extra service-types file);
    yield its address once it answers, stop it after."""
    settings = SandboxSettings(root=root, base_port=find_free_base_port(20),
                               user_conf=False)
    boot = Bootstrap(settings)
    boot.write_conscience_conf()
    spec = settings.one("conscience")
    if extra_conf:
        with open(boot.conf_path(spec), "a") as conf:
            conf.write(extra_conf)
    if extra_service_conf:
        prefix = f"{settings.conf_dir}/{settings.namespace}"
        with open(f"{prefix}-service-test.conf", "w") as conf:
            conf.write(extra_service_conf)
    proc = subprocess.Popen([sys.executable, "-m", "oio.conscience.server",
                             boot.conf_path(spec)], stderr=subprocess.DEVNULL)

    def up():
        try:
            with urllib.request.urlopen(f"http://{spec.addr}/status",
                                        timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False
    try:
        wait_until(up)
        yield spec.addr
    finally:
        proc.terminate()
        proc.wait(10)
