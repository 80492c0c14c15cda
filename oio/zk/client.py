"""Reaching ZooKeeper: which ensembles a namespace uses (spec
replication.md §2.1), a started kazoo client on one of them, and many
reads or writes in few requests.

`zookeeper` in the namespace's section of sds.conf names the ensembles:
`h:p,h:p` is one ensemble, `;` separates independent ones. A service type
may use others through `zookeeper.<type>`.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    EXCEPTIONS,
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    OperationTimeoutError,
    SessionExpiredError,
    ZookeeperStoppedError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.serialization import (
    GetChildren,
    GetData,
    read_buffer,
    read_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

from oio.common.configuration import load_namespace_conf
from oio.common.exceptions import ServiceUnavailable

# A reachable server answers within milliseconds; this bounds the time
# kazoo spends cycling through the hosts of an ensemble that is down.
CONNECT_TIMEOUT = 5.0
# kazoo logs every refused connection at WARNING: under "oio", the CLI
# keeps them quiet unless -v, as our other libraries' retries.
KAZOO_LOG = logging.getLogger("oio.zk.kazoo")
# Errors meaning the session, not one request, failed.
SESSION_ERRORS = (ConnectionLoss, ConnectionClosedError, SessionExpiredError,
                  OperationTimeoutError, ZookeeperStoppedError,
                  KazooTimeoutError)


def zk_hosts(namespace: str, kind: str | None = None) -> list[str]:
    """The ensembles (each a `h:p,h:p` string) configured for `namespace`,
    those of `zookeeper.<kind>` when `kind` is given and has its own;
    an empty list when ZooKeeper is not configured."""
    conf = load_namespace_conf(namespace, failsafe=True)
    value = conf.get(f"zookeeper.{kind}") if kind else None
    if not value:
        value = conf.get("zookeeper", "")
    return [part.strip() for part in value.split(";") if part.strip()]


def connect(hosts: str, timeout: float = CONNECT_TIMEOUT) -> KazooClient:
    """A started client of the ensemble `hosts` (`h:p,h:p`).

    Raises ServiceUnavailable, naming the hosts, when no server of the
    ensemble accepts a session within `timeout` seconds.
    """
    try:
        client = KazooClient(hosts=hosts, logger=KAZOO_LOG)
    except ValueError as exc:  # a malformed host list
        raise ServiceUnavailable(
            f"Invalid ZooKeeper hosts {hosts!r}: {exc}") from None
    try:
        client.start(timeout=timeout)
    except Exception as exc:
        _close(client)
        reason = "no answer" if isinstance(exc, KazooTimeoutError) else exc
        raise ServiceUnavailable(
            f"Cannot connect to ZooKeeper at {hosts} within {timeout:g}s "
            f"({reason}): is it running, and is 'zookeeper' right in the "
            "namespace configuration?") from None
    return client


@contextmanager
def session(hosts: str, timeout: float = CONNECT_TIMEOUT
            ) -> Iterator[KazooClient]:
    """A connected client, closed on exit; a session lost meanwhile
    comes out as ServiceUnavailable."""
    client = connect(hosts, timeout)
    try:
        yield client
    except SESSION_ERRORS as exc:
        raise ServiceUnavailable(
            f"Lost the ZooKeeper session with {hosts}: "
            f"{exc.__class__.__name__} {exc}".rstrip()) from None
    finally:
        _close(client)


def _close(client: KazooClient) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # closing must not hide the error being reported
        KAZOO_LOG.debug("closing the ZooKeeper client failed", exc_info=True)


# -- many requests at once -------------------------------------------------
#
# kazoo spends ~100 µs of CPU per request: 65,536 asynchronous reads take
# ~8 s of a core, and the tree's meta2 part alone has that many
# directories. One multi request carries many operations for the cost of
# one: `multiRead` (ZooKeeper >= 3.6, not in kazoo) for reads, a
# transaction for writes, a few of them in flight at once.

READ_BATCH = 1024
WRITE_BATCH = 2048
# Batches in flight at once.
WINDOW = 4
# Single requests in flight at once (servers without multiRead, and
# batches that failed and are retried node by node).
NODE_WINDOW = 1024
# The longest wait for one answer once it is the oldest in flight (s).
ANSWER_TIMEOUT = 30.0

CHILDREN = GetChildren.type
DATA = GetData.type
_HEADER = struct.Struct("!iBi")  # type, done, error of each operation
_INT = struct.Struct("!i")
_STAT = struct.Struct("!qqqqiiiqiiq")


class _MultiRead:
    """ZooKeeper's multiRead request (opcode 22): getChildren and getData
    operations answered one by one, an error failing only its own."""

    type = 22

    def __init__(self, operations: list) -> None:
        self.operations = operations

    def serialize(self) -> bytearray:
        out = bytearray()
        for op in self.operations:
            out += _HEADER.pack(op.type, False, -1) + op.serialize()
        return out + _HEADER.pack(-1, True, -1)

    @staticmethod
    def deserialize(buf: bytes, offset: int) -> list:
        answers: list = []
        while True:
            kind, done, _ = _HEADER.unpack_from(buf, offset)
            offset += _HEADER.size
            if done:
                return answers
            if kind == CHILDREN:
                count = _INT.unpack_from(buf, offset)[0]
                offset += _INT.size
                names = []
                for _ in range(max(count, 0)):
                    name, offset = read_string(buf, offset)
                    names.append(name)
                answers.append(names)
            elif kind == DATA:
                data, offset = read_buffer(buf, offset)
                answers.append((data, ZnodeStat._make(
                    _STAT.unpack_from(buf, offset))))
                offset += _STAT.size
            elif kind == -1:
                code = _INT.unpack_from(buf, offset)[0]
                offset += _INT.size
                answers.append(EXCEPTIONS[code]())
            else:
                raise ValueError(f"unexpected operation {kind} in a "
                                 "multiRead answer")


def _settle(key: Any, pending: Any) -> tuple[Any, Any]:
    if pending is None:
        return key, None
    try:
        return key, pending.get(timeout=ANSWER_TIMEOUT)
    except SESSION_ERRORS:
        raise  # the whole run is lost, not one node
    except KazooException as exc:
        return key, exc


def gather(calls: Iterable[tuple[Any, Callable[[], Any] | None]],
           window: int = NODE_WINDOW) -> Iterator[tuple[Any, Any]]:
    """(key, answer) of each (key, call) in order, where a call starts one
    asynchronous kazoo request (None: nothing to ask, answer None) and the
    answer is its result or its own KazooException. At most `window`
    requests are in flight; a lost session raises."""
    in_flight: deque = deque()
    for key, call in calls:
        in_flight.append((key, call() if call is not None else None))
        if len(in_flight) >= window:
            yield _settle(*in_flight.popleft())
    while in_flight:
        yield _settle(*in_flight.popleft())


def _one_read(zk: KazooClient, kind: int, path: str) -> Any:
    if kind == CHILDREN:
        return zk.get_children_async(path)
    return zk.get_async(path)


def read_many(zk: KazooClient, reads: Sequence[tuple[int, str]],
              batch: int = READ_BATCH) -> list[Any]:
    """The answers to `reads`, (CHILDREN or DATA, path) each, in order:
    a list of child names, a (data, ZnodeStat), or the KazooException of
    that node (e.g. NoNodeError). Falls back to single requests on a
    server without multiRead (older than 3.6)."""
    prefix = zk.chroot or ""
    ops = {CHILDREN: GetChildren, DATA: GetData}
    answers: list[Any] = []

    def send(chunk: Sequence[tuple[int, str]]) -> Callable[[], Any]:
        def call() -> Any:
            pending = zk.handler.async_result()
            # kazoo's own request queue: the one way in for a request
            # type it does not know.
            zk._call(_MultiRead([ops[k](prefix + p, None) for k, p in chunk]),
                     pending)
            return pending
        return call

    chunks = [reads[i:i + batch] for i in range(0, len(reads), batch)]
    try:
        for _, got in gather(((c, send(c)) for c in chunks), WINDOW):
            if isinstance(got, Exception):
                raise _NoMultiRead(got)
            answers += got
    except (_NoMultiRead, ValueError, struct.error) as exc:
        KAZOO_LOG.info("multiRead refused (%r): one request per node", exc)
        answers += [got for _, got in gather(
            (r, lambda r=r: _one_read(zk, *r)) for r in reads[len(answers):])]
    return answers


class _NoMultiRead(Exception):
    pass


def _one_write(zk: KazooClient, op: tuple) -> Any:
    if op[0] == "create":
        return zk.create_async(op[1], op[2], OPEN_ACL_UNSAFE)
    return zk.delete_async(op[1])


def write_many(zk: KazooClient, writes: Sequence[tuple], *,
               batch: int = WRITE_BATCH, window: int = WINDOW) -> list[Any]:
    """The answers to `writes` in order, each ("create", path, data) or
    ("delete", path): True when done, else the KazooException of that
    node. Writes go in transactions of `batch`; a transaction failing on
    one node (all or nothing) is done again node by node, so that every
    other node is written and each failure is known."""
    def send(chunk: Sequence[tuple]) -> Callable[[], Any]:
        def call() -> Any:
            txn = zk.transaction()
            for op in chunk:
                if op[0] == "create":
                    txn.create(op[1], op[2], OPEN_ACL_UNSAFE)
                else:
                    txn.delete(op[1])
            return txn.commit_async()
        return call

    answers: list[Any] = []
    chunks = [writes[i:i + batch] for i in range(0, len(writes), batch)]
    for chunk, got in gather(((c, send(c)) for c in chunks), window):
        if isinstance(got, list) and not any(
                isinstance(a, Exception) for a in got):
            answers += [True] * len(chunk)
            continue
        answers += [True if not isinstance(a, Exception) else a
                    for _, a in gather(
                        (op, lambda op=op: _one_write(zk, op))
                        for op in chunk)]
    return answers
