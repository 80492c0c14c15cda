"""A small synchronous beanstalkd client (the commands of events.md §1.4).

One connection, one thread at a time. Replies that are not the expected
one raise BeanstalkError with beanstalkd's word (NOT_FOUND, DRAINING...);
a lost connection raises ConnectionError, and the next command reconnects.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import yaml

DEFAULT_PRIORITY = 2 ** 31
DEFAULT_TTR = 120
MAX_JOB_SIZE = 65535


class BeanstalkError(Exception):
    """beanstalkd answered something else than success."""

    def __init__(self, reply: str, command: str = ""):
        super().__init__(f"{command}: {reply}" if command else reply)
        self.reply = reply


# The name OpenIO's clients catch.
ResponseError = BeanstalkError


def parse_endpoint(url: str) -> tuple[str, int]:
    """`beanstalk://IP:PORT` (or bare `IP:PORT`) → (host, port)."""
    if "://" not in url:
        url = "beanstalk://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("beanstalk", "beanstalkd") or not parts.hostname \
            or not parts.port:
        raise ValueError(f"not a beanstalkd endpoint: {url!r}")
    return parts.hostname, parts.port


class Beanstalk:
    """`use`/`put` to produce, `watch`/`reserve`/`delete`/`release`/`bury`
    to consume, `kick`/`peek_buried`/stats to administer."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._used = "default"
        self._watched = {"default"}

    @classmethod
    def from_url(cls, url: str, **kwargs) -> Beanstalk:
        host, port = parse_endpoint(url)
        return cls(host, port, **kwargs)

    # -- connection --
    def connect(self) -> None:
        self.close()
        self._sock = socket.create_connection((self.host, self.port),
                                              timeout=self.timeout)
        self._buf = b""
        used, watched = self._used, set(self._watched)
        self._used, self._watched = "default", {"default"}
        if used != "default":
            self.use(used)
        for tube in watched - {"default"}:
            self.watch(tube)
        if "default" not in watched:
            self.ignore("default")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _command(self, line: str, body: bytes | None = None,
                 timeout: float | None | object = ...) -> list[str]:
        """Send one command; `timeout` for its reply (None: wait forever;
        default: the client's)."""
        if self._sock is None:
            self.connect()
        data = line.encode("ascii") + b"\r\n"
        if body is not None:
            data += body + b"\r\n"
        try:
            self._sock.settimeout(self.timeout if timeout is ... else timeout)
            self._sock.sendall(data)
            return self._read_line().split()
        except OSError:
            self.close()
            raise

    def _send_lines(self, lines: list[str]) -> None:
        """Send body-less commands in one write (their replies are then
        read in order)."""
        if self._sock is None:
            self.connect()
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall("".join(f"{line}\r\n" for line in lines
                                       ).encode("ascii"))
        except OSError:
            self.close()
            raise

    def _reply(self) -> list[str]:
        try:
            return self._read_line().split()
        except OSError:
            self.close()
            raise

    def _read_line(self) -> str:
        while b"\r\n" not in self._buf:
            more = self._sock.recv(65536)
            if not more:
                raise ConnectionError("beanstalkd closed the connection")
            self._buf += more
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line.decode("ascii")

    def _read_body(self, size: int) -> bytes:
        while len(self._buf) < size + 2:
            more = self._sock.recv(max(65536, size + 2 - len(self._buf)))
            if not more:
                raise ConnectionError("beanstalkd closed the connection")
            self._buf += more
        body, self._buf = self._buf[:size], self._buf[size + 2:]
        return body

    def _expect(self, reply: list[str], *words: str, command: str = ""):
        if not reply or reply[0] not in words:
            raise BeanstalkError(" ".join(reply) or "empty reply", command)
        return reply

    # -- producing --
    def use(self, tube: str) -> None:
        self._expect(self._command(f"use {tube}"), "USING", command="use")
        self._used = tube

    def put(self, body: bytes, priority: int = DEFAULT_PRIORITY,
            delay: int = 0, ttr: int = DEFAULT_TTR) -> int:
        """The new job's ID."""
        reply = self._command(f"put {priority} {delay} {ttr} {len(body)}", body)
        return int(self._expect(reply, "INSERTED", command="put")[1])

    def put_many(self, bodies: list[bytes], priority: int = DEFAULT_PRIORITY,
                 ttr: int = DEFAULT_TTR) -> int:
        """Put jobs in one write; how many were inserted before the first
        refusal (all of them, or BeanstalkError once every reply was read,
        with `inserted` set)."""
        if not bodies:
            return 0
        if self._sock is None:
            self.connect()
        data = b"".join(b"put %d 0 %d %d\r\n%b\r\n" % (priority, ttr,
                                                        len(body), body)
                        for body in bodies)
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(data)
        except OSError:
            self.close()
            raise
        replies = [self._reply() for _ in bodies]
        for count, reply in enumerate(replies):
            if not reply or reply[0] != "INSERTED":
                error = BeanstalkError(" ".join(reply) or "empty reply", "put")
                error.inserted = count
                raise error
        return len(bodies)

    # -- consuming --
    def watch(self, tube: str) -> None:
        self._expect(self._command(f"watch {tube}"), "WATCHING", command="watch")
        self._watched.add(tube)

    def ignore(self, tube: str) -> None:
        self._expect(self._command(f"ignore {tube}"), "WATCHING", "NOT_IGNORED",
                     command="ignore")
        self._watched.discard(tube)

    def reserve(self, timeout: float | None = None) -> tuple[int, bytes]:
        """(job ID, body); ResponseError (`TIMED_OUT`) when `timeout`
        seconds pass first, as 7.2's client raises. `poll` returns None
        instead."""
        job = self.poll(timeout)
        if job is None:
            raise ResponseError("TIMED_OUT", "reserve")
        return job

    def poll(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """(job ID, body), or None when `timeout` seconds pass first."""
        if timeout is None:
            reply = self._command("reserve", timeout=None)
        else:
            reply = self._command(f"reserve-with-timeout {int(timeout)}",
                                  timeout=int(timeout) + self.timeout)
        if reply and reply[0] in ("TIMED_OUT", "DEADLINE_SOON"):
            return None
        self._expect(reply, "RESERVED", command="reserve")
        return int(reply[1]), self._read_body(int(reply[2]))

    def reserve_ready(self, count: int) -> list[tuple[int, bytes]]:
        """Up to `count` more jobs, only those ready now: `count`
        reserve-with-timeout 0 sent in one write, their replies read after
        (a busy agent takes its jobs by batches, not one round trip each)."""
        if count <= 0:
            return []
        self._send_lines(["reserve-with-timeout 0"] * count)
        jobs = []
        for _ in range(count):
            reply = self._reply()
            if reply and reply[0] == "RESERVED":
                try:
                    body = self._read_body(int(reply[2]))
                except OSError:
                    self.close()
                    raise
                jobs.append((int(reply[1]), body))
            elif not reply or reply[0] not in ("TIMED_OUT", "DEADLINE_SOON"):
                # Out of step with the replies: closing gives back the
                # jobs reserved on this connection.
                self.close()
                raise BeanstalkError(" ".join(reply) or "empty reply",
                                     "reserve")
        return jobs

    def delete(self, job_id: int) -> None:
        self._expect(self._command(f"delete {job_id}"), "DELETED",
                     command="delete")

    def delete_many(self, job_ids: list[int]) -> None:
        """Delete jobs in one write; BeanstalkError (after reading every
        reply) if one of them was not deleted."""
        self._send_lines([f"delete {job_id}" for job_id in job_ids])
        replies = [self._reply() for _ in job_ids]
        failed = [(job_id, reply)
                  for job_id, reply in zip(job_ids, replies, strict=True)
                  if not reply or reply[0] != "DELETED"]
        if failed:
            job_id, reply = failed[0]
            raise BeanstalkError(" ".join(reply) or "empty reply",
                                 f"delete {job_id}")

    def release(self, job_id: int, priority: int = DEFAULT_PRIORITY,
                delay: int = 0) -> None:
        self._expect(self._command(f"release {job_id} {priority} {delay}"),
                     "RELEASED", "BURIED", command="release")

    def bury(self, job_id: int, priority: int = DEFAULT_PRIORITY) -> None:
        self._expect(self._command(f"bury {job_id} {priority}"), "BURIED",
                     command="bury")

    # -- administration --
    def kick(self, bound: int = 1000) -> int:
        """Buried (or delayed) jobs of the used tube made ready again."""
        return int(self._expect(self._command(f"kick {bound}"), "KICKED",
                                command="kick")[1])

    def peek_buried(self) -> tuple[int, bytes] | None:
        reply = self._command("peek-buried")
        if reply and reply[0] == "NOT_FOUND":
            return None
        self._expect(reply, "FOUND", command="peek-buried")
        return int(reply[1]), self._read_body(int(reply[2]))

    def peek_ready(self) -> tuple[int | None, bytes | None]:
        """The next ready job of the used tube, left where it is; (None,
        None) when there is none (7.2's return)."""
        reply = self._command("peek-ready")
        if reply and reply[0] == "NOT_FOUND":
            return None, None
        self._expect(reply, "FOUND", command="peek-ready")
        return int(reply[1]), self._read_body(int(reply[2]))

    def wait_for_ready_job(self, tube: str, timeout: float = float("inf"),
                           poll_interval: float = 0.2
                           ) -> tuple[int | None, bytes | None]:
        """Poll `tube` until it has a ready job or `timeout` seconds pass
        (7.2's test helper, which upstream tests call); the job stays."""
        self.use(tube)
        deadline = time.monotonic() + timeout
        job = self.peek_ready()
        while job[0] is None and time.monotonic() < deadline:
            time.sleep(poll_interval)
            job = self.peek_ready()
        return job

    def wait_until_empty(self, tube: str, timeout: float = float("inf"),
                         poll_interval: float = 0.2,
                         initial_delay: float = 0.0) -> None:
        """Poll `tube` until it has no ready job or `timeout` seconds pass
        (7.2's test helper: wait for the event agents to take every event),
        after `initial_delay` seconds for the events to arrive."""
        self.use(tube)
        if initial_delay > 0:
            time.sleep(initial_delay)
        deadline = time.monotonic() + timeout
        while self.peek_ready()[0] is not None \
                and time.monotonic() < deadline:
            time.sleep(poll_interval)

    def drain_tube(self, tube: str, timeout: float = 0.0) -> int:
        """Delete the jobs of `tube` ready within `timeout` seconds of each
        other; how many (7.2's test helper)."""
        self.watch(tube)
        count = 0
        while (job := self.poll(timeout=timeout)) is not None:
            self.delete(job[0])
            count += 1
        return count

    def drain_buried(self, tube: str) -> int:
        """Delete the buried jobs of `tube`; how many (7.2's test
        helper)."""
        self.use(tube)
        count = 0
        while (job := self.peek_buried()) is not None:
            self.delete(job[0])
            count += 1
        return count

    def _yaml(self, line: str) -> object:
        reply = self._expect(self._command(line), "OK", command=line)
        return yaml.safe_load(self._read_body(int(reply[1])))

    def stats_job(self, job_id: int) -> dict:
        """beanstalkd's statistics of a job (`releases`, `age`...)."""
        return self._yaml(f"stats-job {job_id}")

    def stats_tube(self, tube: str) -> dict:
        """beanstalkd's statistics of `tube` (NOT_FOUND if it has none)."""
        return self._yaml(f"stats-tube {tube}")

    def list_tubes(self) -> list[str]:
        return self._yaml("list-tubes")
