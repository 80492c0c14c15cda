"""A namespace whose meta bases have 3 replicas, for the replication tests:
the sandbox with `replicas=3`, and ways to look inside it (who is master,
what each replica's file holds)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from oio.common.utils import cid_from_name
from oio.sandbox.layout import SandboxSettings, find_free_base_port
from oio.sandbox.sandbox import Sandbox


def start_replicated(**overrides) -> Sandbox:
    tmp = os.environ.get("OIO_TEST_TMP") or (
        "/var/tmp" if os.path.isdir("/var/tmp") else None)
    root = tempfile.mkdtemp(prefix="oio-repl-", dir=tmp)
    values = dict(namespace="OPENIO", root=root,
                  base_port=find_free_base_port(40), nb_rawx=3,
                  chunk_size=1024 * 1024, user_conf=False, replicas=3,
                  autorestart=False, healing=False, xcute=False,
                  beanstalkd=bool(shutil.which("beanstalkd")))
    values.update(overrides)
    sandbox = Sandbox(SandboxSettings(**values))
    sandbox.bootstrap()
    try:
        sandbox.start()
        sandbox.wait_ready(timeout=120, log=lambda *_: None)
    except BaseException:
        stop(sandbox)
        raise
    return sandbox


def stop(sandbox: Sandbox) -> None:
    sandbox.down()
    if os.environ.get("OIO_KEEP_SANDBOX") is None:
        shutil.rmtree(sandbox.settings.root, ignore_errors=True)


def admin(sandbox: Sandbox, action: str, kind: str, **params) -> dict:
    """The proxy's per-replica answer to `admin/<action>`."""
    query = "&".join(f"{k}={v}" for k, v in dict(type=kind, **params).items())
    url = (f"http://{sandbox.settings.proxy}/v3.0/"
           f"{sandbox.settings.namespace}/admin/{action}?{query}")
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def election(sandbox: Sandbox, kind: str, **params) -> tuple[str, list[str]]:
    """(master, slaves) of a base, as `admin/status` tells them."""
    states = admin(sandbox, "status", kind, **params)
    master = [p for p, s in states.items() if s["status"]["status"] == 200]
    slaves = [p for p, s in states.items() if s["status"]["status"] == 303]
    assert len(master) == 1, states
    return master[0], slaves


def service_name(sandbox: Sandbox, addr: str) -> str:
    return next(s.name for s in sandbox.settings.services if s.addr == addr)


def base_files(sandbox: Sandbox, kind: str, name: str) -> dict[str, str]:
    """Replica address → path of its file of base `name`."""
    out = {}
    for spec in sandbox.settings.of_type(kind):
        data = sandbox.settings.data_path(spec)
        if kind == "meta2":
            found = glob.glob(os.path.join(data, "*", f"{name}.meta2"))
        elif kind == "meta1":
            found = glob.glob(os.path.join(data, f"meta1-{name}.db"))
        else:
            found = glob.glob(os.path.join(data, "meta0.db"))
        if found:
            out[spec.addr] = found[0]
    return out


def content(path: str) -> dict[str, list]:
    """Every row of every table of a base file (its replication state
    included): equal for replicas in sync."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(db.execute(f"SELECT * FROM \"{t}\"").fetchall(),
                          key=repr) for t in tables}
    finally:
        db.close()


def wait_same_content(files: dict[str, str], timeout: float = 30.0) -> dict:
    """The content shared by every file, once they agree (AssertionError
    with the positions after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        contents = {addr: content(path) for addr, path in files.items()}
        values = list(contents.values())
        if all(v == values[0] for v in values[1:]):
            return values[0]
        if time.monotonic() > deadline:
            raise AssertionError("replicas differ: " + ", ".join(
                f"{a}={c.get('_repli_state')}" for a, c in contents.items()))
        time.sleep(0.2)


def meta2_base(account: str, container: str) -> str:
    return f"{cid_from_name(account, container)}.1"


@dataclass
class Stream:
    """Writes in a loop from a thread; remembers what was acknowledged."""

    write: callable
    acked: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.write(i)
                self.acked.append((i, time.monotonic()))
            except Exception as exc:  # noqa: BLE001 - counted
                self.failed.append((i, began, repr(exc)))
            i += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def wait_acks(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.acked) + count
        while len(self.acked) < target:
            assert time.monotonic() < deadline, (
                f"{len(self.acked)} acknowledged, failures: {self.failed[-3:]}")
            time.sleep(0.02)

    def gap_after(self, when: float) -> float:
        """The longest time without an acknowledgement from `when` on."""
        times = [when] + sorted(t for _, t in self.acked if t > when)
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (OSError, urllib.error.URLError):
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)
