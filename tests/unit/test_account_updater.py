"""meta2 container events → account updates, without blocking meta2."""

import threading

from oio.common import exceptions as exc
from oio.container.account_updater import AccountUpdater, account_update_of

URL = {"ns": "NS", "account": "acct", "user": "ctr", "id": "CID"}


def test_mapping_of_events():
    state = {"event": "storage.container.state", "when": 2_000_000, "url": URL,
             "data": {"object-count": 3, "bytes-count": 30, "bucket": None}}
    assert account_update_of(state["event"], state) == ("acct", "ctr", {
        "bucket": None, "mtime": 2.0, "objects": 3, "bytes": 30,
        "damaged_objects": 0, "missing_chunks": 0})
    deleted = {"when": 3_000_000, "url": URL, "data": {}}
    assert account_update_of("storage.container.deleted", deleted)[2] == {
        "bucket": None, "dtime": 3.0}
    content = {"when": 1, "url": URL, "data": [{"type": "alias"}]}
    assert account_update_of("storage.content.new", content) is None
    hidden = {"when": 1, "url": dict(URL, account="_RDIR"), "data": {}}
    assert account_update_of("storage.container.new", hidden) is None


class FlakyClient:
    def __init__(self):
        self.calls = []
        self.fail = 1
        self.done = threading.Event()

    def container_update(self, account, name, body):
        if self.fail:
            self.fail -= 1
            raise exc.ServiceBusy(message="away")
        self.calls.append((account, name, body))
        self.done.set()


def test_updates_are_retried_and_never_raise(monkeypatch):
    import oio.container.account_updater as mod

    monkeypatch.setattr(mod, "RETRY_DELAY", 0.01)
    client = FlakyClient()
    updater = AccountUpdater(client)
    try:
        updater.emit("storage.container.new",
                     {"when": 1_000_000, "url": URL, "data": {}})
        updater.emit("storage.container.new", {"broken": True})
        assert client.done.wait(5)
        assert client.calls == [("acct", "ctr", {"bucket": None, "mtime": 1.0})]
    finally:
        updater.stop()
