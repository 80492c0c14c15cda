"""ObjectStorageApi: containers and objects of a namespace, as the seed
describes it (shared/seed/oio-python-api-7.x.txt, proxy-api.md §8)."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from oio.account.client import AccountClient
from oio.api.broken import BrokenChunks
from oio.api.ec import ECMetachunkWriter, fragment_index
from oio.api.io import Source, group_metachunks, object_stream, plan_reads
from oio.api.rebuild import replace_missing
from oio.api.replication import (
    WRITE_BUFFER_SIZE,
    BufferRing,
    ReplicatedMetachunkWriter,
    check_single_metachunk,
    replies_vote,
    sysmeta_for,
)
from oio.blob.client import BlobClient
from oio.common import exceptions as exc
from oio.common import perfdata as perf
from oio.common.cache import del_cached_object_metadata
from oio.common.client import ProxyClient
from oio.common.configuration import load_namespace_conf
from oio.common.constants import OIO_VERSION, TIMEOUT_KEYS
from oio.common.decorators import (
    handle_account_not_found,
    handle_container_not_found,
    handle_object_not_found,
)
from oio.common.fullpath import encode_fullpath
from oio.common.http_urllib3 import get_pool_manager
from oio.common.memory import tune_malloc
from oio.common.storage_functions import _sort_chunks  # noqa: F401 - 7.2 name
from oio.common.storage_method import STORAGE_METHODS
from oio.common.utils import (
    cid_from_name,
    compute_chunk_id,
    pop_request_id,
    request_id,
    timestamp_us,
    true_value,
)
from oio.conscience.client import ConscienceClient
from oio.container.client import ContainerClient
from oio.directory.client import DirectoryClient

# Keywords every proxy request understands; others are the API's own.
PROXY_KEYWORDS = ("headers", "connection_timeout", "read_timeout",
                  "write_timeout", "deadline", "reqid", "admin_mode",
                  "force_master", "perfdata", "tls", "cache")


def _proxy_kwargs(kwargs: dict) -> dict:
    return {k: kwargs[k] for k in PROXY_KEYWORDS if k in kwargs}


class ObjectStorageApi:
    """The Object Storage API: containers and objects through oio-proxy,
    data straight to and from the rawx services.

    Every method taking `**kwargs` accepts at least `headers`,
    `connection_timeout`, `read_timeout`, `write_timeout` (seconds),
    `deadline` (monotonic seconds) and `reqid`."""

    EXTRA_KEYWORDS = ("chunk_checksum_algo", "autocreate", "chunk_buffer_min",
                      "chunk_buffer_max", "cache", "tls")

    def __init__(self, namespace: str, logger=None, perfdata=None, **kwargs: Any):
        self.namespace = namespace
        self.logger = logger or logging.getLogger(__name__)
        self.perfdata = perfdata
        # Fragments and segments are allocated at every step of the data
        # path: let them reuse heap memory (oio/common/memory.py).
        tune_malloc()
        conf = {"namespace": namespace}
        self._global_kwargs = {k: float(v) for k, v in kwargs.items()
                               if k in TIMEOUT_KEYS and v is not None}
        self._global_kwargs["autocreate"] = True
        if perfdata is not None:
            self._global_kwargs["perfdata"] = perfdata
        for key in self.EXTRA_KEYWORDS:
            if key in kwargs:
                self._global_kwargs[key] = kwargs[key]
        if kwargs.get("reqid"):
            # One request ID for everything this API does (the CLI's
            # --request-id), data path included.
            self._global_kwargs["reqid"] = kwargs["reqid"]
        pool_manager = kwargs.pop("pool_manager", None) or get_pool_manager(
            pool_connections=kwargs.get("pool_connections", 64),
            pool_maxsize=kwargs.get("pool_maxsize", 32))
        self.container = ContainerClient(conf, logger=self.logger,
                                         pool_manager=pool_manager, **kwargs)
        self.pool_manager = pool_manager
        self._proxy_client: ProxyClient | None = None
        self._lb_client = None
        self.account = AccountClient(conf, logger=self.logger,
                                     pool_manager=pool_manager, **kwargs)
        self.directory = DirectoryClient(conf, logger=self.logger,
                                         pool_manager=pool_manager, **kwargs)
        self._blob_client = BlobClient(conf, perfdata=perfdata,
                                       logger=self.logger,
                                       connection_pool=pool_manager)
        # Fetches the next metachunk's rawx while the current one streams.
        self._prepare_ahead = ThreadPoolExecutor(2, thread_name_prefix="prepare")

    def _kw(self, kwargs: dict) -> dict:
        """The call's keywords over the API-wide ones; a request ID given as
        a header becomes the `reqid` of the whole operation."""
        kw = dict(self._global_kwargs, **kwargs)
        if kw.get("headers"):
            kw["headers"], reqid = pop_request_id(kw["headers"])
            if reqid and not kw.get("reqid"):
                kw["reqid"] = reqid
        return kw

    @property
    def proxy_client(self) -> ProxyClient:
        """A client of the proxy's own routes (`/v3.0/config`, ...), on the
        API's connection pool."""
        if self._proxy_client is None:
            self._proxy_client = ProxyClient(
                {"namespace": self.namespace}, no_ns_in_url=True,
                endpoint=f"{self.container.proxy_scheme}://"
                f"{self.container.proxy_netloc}",
                pool_manager=self.pool_manager, logger=self.logger)
        return self._proxy_client

    # Containers ------------------------------------------------------------
    def container_create(self, account: str, container: str,
                         properties: dict | None = None, **kwargs) -> bool:
        """True if created, False if it already existed."""
        return self.container.container_create(
            account, container, properties=properties,
            system=kwargs.pop("system", None), **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_show(self, account: str, container: str, **kwargs) -> dict:
        return self.container.container_show(account, container,
                                             **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_get_properties(self, account: str, container: str,
                                 properties=None, **kwargs) -> dict:
        return self.container.container_get_properties(
            account, container, properties=properties,
            **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_set_properties(self, account: str, container: str,
                                 properties=None, clear=False, **kwargs):
        return self.container.container_set_properties(
            account, container, properties, clear=clear,
            system=kwargs.pop("system", None), **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_del_properties(self, account: str, container: str,
                                 properties, **kwargs):
        return self.container.container_del_properties(
            account, container, properties, **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_delete(self, account: str, container: str, **kwargs) -> None:
        self.container.container_delete(account, container,
                                        **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_touch(self, account: str, container: str,
                        recompute: bool = False, **kwargs) -> None:
        """Make meta2 announce the container's statistics again; with
        `recompute`, recount them first, along with the damaged objects and
        missing chunks this client finds by locating every version."""
        pkw = _proxy_kwargs(self._kw(kwargs))
        damaged = missing = None
        if recompute:
            damaged, missing = self._count_missing_chunks(account, container,
                                                          pkw)
        self.container.container_touch(account, container, recompute=recompute,
                                       damaged_objects=damaged,
                                       missing_chunks=missing, **pkw)

    def _count_missing_chunks(self, account, container, pkw) -> tuple[int, int]:
        """(damaged objects, missing chunks) of every version."""
        damaged = missing = 0
        for obj in self._iter_objects(account, container, versions=True, **pkw):
            if obj.get("deleted"):
                continue
            located = self._locate_version(account, container, obj, pkw)
            if located is None:
                continue
            meta, chunks = located
            method = STORAGE_METHODS.load(meta["chunk_method"])
            size, chunk_size = int(meta.get("length") or 0), \
                int(meta.get("chunk_size") or 0)
            metachunks = len(group_metachunks(chunks))
            if chunk_size > 0 and size > 0:
                metachunks = max(metachunks, -(-size // chunk_size))
            lacking = max(1, metachunks) * method.expected_chunks - len(chunks)
            if lacking > 0:
                damaged += 1
                missing += lacking
        return damaged, missing

    def _locate_version(self, account, container, obj: dict, pkw
                        ) -> tuple[dict, list] | None:
        """(metadata, chunks) of a listed version; None when it went
        meanwhile or was drained (410: no chunk, nothing to count)."""
        try:
            return self.container.content_locate(
                account, container, obj["name"], version=obj["version"],
                properties=False, **pkw)
        except exc.NotFound:
            return None
        except exc.ClientException as err:
            if err.http_status == 410:
                return None
            raise

    def container_create_many(self, account: str, containers: list[str],
                              properties: dict | None = None,
                              **kwargs) -> list[tuple[str, bool]]:
        """(name, created) for each name; created is False when it existed."""
        return self.container.container_create_many(
            account, containers, properties=properties,
            system=kwargs.pop("system", None), **_proxy_kwargs(self._kw(kwargs)))

    @handle_container_not_found
    def container_flush(self, account: str, container: str, fast: bool = False,
                        **kwargs) -> None:
        """Delete every object of the container; `fast` lets meta2 drop them
        by batches, else they are listed and deleted like object_delete."""
        pkw = _proxy_kwargs(self._kw(kwargs))
        if fast:
            while self.container.container_flush(account, container,
                                                 **pkw)["truncated"]:
                pass
            return
        while True:
            listing = self.object_list(account, container, **pkw)
            names = [obj["name"] for obj in listing["objects"]]
            if not names:
                return
            self.container.content_delete_many(account, container, names, **pkw)
            if not listing.get("truncated"):
                return

    @handle_container_not_found
    def container_purge(self, account: str, container: str, maxvers=None,
                        **kwargs) -> None:
        """Delete the versions of each object beyond the `maxvers` most
        recent (default: the container's, else the namespace's max
        versions; 0 counts as 1, negative keeps everything)."""
        if maxvers is None:
            system = self.container_get_properties(account, container,
                                                   **kwargs)["system"]
            maxvers = system.get("sys.m2.policy.version")
            if maxvers is None:
                _, config = self.proxy_client._request("GET", "config")
                maxvers = (config or {}).get("meta2.max_versions", 1)
        maxvers = int(maxvers)
        if maxvers < 0:
            return
        maxvers = max(maxvers, 1)
        versions: dict[str, list[int]] = {}
        marker = None
        while True:
            page = self.object_list(account, container, versions=True,
                                    marker=marker, **kwargs)
            for obj in page["objects"]:
                if not obj.get("deleted"):
                    versions.setdefault(obj["name"], []).append(
                        int(obj["version"]))
            # Names are complete once the listing has moved past them.
            if page.get("truncated"):
                marker = page.get("next_marker")
                done = [n for n in versions if marker is None or n <= marker]
            else:
                done = list(versions)
            for name in done:
                for version in sorted(versions.pop(name), reverse=True)[maxvers:]:
                    self.container.content_delete(
                        account, container, name, version=version,
                        **_proxy_kwargs(self._kw(kwargs)))
            if not page.get("truncated") or marker is None:
                break

    @handle_container_not_found
    def container_snapshot(self, account: str, container: str,
                           dst_account: str, dst_container: str,
                           batch_size: int = 100, **kwargs) -> None:
        """Copy a container into `dst_account`/`dst_container`: its base,
        and every chunk hard-linked on its rawx. The source is frozen during
        the capture; the snapshot stays frozen (read-only)."""
        pkw = _proxy_kwargs(self._kw(kwargs))
        self.container.container_freeze(account, container, **pkw)
        try:
            self.container.container_snapshot(
                account, container, dst_account, dst_container, **pkw)
            try:
                self._link_snapshot_chunks(account, container, dst_account,
                                           dst_container, batch_size, pkw)
            except BaseException:
                # No half-made snapshot: its base goes (the source's chunks
                # are untouched: they still belong to the source).
                try:
                    self.container.container_delete(
                        dst_account, dst_container, force=True, **pkw)
                except exc.OioException as err:
                    self.logger.warning("snapshot %s/%s left behind: %s",
                                        dst_account, dst_container, err)
                raise
            self.container.container_touch(dst_account, dst_container, **pkw)
        finally:
            self.container.container_enable(account, container, **pkw)

    def _link_snapshot_chunks(self, account, container, dst_account,
                              dst_container, batch_size, pkw) -> None:
        """Hard-link each chunk of the snapshot under its own chunk ID and
        point the snapshot's records at the links, by batches."""
        dst_cid = cid_from_name(dst_account, dst_container)
        old_beans: list[dict] = []
        new_beans: list[dict] = []
        links: list[str] = []

        def flush() -> None:
            self.container.container_raw_update(
                old_beans, new_beans, dst_account, dst_container, frozen=True,
                **pkw)
            old_beans.clear()
            new_beans.clear()

        try:
            for obj in self._iter_objects(dst_account, dst_container,
                                          versions=True, **pkw):
                if obj.get("deleted"):
                    continue  # a delete marker has no chunk
                located = self._locate_version(account, container, obj, pkw)
                chunks = located[1] if located else []    # drained: none
                fullpath = encode_fullpath(dst_account, dst_container,
                                           obj["name"], obj["version"],
                                           obj["content"])
                for chunk in chunks:
                    chunk_id = compute_chunk_id(
                        dst_cid, obj["name"], obj["version"], chunk["pos"],
                        obj["policy"])
                    _, url = self.blob_client.chunk_link(
                        chunk["url"], chunk_id, fullpath,
                        real_url=chunk.get("real_url"))
                    links.append(url)
                    bean = {"type": "chunk", "hash": chunk["hash"],
                            "size": int(chunk["size"]), "pos": chunk["pos"],
                            "content": obj["content"]}
                    old_beans.append(dict(bean, id=chunk["url"]))
                    new_beans.append(dict(bean, id=url))
                if len(old_beans) >= batch_size:
                    flush()
            if old_beans:
                flush()
        except BaseException:
            for url in links:  # the snapshot's base goes with them
                try:
                    self.blob_client.chunk_delete(url)
                except exc.OioException:
                    pass
            raise

    def _iter_objects(self, account: str, container: str, **kwargs):
        """Every entry of a container listing, page after page."""
        marker = None
        while True:
            page = self.object_list(account, container, marker=marker,
                                    **kwargs)
            yield from page["objects"]
            marker = page.get("next_marker")
            if not page.get("truncated") or not marker:
                return

    def container_update(self, account: str, container: str, metadata: dict,
                         clear: bool = False, **kwargs) -> None:
        """Deprecated: use container_set_properties (empty `metadata`
        deletes every user property)."""
        _deprecated("container_set_properties()")
        if not metadata:
            self.container_del_properties(account, container, [], **kwargs)
            return
        self.container_set_properties(account, container, properties=metadata,
                                      clear=clear, **kwargs)

    @handle_container_not_found
    def container_refresh(self, account: str, container: str,
                          attempts: int = 3, **kwargs) -> None:
        """Reset the container's statistics in the account service, then let
        meta2 report them again (the reset is tried `attempts` times when
        it conflicts with a concurrent update)."""
        pkw = _proxy_kwargs(self._kw(kwargs))
        attempts = max(1, int(attempts))
        for attempt in range(attempts):
            try:
                self.account.container_reset(account, container, time.time(),
                                             **_proxy_kwargs(kwargs))
                break
            except exc.Conflict:
                if attempt + 1 == attempts:
                    raise
        try:
            self.container.container_touch(account, container, **pkw)
        except exc.ClientException as err:
            if err.status not in (406, 431):
                raise
            self.account.container_update(account, container,
                                          {"dtime": time.time()},
                                          **_proxy_kwargs(kwargs))

    @handle_account_not_found
    def container_list(self, account: str, limit=None, marker=None,
                       end_marker=None, prefix=None, delimiter=None,
                       s3_buckets_only=False, **kwargs) -> list[list]:
        """[name, objects, bytes, is_prefix, mtime] of the account's
        containers, from the account service."""
        body = self.account.container_list(
            account, limit=limit, marker=marker, end_marker=end_marker,
            prefix=prefix, delimiter=delimiter,
            s3_buckets_only=s3_buckets_only, **_proxy_kwargs(kwargs))
        return body["listing"]

    # Accounts --------------------------------------------------------------
    def account_create(self, account: str, **kwargs) -> bool:
        return self.account.account_create(account, **_proxy_kwargs(kwargs))

    @handle_account_not_found
    def account_delete(self, account: str, **kwargs) -> None:
        self.account.account_delete(account, **_proxy_kwargs(kwargs))

    @handle_account_not_found
    def account_show(self, account: str, **kwargs) -> dict:
        return self.account.account_show(account, **_proxy_kwargs(kwargs))

    def account_list(self, **kwargs) -> list[str]:
        return self.account.account_list(**_proxy_kwargs(kwargs))

    @handle_account_not_found
    def account_get_properties(self, account: str, **kwargs) -> dict:
        info = self.account.account_show(account, **_proxy_kwargs(kwargs))
        info["properties"] = info.pop("metadata", {})
        return info

    def account_set_properties(self, account: str, properties: dict,
                               **kwargs) -> None:
        self.account.account_update(account, properties, None,
                                    **_proxy_kwargs(kwargs))

    def account_del_properties(self, account: str, properties: list,
                               **kwargs) -> None:
        self.account.account_update(account, None, list(properties),
                                    **_proxy_kwargs(kwargs))

    @handle_account_not_found
    def account_flush(self, account: str, **kwargs) -> None:
        self.account.account_flush(account, **_proxy_kwargs(kwargs))

    def account_refresh(self, account: str | None = None, **kwargs) -> None:
        """Recompute an account's counters (every account when None), and
        have each of its containers report its statistics again."""
        accounts = [account] if account is not None else self.account_list(**kwargs)
        for name in accounts:
            try:
                self.account.account_refresh(name, **_proxy_kwargs(kwargs))
                marker = None
                while True:
                    page = self.container_list(name, marker=marker, **kwargs)
                    for entry in page:
                        if entry[3]:
                            continue
                        try:
                            self.container_refresh(name, entry[0], **kwargs)
                        except exc.NoSuchContainer:
                            pass   # vanished meanwhile
                    if not page:
                        break
                    marker = page[-1][0]
            except (exc.NotFound, exc.NoSuchAccount):
                if account is not None:
                    raise exc.NoSuchAccount(f"Account {name} not found") from None

    def all_accounts_refresh(self, **kwargs) -> None:
        """Deprecated: call account_refresh(None)."""
        _deprecated("account_refresh(None)")
        self.account_refresh(None, **kwargs)

    def resolve_cid(self, cid: str, **kwargs) -> tuple[str, str]:
        """(account, container) of a container ID, from the directory."""
        info = self.directory.list(cid=cid, **_proxy_kwargs(self._kw(kwargs)))
        return info["account"], info["name"]

    # Objects: writes -------------------------------------------------------
    def object_create(self, account: str, container: str, *args, **kwargs):
        """See object_create_ext: (chunks, size, md5 hex) of the upload."""
        chunks, size, checksum, _ = self.object_create_ext(
            account, container, *args, **kwargs)
        return chunks, size, checksum

    @handle_container_not_found
    def object_create_ext(self, account: str, container: str,
                          file_or_path=None, data=None, etag=None,
                          obj_name=None, mime_type=None, metadata=None,
                          policy=None, key_file=None, append=False,
                          properties=None, **kwargs):
        """Upload from `file_or_path` (a path or a file object) or `data`
        (bytes, str or an iterable of bytes), named `obj_name` (default: the
        file's base name). (chunks, size, md5 hex, object metadata)."""
        if data is None and file_or_path is None:
            raise exc.MissingData("No data to upload")
        if data is None:
            if isinstance(file_or_path, (str, os.PathLike)):
                if not os.path.exists(file_or_path):
                    raise exc.FileNotFound(f"File '{file_or_path}' not found.")
                file_name = os.path.basename(file_or_path)
            else:
                file_name = os.path.basename(getattr(file_or_path, "name", "")
                                             or "")
            obj_name = obj_name or file_name
        if not obj_name:
            raise exc.MissingName("No name for the object has been specified")
        properties = dict(properties or {})
        if metadata:
            _deprecated("'properties' instead of 'metadata'")
            properties.update(metadata)
        source = Source(file_or_path if data is None else None, data)
        try:
            return self._object_create(account, container, obj_name, source,
                                       etag=etag, mime_type=mime_type,
                                       policy=policy, properties=properties,
                                       append=append, **self._kw(kwargs))
        finally:
            source.close()

    def _object_create(self, account, container, obj_name, source, etag,
                       mime_type, policy, properties, append, **kwargs):
        # One request ID for the prepare, the chunks and the create.
        kwargs.setdefault("reqid", request_id("create-"))
        pkw = _proxy_kwargs(kwargs)
        pkw["autocreate"] = true_value(kwargs.get("autocreate", True))
        # object_change_policy rewrites an existing version in place; so
        # does 7.2's object_create(change_policy=True, version=...).
        keep_version = kwargs.get("change_policy_version")
        if kwargs.pop("change_policy", False) and keep_version is None:
            keep_version = kwargs.get("version")
            # Without a version, a new one: meta2 finds no such version.
            kwargs["change_policy_version"] = keep_version or timestamp_us()
            keep_version = kwargs["change_policy_version"]
        # A content ID given by the caller is kept (7.2's `content_id`).
        meta, chunks = self.container.content_prepare(
            account, container, obj_name, size=1, stgpol=policy, position=0,
            version=keep_version, content_id=kwargs.get("content_id"), **pkw)
        return self._upload_prepared(
            account, container, obj_name, source, meta, chunks, etag=etag,
            mime_type=mime_type, policy=policy, properties=properties,
            append=append, change_policy=keep_version is not None, **kwargs)

    def _upload_prepared(self, account: str, container: str, obj_name: str,
                         source: Source, meta: dict, chunks: list[dict],
                         etag=None, mime_type=None, policy=None,
                         properties=None, append=False, change_policy=False,
                         prepare=None, **kwargs):
        """Upload `source` to the chunks of an already prepared object
        (`meta`, `chunks` of content/prepare2 at position 0), then register
        it with content/create; every chunk written is deleted if that
        fails. `prepare(position)` gives (meta, chunks) of the following
        metachunks (default: content/prepare2 at that position).
        (chunks, size, md5 hex, object metadata)."""
        pkw = _proxy_kwargs(kwargs)
        pkw.setdefault("reqid", request_id("create-"))
        pkw["autocreate"] = true_value(kwargs.get("autocreate", True))
        cid = cid_from_name(account, container).upper()
        chunk_size = int(meta.get("chunk_size") or 0)
        if chunk_size <= 0:
            raise exc.OioException("The proxy did not give a chunk size")
        method = STORAGE_METHODS.load(meta["chunk_method"])
        # Shared with sysmeta: the qualities of every metachunk's chunks
        # gathered while uploading are registered with the object.
        meta.setdefault("properties", {})
        sysmeta = sysmeta_for(meta, account, container, obj_name, cid)
        sysmeta["oio_version"] = sysmeta.get("oio_version") or OIO_VERSION
        perfdata = kwargs.get("perfdata")
        upload_start = time.monotonic()
        uploaded, size, md5 = self._upload_metachunks(
            account, container, obj_name, source, sysmeta, chunks, chunk_size,
            method, policy, pkw, kwargs, prepare=prepare)
        if perfdata is not None:
            perf.add(perfdata, "rawx", "overall",
                     time.monotonic() - upload_start)
            perfdata["data_size"] = size
            perf.compute_stats(perfdata, "connect.")
            perf.compute_stats(perfdata, "upload.")
        try:
            if etag and etag.lower() != md5:
                raise exc.EtagMismatch(f"given etag {etag} != computed {md5}")
            meta["properties"].update(properties or {})
            body = {"chunks": uploaded, "properties": meta["properties"],
                    "container_properties": kwargs.get("container_properties")}
            self.container.content_create(
                account, container, obj_name, size=size, checksum=md5,
                data=body, content_id=meta["id"], stgpol=meta["policy"],
                version=meta["version"], mime_type=mime_type,
                chunk_method=meta["chunk_method"], append=append,
                change_policy=change_policy, **pkw)
        except BaseException:
            self._delete_orphan_chunks(uploaded, cid, reqid=pkw["reqid"])
            raise
        sysmeta.update(etag=md5, mime_type=mime_type, ns=self.namespace,
                       size=size, length=str(size), hash=md5.upper())
        return uploaded, size, md5, sysmeta

    def _upload_metachunks(self, account, container, obj_name, source, sysmeta,
                           chunks, chunk_size, method, policy, pkw, kwargs,
                           prepare=None):
        """Stream every metachunk: (chunks written, size, object md5 hex).

        Metachunk n+1 streams while the rawx of metachunk n finish (their
        fsync), and its prepare2 is fetched ahead. The object hash is the
        first metachunk's hash, continued over the next ones in a thread."""
        if prepare is None:
            def prepare(pos):
                return self.container.content_prepare(
                    account, container, obj_name, size=1, stgpol=policy,
                    position=pos, version=sysmeta["version"], **pkw)

        algo = kwargs.get("chunk_checksum_algo", "md5")
        if "chunk_checksum_algo" not in kwargs and replies_vote(method):
            # Each copy's rawx hashes what it received and the replies
            # must agree: hashing each chunk here too would be a fifth pass
            # over the bytes for nothing. The object MD5 is still ours.
            algo = None
        wkw = {k: kwargs[k] for k in ("connection_timeout", "write_timeout",
                                      "read_timeout")
               if kwargs.get(k) is not None}
        if method.ec:
            writer_class = ECMetachunkWriter
            metachunk_size = method.metachunk_size(chunk_size)
            # Buffers hold whole segments: OpenIO readers expect them so.
            buffer_size = method.ec_segment_size
        else:
            writer_class = ReplicatedMetachunkWriter
            metachunk_size = chunk_size
            buffer_size = min(int(kwargs.get("chunk_buffer_max")
                                  or WRITE_BUFFER_SIZE), chunk_size)
        # Small objects need small buffers: no zeroed megabytes for 4 KiB.
        left = source.remaining()
        if left is not None:
            buffer_size = max(1, min(buffer_size, left))
        ring = BufferRing(buffer_size)
        written: list[dict] = []
        pending: list[ReplicatedMetachunkWriter] = []
        obj_md5 = None
        size = position = 0
        try:
            while True:
                for chunk in chunks:
                    chunk["pos"] = (f"{position}.{fragment_index(chunk)}"
                                    if method.ec else str(position))
                left = source.remaining()
                ahead = None
                if position > 0 or (left is not None and left > metachunk_size):
                    ahead = self._prepare_ahead.submit(prepare, position + 1)
                if obj_md5 is None and not (method.ec or algo == "md5"):
                    # The chunk hash is not the object's MD5: its own pass.
                    obj_md5 = hashlib.md5()
                writer = writer_class(
                    sysmeta, chunks, obj_md5, method, headers=pkw.get("headers"),
                    pool_manager=self.pool_manager, chunk_checksum_algo=algo,
                    reqid=pkw["reqid"], logger=self.logger, buffers=ring,
                    perfdata=kwargs.get("perfdata"), **wkw)
                pending.append(writer)
                got = writer.send(source, metachunk_size)
                if obj_md5 is None:
                    # The first metachunk's hash is the object's so far.
                    obj_md5 = writer.chunk_checksum.copy()
                size += got
                position += 1
                while len(pending) > 1:
                    # Popped once finished: a writer that fails here still
                    # has its kept chunks deleted below.
                    self._finish_metachunk(pending[0], written, pkw)
                    pending.pop(0)
                if got < metachunk_size or source.at_eof():
                    break
                meta, chunks = ahead.result() if ahead else prepare(position)
                sysmeta["properties"].update(meta.get("properties") or {})
            while pending:
                self._finish_metachunk(pending[0], written, pkw)
                pending.pop(0)
            if position == 1 and not method.ec:
                check_single_metachunk(written, obj_md5.hexdigest())
        except BaseException:
            for writer in pending:
                writer.abort()
                written.extend(c for c in writer.uploaded() if c not in written)
            self._delete_orphan_chunks(written, sysmeta["container_id"],
                                       reqid=pkw["reqid"])
            raise
        finally:
            ring.close()
        return written, size, obj_md5.hexdigest()

    def _finish_metachunk(self, writer, written: list[dict], pkw: dict) -> None:
        """Wait for a metachunk's replies; EC fragments that failed are
        rebuilt on other rawx at once, so that what is acknowledged
        survives the loss of any m rawx (the upload fails otherwise)."""
        size, metachunk_hash, chunks = writer.wait()
        written.extend(chunks)
        missing = writer.failed_chunks()
        if not missing:
            return
        # A copy whose rawx kept it but answered a wrong hash or size is
        # not the object's: it goes, whatever becomes of its replacement.
        rejected = writer.rejected()
        if rejected:
            self._delete_orphan_chunks([dict(c) for c in rejected],
                                       writer.sysmeta["container_id"],
                                       reqid=pkw["reqid"])
        ec = writer.storage_method.ec
        try:
            written.extend(replace_missing(
                self.pool_manager, self._lb, writer.storage_method,
                writer.sysmeta, chunks, [dict(c) for c in missing], size,
                metachunk_hash, pkw["reqid"], logger=self.logger,
                chunk_checksum_algo=writer.chunk_checksum_algo))
        except exc.OioException as err:
            if not ec:
                # The quorum is met: a copy that cannot be replaced is left
                # to the rebuilders, as 7.2 does.
                self.logger.warning(
                    "metachunk written with %d of %d copies (reqid=%s): %s",
                    len(chunks), len(chunks) + len(missing), pkw["reqid"], err)
                return
            # Say why fragments were missing, not only why no rawx took them.
            why = "; ".join(f"{c.get('real_url') or c['url']}: "
                            f"{c.get('error', 'failed')}" for c in missing)
            raise exc.ServiceBusy(message=(
                f"EC write failure: {len(missing)} fragment(s) failed ({why}) "
                f"and could not be rebuilt on another rawx: {err}")) from err

    @functools.cached_property
    def _event_queue_url(self) -> str | None:
        """The namespace's beanstalkd (`event-agent`), None when unknown."""
        conf = load_namespace_conf(self.namespace, failsafe=True) or {}
        return conf.get("event-agent") or None

    @property
    def _lb(self):
        if self._lb_client is None:
            self._lb_client = ConscienceClient(
                {"namespace": self.namespace}, pool_manager=self.pool_manager,
                endpoint=f"{self.container.proxy_scheme}://"
                f"{self.container.proxy_netloc}", logger=self.logger).lb
        return self._lb_client

    @property
    def blob_client(self) -> BlobClient:
        # 7.2 keeps it in `_blob_client` (its tests replace that one).
        return self._blob_client

    @blob_client.setter
    def blob_client(self, client: BlobClient) -> None:
        self._blob_client = client

    def _delete_orphan_chunks(self, chunks: list[dict], cid: str,
                              **kwargs) -> None:
        """Best effort: a failed object must not leave its chunks behind.
        Bounded by the API's timeouts: a rawx that caused the failure is
        often the one that does not answer."""
        for key in ("connection_timeout", "read_timeout"):
            if key not in kwargs and self._global_kwargs.get(key):
                kwargs[key] = self._global_kwargs[key]
        for resp in self.blob_client.chunk_delete_many(chunks, cid, **kwargs):
            if isinstance(resp, Exception):
                self.logger.warning("failed to delete chunk %s (%s)",
                                    resp.chunk["url"], resp)

    # Objects: reads --------------------------------------------------------
    @handle_object_not_found
    def object_locate(self, account: str, container: str, obj: str,
                      version=None, chunk_info=False, properties=True,
                      **kwargs):
        """(object metadata, chunks); with `chunk_info` the chunks become a
        generator adding what each rawx says of its chunk."""
        meta, chunks = self.container.content_locate(
            account, container, obj, version=version, properties=properties,
            content=kwargs.pop("content", None),
            **_proxy_kwargs(self._kw(kwargs)))
        if not chunk_info:
            return meta, chunks

        def with_info():
            for chunk in sorted(chunks, key=lambda c: float(c["pos"])):
                try:
                    info = self.blob_client.chunk_head(chunk["url"])
                    for key in ("chunk_size", "chunk_hash", "full_path"):
                        chunk[key] = info.get(key)
                except exc.OioException as err:
                    chunk["error"] = str(err)
                yield chunk
        return meta, with_info()

    @handle_object_not_found
    def object_fetch(self, account: str, container: str, obj: str,
                     version=None, ranges=None, key_file=None, **kwargs):
        """(metadata, lazy stream of bytes). `ranges`: [(start, end), ...],
        inclusive, None for an open end or a suffix."""
        kw = self._kw(kwargs)
        meta, stream = self._object_fetch(account, container, obj, version,
                                          ranges, kw)
        if kw.get("cache") is None:
            return meta, stream

        def retried_on_stale_cache():
            """Chunks gone from where the cache said: if nothing was sent
            yet, ask meta2 again."""
            sent = False
            try:
                for block in stream:
                    sent = True
                    yield block
            except exc.UnrecoverableContent:
                if sent:
                    raise
                del_cached_object_metadata(account=account, reference=container,
                                           path=obj, cache=kw["cache"])
                # Deleted since it was cached: said as object_fetch says it.
                fresh, again = handle_object_not_found(
                    ObjectStorageApi._object_fetch)(
                        self, account, container, obj, version, ranges, kw)
                meta.update(fresh)
                yield from again
        return meta, retried_on_stale_cache()

    def _object_fetch(self, account, container, obj, version, ranges, kw):
        started = time.monotonic()
        pkw = _proxy_kwargs(kw)
        pkw.setdefault("reqid", request_id("fetch-"))
        meta, chunks = self.container.content_locate(
            account, container, obj, version=version,
            properties=kw.get("properties", True), **pkw)
        meta["container_id"] = cid_from_name(account, container).upper()
        meta["ns"] = self.namespace
        method = STORAGE_METHODS.load(meta.get("chunk_method") or "plain")
        plan = plan_reads(group_metachunks(chunks), ranges)
        perfdata = kw.get("perfdata")
        broken = BrokenChunks(
            {"ns": self.namespace, "account": account, "user": container,
             "id": meta["container_id"], "content": meta.get("id"),
             "path": obj, "version": str(meta.get("version"))},
            pkw["reqid"], self._event_queue_url, logger=self.logger)
        stream = _reported(object_stream(
            self.pool_manager, plan, pkw["reqid"], method=method,
            connection_timeout=kw.get("connection_timeout"),
            read_timeout=kw.get("read_timeout"), perfdata=perfdata,
            report=broken), broken, chunks)
        if perfdata is not None:
            stream = _timed_download(stream, perfdata, started)
        return meta, stream

    @handle_object_not_found
    def object_get_properties(self, account: str, container: str, obj: str,
                              **kwargs) -> dict:
        """The object's metadata with its user `properties`."""
        kw = self._kw(kwargs)
        return self.container.content_get_properties(
            account, container, obj, version=kw.get("version"),
            **_proxy_kwargs(kw))

    @handle_object_not_found
    def object_show(self, account: str, container: str, obj: str,
                    version=None, **kwargs) -> dict:
        """Deprecated: use object_get_properties."""
        _deprecated("object_get_properties()")
        return self.container.content_get_properties(
            account, container, obj, version=version,
            **_proxy_kwargs(self._kw(kwargs)))

    def object_head(self, account: str, container: str, obj: str,
                    trust_level: int = 0, **kwargs) -> bool:
        """Whether the object exists. 0: meta2 knows it; 1: each metachunk
        has enough chunks answering a HEAD to be read; 2: every chunk the
        policy wants is there and answers a HEAD."""
        if trust_level not in (0, 1, 2):
            raise ValueError("`trust_level` must be between 0 and 2")
        try:
            if trust_level == 0:
                self.object_get_properties(account, container, obj, **kwargs)
                return True
            meta, chunks = self.object_locate(account, container, obj,
                                              properties=False, **kwargs)
            return self._chunks_present(meta, chunks, trust_level == 2)
        except (exc.NotFound, exc.NoSuchObject, exc.NoSuchContainer):
            return False

    def _chunks_present(self, meta: dict, chunks: list[dict],
                        every_chunk: bool) -> bool:
        method = STORAGE_METHODS.load(meta.get("chunk_method") or "plain")
        metachunks = group_metachunks(chunks)
        size, chunk_size = int(meta.get("length") or 0), \
            int(meta.get("chunk_size") or 0)
        if len(metachunks) < (-(-size // chunk_size) if chunk_size else 0):
            return False          # a whole metachunk is gone
        need = method.expected_chunks if every_chunk \
            else method.min_chunks_to_read

        def answers(chunk: dict) -> bool:
            try:
                self.blob_client.chunk_head(chunk.get("real_url")
                                            or chunk["url"], xattr=False)
                return True
            except exc.OioException:
                return False

        for group in metachunks:
            if len(group["chunks"]) < need:
                return False
            present = 0
            for chunk in group["chunks"]:
                present += answers(chunk)
                if not every_chunk and present >= need:
                    break
            if present < need:
                return False
        return True

    def object_exists(self, account: str, container: str, obj: str,
                      **kwargs) -> bool:
        """object_head at trust level 0."""
        return self.object_head(account, container, obj, **kwargs)

    @handle_container_not_found
    def object_list(self, account: str, container: str, limit=None,
                    marker=None, delimiter=None, prefix=None, end_marker=None,
                    properties=False, versions=False, deleted=False,
                    **kwargs) -> dict:
        """{"objects", "prefixes", "properties", "system", "truncated",
        "next_marker" (when truncated)}."""
        headers, body = self.container.content_list(
            account, container, limit=limit, marker=marker,
            end_marker=end_marker, prefix=prefix, delimiter=delimiter,
            properties=properties, versions=versions, deleted=deleted,
            **_proxy_kwargs(self._kw(kwargs)))
        objects = body.setdefault("objects", [])
        for obj in objects:
            obj["chunk_method"] = obj.pop("chunk-method", None)
            obj["mime_type"] = obj.pop("mime-type", None)
            obj["is_latest"] = not versions
        if versions:
            latest: dict[str, dict] = {}
            for obj in objects:
                best = latest.get(obj["name"])
                if best is None or int(obj["version"]) > int(best["version"]):
                    latest[obj["name"]] = obj
            for obj in latest.values():
                obj["is_latest"] = True
        body["truncated"] = true_value(headers.get("x-oio-list-truncated"))
        marker = headers.get("x-oio-list-marker")
        if marker is not None:
            body["next_marker"] = unquote(marker)
        return body

    # Objects: metadata and deletion ----------------------------------------
    @handle_object_not_found
    def object_set_properties(self, account: str, container: str, obj: str,
                              properties: dict, version=None, clear=False,
                              **kwargs) -> None:
        self.container.content_set_properties(
            account, container, obj, version=version,
            properties={"properties": properties}, clear=clear,
            **_proxy_kwargs(self._kw(kwargs)))

    @handle_object_not_found
    def object_del_properties(self, account: str, container: str, obj: str,
                              properties: Iterable[str], version=None,
                              **kwargs) -> bool:
        """True if deleted (or missing)."""
        return self.container.content_del_properties(
            account, container, obj, properties=list(properties),
            version=version, **_proxy_kwargs(self._kw(kwargs)))

    @handle_object_not_found
    def object_delete(self, account: str, container: str, obj: str,
                      version=None, **kwargs) -> bool:
        """True on success; a delete marker when versioning is on."""
        return self.container.content_delete(
            account, container, obj, version=version,
            **_proxy_kwargs(self._kw(kwargs)))

    def object_touch(self, account: str, container: str, obj: str,
                     version=None, **kwargs) -> None:
        self.container.content_touch(account, container, obj, version=version,
                                     **_proxy_kwargs(self._kw(kwargs)))

    def object_link(self, target_account: str, target_container: str,
                    target_obj: str, link_account: str, link_container: str,
                    link_obj: str, target_version=None, target_content_id=None,
                    link_content_id=None, properties_directive: str = "COPY",
                    **kwargs) -> dict:
        """Make a shallow copy of an object (its chunks hard-linked by the
        rawx), across accounts and containers; the link's metadata."""
        pkw = _proxy_kwargs(self._kw(kwargs))
        target_meta, chunks = self.object_locate(
            target_account, target_container, target_obj,
            version=target_version, content=target_content_id, **pkw)
        # As object_create: the link's container is made unless told not to.
        pkw["autocreate"] = true_value(kwargs.get("autocreate", True))
        link_meta, _ = self.container.content_prepare(
            link_account, link_container, link_obj, size=1,
            stgpol=target_meta["policy"], content_id=link_content_id, **pkw)
        fullpath = encode_fullpath(link_account, link_container, link_obj,
                                   link_meta["version"], link_meta["id"])
        links: list[dict] = []
        try:
            for chunk in chunks:
                _, url = self.blob_client.chunk_link(
                    chunk["url"], None, fullpath,
                    real_url=chunk.get("real_url"))
                real = chunk.get("real_url")
                links.append(dict(chunk, url=url, real_url=(
                    real[:real.rfind("/") + 1] + url.rsplit("/", 1)[-1]
                    if real else url)))
            if properties_directive == "REPLACE":
                # 7.2 takes the new properties as `metadata` (its older
                # name) or `properties`.
                properties = kwargs.get("metadata", kwargs.get("properties")) \
                    or {}
            else:
                properties = target_meta.get("properties") or {}
            self.container.content_create(
                link_account, link_container, link_obj,
                size=target_meta["length"], checksum=target_meta.get("hash"),
                data={"chunks": [{k: c[k] for k in ("url", "pos", "size", "hash")}
                                 for c in links],
                      "properties": properties, "container_properties": None},
                content_id=link_meta["id"], stgpol=target_meta["policy"],
                version=link_meta["version"],
                mime_type=target_meta.get("mime_type"),
                chunk_method=target_meta["chunk_method"], **pkw)
        except BaseException:
            for link in links:
                try:
                    self.blob_client.chunk_delete(link["real_url"])
                except exc.OioException:
                    pass
            raise
        link_meta.update({k: target_meta[k] for k in (
            "length", "hash", "hash_method", "mime_type", "chunk_method")
            if k in target_meta})
        link_meta.update(size=target_meta["length"], properties=properties)
        return link_meta

    @handle_object_not_found
    def object_change_policy(self, account: str, container: str, obj: str,
                             policy: str, version=None, **kwargs):
        """Rewrite an object's data with another storage policy, keeping its
        version: (chunks, size, md5, metadata) as object_create_ext."""
        meta, stream = self.object_fetch(account, container, obj,
                                         version=version, **kwargs)
        if meta.get("policy") == policy:
            stream.close()
            raise exc.Conflict(message=f"Object already stored with {policy}")
        source = Source(data=stream)
        try:
            return self._object_create(
                account, container, obj, source, None, meta.get("mime_type"),
                policy, {}, False, change_policy_version=meta["version"],
                **kwargs)
        finally:
            stream.close()

    @handle_object_not_found
    def object_truncate(self, account: str, container: str, obj: str,
                        version=None, size=None, **kwargs) -> None:
        """Shrink an object to `size` bytes. A metachunk cut in the middle
        is downloaded up to `size` and written again before meta2 drops
        what lies beyond."""
        if size is None or int(size) < 0:
            raise exc.OioException("object_truncate needs a size >= 0")
        size = int(size)
        pkw = _proxy_kwargs(self._kw(kwargs))
        pkw.setdefault("reqid", request_id("truncate-"))
        meta, chunks = self.container.content_locate(
            account, container, obj, version=version, properties=False, **pkw)
        groups = group_metachunks(chunks)
        if size > sum(g["size"] for g in groups):
            raise exc.OioException(f"Cannot truncate {obj} at {size} bytes: "
                                   f"the object is smaller")
        # Only a metachunk cut strictly inside needs rewriting; meta2 always
        # keeps metachunk 0, so emptying an object rewrites that one.
        cut = next((g for g in groups
                    if g["offset"] < size < g["offset"] + g["size"]), None)
        if cut is None and size == 0 and groups and groups[0]["size"]:
            cut = groups[0]
        if cut is not None:
            self._rewrite_metachunk(account, container, obj, meta, cut,
                                    size - cut["offset"], pkw)
        self.container.content_truncate(account, container, obj, size=size,
                                        version=version, **pkw)

    def _rewrite_metachunk(self, account, container, obj, meta, target,
                           keep: int, pkw) -> None:
        """Write the first `keep` bytes of metachunk `target` to new chunks
        at the same position (content/update)."""
        cid = cid_from_name(account, container).upper()
        method = STORAGE_METHODS.load(meta["chunk_method"])
        plan = [(target, 0, keep - 1)] if keep else []
        stream = object_stream(self.pool_manager, plan, pkw["reqid"],
                               method=method)
        # The same policy as the object's, whatever the container's default.
        new_meta, chunks = self.container.content_prepare(
            account, container, obj, size=1, content_id=meta["id"],
            stgpol=meta["policy"], **pkw)
        for chunk in chunks:
            chunk["pos"] = (f"{target['pos']}.{fragment_index(chunk)}"
                            if method.ec else str(target["pos"]))
        sysmeta = sysmeta_for(new_meta, account, container, obj, cid)
        sysmeta["oio_version"] = sysmeta.get("oio_version") or OIO_VERSION
        if method.ec:
            writer_class = ECMetachunkWriter
            buffer_size = method.ec_segment_size if keep > \
                method.ec_segment_size else max(keep, 1)
        else:
            writer_class = ReplicatedMetachunkWriter
            buffer_size = min(WRITE_BUFFER_SIZE, max(keep, 1))
        ring = BufferRing(buffer_size)
        writer = writer_class(
            sysmeta, chunks, None, method, pool_manager=self.pool_manager,
            reqid=pkw["reqid"], logger=self.logger, buffers=ring)
        written: list[dict] = []
        try:
            writer.send(Source(data=stream), keep)
            written = writer.wait()[2]
            self.container.content_update(
                account, container, obj, size=meta["length"], chunks=written,
                content_id=meta["id"], stgpol=new_meta["policy"],
                version=new_meta["version"],
                chunk_method=new_meta["chunk_method"], **pkw)
        except BaseException:
            writer.abort()
            self._delete_orphan_chunks(written or writer.uploaded(), cid,
                                       reqid=pkw["reqid"])
            raise
        finally:
            stream.close()
            ring.close()

    def object_fastcopy(self, *args, **kwargs):
        """Deprecated: use object_link."""
        _deprecated("object_link()")
        return self.object_link(*args, **kwargs)

    def object_drain(self, account: str, container: str, obj: str,
                     version=None, **kwargs) -> None:
        """Remove the chunks of an object, keep its metadata."""
        self.container.content_drain(account, container, obj, version=version,
                                     **_proxy_kwargs(self._kw(kwargs)))

    def object_delete_many(self, account: str, container: str, objs,
                           **kwargs) -> list[tuple[str, bool]]:
        """(name, deleted) for each object (its latest version)."""
        return self.container.content_delete_many(
            account, container, list(objs), **_proxy_kwargs(self._kw(kwargs)))

    def object_update(self, account: str, container: str, obj: str,
                      metadata: dict, version=None, clear: bool = False,
                      **kwargs) -> None:
        """Deprecated: use object_set_properties."""
        _deprecated("object_set_properties()")
        self.object_set_properties(account, container, obj, metadata,
                                   version=version, clear=clear, **kwargs)

    def object_analyze(self, *args, **kwargs):
        """Deprecated: use object_locate."""
        _deprecated("object_locate()")
        return self.object_locate(*args, **kwargs)


def _deprecated(replacement: str) -> None:
    warnings.warn(f"You'd better use {replacement}", DeprecationWarning,
                  stacklevel=3)


def _reported(stream, broken, chunks):
    """`stream`, then the broken chunks it met sent for rebuild (also when
    the reader stops early or the read fails)."""
    try:
        yield from stream
    except exc.UnrecoverableContent:
        # Every copy gone: stale metadata (the object was replaced during
        # the read, or a cached location) as often as lost data, and
        # nothing left to rebuild from either way.
        broken.found.clear()
        raise
    finally:
        broken.send(chunks)


def _timed_download(stream, perfdata: dict, started: float):
    """The stream, noting time to first and last byte (from the start of
    object_fetch), download time and size in `perfdata`."""
    size = 0
    download_start = time.monotonic()
    for block in stream:
        if "ttfb" not in perfdata:
            perfdata["ttfb"] = time.monotonic() - started
        size += len(block)
        yield block
    end = time.monotonic()
    perfdata["ttlb"] = end - started
    perf.add(perfdata, "rawx", "overall", end - download_start)
    perfdata["data_size"] = size
    perf.compute_stats(perfdata, "connect.")
    perf.compute_stats(perfdata, "download.")
