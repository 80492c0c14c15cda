"""Integrity checker: account → containers → objects → chunks.

Each item is checked against the level above it (a container must be in
its account's listing, an object in its container's, a chunk in its
object's chunk list) and, for chunks, against the rawx that holds it (a
HEAD, with `check_hash` a full read and hash on the rawx side). Every
checked item is reported once as a `Target` whose latest `ItemResult`
holds the errors found (none when healthy).

The work fans out on a thread pool; a task never waits for another one,
so nesting (account → containers → objects) cannot dead-lock the pool.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from oio.common import exceptions as exc
from oio.common.fullpath import decode_fullpath
from oio.common.storage_method import STORAGE_METHODS
from oio.common.utils import cid_from_name

DEFAULT_DEPTH = 4
# First field of a line of the error files for what cannot be rebuilt.
IRREPARABLE_PREFIX = "#IRREPARABLE"
LISTING_PAGE = 1000


class Target:
    """What a check is about (account, container, object version or
    chunk), and the log of its results."""

    def __init__(self, account: str | None, container: str | None = None,
                 obj: str | None = None, chunk: str | None = None,
                 content_id: str | None = None, version: str | None = None,
                 cid: str | None = None) -> None:
        self.account = account
        self.container = container
        self.obj = obj
        self.chunk = chunk
        self.content_id = content_id
        self.version = None if version is None else str(version)
        self._cid = cid
        self.error_log: list[tuple[float, ItemResult]] = []

    @property
    def cid(self) -> str | None:
        if not self._cid and self.account and self.container:
            self._cid = cid_from_name(self.account, self.container)
        return self._cid

    @cid.setter
    def cid(self, cid: str | None) -> None:
        self._cid = cid

    @property
    def type(self) -> str:
        if self.chunk:
            return "chunk"
        if self.obj:
            return "object"
        if self.container:
            return "container"
        return "account"

    def copy(self) -> Target:
        return Target(self.account, self.container, self.obj, self.chunk,
                      self.content_id, self.version, self._cid)

    def copy_object(self) -> Target:
        return Target(self.account, self.container, self.obj,
                      content_id=self.content_id, version=self.version)

    def copy_container(self) -> Target:
        return Target(self.account, self.container)

    def copy_account(self) -> Target:
        return Target(self.account)

    def append_result(self, result: ItemResult) -> None:
        self.error_log.append((time.time(), result))

    @property
    def has_errors(self) -> bool:
        return bool(self.error_log and self.error_log[-1][1].errors)

    @property
    def irreparable(self) -> bool:
        return self.has_errors and self.error_log[-1][1].irreparable

    def latest_error_result(self) -> ItemResult | None:
        return self.error_log[-1][1] if self.has_errors else None

    def __repr__(self) -> str:
        # The "Item" column of the check commands: keep the 7.2 format.
        if self.type == "chunk":
            return f"chunk={self.chunk}"
        out = f"account={self.account}"
        for name, value in (("container", self.container), ("cid", self.cid),
                            ("obj", self.obj),
                            ("content_id", self.content_id),
                            ("version", self.version)):
            if value:
                out += f", {name}={value}"
        return out


class ItemResult:
    """The errors of one check (empty: healthy)."""

    def __init__(self, errors: list[str] | None = None,
                 irreparable: bool = False) -> None:
        self.errors = list(errors or [])
        self.irreparable = irreparable

    def errors_to_str(self, separator: str = "\n") -> str:
        return separator.join(str(e) for e in self.errors) \
            if self.errors else str(None)


def error_row(target: Target) -> list[str]:
    """Fields of the line of a broken item in an error file (`-o`), which
    `--from-stdin` reads back (space-separated)."""
    row = [IRREPARABLE_PREFIX] if target.irreparable else []
    return row + [x for x in (target.account, target.container, target.obj,
                              target.chunk) if x]


def rebuild_row(target: Target) -> list[str]:
    """Fields of the line of a broken chunk for `openio-admin chunk
    rebuild` (`cid|content|chunk URL or position`, '|'-separated)."""
    row = [IRREPARABLE_PREFIX] if target.irreparable else []
    return row + [target.cid, target.content_id or target.obj, target.chunk]


class Checker:
    """Checks targets given to `check()`; `run()` does the work and yields
    every checked target (containers and objects reached by recursion
    too), each exactly once.

    `api` is an ObjectStorageApi; `rdir` (an RdirClient) is only needed to
    find the object of a chunk whose rawx lost it.
    """

    def __init__(self, api, rdir=None, concurrency: int = 30,
                 check_hash: bool = False, check_xattr: bool = True,
                 request_attempts: int = 1, error_file: str | None = None,
                 rebuild_file: str | None = None, logger=None,
                 pace: Callable[[], None] | None = None) -> None:
        self.api = api
        # Called (from any worker thread) before each check: rate limits.
        self.pace = pace
        self._stopped = False
        self.rdir = rdir
        self.concurrency = max(1, int(concurrency))
        self.check_hash = bool(check_hash)
        self.check_xattr = bool(check_xattr)
        self.request_attempts = max(1, int(request_attempts))
        self.logger = logger or logging.getLogger(__name__)
        self._error_file = error_file
        self._rebuild_file = rebuild_file
        self._todo: list[tuple[Callable, Target, int]] = []
        self._results: list[Target] = []
        self._cache: dict[Any, Any] = {}
        self._key_locks: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()
        self._pending: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None
        self.counters = {"account": 0, "container": 0, "object": 0, "chunk": 0,
                         "errors": 0}

    # Public ------------------------------------------------------------------
    def check(self, target: Target, recurse: int = 0) -> None:
        """Queue a target; `recurse` levels below it are checked too."""
        kind = target.type
        func = {"chunk": self._check_chunk_task, "object": self.check_obj,
                "container": self.check_container,
                "account": self.check_account}[kind]
        self._todo.append((func, target, recurse))

    def run(self) -> Iterator[Target]:
        """Check everything queued; yield the checked targets."""
        self._pool = ThreadPoolExecutor(self.concurrency,
                                        thread_name_prefix="check")
        try:
            for func, target, recurse in self._todo:
                self._spawn(func, target, recurse)
            self._todo.clear()
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    future = self._pending.pop(0)
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._write_error_files()
        results, self._results = self._results, []
        yield from results

    def stop(self) -> None:
        """Start no new check: `run()` returns once those started are done
        (from a signal handler, say)."""
        self._stopped = True

    # Plumbing ----------------------------------------------------------------
    def _spawn(self, func: Callable, target: Target, recurse: int) -> None:
        if self._stopped:
            return

        def task():
            if self.pace is not None:
                self.pace()
            if self._stopped:
                return
            try:
                func(target, recurse)
            except Exception as err:  # noqa: BLE001 - reported, not lost
                self.logger.exception("check of %r failed", target)
                self.send_result(target, [f"Check failed: {err}"])
        future = self._pool.submit(task)
        with self._lock:
            self._pending.append(future)

    def _once(self, key, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, computed now): one computation per key, whoever asks."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._cache:
                return self._cache[key], False
            value = compute()
            self._cache[key] = value
            return value, True

    def _attempts(self, func: Callable, *args, **kwargs):
        for attempt in range(self.request_attempts):
            try:
                return func(*args, **kwargs)
            except (exc.OioNetworkException, exc.ServiceBusy):
                if attempt + 1 >= self.request_attempts:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("not reached")

    def send_result(self, target: Target, errors: list[str] | None = None,
                    irreparable: bool = False) -> None:
        target.append_result(ItemResult(errors, irreparable))
        with self._lock:
            self._results.append(target)
            self.counters[target.type] += 1
            if errors:
                self.counters["errors"] += 1

    def _write_error_files(self) -> None:
        broken = [t for t in self._results if t.has_errors]
        if self._error_file:
            with open(self._error_file, "a", newline="") as out:
                writer = csv.writer(out, delimiter=" ")
                writer.writerows(error_row(t) for t in broken)
        if self._rebuild_file:
            with open(self._rebuild_file, "a", newline="") as out:
                writer = csv.writer(out, delimiter="|")
                writer.writerows(rebuild_row(t) for t in broken
                                 if t.type == "chunk")

    # Accounts ----------------------------------------------------------------
    def check_account(self, target: Target, recurse: int = 0) -> dict:
        """{container name: listing entry} of the account (cached)."""
        def compute():
            errors: list[str] = []
            containers: dict[str, list] = {}
            marker = None
            try:
                while True:
                    page = self._attempts(self.api.container_list,
                                          target.account, marker=marker,
                                          limit=LISTING_PAGE)
                    if not page:
                        break
                    for entry in page:
                        containers[entry[0]] = entry
                    marker = page[-1][0]
            except (exc.NoSuchAccount, exc.NotFound) as err:
                errors.append(f"Not found: {err}")
            except exc.OioException as err:
                errors.append(f"Check failed: {err}")
            self.send_result(target, errors)
            return containers

        containers, fresh = self._once(("account", target.account), compute)
        if fresh and recurse > 0:
            for name in containers:
                child = target.copy_account()
                child.container = name
                self._spawn(self.check_container, child, recurse - 1)
        return containers

    # Containers --------------------------------------------------------------
    def check_container(self, target: Target, recurse: int = 0) -> dict:
        """{object name: [versions, latest first]} (cached)."""
        def compute():
            in_account = self.check_account(target.copy_account())
            errors: list[str] = []
            if target.container not in in_account:
                errors.append("Missing from account listing")
            objects: dict[str, list[dict]] = {}
            marker = None
            try:
                while True:
                    resp = self._attempts(
                        self.api.object_list, target.account, target.container,
                        marker=marker, versions=True, limit=LISTING_PAGE)
                    for obj in resp.get("objects") or ():
                        objects.setdefault(obj["name"], []).append(obj)
                    if not resp.get("truncated") or not resp.get("objects"):
                        break
                    marker = resp.get("next_marker") or \
                        resp["objects"][-1]["name"]
            except (exc.NoSuchContainer, exc.NotFound) as err:
                errors.append(f"Not found: {err}")
            except exc.OioException as err:
                errors.append(f"Check failed: {err}")
            for versions in objects.values():
                versions.sort(key=lambda o: int(o["version"]), reverse=True)
            self.send_result(target, errors)
            return objects

        objects, fresh = self._once(
            ("container", target.account, target.container), compute)
        if fresh and recurse > 0:
            for name, versions in objects.items():
                for version in versions:
                    if version.get("deleted"):
                        continue      # a delete marker has no data
                    child = target.copy_container()
                    child.obj = name
                    child.content_id = version.get("id")
                    child.version = str(version["version"])
                    self._spawn(self.check_obj, child, recurse - 1)
        return objects

    # Objects -----------------------------------------------------------------
    def check_obj(self, target: Target, recurse: int = 0
                  ) -> tuple[dict, dict | None]:
        """({chunk url: chunk}, object metadata or None) of one version
        (the latest when none is given; then every version is checked)."""
        listing = self.check_container(target.copy_container())
        versions = [v for v in listing.get(target.obj) or ()
                    if not v.get("deleted")]
        if target.version is None and target.content_id is None \
                and len(versions) > 1:
            for version in versions[1:]:
                older = target.copy_object()
                older.version = str(version["version"])
                older.content_id = version.get("id")
                self._spawn(self.check_obj, older, recurse)
        if target.version is None and versions:
            match = next((v for v in versions
                          if v.get("id") == target.content_id), versions[0])
            target.version = str(match["version"])

        def compute():
            return self._check_obj(target, versions, recurse)

        return self._once(("object", target.account, target.container,
                           target.obj, target.version), compute)[0]

    def _check_obj(self, target: Target, versions: list[dict],
                   recurse: int) -> tuple[dict, dict | None]:
        errors: list[str] = []
        if not any(str(v["version"]) == target.version for v in versions):
            errors.append("Missing from container listing")
        meta, chunks = None, []
        try:
            meta, chunks = self._attempts(
                self.api.object_locate, target.account, target.container,
                target.obj, version=target.version, properties=False)
        except (exc.NoSuchObject, exc.NoSuchContainer, exc.NotFound) as err:
            errors.append(f"Not found: {err}")
        except exc.OioException as err:
            errors.append(f"Check failed: {err}")
        listing = {c["url"]: c for c in chunks}
        if meta:
            target.content_id = target.content_id or meta.get("id")
            target.version = target.version or str(meta.get("version"))
            errors.extend(self._check_obj_policy(target, meta, chunks,
                                                 listing, recurse))
        self.send_result(target, errors)
        return listing, meta

    def _check_obj_policy(self, target: Target, meta: dict, chunks: list[dict],
                          listing: dict, recurse: int) -> list[str]:
        """Errors of the object's metachunks against its storage policy."""
        method = STORAGE_METHODS.load(meta.get("chunk_method") or "plain")
        by_pos: dict[int, list[dict]] = {}
        for chunk in chunks:
            by_pos.setdefault(int(str(chunk["pos"]).split(".")[0]),
                              []).append(chunk)
        expected = max(by_pos) + 1 if by_pos else 0
        size = int(meta.get("length") or meta.get("size") or 0)
        chunk_size = int(meta.get("chunk_size") or 0)
        if chunk_size > 0 and size > 0:
            expected = max(expected, -(-size // chunk_size))
        errors: list[str] = []
        for pos in range(expected):
            pchunks = by_pos.get(pos, [])
            if not pchunks:
                errors.append(f"Missing metachunk at position {pos}")
                continue
            errors.extend(self._check_metachunk(target, method, pos, pchunks,
                                                listing, recurse))
        return errors

    def _check_metachunk(self, target: Target, method, pos: int,
                         chunks: list[dict], listing: dict,
                         recurse: int) -> list[str]:
        required = method.expected_chunks
        errors: list[str] = []
        chunk_results: list[tuple[Target, list[str]]] = []
        if method.ec:
            present = {int(str(c["pos"]).split(".")[1]) for c in chunks
                       if "." in str(c["pos"])}
            missing = [f"{pos}.{sub}" for sub in range(required)
                       if sub not in present]
        else:
            missing = [str(pos)] * max(0, required - len(chunks))
        for where in missing:
            child = target.copy()
            child.chunk = where
            err = f"Missing chunk at position {where}"
            chunk_results.append((child, [err]))
            errors.append(err)
        if recurse > 0:
            for chunk in chunks:
                child = target.copy()
                child.chunk = chunk["url"]
                child_errors = self._check_chunk(child, listing)
                if child_errors is None:
                    continue      # already checked and reported
                chunk_results.append((child, child_errors))
                if child_errors:
                    errors.append(f"Unusable chunk {chunk['url']} at position "
                                  f"{chunk['pos']}")
        available = required - len(errors)
        irreparable = available < method.min_chunks_to_read
        if irreparable:
            errors.append(
                f"Unavailable metachunk at position {pos} ({max(available, 0)}"
                f"/{required} chunks available, {method.min_chunks_to_read}"
                f"/{required} required)")
        for child, child_errors in chunk_results:
            self.send_result(child, child_errors, irreparable)
        return errors

    # Chunks ------------------------------------------------------------------
    def _check_chunk_task(self, target: Target, _recurse: int = 0) -> None:
        errors = self._check_chunk(target)
        if errors is not None:
            self.send_result(target, errors)

    def _check_chunk(self, target: Target,
                     listing: dict | None = None) -> list[str] | None:
        """Errors of a chunk, None when it was already checked.

        Keys are locked object first, chunk second, never the other way:
        a chunk checked on its own finds its object's listing before it
        takes its own key (an object being checked holds its key while it
        checks its chunks, so the reverse order dead-locks)."""
        if listing is not None:
            def compute():
                xattr, errors = self._head(target)
                return errors + self._listing_errors(target, listing, xattr)
            errors, fresh = self._once(("chunk", target.chunk), compute)
            return errors if fresh else None
        with self._lock:
            if ("chunk", target.chunk) in self._cache:
                return None
        xattr, errors = self._head(target)
        if not target.obj:
            self._complete_from_chunk(target, xattr)
        if not target.obj:
            errors.append("Owner object unknown (no usable xattr, "
                          "not found in rdir)")
        else:
            listing, _ = self.check_obj(target.copy_object())
            errors += self._listing_errors(target, listing, xattr)
        errors, fresh = self._once(("chunk", target.chunk), lambda: errors)
        return errors if fresh else None

    def _head(self, target: Target) -> tuple[dict, list[str]]:
        """(xattrs, errors) of a HEAD of the chunk on its rawx."""
        errors: list[str] = []
        xattr: dict = {}
        try:
            xattr = self.api.blob_client.chunk_head(
                target.chunk, xattr=self.check_xattr,
                check_hash=self.check_hash)
        except exc.NotFound:
            errors.append("Not found: the rawx has no such chunk (HTTP 404)")
        except exc.ClientPreconditionFailed:
            errors.append("Corrupted: the chunk's data does not match its "
                          "hash (HTTP 412)")
        except exc.FaultyChunk as err:
            errors.append(f"Faulty: {err!r}")
        except exc.OioException as err:
            errors.append(f"Check failed: {err}")
        return xattr, errors

    def _listing_errors(self, target: Target, listing: dict,
                        xattr: dict) -> list[str]:
        db_chunk = listing.get(target.chunk)
        if db_chunk is None:
            return ["Missing from object listing"]
        if xattr and self.check_xattr:
            return self._xattr_errors(db_chunk, xattr)
        return []

    @staticmethod
    def _xattr_errors(db_chunk: dict, xattr: dict) -> list[str]:
        # EC fragments keep the metachunk's size and hash under meta*.
        prefix = "meta" if "." in str(db_chunk["pos"]) else ""
        errors = []
        key = prefix + "chunk_size"
        if str(db_chunk.get("size")) != str(xattr.get(key)):
            errors.append(f"'{key}' xattr ({xattr.get(key)}) differs from "
                          f"size in meta2 ({db_chunk.get('size')})")
        key = prefix + "chunk_hash"
        if str(db_chunk.get("hash", "")).upper() != \
                str(xattr.get(key) or "").upper():
            errors.append(f"'{key}' xattr ({xattr.get(key)}) differs from "
                          f"hash in meta2 ({db_chunk.get('hash')})")
        return errors

    def _complete_from_chunk(self, target: Target, xattr: dict) -> None:
        """Find the object of a chunk: its fullpath xattr, else the older
        attributes, else the rdir of its rawx."""
        if xattr.get("full_path"):
            try:
                (target.account, target.container, target.obj,
                 target.version, target.content_id) = decode_fullpath(
                    xattr["full_path"])
                return
            except ValueError:
                pass
        cid = xattr.get("container_id")
        content_id = xattr.get("content_id")
        if not cid and self.rdir is not None:
            cid, content_id = self._from_rdir(target.chunk)
        if not cid:
            return
        try:
            target.account, target.container = self.api.resolve_cid(cid)
            meta, _ = self.api.container.content_locate(
                cid=cid, content=content_id, properties=False)
            target.obj = meta.get("name")
            target.version = str(meta.get("version"))
            target.content_id = meta.get("id")
        except exc.OioException as err:
            self.logger.warning("owner of chunk %s not found (cid %s): %s",
                                target.chunk, cid, err)

    def _from_rdir(self, chunk_url: str) -> tuple[str | None, str | None]:
        volume, _, chunk_id = chunk_url.split("://", 1)[-1].partition("/")
        try:
            for cid, content_id, found, _ in self.rdir.chunk_fetch(volume):
                if found == chunk_id:
                    return cid, content_id
        except exc.OioException as err:
            self.logger.warning("rdir of %s unreachable: %s", volume, err)
        return None, None
