"""Calls from one replica of a base to the others (`/v1/sqlx/*`).

- `POST promise?epoch=&master=` (a candidate): promise the epoch if it is
  above every earlier promise; answer our position.
- `POST apply` (the master): replay changes on top of `prev`; 409 with our
  position when we are behind or diverged.
- `POST announce?epoch=&master=` (a new master): learn who is master, give
  up a lower mastership.
- `GET log?version=&epoch=` (a replica catching up): the logged changes
  after that position.
- `GET dump` (a replica copying): the whole base, a consistent SQLite file.
- `POST resync?from=&epoch=` (the master): copy the whole base from
  `from`, in the background.
- `POST remove?epoch=` (the master): delete this replica of the base.

Every route takes `type` and `base`. Bodies and replies are JSON, but dumps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from oio.common.aio_client import AsyncHttpClient
from oio.common.exceptions import OioNetworkException

from .log import Entry, Position

PREFIX = "/v1/sqlx"


@dataclass(slots=True)
class PeerAnswer:
    """A peer's reply: HTTP status, OpenIO status, its JSON body."""

    peer: str
    http_status: int
    status: int
    body: dict

    @property
    def ok(self) -> bool:
        return self.http_status < 300

    @property
    def position(self) -> Position:
        return Position.of(self.body.get("position") or [0, 0])


class PeerClient:
    """Replication RPCs over the shared async HTTP client."""

    def __init__(self, kind: str, self_id: str,
                 client: AsyncHttpClient | None = None,
                 timeout: float = 5.0):
        self.kind = kind
        self.self_id = self_id
        self.timeout = timeout
        self.client = client or AsyncHttpClient(connect_timeout=1.0,
                                                read_timeout=timeout,
                                                pool_size=8)

    def path(self, action: str, base: str, **params) -> str:
        query = {"type": self.kind, "base": base}
        query.update({k: v for k, v in params.items() if v is not None})
        return f"{PREFIX}/{action}?{urlencode(query)}"

    async def call(self, peer: str, method: str, action: str, base: str,
                   body: dict | None = None, timeout: float | None = None,
                   **params) -> PeerAnswer:
        """One RPC; network errors raise OioNetworkException."""
        resp = await self.client.request(
            method, peer, self.path(action, base, **params), json=body,
            timeout=timeout or self.timeout)
        try:
            data = json.loads(resp.body) if resp.body else {}
        except ValueError:
            data = {"message": resp.body[:200].decode("utf-8", "replace")}
        if not isinstance(data, dict):
            data = {"value": data}
        status = data.get("status") if resp.status >= 300 else 200
        return PeerAnswer(peer, resp.status,
                          status if isinstance(status, int) else resp.status,
                          data)

    async def promise(self, peer: str, base: str, epoch: int,
                      timeout: float | None = None) -> PeerAnswer:
        return await self.call(peer, "POST", "promise", base, timeout=timeout,
                               epoch=epoch, master=self.self_id)

    async def apply(self, peer: str, base: str, epoch: int, prev: Position,
                    entries: list[Entry], peers: list[str],
                    timeout: float | None = None) -> PeerAnswer:
        return await self.call(peer, "POST", "apply", base, {
            "epoch": epoch, "master": self.self_id, "prev": prev.as_list(),
            "entries": [e.as_list() for e in entries], "peers": peers},
            timeout=timeout)

    async def announce(self, peer: str, base: str, epoch: int) -> PeerAnswer:
        return await self.call(peer, "POST", "announce", base, epoch=epoch,
                               master=self.self_id)

    async def log(self, peer: str, base: str, after: Position) -> PeerAnswer:
        return await self.call(peer, "GET", "log", base,
                               version=after.version, epoch=after.epoch)

    async def resync(self, peer: str, base: str, epoch: int) -> PeerAnswer:
        return await self.call(peer, "POST", "resync", base, epoch=epoch,
                               **{"from": self.self_id})

    async def remove(self, peer: str, base: str, epoch: int) -> PeerAnswer:
        return await self.call(peer, "POST", "remove", base, epoch=epoch)


def unreachable(exc: Exception) -> bool:
    return isinstance(exc, (OioNetworkException, OSError, TimeoutError))
