"""Container events → the account service, straight from meta2.

What the event agent's `account_update` filter does (account.md §5), done
here until events travel through beanstalkd: container creations, states
and deletions become `container/update` calls. A background thread sends
them, so meta2 never waits; per container only the latest state is kept
while the account service is away, and it is retried until it gets there.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from oio.common import exceptions as exc

logger = logging.getLogger(__name__)

HIDDEN_ACCOUNTS = ("_RDIR",)
RETRY_DELAY = 1.0
BATCH_INTERVAL = 0.1


def account_update_of(event_type: str, payload: dict) -> tuple | None:
    """(account, container, body) of the account call for an event."""
    if not event_type.startswith("storage.container."):
        return None
    url = payload.get("url") or {}
    account, name = url.get("account"), url.get("user")
    if not account or not name or account in HIDDEN_ACCOUNTS:
        return None
    data = payload.get("data")
    data = data if isinstance(data, dict) else {}
    when = payload.get("when", 0) / 1e6
    body = {"bucket": data.get("bucket")}
    if event_type == "storage.container.new":
        body["mtime"] = when
    elif event_type == "storage.container.state":
        body.update(mtime=when, objects=data.get("object-count", 0),
                    bytes=data.get("bytes-count", 0),
                    damaged_objects=data.get("damaged-objects", 0),
                    missing_chunks=data.get("missing-chunks", 0))
    elif event_type == "storage.container.deleted":
        body["dtime"] = when
    else:
        return None
    return account, name, body


class AccountUpdater:
    """A meta2 notifier; `client` has `container_update(acct, name, body)`."""

    def __init__(self, client, next_notifier=None):
        self.client = client
        self.next = next_notifier
        self._pending: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._cond = threading.Condition()
        self._stopped = False
        self._wakeup = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="account-updater")
        self._thread.start()

    def sync(self) -> None:
        if self.next is not None:
            self.next.sync()

    def emit(self, event_type: str, payload: dict) -> None:
        if self.next is not None:
            self.next.emit(event_type, payload)
        try:
            update = account_update_of(event_type, payload)
        except (TypeError, ValueError, AttributeError):
            # The change is committed already: never fail the request.
            logger.exception("cannot turn %s into an account update", event_type)
            return
        if update is None:
            return
        account, name, body = update
        with self._cond:
            # Only the latest state of a container matters.
            self._pending.pop((account, name), None)
            self._pending[(account, name)] = body
            self._cond.notify()

    def _run(self) -> None:
        failing = False
        while not self._stopped:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                batch = list(self._pending.items())
                self._pending.clear()
            for (account, name), body in batch:
                if self._send(account, name, body, failing):
                    if failing:
                        logger.info("account service reachable again")
                    failing = False
                else:
                    failing = True
                    with self._cond:
                        self._pending.setdefault((account, name), body)
            # A busy container reports at most once per interval: its
            # intermediate states are replaced by the latest one.
            self._wakeup.wait(RETRY_DELAY if failing else BATCH_INTERVAL)

    def _send(self, account: str, name: str, body: dict, failing: bool) -> bool:
        try:
            self.client.container_update(account, name, body)
        except exc.Conflict:
            pass          # older than what the account service has
        except Exception as err:  # noqa: BLE001 - the thread must live
            if not isinstance(err, exc.OioException):
                logger.exception("account update of %s/%s", account, name)
            elif not failing:
                logger.warning("account update of %s/%s failed, will retry: "
                               "%s", account, name, err)
            return False
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._wakeup.set()
        self._thread.join(5)
