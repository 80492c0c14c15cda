"""A durable outbox of events for a service (events.md §1).

`put()` writes the event to a local SQLite file (WAL, synchronous=FULL:
on disk before the service answers its client) and returns; a thread
sends what the file holds to beanstalkd, oldest first, round-robin over
the endpoints, and forgets each event once beanstalkd accepted it. While
beanstalkd is away the events wait in the file (retried with a growing
pause, at most `max_pause` seconds), also across restarts of the service.
Nothing is lost and no client request waits for beanstalkd.

Writes are group commits: `emit()` only queues the event in memory, in
order, and `sync()` returns once everything queued so far is on disk. The
thread that finds no commit running writes what is queued in one
transaction (one fsync) while the later callers wait for the next one, so
that concurrent requests share fsyncs, and a service can queue its events
under its own lock but wait for the disk after releasing it.

The same object serves meta2 and meta1 (`emit(event_type, payload)` then
`sync()`) and the rawx (`notify(event, data, request_id)`).
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import sqlite3
import threading
import time

from .beanstalk import MAX_JOB_SIZE, Beanstalk, BeanstalkError, parse_endpoint

LOGGER = logging.getLogger(__name__)
BATCH = 256
COALESCE = 0.005
COALESCE_BEHIND = 0.05


class EventSpool:
    def __init__(self, path: str, endpoints: list[str], tube: str = "oio",
                 max_pause: float = 5.0, start: bool = True,
                 write_behind: bool = False):
        if not endpoints:
            raise ValueError("no beanstalkd endpoint")
        for url in endpoints:
            parse_endpoint(url)           # refuse a bad one at start
        self.path = path
        self.endpoints = list(endpoints)
        self.tube = tube
        self.max_pause = max_pause
        self.enabled = True
        # write_behind: put() only queues in memory and the spool's thread
        # writes by batches (for callers on an event loop, like the rawx:
        # no fsync in the request path; a crash loses the last moments).
        self.write_behind = write_behind
        self._incoming: collections.deque[bytes] = collections.deque()
        # Whether the file may hold events (then everything goes through
        # it, to keep the order).
        self._backlog = True
        # Group commit (not write-behind): events queued and not yet on
        # disk, how many were ever queued, how many of those are on disk,
        # and whether a thread is writing some now.
        self._sync_cv = threading.Condition()
        self._unsynced: list[bytes] = []
        self._queued = 0
        self._synced = 0
        self._syncing = False
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Inserts are synced (unless write-behind); forgetting what was
        # sent is not: after a crash an event may go twice, never zero
        # times (consumers are idempotent: a chunk deleted twice is a 404).
        self._sync_insert = "NORMAL" if write_behind else "FULL"
        self._db.execute(f"PRAGMA synchronous={self._sync_insert}")
        self._db.execute("CREATE TABLE IF NOT EXISTS events ("
                         "id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "body BLOB NOT NULL)")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._clients: list[Beanstalk] = []
        self._next = 0
        self._refused: BeanstalkError | None = None   # why a batch stopped
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="event-spool")
        if start:
            self._thread.start()

    # -- producing --
    def put(self, event: dict) -> None:
        """Keep `event` (a JSON object) until beanstalkd has it: on disk
        when this returns, unless write-behind."""
        self.enqueue(event)
        self.sync()

    def enqueue(self, event: dict) -> None:
        """Queue `event` after those queued before; on disk only once
        `sync()` returned (or the spool's thread wrote it)."""
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        if len(body) > MAX_JOB_SIZE:
            LOGGER.error("event %s of %d bytes is too big for beanstalkd, "
                         "dropped", event.get("event"), len(body))
            return
        if self.write_behind:
            self._incoming.append(body)
        else:
            with self._sync_cv:
                self._unsynced.append(body)
                self._queued += 1
        if not self._wake.is_set():     # set() takes a lock each time
            self._wake.set()

    def sync(self) -> None:
        """Return once every event queued so far is on disk (write-behind:
        at once). Raises what the write raised (the events stay queued)."""
        if self.write_behind:
            return
        cv = self._sync_cv
        with cv:
            target = self._queued
            while self._synced < target:
                if self._syncing:
                    cv.wait()       # the running commit may not hold ours
                    continue
                bodies, self._unsynced = self._unsynced, []
                upto = self._queued
                self._syncing = True
                cv.release()
                written = False
                try:
                    self._insert(bodies)
                    written = True
                finally:
                    cv.acquire()
                    self._syncing = False
                    if written:
                        self._synced = upto
                    else:
                        self._unsynced[:0] = bodies
                    cv.notify_all()

    def _insert(self, bodies: list[bytes]) -> None:
        """Write `bodies` in one transaction (one fsync unless write-behind)."""
        if not bodies:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO events(body) VALUES (?)",
                                     [(b,) for b in bodies])
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _store_incoming(self) -> None:
        """Move what was queued in memory to the file, in one commit."""
        if not self.write_behind:
            self.sync()
            return
        bodies = []
        while self._incoming:
            bodies.append(self._incoming.popleft())
        try:
            self._insert(bodies)
        except BaseException:
            self._incoming.extendleft(reversed(bodies))   # order kept
            raise

    def emit(self, event_type: str, payload: dict) -> None:
        """meta2's and meta1's notifier interface: queued, on disk after
        the next `sync()`."""
        self.enqueue(payload)

    def notify(self, event: str, data: dict, request_id: str) -> None:
        """The rawx's notifier interface (no `url` in rawx events)."""
        self.put({"event": event, "when": int(time.time() * 1e6),
                  "request_id": request_id, "data": data})

    def pending(self) -> int:
        with self._lock:
            stored = self._db.execute("SELECT COUNT(*) FROM events"
                                      ).fetchone()[0]
        return stored + len(self._incoming) + len(self._unsynced)

    # -- sending --
    def _batch(self) -> list[tuple[int, bytes]]:
        with self._lock:
            return self._db.execute(
                "SELECT id, body FROM events ORDER BY id LIMIT ?",
                (BATCH,)).fetchall()

    def _forget(self, ids: list[int]) -> None:
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("DELETE FROM events WHERE id BETWEEN ? AND ?",
                                 (min(ids), max(ids)))
            finally:
                self._db.execute(f"PRAGMA synchronous={self._sync_insert}")

    def _client(self) -> Beanstalk:
        """The next endpoint's connection (round-robin)."""
        if not self._clients:
            self._clients = [Beanstalk.from_url(url, timeout=5.0)
                             for url in self.endpoints]
        client = self._clients[self._next % len(self._clients)]
        self._next += 1
        if client._sock is None:
            client.connect()
            client.use(self.tube)
        return client

    def _send_incoming(self) -> int:
        """Write-behind with nothing on disk: send straight from memory;
        on a failure the rest goes to the file first (order kept)."""
        sent = 0
        try:
            while self._incoming:
                batch = list(itertools.islice(self._incoming, BATCH))
                count = self._put_many(batch)
                for _ in range(count):
                    self._incoming.popleft()
                sent += count
                if count < len(batch):
                    raise self._refused
        except BaseException:
            self._store_incoming()
            self._backlog = True
            raise
        return sent

    def send_pending(self) -> int:
        """Send everything the spool holds; the number sent. Raises on a
        beanstalkd error (what was sent is forgotten first)."""
        total = 0
        if self.write_behind and not self._backlog:
            return self._send_incoming()
        while True:
            self._store_incoming()
            rows = self._batch()
            if not rows:
                self._backlog = False
                return total
            count = self._put_many([body for _, body in rows])
            if count:
                self._forget([row_id for row_id, _ in rows[:count]])
                total += count
            if count < len(rows):
                raise self._refused

    def _put_many(self, bodies: list[bytes]) -> int:
        """Put `bodies` in one round trip: how many beanstalkd took, in
        order (then `_refused` says why it stopped). A lost connection
        raises: nothing is known sent, so all are sent again later (twice
        at worst, never lost)."""
        try:
            return self._client().put_many(bodies)
        except BeanstalkError as err:
            self._refused = err
            return getattr(err, "inserted", 0)

    def _run(self) -> None:
        pause = 0.1
        while not self._stop.is_set():
            try:
                self.send_pending()
                pause = 0.1
                self._wake.wait(1.0)
                self._wake.clear()
                # Let a burst gather: one batch instead of many small ones
                # (longer for write-behind: nobody waits for these).
                self._stop.wait(COALESCE_BEHIND if self.write_behind
                                else COALESCE)
            except (OSError, BeanstalkError) as err:
                for client in self._clients:
                    client.close()
                LOGGER.warning("beanstalkd unreachable (%s): %d events wait "
                               "in %s", err, self.pending(), self.path)
                self._stop.wait(pause)
                pause = min(pause * 2, self.max_pause)
            except sqlite3.Error as err:
                # A full disk: the queued events stay in memory meanwhile.
                LOGGER.error("cannot write the events spool %s: %s",
                             self.path, err)
                self._stop.wait(pause)
                pause = min(pause * 2, self.max_pause)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._store_incoming()          # kept for the next start
        for client in self._clients:
            client.close()
        self._db.close()

    async def close(self) -> None:
        """The rawx's notifier interface: what is not sent stays on disk."""
        self.stop()
