"""A whole real namespace for functional tests, started once per session."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from oio.sandbox.layout import SandboxSettings, find_free_base_port
from oio.sandbox.sandbox import Sandbox


class Namespace:
    """What tests need to reach the sandbox namespace."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.settings = sandbox.settings
        self.ns = sandbox.settings.namespace
        self.proxy = sandbox.settings.proxy
        self.conf_path = sandbox.settings.sds_conf

    def api(self, **kwargs):
        from oio import ObjectStorageApi

        return ObjectStorageApi(self.ns, endpoint=f"http://{self.proxy}",
                                **kwargs)

    def services(self, kind: str):
        return self.settings.of_type(kind)


@pytest.fixture(scope="session")
def namespace():
    # Chunk xattrs need a disk filesystem: /var/tmp rather than a tmpfs /tmp.
    tmp = os.environ.get("OIO_TEST_TMP") or (
        "/var/tmp" if os.path.isdir("/var/tmp") else None)
    root = tempfile.mkdtemp(prefix="oio-ns-", dir=tmp)
    settings = SandboxSettings(
        namespace="OPENIO", root=root, base_port=find_free_base_port(40),
        nb_rawx=9, chunk_size=1024 * 1024, user_conf=False,
        # Tests damage chunks on purpose: no auditor repairing behind them
        # (tests/functional/test_blob_rebuild.py runs the healing daemons).
        healing=False, beanstalkd=bool(shutil.which("beanstalkd")))
    sandbox = Sandbox(settings)
    sandbox.bootstrap()
    old_conf = os.environ.get("OIO_SDS_CONF")
    os.environ["OIO_SDS_CONF"] = settings.sds_conf
    try:
        sandbox.start()
        sandbox.wait_ready(timeout=120, log=lambda *_: None)
        yield Namespace(sandbox)
    finally:
        sandbox.down()
        if old_conf is None:
            os.environ.pop("OIO_SDS_CONF", None)
        else:
            os.environ["OIO_SDS_CONF"] = old_conf
        if os.environ.get("OIO_KEEP_SANDBOX") is None:
            shutil.rmtree(root, ignore_errors=True)
